package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

// sseEvent is one server-sent event, or one comment line (comment true,
// data holding the text after the colon).
type sseEvent struct {
	id, name, data string
	comment        bool
}

// sseStream reads a text/event-stream answer on its own goroutine, so a
// test can wait for the next event with a deadline.
type sseStream struct {
	header http.Header
	cancel context.CancelFunc
	body   io.ReadCloser
	items  chan sseEvent // closed when the stream ends
	done   chan struct{} // closed when the reader has returned
	err    error         // why the stream ended (nil at a clean end); read after items is closed
}

// sseWait bounds every wait for an event: generous, because a failing
// test waits it out, and a passing one never comes near it.
const sseWait = 10 * time.Second

// openStream sends the request and checks that the answer is a 200 event
// stream. The stream is closed when the test ends.
func (e *env) openStream(t testing.TB, method, path, body string, header http.Header) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, e.url+path, r)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("%s %s: status %d, want 200 and a stream; body %s", method, path, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		resp.Body.Close()
		cancel()
		t.Fatalf("%s %s: Content-Type %q, want text/event-stream", method, path, ct)
	}
	s := &sseStream{header: resp.Header, cancel: cancel, body: resp.Body, items: make(chan sseEvent, 1024), done: make(chan struct{})}
	go s.read(ctx)
	t.Cleanup(s.close)
	return s
}

// close hangs up and waits for the reader; idempotent.
func (s *sseStream) close() {
	s.cancel()
	s.body.Close()
	<-s.done
}

// read parses the SSE wire format: "field:value" or "field: value" lines,
// events ended by a blank line, comment lines starting with ':'.
func (s *sseStream) read(ctx context.Context) {
	defer close(s.done)
	defer close(s.items)
	send := func(ev sseEvent) bool {
		select {
		case s.items <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sc := bufio.NewScanner(s.body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	var ev sseEvent
	var data []string
	open := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if open {
				ev.data = strings.Join(data, "\n")
				if !send(ev) {
					return
				}
			}
			ev, data, open = sseEvent{}, nil, false
		case line[0] == ':':
			if !send(sseEvent{comment: true, data: line[1:]}) {
				return
			}
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			open = true
			switch field {
			case "event":
				ev.name = value
			case "data":
				data = append(data, value)
			case "id":
				ev.id = value
			}
		}
	}
	s.err = sc.Err()
	if s.err == nil && open {
		s.err = errors.New("the stream ended inside an event (no blank line after it)")
	}
}

// nextItem returns the next event or comment.
func (s *sseStream) nextItem(t testing.TB) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.items:
		if !ok {
			t.Fatalf("the stream ended (%v) while an event was expected", s.err)
		}
		return ev
	case <-time.After(sseWait):
		t.Fatalf("no event within %v", sseWait)
	}
	panic("unreachable")
}

// next returns the next event, skipping heartbeat comments.
func (s *sseStream) next(t testing.TB) sseEvent {
	t.Helper()
	for {
		if ev := s.nextItem(t); !ev.comment {
			return ev
		}
	}
}

// nextNamed returns the next event, which must be called name, with its
// data decoded as a JSON object.
func (s *sseStream) nextNamed(t testing.TB, name string) map[string]any {
	t.Helper()
	ev := s.next(t)
	if ev.name != name {
		t.Fatalf("event %q (data %s), want %q", ev.name, ev.data, name)
	}
	return ev.object(t)
}

func (ev sseEvent) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
		t.Fatalf("event %q: data is not a JSON object (%v): %s", ev.name, err, ev.data)
	}
	return m
}

// wantEnd checks that the stream ends cleanly with no further event
// (comments aside), within sseWait.
func (s *sseStream) wantEnd(t testing.TB) {
	t.Helper()
	deadline := time.After(sseWait)
	for {
		select {
		case ev, ok := <-s.items:
			if !ok {
				if s.err != nil {
					t.Errorf("the stream ended with %v", s.err)
				}
				return
			}
			if !ev.comment {
				t.Errorf("event %q (data %s) after the last one", ev.name, ev.data)
			}
		case <-deadline:
			t.Fatalf("the stream did not end within %v", sseWait)
		}
	}
}

