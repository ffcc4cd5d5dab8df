package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/mcpserver"
	"github.com/mcphub/mcphub/pkg/reqid"
)

// generatedID is what the hub makes when a request brings no usable id.
var generatedID = regexp.MustCompile(`^[a-z2-7]{16}$`)

// logSink collects the JSON lines of a logger built the way cmd/mcphub
// builds it (wrapped in reqid.Handler), at debug level, from the hub's
// goroutines as well as the handlers'.
type logSink struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) logger() *slog.Logger {
	return slog.New(reqid.NewHandler(slog.NewJSONHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug})))
}

// of returns the lines that name request id.
func (s *logSink) of(t testing.TB, id string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for l := range strings.Lines(s.b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON (%v): %q", err, l)
		}
		if m[reqid.Key] == id {
			out = append(out, m)
		}
	}
	return out
}

// waitLine waits until a line of request id has msg and every attribute of
// want (compared as text), and returns it. The access log line is written
// after the answer went out, hence the wait.
func (s *logSink) waitLine(t testing.TB, id, msg string, want map[string]string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		lines := s.of(t, id)
	next:
		for _, l := range lines {
			if l["msg"] != msg {
				continue
			}
			for k, v := range want {
				if got := fmt.Sprint(l[k]); !strings.Contains(got, v) {
					continue next
				}
			}
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q line with %v for request %s; its lines: %v", msg, want, id, lines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// loggedHub runs the real hub behind the router with the MCP endpoint
// mounted, everything logging to sink, until the test ends. With audit
// set, the audit log goes there, as pkg/app opens it: a JSON handler of
// its own, not wrapped in reqid.Handler.
func loggedHub(t *testing.T, sink, audit *logSink, servers ...config.Server) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Servers = servers
	log := sink.logger()
	opts := hub.Options{Logger: log}
	if audit != nil {
		opts.Audit = slog.New(slog.NewJSONHandler(audit, nil))
	}
	h, err := hub.New(cfg, opts)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	h.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("hub.Stop: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.WaitFirstAttempt(ctx); err != nil {
		t.Fatalf("servers did not try to connect: %v", err)
	}
	waitSettled(t, h)
	m := mcpserver.New(h, mcpserver.Options{Logger: log, Version: "test"})
	m.Start()
	ts := httptest.NewServer(api.NewRouter(h, api.Options{Logger: log, MCP: m}))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { // before Close: MCP streams would hold it up
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Stop(ctx); err != nil {
			t.Errorf("mcpserver.Stop: %v", err)
		}
	})
	return &env{hub: h, url: ts.URL}
}

// recordingExample is the example server over Streamable HTTP; it keeps
// the tools/call requests it receives.
type recordingExample struct {
	url   string
	mu    sync.Mutex
	calls []recordedCall
}

type recordedCall struct {
	header http.Header
	body   string
}

func newRecordingExample(t *testing.T) *recordingExample {
	t.Helper()
	ex := &recordingExample{}
	inner := exampleserver.NewStreamableHTTPServer(exampleserver.New())
	ts := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			if strings.Contains(string(body), `"method":"tools/call"`) ||
				strings.Contains(string(body), `"method":"resources/read"`) ||
				strings.Contains(string(body), `"method":"prompts/get"`) {
				ex.mu.Lock()
				ex.calls = append(ex.calls, recordedCall{header: r.Header.Clone(), body: string(body)})
				ex.mu.Unlock()
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		inner.ServeHTTP(w, r)
	}))
	ex.url = ts.URL + "/mcp"
	return ex
}

// callWith returns the tools/call the server received whose body holds s.
func (ex *recordingExample) callWith(t *testing.T, s string) recordedCall {
	t.Helper()
	ex.mu.Lock()
	defer ex.mu.Unlock()
	for _, c := range ex.calls {
		if strings.Contains(c.body, s) {
			return c
		}
	}
	t.Fatalf("no tools/call with %s among %d", s, len(ex.calls))
	return recordedCall{}
}

