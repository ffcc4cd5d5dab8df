package mcpserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/mcpserver"
)

// TestIdleSessionsEnd checks the endpoint ends a session idle for its TTL,
// counting calls answered on the fast path as activity, and that the ended
// session's id gets 404 whatever the method.
func TestIdleSessionsEnd(t *testing.T) {
	const ttl = 400 * time.Millisecond
	e := newEnv(t, hubConfig(stdioExample("example")))
	url := endpointsURL(t, e.hub, mcpserver.Options{SessionIdleTTL: ttl})
	s := openRaw(t, url)
	echo := toolCall("1", "example__echo", `{"message":"still here"}`)

	for deadline := time.Now().Add(3 * ttl); time.Now().Before(deadline); time.Sleep(ttl / 4) {
		if res, body := s.post(t, echo, nil); res.StatusCode != http.StatusOK || !strings.Contains(string(body), "still here") {
			t.Fatalf("a busy session: %d %s", res.StatusCode, body)
		}
	}
	// Any request counts as activity, so nothing is sent while it idles:
	// well past its TTL and the sweep that follows, it must be gone.
	time.Sleep(4 * ttl)
	if res, body := s.post(t, echo, nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("a call on the ended session: %d %s, want 404", res.StatusCode, body)
	}
	for _, method := range []string{http.MethodGet, http.MethodDelete} {
		if code := sessionRequest(t, method, url, s.id, nil); code != http.StatusNotFound {
			t.Errorf("%s on the ended session: %d, want 404", method, code)
		}
	}
}

// sessionRequest sends a GET or DELETE for a session and returns the
// status; a GET's stream is closed at once.
func sessionRequest(t *testing.T, method, url, id string, ctx context.Context) int {
	t.Helper()
	if ctx == nil {
		ctx = context.Background()
	}
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestUnknownSessionsGetNothing checks GET and DELETE with ids the endpoint
// never issued are refused and leave nothing behind: mcp-go alone would
// open a listening stream, and register a session, for any id.
func TestUnknownSessionsGetNothing(t *testing.T) {
	e := newEnv(t, hubConfig(stdioExample("example")))
	url := e.url("/mcp")
	openRaw(t, url) // the endpoint is in use
	settle := func() int {
		runtime.GC()
		time.Sleep(50 * time.Millisecond)
		return runtime.NumGoroutine()
	}
	before := settle()
	for i := range 30 {
		id := fmt.Sprintf("mcp-session-00000000-0000-4000-8000-%012d", i)
		if code := sessionRequest(t, http.MethodGet, url, id, nil); code != http.StatusNotFound {
			t.Fatalf("GET with a made-up session id: %d, want 404", code)
		}
		if code := sessionRequest(t, http.MethodDelete, url, id, nil); code != http.StatusNotFound {
			t.Fatalf("DELETE with a made-up session id: %d, want 404", code)
		}
	}
	if after := settle(); after > before+5 {
		t.Errorf("goroutines %d -> %d after 30 refused GETs", before, after)
	}
}

// TestListeningSessionStaysAlive checks an open GET stream keeps its
// session from being swept, however long nothing else arrives.
func TestListeningSessionStaysAlive(t *testing.T) {
	const ttl = 300 * time.Millisecond
	e := newEnv(t, hubConfig(stdioExample("example")))
	url := endpointsURL(t, e.hub, mcpserver.Options{SessionIdleTTL: ttl})
	s := openRaw(t, url)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", s.id)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET stream: %v %v", err, res)
	}
	time.Sleep(5 * ttl)
	if res, body := s.post(t, `{"jsonrpc":"2.0","id":1,"method":"ping"}`, nil); res.StatusCode != http.StatusOK {
		t.Errorf("a session listening for %v (TTL %v): %d %s", 5*ttl, ttl, res.StatusCode, body)
	}
	cancel()
	res.Body.Close()
}

// TestConcurrentFirstRequests checks clients arriving together at an
// endpoint nobody used yet all see its whole catalog: registration with
// mcp-go happens on the first request, and the others wait for it.
func TestConcurrentFirstRequests(t *testing.T) {
	const tools = 2000
	inner := exampleserver.NewStreamableHTTPServer(exampleserver.New(exampleserver.WithScaleTools(tools)))
	ts := httptest.NewServer(inner)
	t.Cleanup(func() {
		_ = inner.Shutdown(context.Background())
		ts.CloseClientConnections()
		ts.Close()
	})
	e := newEnv(t, hubConfig(httpServer("big", ts.URL)))
	url := endpointsURL(t, e.hub, mcpserver.Options{NoFastPath: true}) // mcp-go lists what was registered

	var wg sync.WaitGroup
	counts := make([]int, 8)
	for i := range counts {
		wg.Go(func() {
			s := openRaw(t, url)
			_, body := s.post(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil)
			var got struct {
				Result struct {
					Tools []json.RawMessage `json:"tools"`
				} `json:"result"`
			}
			_ = json.Unmarshal(body, &got)
			counts[i] = len(got.Result.Tools)
		})
	}
	wg.Wait()
	for i, n := range counts {
		if n < tools {
			t.Errorf("client %d listed %d tools, want at least %d", i, n, tools)
		}
	}
}