// wantProgress checks progress events counting 1..n of n, in order. Over a
// downstream that splits a call's notifications between two streams
// (mcp-go's Streamable HTTP server with the GET stream open), a step can be
// overtaken and is then dropped by the hub, never sent backwards: the
// events must still increase and end at n.
func wantProgress(t testing.TB, s *sseStream, n int, splits bool) {
	t.Helper()
	last := 0
	for i := 1; last < n; i++ {
		p := s.nextNamed(t, "progress")
		wantKeys(t, p, "progress", "total", "message")
		got, _ := p["progress"].(float64)
		ok := got == float64(i) || splits && got > float64(last) && got <= float64(n)
		if !ok || p["total"] != float64(n) || p["message"] != fmt.Sprintf("step %v of %d", got, n) {
			t.Fatalf("progress event %d: %v, want progress %d of %d", i, p, i, n)
		}
		if got != float64(i) {
			t.Logf("progress %v after %d: an overtaken step was dropped", got, last)
		}
		last = int(got)
	}
}

func TestCallStream(t *testing.T) {
	e := startHub(t, api.Options{}, stdioExample("example"), httpServer("web", httpExample(t)))
	for _, server := range []string{"example", "web"} {
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			t.Run("progress", func(t *testing.T) {
				s := e.openStream(t, http.MethodPost, "/mcp_hub/call_stream", callJSON(server+"__slow_count", `{"count":5,"delay_ms":20}`), nil)
				if cc := s.header.Get("Cache-Control"); cc != "no-cache" {
					t.Errorf("Cache-Control %q, want no-cache", cc)
				}
				wantProgress(t, s, 5, server == "web")
				wantSuccess(t, s.nextNamed(t, "result"), server+"__slow_count", "counted to 5")
				s.wantEnd(t)
			})
			t.Run("tool error", func(t *testing.T) {
				s := e.openStream(t, http.MethodPost, "/mcp_hub/call_stream", callJSON(server+"__fail", `{"message":"it broke"}`), nil)
				m := s.nextNamed(t, "result")
				wantKeys(t, m, "success", "id", "tool", "result", "content", "error")
				if m["success"] != false || m["content"] != "it broke" || m["result"].(map[string]any)["isError"] != true {
					t.Errorf("result event %v, want success false with the tool's isError result", m)
				}
				s.wantEnd(t)
			})
		})
	}
	t.Run("errors before the stream", func(t *testing.T) {
		for _, tc := range []struct {
			what, body string
			status     int
			want       []string
		}{
			{"empty body", "", 400, []string{"empty body"}},
			{"array body", "[" + callJSON("example__echo", `{}`) + "]", 400, []string{"must be a JSON object", "got an array"}},
			{"arguments number", callJSON("example__echo", `5`), 400, []string{"invalid arguments"}},
			{"name missing", `{"function":{"arguments":{}}}`, 400, []string{"function.name is required"}},
			{"unknown tool", callJSON("example__nope", `{}`), 404, []string{"unknown tool", "example__nope"}},
		} {
			t.Run(tc.what, func(t *testing.T) {
				var m map[string]any
				e.json(t, http.MethodPost, "/mcp_hub/call_stream", tc.body, tc.status, &m)
				wantError(t, m, tc.want...)
			})
		}
	})
}

// approvalServer is the example server over stdio with delete_* and
// slow_count needing approval.
func approvalServer() config.Server {
	srv := stdioExample("example")
	srv.RequireApproval = []string{"delete_*", "slow_count"}
	return srv
}