// TestRequestID: every answer carries X-Request-ID, the caller's when it
// is sane and a fresh one otherwise, errors included.
func TestRequestID(t *testing.T) {
	e := startHub(t, api.Options{}, stdioExample("example"))
	idOf := func(t *testing.T, path string, headers ...string) string {
		t.Helper()
		r := e.send(t, http.MethodGet, path, "", headers...)
		if vs := r.header.Values(reqid.Header); len(vs) != 1 {
			t.Fatalf("GET %s: %s headers %q, want one", path, reqid.Header, vs)
		}
		return r.header.Get(reqid.Header)
	}
	t.Run("echoed", func(t *testing.T) {
		for _, id := range []string{"caller-id-42", "0f8fad5b-d9cb-469f-a165-70867728950e", strings.Repeat("x", reqid.MaxLen)} {
			if got := idOf(t, "/mcp_hub/health", reqid.Header, id); got != id {
				t.Errorf("sent %q, echoed %q", id, got)
			}
		}
	})
	t.Run("generated", func(t *testing.T) {
		seen := map[string]bool{}
		for range 20 {
			id := idOf(t, "/mcp_hub/tools")
			if !generatedID.MatchString(id) || seen[id] {
				t.Fatalf("generated id %q (seen before: %v)", id, seen[id])
			}
			seen[id] = true
		}
	})
	t.Run("invalid replaced", func(t *testing.T) {
		for _, bad := range []string{strings.Repeat("x", reqid.MaxLen+1), "two words", "tab\tinside", "héllo", `a"b c`} {
			if got := idOf(t, "/mcp_hub/health", reqid.Header, bad); !generatedID.MatchString(got) {
				t.Errorf("sent %q, got %q; want a generated id", bad, got)
			}
		}
	})
	t.Run("error answers", func(t *testing.T) {
		if got := idOf(t, "/no/such/endpoint", reqid.Header, "err-404"); got != "err-404" {
			t.Errorf("404: %q", got)
		}
		if got := idOf(t, "/mcp_hub/tools?server=nope", reqid.Header, "err-unknown"); got != "err-unknown" {
			t.Errorf("unknown server: %q", got)
		}
	})
}

