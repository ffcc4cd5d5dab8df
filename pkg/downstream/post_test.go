package downstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/downstream"
)

// scripted is a Streamable HTTP server written by hand, so that a test can
// answer tools/call exactly as a case needs (an event stream with other
// messages first, a stream ended early, an HTTP error) and see every request
// the hub sent.
type scripted struct {
	t    *testing.T
	call func(w http.ResponseWriter, id json.RawMessage) // answers tools/call
	get  func(w http.ResponseWriter, r *http.Request)    // answers a GET resuming a stream; nil: 405
	// listen answers the standalone GET stream (no Last-Event-ID); nil: 405.
	listen func(w http.ResponseWriter, r *http.Request)
	del    func(w http.ResponseWriter, r *http.Request) // answers a DELETE; nil: 200
	// session is the id initialize gives ("" for none; set before the
	// server starts, or under mu); a request with another id gets 404.
	session   string
	noSession bool
	// reinitDelay holds the answer to every initialize but the first.
	reinitDelay time.Duration

	mu       sync.Mutex
	requests []seenRequest
}

type seenRequest struct {
	method string // JSON-RPC method, "" for an answer to the server; HTTP GET: "GET"
	id     json.RawMessage
	body   string
	header http.Header
}

func (s *scripted) seen() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.requests...)
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet {
		s.mu.Lock()
		s.requests = append(s.requests, seenRequest{method: "GET", header: r.Header.Clone()})
		s.mu.Unlock()
		switch {
		case r.Header.Get("Last-Event-ID") == "" && s.listen != nil:
			s.listen(w, r)
		case r.Header.Get("Last-Event-ID") == "" || s.get == nil:
			w.WriteHeader(http.StatusMethodNotAllowed) // no stream for notifications
		default:
			s.get(w, r)
		}
		return
	}
	if r.Method == http.MethodDelete { // the session's end, at Stop
		s.mu.Lock()
		s.requests = append(s.requests, seenRequest{method: "DELETE", header: r.Header.Clone()})
		s.mu.Unlock()
		if s.del != nil {
			s.del(w, r)
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		s.t.Errorf("request body %q: %v", body, err)
	}
	s.mu.Lock()
	s.requests = append(s.requests, seenRequest{method: msg.Method, id: msg.ID, body: string(body), header: r.Header.Clone()})
	sess := s.session
	s.mu.Unlock()

	if got := r.Header.Get("Mcp-Session-Id"); msg.Method != "initialize" && got != sess {
		http.Error(w, "unknown session", http.StatusNotFound)
		return
	}
	if sess != "" {
		w.Header().Set("Mcp-Session-Id", sess)
	}
	switch msg.Method {
	case "initialize":
		if s.count("initialize", "") > 1 {
			time.Sleep(s.reinitDelay)
		}
		writeJSON(w, msg.ID, `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"scripted","version":"1"}}`)
	case "tools/list":
		writeJSON(w, msg.ID, `{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`)
	case "ping":
		writeJSON(w, msg.ID, `{}`)
	case "tools/call":
		s.call(w, msg.ID)
	default: // notifications and the hub's answers to server requests
		w.WriteHeader(http.StatusAccepted)
	}
}