func TestCallStreamApproval(t *testing.T) {
	e := startHubConfig(t, api.Options{Heartbeat: 50 * time.Millisecond}, nil, approvalServer())
	const tool, args = "example__slow_count", `{"count":3,"delay_ms":10}`
	pending := func(t *testing.T) (*sseStream, string) {
		s := e.openStream(t, http.MethodPost, "/mcp_hub/call_stream", callJSON(tool, args), nil)
		m := s.nextNamed(t, "pending")
		return s, wantPending(t, m, tool)
	}
	t.Run("approved", func(t *testing.T) {
		s, id := pending(t)
		m := e.approve(t, approveJSON(id, tool, args), http.StatusOK)
		wantKeys(t, m, "success", "tool", "result", "content")
		if m["success"] != true || m["content"] != "counted to 3" {
			t.Errorf("approve answered %v", m)
		}
		wantProgress(t, s, 3, false)
		wantSuccess(t, s.nextNamed(t, "result"), tool, "counted to 3")
		s.wantEnd(t)
	})
	t.Run("heartbeat and rejected", func(t *testing.T) {
		s, id := pending(t)
		// Undecided, the stream stays open and sends comments.
		if ev := s.nextItem(t); !ev.comment {
			t.Fatalf("event %q (data %s) while the call waits, want a heartbeat comment", ev.name, ev.data)
		}
		var r map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/reject", `{"approval_id":"`+id+`","reason":"not now"}`, http.StatusOK, &r)
		wantStreamError(t, s.nextNamed(t, "rejected"), http.StatusForbidden, id, "rejected", "not now")
		s.wantEnd(t)
	})
	t.Run("drain", func(t *testing.T) { // last: Drain ends every later wait too
		s, id := pending(t)
		e.hub.Drain()
		wantStreamError(t, s.nextNamed(t, "error"), http.StatusServiceUnavailable, id, "hub stopped", id)
		s.wantEnd(t)
		if st := e.approvalState(t, id); st != "pending" {
			t.Errorf("state %q after drain, want pending", st)
		}
	})
}

// wantStreamError checks a StreamErrorEvent; approvalID "" means none.
func wantStreamError(t testing.TB, m map[string]any, status int, approvalID string, want ...string) {
	t.Helper()
	if approvalID != "" {
		wantKeys(t, m, "success", "status", "error", "approval_id")
		if m["approval_id"] != approvalID {
			t.Errorf("approval_id %v, want %s", m["approval_id"], approvalID)
		}
	} else {
		wantKeys(t, m, "success", "status", "error")
	}
	if m["success"] != false || m["status"] != float64(status) {
		t.Errorf("event %v, want success false, status %d", m, status)
	}
	msg, _ := m["error"].(string)
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

func TestCallStreamExpired(t *testing.T) {
	e := startHubConfig(t, api.Options{}, func(c *config.Config) { c.Approval.TTL = 300 * time.Millisecond }, approvalServer())
	s := e.openStream(t, http.MethodPost, "/mcp_hub/call_stream", callJSON("example__slow_count", `{}`), nil)
	id := wantPending(t, s.nextNamed(t, "pending"), "example__slow_count")
	wantStreamError(t, s.nextNamed(t, "expired"), http.StatusGone, id, "expired", id)
	s.wantEnd(t)
	if st := e.approvalState(t, id); st != "expired" {
		t.Errorf("state %q, want expired", st)
	}
}

// TestCallStreamClientGone checks that hanging up cancels the downstream
// call. A proxy in front of tiny says when the call has reached it, so the
// test hangs up while the call runs, not before it was sent.
func TestCallStreamClientGone(t *testing.T) {
	tinyURL, cancelled := tiny(t)
	target, err := url.Parse(tinyURL)
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{}, 1)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections) // runs after the proxy closed
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: target.Scheme, Host: target.Host})
	proxy.Transport = tr
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) } // hung up: expected
	front := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte(`"tools/call"`)) && bytes.Contains(body, []byte(`"hang"`)) {
			r.Body = &signalOnEOF{Reader: bytes.NewReader(body), c: sent}
		} else {
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		proxy.ServeHTTP(w, r)
	}))
	e := startHub(t, api.Options{}, httpServer("tiny", front.URL+"/mcp")) // 10s timeout
	s := e.openStream(t, http.MethodPost, "/mcp_hub/call_stream", callJSON("tiny__hang", `{}`), nil)
	select {
	case <-sent:
	case <-time.After(sseWait):
		t.Fatal("the call never reached the server")
	}
	s.close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the downstream call still runs after the client hung up")
	}
	var h map[string]any
	e.json(t, http.MethodGet, "/mcp_hub/health", "", http.StatusOK, &h)
	if h["status"] != "ok" {
		t.Errorf("health %v after a cancelled stream", h)
	}
}

