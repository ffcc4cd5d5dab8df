package mcpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/exampleserver/exampletest"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/mcpserver"
)

// exampleBin is ./cmd/example-server, built once for the whole package.
var exampleBin string

func TestMain(m *testing.M) { exampletest.Main(m, &exampleBin) }

// waitTimeout bounds every wait for something that should happen soon.
const waitTimeout = 15 * time.Second

var testBackoff = config.Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func baseServer(name string, tr config.Transport) config.Server {
	return config.Server{
		Name: name, Transport: tr, Enabled: true,
		Timeout:         10 * time.Second,
		ProtocolVersion: config.DefaultProtocolVersion,
		Backoff:         testBackoff,
	}
}

// stdioExample runs the example server binary as a stdio child.
func stdioExample(name string) config.Server {
	s := baseServer(name, config.TransportStdio)
	s.Command = exampleBin
	return s
}

func httpServer(name, url string) config.Server {
	s := baseServer(name, config.TransportStreamableHTTP)
	s.Endpoint = url
	return s
}

func hubConfig(servers ...config.Server) *config.Config {
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.RefreshInterval = time.Hour
	c.Backoff = testBackoff
	c.Servers = servers
	return c
}

// env is a running hub with its MCP endpoints served over httptest.
type env struct {
	hub *hub.Hub
	srv *mcpserver.Server
	ts  *httptest.Server
}

// newEnv starts a hub on cfg, waits until every enabled server is ready,
// and serves its MCP endpoints. Cleanup stops everything in order: clients
// (registered later, so closed first), the endpoints, the HTTP server, the
// hub.
func newEnv(t *testing.T, cfg *config.Config) *env {
	t.Helper()
	h, err := hub.New(cfg, hub.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("hub Stop: %v", err)
		}
	})
	h.Start()
	for _, s := range cfg.Servers {
		if s.Enabled {
			waitHealthy(t, h, s.Name)
		}
	}
	srv, ts := serveEndpoints(t, h, mcpserver.Options{})
	return &env{hub: h, srv: srv, ts: ts}
}

func (e *env) url(path string) string { return e.ts.URL + path }

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitHealthy(t *testing.T, h *hub.Hub, name string) {
	t.Helper()
	waitFor(t, name+" healthy", waitTimeout, func() bool {
		for _, s := range h.Servers() {
			if s.Name == name {
				return s.Healthy
			}
		}
		return false
	})
}

// httpExample is an example server over Streamable HTTP in httptest that
// records the tools/call requests it receives.
type httpExample struct {
	*httptest.Server
	inner *server.StreamableHTTPServer
	mu    sync.Mutex
	calls []string // raw tools/call request bodies
	// rewrite, when set, may replace a tools/list response body.
	rewrite func(body []byte) []byte
}

func newHTTPExample(t *testing.T) *httpExample {
	t.Helper()
	return newRewritingExample(t, nil)
}

// newRewritingExample is newHTTPExample with tools/list responses passed
// through rewrite.
func newRewritingExample(t *testing.T, rewrite func(body []byte) []byte) *httpExample {
	t.Helper()
	ex := &httpExample{rewrite: rewrite}
	ex.inner = exampleserver.NewStreamableHTTPServer(exampleserver.New())
	ex.Server = httptest.NewServer(http.HandlerFunc(ex.serve))
	t.Cleanup(func() {
		_ = ex.inner.Shutdown(context.Background())
		ex.Server.CloseClientConnections()
		ex.Server.Close()
	})
	return ex
}

func (ex *httpExample) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		ex.inner.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	switch {
	case strings.Contains(string(body), `"method":"tools/call"`):
		ex.mu.Lock()
		ex.calls = append(ex.calls, string(body))
		ex.mu.Unlock()
	case strings.Contains(string(body), `"method":"tools/list"`) && ex.rewrite != nil:
		rec := httptest.NewRecorder()
		ex.inner.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		out := rec.Body.Bytes()
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			out = ex.rewrite(out)
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(out)
		return
	}
	ex.inner.ServeHTTP(w, r)
}

// callsOf counts the tools/call requests the server got for tool.
func (ex *httpExample) callsOf(tool string) int {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	n := 0
	for _, c := range ex.calls {
		var req struct {
			Params struct {
				Name string `json:"name"`
			} `json:"params"`
		}
		if json.Unmarshal([]byte(c), &req) == nil && req.Params.Name == tool {
			n++
		}
	}
	return n
}

// ctxFor is a per-call context bounded by waitTimeout.
func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
