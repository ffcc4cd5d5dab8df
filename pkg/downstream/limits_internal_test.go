package downstream

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

func TestLineLimitReader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		wantErr  bool
	}{
		{"short lines", "ab\ncd\nef\n", 2, false},
		{"exactly the limit", "abcd\n", 4, false},
		{"one line over", "ab\nabcde\nab\n", 4, true},
		{"last line without newline over", "ab\nabcdef", 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var exceeded error
			r := &lineLimitReader{r: iotest.OneByteReader(strings.NewReader(tc.in)), max: tc.max, onExceeded: func(err error) { exceeded = err }}
			_, err := io.ReadAll(r)
			if got := errors.Is(err, ErrMessageTooLarge); got != tc.wantErr || (exceeded != nil) != tc.wantErr {
				t.Errorf("err = %v, onExceeded(%v); want too large: %v", err, exceeded, tc.wantErr)
			}
		})
	}
	// Big reads: the count spans chunks.
	r := &lineLimitReader{r: strings.NewReader(strings.Repeat("x", 5000) + "\n"), max: 4096}
	if _, err := io.ReadAll(r); !errors.Is(err, ErrMessageTooLarge) {
		t.Errorf("5000-byte line with a 4096 limit: %v", err)
	}
}

func TestLimitBodies(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `"`+strings.Repeat("x", 3000)+`"`)
		case "/json-chunked":
			w.Header().Set("Content-Type", "application/json")
			for range 3 {
				io.WriteString(w, strings.Repeat("x", 1000))
				w.(http.Flusher).Flush()
			}
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			for range 10 { // many events, each small: fine
				io.WriteString(w, "data: "+strings.Repeat("x", 500)+"\n\n")
			}
			io.WriteString(w, "data: "+strings.Repeat("y", 3000)+"\n\n")
		}
	}))
	defer ts.Close()
	client := newHTTPClient(ts.URL, nil, 2048)
	for _, path := range []string{"/json", "/json-chunked", "/sse"} {
		resp, err := client.Get(ts.URL + path)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if !errors.Is(err, ErrMessageTooLarge) {
			t.Errorf("%s: err = %v, want ErrMessageTooLarge", path, err)
		}
	}
	resp, err := newHTTPClient(ts.URL, nil, 1<<20).Get(ts.URL + "/sse")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); err != nil || len(b) < 8000 {
		t.Errorf("under the limit: %d bytes, %v", len(b), err)
	}
	resp.Body.Close()
}

// HTTP/2 is negotiated over TLS only: a plain http endpoint's transport
// does not set it up.
func TestHTTP2OnlyForTLS(t *testing.T) {
	for endpoint, want := range map[string]bool{
		"http://127.0.0.1:8080/mcp": false,
		"HTTP://127.0.0.1:8080/mcp": false,
		"https://example.com/mcp":   true,
		"%%not a url":               true,
	} {
		tr := newHTTPClient(endpoint, nil, 1024).Transport.(sessionEnds).next.(limitBodies).next.(*inlineTransport).fallback
		if tr.ForceAttemptHTTP2 != want {
			t.Errorf("%s: ForceAttemptHTTP2 = %v, want %v", endpoint, tr.ForceAttemptHTTP2, want)
		}
	}
}

// CloseIdleConnections reaches the pool through the body limits.
func TestCloseIdleConnectionsReachesThePool(t *testing.T) {
	var closed atomic.Bool
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "{}") }))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			closed.Store(true)
		}
	}
	ts.Start()
	defer ts.Close()
	client := newHTTPClient(ts.URL, nil, 1024)
	resp, err := client.Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	deadline := time.Now().Add(3 * time.Second)
	for !closed.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the pooled connection is still open after CloseIdleConnections")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestOwnPathSkipsIDCheck checks that a big JSON body without an id is
// refused on mcp-go's path (whose error would quote all of it) and passed
// whole to the poster's path, which reads the id itself.
func TestOwnPathSkipsIDCheck(t *testing.T) {
	big := `{"jsonrpc":"2.0","result":{"text":"` + strings.Repeat("x", bigBody) + `"}}`
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, big)
	}))
	defer ts.Close()
	c := newHTTPClient(ts.URL, nil, 16<<20)
	defer c.CloseIdleConnections()

	req, _ := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader("{}"))
	if _, err := c.Do(req); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "without a JSON-RPC id") {
		t.Errorf("mcp-go's path: %v, want the id check's error", err)
	}
	req, _ = http.NewRequest(http.MethodPost, ts.URL, strings.NewReader("{}"))
	resp, err := c.own.RoundTrip(req)
	if err != nil {
		t.Fatalf("the poster's path: %v", err)
	}
	defer resp.Body.Close()
	if b, err := bodyBytes(resp.Body); err != nil || len(b) != len(big) {
		t.Errorf("the poster's path got %d bytes (%v), want all %d", len(b), err, len(big))
	}
}