// signalOnEOF is a request body that says when it was read to the end:
// the proxy has sent the whole request on.
type signalOnEOF struct {
	*bytes.Reader
	c chan<- struct{}
}

func (b *signalOnEOF) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		select {
		case b.c <- struct{}{}:
		default:
		}
	}
	return n, err
}

func (b *signalOnEOF) Close() error { return nil }

func TestCallStreamServerDown(t *testing.T) {
	gone := serveHTTP(t, exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	e := startHub(t, api.Options{}, httpServer("gone", gone.URL+"/mcp"), downServer(t, "down"))
	t.Run("went down", func(t *testing.T) {
		gone.CloseClientConnections()
		gone.Close()
		// Its tools stay listed: the stream starts, and says why the call failed.
		s := e.openStream(t, http.MethodPost, "/mcp_hub/call_stream", callJSON("gone__echo", `{"message":"hi"}`), nil)
		wantStreamError(t, s.nextNamed(t, "error"), http.StatusServiceUnavailable, "", "server unavailable", "gone")
		s.wantEnd(t)
	})
	t.Run("never came up", func(t *testing.T) {
		// Its tools were never known: an ordinary JSON 404 before any stream.
		var m map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/call_stream", callJSON("down__echo", `{"message":"hi"}`), http.StatusNotFound, &m)
		wantError(t, m, "unknown tool", "down__echo")
	})
}

// TestCallStreamStoppedHub: after Stop, call_stream answers like /call
// (503 hub stopped), not with "unknown tool" because the catalog emptied.
func TestCallStreamStoppedHub(t *testing.T) {
	e := startHub(t, api.Options{}, httpServer("web", httpExample(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, http.MethodPost, "/mcp_hub/call_stream", strings.NewReader(callJSON("web__echo", `{"message":"hi"}`)))
	wantJSONType(t, r)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), "hub stopped") {
		t.Errorf("call_stream on a stopped hub: %d %s, want 503 hub stopped (as /call answers)", r.status, r.body)
	}
}

// Helpers for requests held open until a decision (call?wait=, racing
// approvals); approvals_test.go uses them too.

// pendingWith polls the pending list until a request for name with args
// shows up (a call waiting in another goroutine made it) and returns its id.
func (e *env) pendingWith(t testing.TB, name, args string) string {
	t.Helper()
	var want any
	if err := json.Unmarshal([]byte(args), &want); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(sseWait)
	for time.Now().Before(deadline) {
		var m struct {
			Approvals []struct {
				ID, Name  string
				Arguments any
			} `json:"approvals"`
		}
		e.json(t, http.MethodGet, "/mcp_hub/approvals?state=pending", "", http.StatusOK, &m)
		for _, a := range m.Approvals {
			if a.Name == name && reflect.DeepEqual(a.Arguments, want) {
				return a.ID
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no pending request for %s %s", name, args)
	return ""
}

// postAsync posts body in the background; the answer (status 0 and the
// error text on failure) arrives on the channel. The request is cancelled
// when the test ends, so a call the test gave up on cannot hold the server.
func (e *env) postAsync(t testing.TB, path, body string) <-chan response {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := make(chan response, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+path, strings.NewReader(body))
		if err != nil {
			c <- response{body: []byte(err.Error())}
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			c <- response{body: []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		c <- response{status: resp.StatusCode, header: resp.Header, body: b}
	}()
	return c
}

// awaitResponse waits for a postAsync answer and decodes its JSON body.
func awaitResponse(t testing.TB, c <-chan response, within time.Duration) (response, map[string]any) {
	t.Helper()
	select {
	case r := <-c:
		var m map[string]any
		if err := json.Unmarshal(r.body, &m); err != nil {
			t.Fatalf("status %d, body not JSON (%v): %s", r.status, err, r.body)
		}
		wantJSONType(t, r)
		return r, m
	case <-time.After(within):
		t.Fatalf("no answer within %v", within)
	}
	panic("unreachable")
}