func writeJSON(w http.ResponseWriter, id json.RawMessage, result string) {
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s}`, id, result)
}

func startScripted(t *testing.T, s *scripted) *downstream.Conn {
	t.Helper()
	return startScriptedWith(t, s, downstream.Options{})
}

func startScriptedWith(t *testing.T, s *scripted, opts downstream.Options) *downstream.Conn {
	t.Helper()
	s.t = t
	if s.session == "" && !s.noSession {
		s.session = "sess-1"
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	cfg := httpServerConfig(ts.URL)
	cfg.Headers = map[string]string{"Authorization": "Bearer t0ken"}
	c, _ := startConnWith(t, cfg, opts)
	waitReady(t, c)
	return c
}

func (s *scripted) lastCall(t *testing.T) seenRequest {
	t.Helper()
	var call *seenRequest
	for _, r := range s.seen() {
		if r.method == "tools/call" {
			call = &r
		}
	}
	if call == nil {
		t.Fatal("no tools/call reached the server")
	}
	return *call
}

const okResult = `{"content":[{"type":"text","text":"ok"}],"x-extra":{"kept":true}}`

func TestPostJSONAnswerAsSent(t *testing.T) {
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
	c := startScripted(t, s)
	res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"a":1}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != okResult {
		t.Errorf("result %s, want it as sent: %s", res, okResult)
	}
	call := s.lastCall(t)
	for k, want := range map[string]string{
		"Mcp-Session-Id": "sess-1", "Mcp-Protocol-Version": "2025-11-25", "Authorization": "Bearer t0ken",
		"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
	} {
		if got := call.header.Get(k); got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var body struct {
		JSONRPC string `json:"jsonrpc"`
		Params  struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(call.body), &body); err != nil {
		t.Fatalf("body %s: %v", call.body, err)
	}
	if body.JSONRPC != "2.0" || body.Params.Name != "echo" || string(body.Params.Arguments) != `{"a":1}` {
		t.Errorf("request body %s", call.body)
	}
}

// An event stream may carry notifications, requests from the server,
// comments and events without data before the response.
func TestPostEventStreamAnswer(t *testing.T) {
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) {
		w.Header().Set("Content-Type", "text/event-stream")
		fl := w.(http.Flusher)
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"hi\"}}\n\n")
		fmt.Fprint(w, ": a comment\n\nid: prime\ndata:\n\n")
		fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"ping\"}\n\n")
		fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"id\":\"srv-2\",\"method\":\"sampling/createMessage\",\"params\":{}}\n\n")
		fmt.Fprint(w, "data: not json\n\n")
		fl.Flush()
		// The response, its data split over two lines, CRLF line ends.
		half := strings.Index(okResult, `,"x-extra"`) // a line break between members
		fmt.Fprintf(w, "id: e7\r\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s\r\ndata: %s}\r\n\r\n", id, okResult[:half], okResult[half:])
	}}
	c := startScripted(t, s)
	res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	half := strings.Index(okResult, `,"x-extra"`)
	if want := okResult[:half] + "\n" + okResult[half:]; string(res) != want {
		t.Errorf("result %s, want %s", res, want)
	}
	// The server's requests are answered, off the caller's path.
	answers := func() map[string]string {
		m := map[string]string{}
		for _, r := range s.seen() {
			if r.method == "" && r.id != nil {
				m[string(r.id)] = r.body
			}
		}
		return m
	}
	waitFor(t, "answers to the server's requests", 5*time.Second, func() bool { return len(answers()) == 2 })
	a := answers()
	if got := a[`"srv-1"`]; got != `{"jsonrpc":"2.0","id":"srv-1","result":{}}` {
		t.Errorf("answer to ping: %s", got)
	}
	if got := a[`"srv-2"`]; !strings.Contains(got, `"code":-32601`) {
		t.Errorf("answer to sampling: %s", got)
	}
	for _, r := range s.seen() {
		if r.method == "" && r.id != nil && r.header.Get("Mcp-Session-Id") != "sess-1" {
			t.Errorf("answer without the session: %v", r.header)
		}
	}
}

func TestPostEventStreamProgress(t *testing.T) {
	s := &scripted{}
	s.call = func(w http.ResponseWriter, id json.RawMessage) {
		var tok string
		for _, r := range s.seen() {
			if r.method == "tools/call" {
				var b struct {
					Params struct {
						Meta struct{ ProgressToken string } `json:"_meta"`
					} `json:"params"`
				}
				_ = json.Unmarshal([]byte(r.body), &b)
				tok = b.Params.Meta.ProgressToken
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":%q,\"progress\":%d,\"total\":3}}\n\n", tok, i)
		}
		fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}\n\n", id, okResult)
	}
	c := startScripted(t, s)
	var mu sync.Mutex
	var got []float64
	_, err := c.CallTool(context.Background(), "echo", nil, func(p downstream.Progress) {
		mu.Lock()
		got = append(got, p.Progress)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("progress %v, want [1 2 3]", got)
	}
}

// A server may end the stream before the response once it sent an event
// id; the hub reopens it with Last-Event-ID (SEP-1699).
func TestPostEventStreamResumed(t *testing.T) {
	answer := make(chan json.RawMessage, 1)
	s := &scripted{}
	s.call = func(w http.ResponseWriter, id json.RawMessage) {
		answer <- id
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "id: ev-1\nretry: 20\ndata:\n\n") // primes the client, then ends
	}
	s.get = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "id: ev-2\ndata: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":%s}\n\n", <-answer, okResult)
	}
	c := startScripted(t, s)
	res, err := c.CallTool(context.Background(), "echo", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != okResult {
		t.Errorf("result %s", res)
	}
	var resumed bool
	for _, r := range s.seen() {
		if r.method == "GET" && r.header.Get("Last-Event-ID") == "ev-1" {
			resumed = true
			if r.header.Get("Mcp-Session-Id") != "sess-1" || r.header.Get("Authorization") != "Bearer t0ken" {
				t.Errorf("resuming GET headers: %v", r.header)
			}
		}
	}
	if !resumed {
		t.Error("no GET with Last-Event-ID: ev-1")
	}
}

func TestPostErrors(t *testing.T) {
	cases := []struct {
		name  string
		call  func(w http.ResponseWriter, id json.RawMessage)
		check func(t *testing.T, err error)
	}{
		{"json-rpc error with HTTP 500", func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32000,"message":"boom","data":{"why":"x"}}}`, id)
		}, func(t *testing.T, err error) {
			var rpc *downstream.RPCError
			if !errors.As(err, &rpc) || rpc.Code != -32000 || rpc.Message != "boom" || string(rpc.Data) != `{"why":"x"}` {
				t.Errorf("got %v, want the server's JSON-RPC error", err)
			}
		}},
		{"plain HTTP 503", func(w http.ResponseWriter, id json.RawMessage) {
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
		}, func(t *testing.T, err error) {
			if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "overloaded") {
				t.Errorf("got %v, want the status and the server's text", err)
			}
		}},
		{"another request's id", func(w http.ResponseWriter, id json.RawMessage) {
			writeJSON(w, json.RawMessage(`424242`), okResult)
		}, func(t *testing.T, err error) {
			if !errors.Is(err, downstream.ErrProtocol) || !strings.Contains(err.Error(), "424242") {
				t.Errorf("got %v, want a protocol error naming the id", err)
			}
		}},
		{"stream ended without the response", func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n")
		}, func(t *testing.T, err error) {
			if !errors.Is(err, downstream.ErrProtocol) || !strings.Contains(err.Error(), "without the response") {
				t.Errorf("got %v", err)
			}
		}},
		{"json-rpc error with null data", func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"error":{"code":-32602,"message":"bad","data":null}}`, id)
		}, func(t *testing.T, err error) {
			var rpc *downstream.RPCError
			if !errors.As(err, &rpc) || rpc.Code != -32602 || rpc.Data != nil {
				t.Errorf("got %v (data %q), want the error without data", err, rpc.Data)
			}
		}},
		{"another request's id on the stream", func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":424242,\"result\":%s}\n\n", okResult)
		}, func(t *testing.T, err error) {
			if !errors.Is(err, downstream.ErrProtocol) || !strings.Contains(err.Error(), "424242") {
				t.Errorf("got %v, want a protocol error naming the id, at once", err)
			}
		}},
		{"resumption refused", func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "id: ev-1\nretry: 10\ndata:\n\n")
		}, func(t *testing.T, err error) {
			if !errors.Is(err, downstream.ErrNotConnected) || !strings.Contains(err.Error(), "405") {
				t.Errorf("got %v, want not connected, naming the GET's status", err)
			}
		}},
		{"unknown content type", func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<p>hi</p>")
		}, func(t *testing.T, err error) {
			if !errors.Is(err, downstream.ErrProtocol) || !strings.Contains(err.Error(), "text/html") {
				t.Errorf("got %v", err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := startScripted(t, &scripted{call: tc.call})
			_, err := c.CallTool(context.Background(), "echo", nil, nil)
			tc.check(t, err)
		})
	}
}

// Stopping the connection ends a call waiting on the server, well before
// the call's timeout (5 s here).
func TestPostEndsWithSession(t *testing.T) {
	release := make(chan struct{})
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { <-release }}
	c := startScripted(t, s)
	t.Cleanup(func() { close(release) }) // runs first: lets the handler end before the server closes

	errc := make(chan error, 1)
	go func() {
		_, err := c.CallTool(context.Background(), "echo", nil, nil)
		errc <- err
	}()
	waitFor(t, "the call to reach the server", 5*time.Second, func() bool {
		for _, r := range s.seen() {
			if r.method == "tools/call" {
				return true
			}
		}
		return false
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("the call succeeded though its session ended")
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("the call ended %s after the stop", took)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the call still waits 3 s after its session ended")
	}
}

// The DELETE that ends a session carries the server's configured headers
// (mcp-go sends it without them), and a server that never answers it holds
// the stop for about a second, not mcp-go's five.
func TestSessionEnd(t *testing.T) {
	hang := make(chan struct{})
	s := &scripted{del: func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}}
	c := startScripted(t, s)
	t.Cleanup(func() { close(hang) })

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stop took %s with a server that does not answer the DELETE", took)
	}
	var del *seenRequest
	for _, r := range s.seen() {
		if r.method == "DELETE" {
			del = &r
		}
	}
	if del == nil {
		t.Fatal("no DELETE ended the session")
	}
	if got := del.header.Get("Authorization"); got != "Bearer t0ken" {
		t.Errorf("DELETE Authorization = %q, want the configured header", got)
	}
	if got := del.header.Get("Mcp-Session-Id"); got != "sess-1" {
		t.Errorf("DELETE Mcp-Session-Id = %q, want sess-1", got)
	}
}

// Each SSE line is bounded, and so is an event of many data lines.
func TestPostEventTooLarge(t *testing.T) {
	const limit = 4 << 10
	line := strings.Repeat("x", 1000)
	cases := map[string]func(w http.ResponseWriter, id json.RawMessage){
		"one long line": func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"t\":\"%s\"}}\n\n", id, strings.Repeat(line, 8))
		},
		"many data lines": func(w http.ResponseWriter, id json.RawMessage) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"t\":1", id)
			for range 8 {
				fmt.Fprintf(w, "\ndata: ,\"%s\":1", line[:990])
			}
			fmt.Fprint(w, "}}\n\n")
		},
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			c := startScriptedWith(t, &scripted{call: call}, downstream.Options{MaxMessageBytes: limit})
			_, err := c.CallTool(context.Background(), "echo", nil, nil)
			if !errors.Is(err, downstream.ErrProtocol) || !errors.Is(err, downstream.ErrMessageTooLarge) {
				t.Errorf("got %v, want a protocol error for a message over the limit", err)
			}
		})
	}
}

// A line longer than the reader's buffer is gathered whole, also when
// another data line follows it.
func TestPostLongLine(t *testing.T) {
	long := strings.Repeat("y", 100<<10)
	want := `{"t":"` + long + `"` + "\n" + `,"u":2}`
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprintf(w, "data: {\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"t\":\"%s\"\ndata: ,\"u\":2}}\n\n", id, long)
	}}
	c := startScripted(t, s)
	res, err := c.CallTool(context.Background(), "echo", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res) != want {
		t.Errorf("result of %d bytes, want %d", len(res), len(want))
	}
}

// A server that gives no session id gets none back.
func TestPostWithoutSession(t *testing.T) {
	s := &scripted{noSession: true, call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
	c := startScripted(t, s)
	if _, err := c.CallTool(context.Background(), "echo", nil, nil); err != nil {
		t.Fatal(err)
	}
	if h := s.lastCall(t).header; len(h.Values("Mcp-Session-Id")) != 0 {
		t.Errorf("Mcp-Session-Id sent: %q", h.Values("Mcp-Session-Id"))
	}
}

// A server that forgets the session (404) gets a new handshake, and the
// calls after it carry the new session.
func TestPostAfterReinitialize(t *testing.T) {
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
	c := startScripted(t, s)
	s.mu.Lock()
	s.session = "sess-2"
	s.mu.Unlock()
	for range 2 {
		if _, err := c.CallTool(context.Background(), "echo", nil, nil); err != nil {
			t.Fatal(err)
		}
		if got := s.lastCall(t).header.Get("Mcp-Session-Id"); got != "sess-2" {
			t.Errorf("call on session %q, want sess-2", got)
		}
	}
	inits := 0
	for _, r := range s.seen() {
		if r.method == "initialize" {
			inits++
		}
	}
	if inits != 2 {
		t.Errorf("%d handshakes, want 2", inits)
	}
}

// "error": null beside a result is no error.
func TestPostErrorNullIsNoError(t *testing.T) {
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":%s,"error":null}`, id, okResult)
	}}
	c := startScripted(t, s)
	res, err := c.CallTool(context.Background(), "echo", nil, nil)
	if err != nil || string(res) != okResult {
		t.Fatalf("got %s, %v", res, err)
	}
}