// metaOf is the _meta of a recorded request (tools/call, resources/read,
// prompts/get).
func metaOf(t *testing.T, call recordedCall) map[string]any {
	t.Helper()
	var msg struct {
		Params struct {
			Meta map[string]any `json:"_meta"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(call.body), &msg); err != nil {
		t.Fatalf("recorded tools/call: %v: %s", err, call.body)
	}
	return msg.Params.Meta
}

// TestRequestIDInLogs: the id of a REST call is in the access log line,
// the hub's line for the call, the downstream request's line and the audit
// record, for a call that works and one that fails, and the downstream
// server receives it in an X-Request-ID header, and in the call's _meta
// when its configuration asks for that (request_id_meta).
func TestRequestIDInLogs(t *testing.T) {
	var sink, audit logSink
	web, webMeta := newRecordingExample(t), newRecordingExample(t)
	tinyURL, _ := tiny(t)
	withMeta := httpServer("webmeta", webMeta.url)
	withMeta.RequestIDMeta = true
	withMeta.Headers = map[string]string{"x-request-id": "configured"} // the configuration's header wins
	e := loggedHub(t, &sink, &audit, httpServer("web", web.url), withMeta, httpServer("tiny", tinyURL))

	t.Run("ok", func(t *testing.T) {
		const id = "rest-call-ok-1"
		r := e.send(t, http.MethodPost, "/mcp_hub/call", callJSON("web__echo", `{"message":"hi"}`), reqid.Header, id)
		wantStatus(t, r, http.StatusOK, `"content":"hi"`)
		if got := r.header.Get(reqid.Header); got != id {
			t.Errorf("echoed %q, want %q", got, id)
		}
		sink.waitLine(t, id, "http", map[string]string{"path": "/mcp_hub/call", "status": "200"})
		sink.waitLine(t, id, "tool call", map[string]string{"server": "web", "tool": "echo", "outcome": "ok"})
		sink.waitLine(t, id, "downstream request", map[string]string{"server": "web", "method": "tools/call"})
		audit.waitLine(t, id, "call", map[string]string{"server": "web", "tool": "echo", "outcome": "ok"})

		// The server can match its logs with the hub's, by the header; its
		// _meta stays empty, which spares it decoding one.
		call := web.callWith(t, `"message":"hi"`)
		if got := call.header.Values(reqid.Header); len(got) != 1 || got[0] != id {
			t.Errorf("downstream tools/call %s = %q, want %q", reqid.Header, got, id)
		}
		if meta := metaOf(t, call); meta != nil {
			t.Errorf("downstream tools/call _meta = %v, want none", meta)
		}
	})
	t.Run("request_id_meta", func(t *testing.T) {
		const id = "rest-call-meta-1"
		r := e.send(t, http.MethodPost, "/mcp_hub/call", callJSON("webmeta__echo", `{"message":"meta"}`), reqid.Header, id)
		wantStatus(t, r, http.StatusOK, `"content":"meta"`)
		call := webMeta.callWith(t, `"message":"meta"`)
		if meta := metaOf(t, call); len(meta) != 1 || meta["io.mcphub/request-id"] != id {
			t.Errorf("downstream tools/call _meta = %v, want the request id alone", meta)
		}
		if got := call.header.Values(reqid.Header); len(got) != 1 || got[0] != "configured" {
			t.Errorf("downstream tools/call %s = %q, want the configured value", reqid.Header, got)
		}
	})
	t.Run("resources and prompts", func(t *testing.T) {
		// The other requests made for a hub request: the header always,
		// _meta only with request_id_meta.
		for _, srv := range []struct {
			name   string
			ex     *recordingExample
			withID bool
		}{{"web", web, false}, {"webmeta", webMeta, true}} {
			for _, rq := range []struct{ path, body, method string }{
				{"/mcp_hub/resources/read", `{"uri":"note://welcome","server":"` + srv.name + `"}`, `"method":"resources/read"`},
				{"/mcp_hub/prompts/get", `{"name":"` + srv.name + `__greet","arguments":{"name":"Ada"}}`, `"method":"prompts/get"`},
			} {
				id := "rq-" + srv.name + "-" + path.Base(rq.path)
				r := e.send(t, http.MethodPost, rq.path, rq.body, reqid.Header, id)
				wantStatus(t, r, http.StatusOK, "")
				call := srv.ex.callWith(t, rq.method)
				if got := metaOf(t, call)["io.mcphub/request-id"]; (got == id) != srv.withID {
					t.Errorf("%s to %s: _meta request id %v, want it: %v", rq.path, srv.name, got, srv.withID)
				}
				if want := map[bool]string{false: id, true: "configured"}[srv.withID]; call.header.Get(reqid.Header) != want {
					t.Errorf("%s to %s: %s = %q, want %q", rq.path, srv.name, reqid.Header, call.header.Get(reqid.Header), want)
				}
			}
		}
	})
	t.Run("streamed call", func(t *testing.T) {
		// With progress, _meta carries the progress token, and the id
		// where the configuration asks for it.
		const id = "rest-stream-1"
		for _, srv := range []struct {
			name   string
			ex     *recordingExample
			withID bool
		}{{"web", web, false}, {"webmeta", webMeta, true}} {
			r := e.send(t, http.MethodPost, "/mcp_hub/call_stream", callJSON(srv.name+"__slow_count", `{"count":2,"delay_ms":1}`), reqid.Header, id)
			wantStatus(t, r, http.StatusOK, "counted to 2")
			body := srv.ex.callWith(t, `"delay_ms":1`).body
			if !strings.Contains(body, `"progressToken":"mcphub-`) || strings.Contains(body, `"io.mcphub/request-id":"`+id+`"`) != srv.withID {
				t.Errorf("downstream tools/call to %s: %s", srv.name, body)
			}
		}
		sink.waitLine(t, id, "tool call", map[string]string{"tool": "slow_count", "outcome": "ok"})
	})
	t.Run("failing call", func(t *testing.T) {
		const id = "rest-call-boom-1"
		r := e.send(t, http.MethodPost, "/mcp_hub/call", callJSON("tiny__boom", `{}`), reqid.Header, id)
		if r.status < 500 || r.header.Get(reqid.Header) != id {
			t.Fatalf("status %d, %s %q; body %s", r.status, reqid.Header, r.header.Get(reqid.Header), r.body)
		}
		sink.waitLine(t, id, "http", map[string]string{"path": "/mcp_hub/call", "status": fmt.Sprint(r.status)})
		// A JSON-RPC error from the server: outcome as calls_total names it.
		sink.waitLine(t, id, "tool call", map[string]string{"server": "tiny", "tool": "boom", "outcome": "protocol", "err": "boom"})
		sink.waitLine(t, id, "downstream request", map[string]string{"server": "tiny", "method": "tools/call", "err": "boom"})
		audit.waitLine(t, id, "call", map[string]string{"server": "tiny", "outcome": "protocol", "error": "boom"})
	})
	t.Run("generated id logged", func(t *testing.T) {
		r := e.send(t, http.MethodPost, "/mcp_hub/call", callJSON("web__echo", `{"message":"anon"}`))
		id := r.header.Get(reqid.Header)
		if !generatedID.MatchString(id) {
			t.Fatalf("generated id %q", id)
		}
		sink.waitLine(t, id, "tool call", map[string]string{"server": "web", "outcome": "ok"})
	})
}

