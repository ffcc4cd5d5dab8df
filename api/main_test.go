package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/exampleserver/exampletest"
	"github.com/mcphub/mcphub/pkg/hub"
)

// exampleBin is cmd/example-server, built once for the stdio servers.
var exampleBin string

func TestMain(m *testing.M) { exampletest.Main(m, &exampleBin) }

var quiet = slog.New(slog.DiscardHandler)

func serverConfig(name string, tr config.Transport) config.Server {
	return config.Server{
		Name: name, Transport: tr, Enabled: true,
		Timeout:         10 * time.Second,
		ProtocolVersion: config.DefaultProtocolVersion,
		Backoff:         config.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
	}
}

// stdioExample is the example server as a real child process.
func stdioExample(name string) config.Server {
	s := serverConfig(name, config.TransportStdio)
	s.Command = exampleBin
	return s
}

func httpServer(name, url string) config.Server {
	s := serverConfig(name, config.TransportStreamableHTTP)
	s.Endpoint = url
	return s
}

// serveHTTP serves h until the test ends and returns its /mcp URL. Register
// it before the hub so the hub stops first.
func serveHTTP(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.CloseClientConnections() // open GET streams would hold Close up
		ts.Close()
	})
	return ts
}

// httpExample serves a fresh example server (its own notes) over
// Streamable HTTP and returns its endpoint.
func httpExample(t testing.TB) string {
	t.Helper()
	return serveHTTP(t, exampleserver.NewStreamableHTTPServer(exampleserver.New())).URL + "/mcp"
}

// env is a running hub behind the REST router, on a real socket.
type env struct {
	hub *hub.Hub
	url string
}

// startHub runs the real hub with servers behind api.NewRouter until the
// test ends, after every server tried to connect once.
func startHub(t testing.TB, opts api.Options, servers ...config.Server) *env {
	t.Helper()
	return startHubConfig(t, opts, nil, servers...)
}

// startHubConfig is startHub with edit applied to the configuration (the
// approval settings, say) before the hub is built; edit may be nil.
func startHubConfig(t testing.TB, opts api.Options, edit func(*config.Config), servers ...config.Server) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Servers = servers
	if edit != nil {
		edit(cfg)
	}
	h, err := hub.New(cfg, hub.Options{Logger: quiet})
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
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	ts := httptest.NewServer(api.NewRouter(h, opts))
	t.Cleanup(ts.Close)
	return &env{hub: h, url: ts.URL}
}

// waitSettled waits until no server is still connecting. WaitFirstAttempt
// alone is not enough: downstream.Conn signals the first attempt before it
// publishes the catalog and sets the state (pkg/downstream/conn.go, run).
func waitSettled(t testing.TB, h *hub.Hub) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		settled := true
		for _, s := range h.Servers() {
			if s.Enabled && s.Status != "ready" && s.Status != "backoff" {
				settled = false
			}
		}
		if settled {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers still connecting: %+v", h.Servers())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// response is one HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t testing.TB, method, path string, body io.Reader) response {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// json requests path and checks that the answer has the status, is
// declared JSON and decodes into v.
func (e *env) json(t testing.TB, method, path, body string, wantStatus int, v any) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	resp := e.do(t, method, path, r)
	if resp.status != wantStatus {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.status, wantStatus, resp.body)
	}
	wantJSONType(t, resp)
	if err := json.Unmarshal(resp.body, v); err != nil {
		t.Fatalf("%s %s: body is not JSON (%v): %s", method, path, err, resp.body)
	}
	return resp
}

func wantJSONType(t testing.TB, r response) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q, want application/json; charset=utf-8", ct)
	}
}

// call posts a tool call and returns the decoded answer.
func (e *env) call(t testing.TB, body string, wantStatus int) map[string]any {
	t.Helper()
	var m map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/call", body, wantStatus, &m)
	return m
}

// callJSON builds a call body for name with args (any JSON value, as text).
func callJSON(name, args string) string {
	return `{"id":"call_1","type":"function","function":{"name":` + quote(name) + `,"arguments":` + args + `}}`
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// wantError checks an error answer's shape: exactly success=false and an
// error string that contains every one of want.
func wantError(t testing.TB, m map[string]any, want ...string) {
	t.Helper()
	wantKeys(t, m, "success", "error")
	if m["success"] != false {
		t.Errorf("success = %v, want false", m["success"])
	}
	msg, ok := m["error"].(string)
	if !ok || msg == "" {
		t.Fatalf("error = %#v, want a message", m["error"])
	}
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not say %q", msg, w)
		}
	}
}

// wantKeys checks that m has exactly keys.
func wantKeys(t testing.TB, m map[string]any, keys ...string) {
	t.Helper()
	if len(m) != len(keys) {
		t.Errorf("keys %v, want exactly %v", mapKeys(m), keys)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("key %q missing from %v", k, mapKeys(m))
		}
	}
}

func mapKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// tiny is a downstream built for failure cases: a tool that hangs until the
// test ends, one whose handler fails (JSON-RPC internal error), and two that
// a wrapper answers itself with a JSON-RPC invalid-params error and with a
// result that is not an object.
//
// cancelled receives one value each time a hanging call's context ends.
func tiny(t testing.TB) (url string, cancelled <-chan struct{}) {
	t.Helper()
	release := make(chan struct{})
	seen := make(chan struct{}, 16)
	s := server.NewMCPServer("tiny", "0.0.1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("hang", mcp.WithDescription("Blocks until the test ends.")),
		func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			select {
			case <-ctx.Done():
				select {
				case seen <- struct{}{}:
				default:
				}
			case <-release:
			}
			return mcp.NewToolResultText("released"), nil
		})
	s.AddTool(mcp.NewTool("boom", mcp.WithDescription("The handler fails.")),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, errors.New("boom: the handler failed")
		})
	for _, name := range []string{"bad_params", "not_object"} {
		s.AddTool(mcp.NewTool(name), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, errors.New("unreachable: the wrapper answers")
		})
	}
	canned := map[string]string{
		"bad_params": `"error":{"code":-32602,"message":"argument x: expected a number"}`,
		"not_object": `"result":"this is not a CallToolResult"`,
	}
	inner := server.NewStreamableHTTPServer(s)
	ts := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			var msg struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Params struct {
					Name string `json:"name"`
				} `json:"params"`
			}
			if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" && canned[msg.Params.Name] != "" {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(msg.ID)+`,`+canned[msg.Params.Name]+`}`)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		inner.ServeHTTP(w, r)
	}))
	// Registered after serveHTTP's cleanup, so it runs first: Close waits
	// for the hanging handlers.
	t.Cleanup(func() { close(release) })
	return ts.URL + "/mcp", seen
}