// TestPostRedirectFollowed checks that a call answered with a redirect
// (which the hub's own request path does not follow itself) is sent again
// where it points, with its body and headers, and answered from there.
func TestPostRedirectFollowed(t *testing.T) {
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
	s.t, s.session = t, "sess-1"
	var redirected atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/moved" && isCall(r) {
			redirected.Add(1)
			http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	cfg := httpServerConfig(ts.URL)
	cfg.Headers = map[string]string{"Authorization": "Bearer t0ken"}
	c, _ := startConn(t, cfg)
	waitReady(t, c)
	res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"a":1}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	// One redirect: the call is sent on to where it points, not to the
	// server that redirected it a second time (which may have acted on it).
	if string(res) != okResult || redirected.Load() != 1 {
		t.Errorf("result %s after %d redirects, want it as sent after 1", res, redirected.Load())
	}
	call := s.lastCall(t)
	if call.header.Get("Mcp-Session-Id") != "sess-1" || call.header.Get("Authorization") != "Bearer t0ken" ||
		!strings.Contains(call.body, `"arguments":{"a":1}`) {
		t.Errorf("the redirected call lost its headers or body: %v %s", call.header, call.body)
	}
}

// TestPostRedirectFailureMayHaveArrived checks that a call redirected to a
// server that cannot be reached is not reported undelivered: the server
// that redirected it had it, and may have acted on it.
// A 303 is not followed at all (a POST would go on as a GET): the same
// holds for it.
func TestPostRedirectFailureMayHaveArrived(t *testing.T) {
	for _, code := range []int{http.StatusTemporaryRedirect, http.StatusSeeOther} {
		s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
		s.t, s.session = t, "sess-1"
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		nowhere := "http://" + ln.Addr().String() + "/mcp"
		ln.Close() // refused from now on
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if isCall(r) {
				http.Redirect(w, r, nowhere, code)
				return
			}
			s.ServeHTTP(w, r)
		}))
		t.Cleanup(ts.Close)
		c, _ := startConn(t, httpServerConfig(ts.URL))
		waitReady(t, c)
		_, err = c.CallTool(context.Background(), "echo", json.RawMessage(`{}`), nil)
		if err == nil || downstream.NotDelivered(err) {
			t.Errorf("%d to a refusing server: %v; NotDelivered = %v, want false", code, err, downstream.NotDelivered(err))
		}
		if code == http.StatusSeeOther && !errors.Is(err, downstream.ErrProtocol) {
			t.Errorf("303: %v, want ErrProtocol (a POST cannot follow it)", err)
		}
	}
}