// TestRequestIDOverMCP: /mcp goes through the same middleware: the answer
// echoes the id, and a tool call over MCP logs it.
func TestRequestIDOverMCP(t *testing.T) {
	var sink logSink
	web := newRecordingExample(t)
	e := loggedHub(t, &sink, nil, httpServer("web", web.url))

	t.Run("raw initialize", func(t *testing.T) {
		init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}`
		headers := []string{"Content-Type", "application/json", "Accept", "application/json, text/event-stream"}
		r := e.send(t, http.MethodPost, "/mcp", init, append(headers, reqid.Header, "mcp-init-1")...)
		if r.status != http.StatusOK || r.header.Get(reqid.Header) != "mcp-init-1" {
			t.Errorf("initialize: %d, %s %q; body %s", r.status, reqid.Header, r.header.Get(reqid.Header), r.body)
		}
		r = e.send(t, http.MethodPost, "/mcp", init, headers...)
		if got := r.header.Get(reqid.Header); r.status != http.StatusOK || !generatedID.MatchString(got) {
			t.Errorf("initialize without an id: %d, %s %q", r.status, reqid.Header, got)
		}
	})
	t.Run("tool call", func(t *testing.T) {
		const id = "mcp-call-1"
		tr, err := transport.NewStreamableHTTP(e.url+"/mcp",
			transport.WithHTTPHeaders(map[string]string{reqid.Header: id}),
			transport.WithHTTPLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		c := client.NewClient(tr)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Initialize(ctx, mcp.InitializeRequest{Params: mcp.InitializeParams{
			ProtocolVersion: mcp.ProtocolVersion20251125,
			ClientInfo:      mcp.Implementation{Name: "requestid-test", Version: "0"},
		}}); err != nil {
			t.Fatal(err)
		}
		var req mcp.CallToolRequest
		req.Params.Name = "web__echo"
		req.Params.Arguments = map[string]any{"message": "over mcp"}
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("call: %v %+v", err, res)
		}
		sink.waitLine(t, id, "tool call", map[string]string{"server": "web", "tool": "echo", "outcome": "ok"})
		sink.waitLine(t, id, "downstream request", map[string]string{"method": "tools/call"})
		sink.waitLine(t, id, "http", map[string]string{"path": "/mcp"})
		if got := web.callWith(t, "over mcp").header.Get(reqid.Header); got != id {
			t.Errorf("the downstream call's %s = %q, want %q", reqid.Header, got, id)
		}
	})
}
