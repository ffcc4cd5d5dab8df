package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/reqid"
)

// NotReady completes panicHub (endpoints_test.go) for the readiness probe.
func (panicHub) NotReady() error { panic("readiness exploded") }

// slowExample is the example server over Streamable HTTP, holding every
// initialize until release is called: a server that takes its time to
// start.
func slowExample(t *testing.T) (url string, release func()) {
	t.Helper()
	gate := make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	inner := exampleserver.NewStreamableHTTPServer(exampleserver.New())
	ts := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte(`"method":"initialize"`)) {
				select {
				case <-gate:
				case <-r.Context().Done():
					return
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(release) // after serveHTTP's cleanup, so it runs first
	return ts.URL + "/mcp", release
}

// readyz gets /readyz once (readiness may change between two requests)
// and checks the answer's shape.
func (e *env) readyz(t *testing.T) (status int, m map[string]any) {
	t.Helper()
	r := e.do(t, http.MethodGet, "/readyz", nil)
	if r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
		t.Fatalf("GET /readyz: %d %s, want 200 or 503", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /readyz: Content-Type %q", ct)
	}
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("GET /readyz: %d %s: %v", r.status, r.body, err)
	}
	if r.status == http.StatusOK {
		wantKeys(t, m, "ready")
		if m["ready"] != true {
			t.Errorf("200 with ready = %#v", m["ready"])
		}
		return r.status, m
	}
	wantKeys(t, m, "success", "error")
	return r.status, m
}

// TestReadyz: the hub is not ready while a server is still on its first
// connection attempt, is ready once it connected, whatever the state of a
// server that is down, and is not ready once stopped.
func TestReadyz(t *testing.T) {
	slowURL, release := slowExample(t)
	cfg := config.Default()
	off := httpServer("off", "http://127.0.0.1:1/mcp")
	off.Enabled = false
	cfg.Servers = []config.Server{httpServer("slow", slowURL), downServer(t, "down"), off}
	h, err := hub.New(cfg, hub.Options{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("hub.Stop: %v", err)
		}
	}
	t.Cleanup(stop) // idempotent
	ts := httptest.NewServer(api.NewRouter(h, api.Options{Logger: quiet}))
	t.Cleanup(ts.Close)
	e := &env{hub: h, url: ts.URL}

	if status, m := e.readyz(t); status != http.StatusServiceUnavailable || !strings.Contains(m["error"].(string), "slow") {
		t.Errorf("before Start: %d %v, want 503 naming slow", status, m)
	}
	h.Start()
	// "down" fails at once (connection refused); "slow" hangs in initialize.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; servers %+v", what, h.Servers())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("down in backoff", func() bool {
		for _, s := range h.Servers() {
			if s.Name == "down" {
				return s.Status == "backoff"
			}
		}
		return false
	})
	status, m := e.readyz(t)
	msg, _ := m["error"].(string)
	if status != http.StatusServiceUnavailable || !strings.Contains(msg, "slow") || strings.Contains(msg, "down") || strings.Contains(msg, "off") {
		t.Errorf("while slow connects: %d %v, want 503 naming slow only", status, m)
	}
	if h.NotReady() == nil {
		t.Error("hub.NotReady() is nil while slow connects")
	}

	release()
	waitFor("ready", func() bool { s, _ := e.readyz(t); return s == http.StatusOK })
	if h.NotReady() != nil {
		t.Error("/readyz says ready, hub.NotReady() does not")
	}
	// Ready means the catalog is there: slow's tools are listed.
	if r := e.do(t, http.MethodGet, "/mcp_hub/tools?server=slow", nil); !strings.Contains(string(r.body), "slow__echo") {
		t.Errorf("ready, but slow's tools are not listed: %s", r.body)
	}

	// Ready is latched: a reload that adds a server still connecting does
	// not take a serving hub out of its load balancer.
	later, _ := slowExample(t)
	cfg2 := *cfg
	cfg2.Servers = append(slices.Clone(cfg.Servers), httpServer("later", later))
	if _, err := h.Reload(t.Context(), &cfg2); err != nil {
		t.Fatal(err)
	}
	if status, m := e.readyz(t); status != http.StatusOK {
		t.Errorf("after a reload adding a server that is still connecting: %d %v, want 200", status, m)
	}

	stop()
	if status, m := e.readyz(t); status != http.StatusServiceUnavailable || !strings.Contains(m["error"].(string), "stopped") {
		t.Errorf("after Stop: %d %v, want 503 saying stopped", status, m)
	}
}

// TestReadyzOpen: with auth on, /readyz needs no token (probes send none)
// and is not rate limited, while the rest of the API still does; the 401
// carries a request id too.
func TestReadyzOpen(t *testing.T) {
	e := startHubConfig(t, api.Options{}, func(c *config.Config) {
		authConfig(c)
		c.Limits.Rate = config.RateLimit{PerSecond: 1, Burst: 1}
	}, httpServer("web", httpExample(t)))
	for range 5 {
		if status, _ := e.readyz(t); status != http.StatusOK {
			t.Fatalf("/readyz without a token: %d, want 200", status)
		}
	}
	r := e.send(t, http.MethodGet, "/mcp_hub/servers", "", reqid.Header, "no-token-1")
	wantStatus(t, r, http.StatusUnauthorized, "authentication required")
	if got := r.header.Get(reqid.Header); got != "no-token-1" {
		t.Errorf("401 %s = %q", reqid.Header, got)
	}
}

// TestReadyzNoServers: with nothing to wait for the hub is ready at once.
func TestReadyzNoServers(t *testing.T) {
	e := startHub(t, api.Options{})
	if status, m := e.readyz(t); status != http.StatusOK {
		t.Errorf("no servers: %d %v, want 200", status, m)
	}
}

func TestReadyzPanicIsJSON500(t *testing.T) {
	e := &env{url: serveRouter(t, panicHub{})}
	var m map[string]any
	e.json(t, http.MethodGet, "/readyz", "", http.StatusInternalServerError, &m)
	wantError(t, m, "internal error")
}