// TestPostRedirectOnce checks that a call redirected a second time fails
// with ErrProtocol, having reached the server twice, not three times.
func TestPostRedirectOnce(t *testing.T) {
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
	s.t, s.session = t, "sess-1"
	var redirected atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCall(r) {
			redirected.Add(1)
			http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect) // from /moved too
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	c, _ := startConn(t, httpServerConfig(ts.URL))
	waitReady(t, c)
	_, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{}`), nil)
	if !errors.Is(err, downstream.ErrProtocol) || downstream.NotDelivered(err) {
		t.Errorf("redirected twice: %v, want ErrProtocol, delivered", err)
	}
	if n := redirected.Load(); n != 2 {
		t.Errorf("the call reached the redirecting server %d times, want 2", n)
	}
}

// TestPostRedirectOtherHostDropsCredentials checks that a call redirected
// to another host goes there without the configured Authorization, as
// net/http's own redirects do, and keeps the session's headers.
func TestPostRedirectOtherHostDropsCredentials(t *testing.T) {
	s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
	s.t, s.session = t, "sess-1"
	other := httptest.NewServer(s)
	t.Cleanup(other.Close)
	// The same server under another name: localhost, not 127.0.0.1.
	elsewhere := strings.Replace(other.URL, "127.0.0.1", "localhost", 1) + "/mcp"
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isCall(r) {
			http.Redirect(w, r, elsewhere, http.StatusTemporaryRedirect)
			return
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	cfg := httpServerConfig(ts.URL)
	cfg.Headers = map[string]string{"Authorization": "Bearer t0ken", "X-Tenant": "a"}
	c, _ := startConn(t, cfg)
	waitReady(t, c)
	res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"a":1}`), nil)
	if err != nil || string(res) != okResult {
		t.Fatalf("CallTool: %s, %v", res, err)
	}
	call := s.lastCall(t)
	if call.header.Get("Authorization") != "" || call.header.Get("X-Tenant") != "a" || call.header.Get("Mcp-Session-Id") != "sess-1" {
		t.Errorf("redirected to another host with headers %v: want no Authorization, the rest kept", call.header)
	}
}

// TestPostRedirectToRefusal checks that a call redirected to a location
// that answers 401 or 404 fails there, delivered: handing it to mcp-go's
// transport, as a 401 or 404 of the server itself is, would send it to
// the server that redirected it once more, and on after it again.
func TestPostRedirectToRefusal(t *testing.T) {
	for _, code := range []int{http.StatusNotFound, http.StatusUnauthorized} {
		s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
		s.t, s.session = t, "sess-1"
		var redirected, refused atomic.Int64
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.URL.Path == "/moved":
				refused.Add(1)
				w.WriteHeader(code)
			case isCall(r):
				redirected.Add(1)
				http.Redirect(w, r, "/moved", http.StatusTemporaryRedirect)
			default:
				s.ServeHTTP(w, r)
			}
		}))
		t.Cleanup(ts.Close)
		c, _ := startConn(t, httpServerConfig(ts.URL))
		waitReady(t, c)
		_, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{}`), nil)
		if !errors.Is(err, downstream.ErrProtocol) || downstream.NotDelivered(err) {
			t.Errorf("redirected to a %d: %v, want ErrProtocol, delivered", code, err)
		}
		if r, f := redirected.Load(), refused.Load(); r != 1 || f != 1 {
			t.Errorf("redirected to a %d: the redirecting server had the call %d times and the refusing one %d, want 1 and 1", code, r, f)
		}
	}
}

// TestHandshakeRedirectOnce checks that requests sent through http.Client
// (here the handshake) follow redirects by the poster's rule: one 307 is
// followed; a 303, which would send the POST on as a GET, and a second
// redirect are not, and the connection attempt fails saying why.
func TestHandshakeRedirectOnce(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  int
		again bool // /hop redirects once more, to /end
		ready bool
	}{
		{"307", http.StatusTemporaryRedirect, false, true},
		{"303", http.StatusSeeOther, false, false},
		{"twice", http.StatusTemporaryRedirect, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
			s.t, s.session = t, "sess-1"
			var mu sync.Mutex
			hits := map[string]int{}
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				hits[r.Method+" "+r.URL.Path]++
				mu.Unlock()
				switch {
				case r.URL.Path == "/mcp" && r.Method == http.MethodPost:
					http.Redirect(w, r, "/hop", tc.code)
				case r.URL.Path == "/hop" && tc.again:
					http.Redirect(w, r, "/end", http.StatusTemporaryRedirect)
				default:
					s.ServeHTTP(w, r)
				}
			}))
			t.Cleanup(ts.Close)
			c, _ := startConn(t, httpServerConfig(ts.URL+"/mcp"))
			if tc.ready {
				waitReady(t, c)
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			if err := c.WaitFirstAttempt(ctx); err != nil {
				t.Fatal(err)
			}
			st := c.Status()
			mu.Lock()
			defer mu.Unlock()
			if st.Healthy() || !strings.Contains(st.LastError, "redirect") || hits["GET /hop"]+hits["POST /end"] != 0 {
				t.Errorf("healthy %v, last error %q, requests %v: want the handshake refused at the redirect", st.Healthy(), st.LastError, hits)
			}
		})
	}
}

// isCall reports whether r is a POST of tools/call, leaving its body to be
// read again.
func isCall(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	return bytes.Contains(body, []byte(`"tools/call"`))
}
