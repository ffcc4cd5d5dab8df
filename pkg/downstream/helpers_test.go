package downstream_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/exampleserver/exampletest"
)

var exampleBin string

func TestMain(m *testing.M) { exampletest.Main(m, &exampleBin) }

// recorder collects what a Conn reports.
type recorder struct {
	mu       sync.Mutex
	discs    []*downstream.Discovery
	statuses []downstream.Status
}

func (r *recorder) lastDiscovery() *downstream.Discovery {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.discs) == 0 {
		return nil
	}
	return r.discs[len(r.discs)-1]
}

func (r *recorder) discoveries() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.discs)
}

func (r *recorder) sawState(s downstream.State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.statuses {
		if st.State == s {
			return true
		}
	}
	return false
}

func serverConfig(name string, tr config.Transport) config.Server {
	return config.Server{
		Name: name, Transport: tr, Enabled: true,
		Timeout:         5 * time.Second,
		ProtocolVersion: config.DefaultProtocolVersion,
		Backoff:         config.Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond},
	}
}

func httpServerConfig(url string) config.Server {
	s := serverConfig("http", config.TransportStreamableHTTP)
	s.Endpoint = url
	return s
}

func stdioServerConfig(args ...string) config.Server {
	s := serverConfig("stdio", config.TransportStdio)
	s.Command = exampleBin
	s.Args = args
	return s
}

// startConn runs a Conn until the test ends.
func startConn(t *testing.T, srv config.Server) (*downstream.Conn, *recorder) {
	t.Helper()
	return startConnWith(t, srv, downstream.Options{})
}

func startConnWith(t *testing.T, srv config.Server, opts downstream.Options) (*downstream.Conn, *recorder) {
	t.Helper()
	rec := &recorder{}
	c := downstream.New(srv, downstream.Options{
		Heartbeat:       opts.Heartbeat,
		MaxMessageBytes: opts.MaxMessageBytes,
		ListenRetry:     opts.ListenRetry,
		OnDiscovery: func(_ string, d *downstream.Discovery) {
			rec.mu.Lock()
			rec.discs = append(rec.discs, d)
			rec.mu.Unlock()
		},
		OnStatus: func(st downstream.Status) {
			rec.mu.Lock()
			rec.statuses = append(rec.statuses, st)
			rec.mu.Unlock()
		},
	})
	c.Start(context.Background())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return c, rec
}

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

func waitReady(t *testing.T, c *downstream.Conn) {
	t.Helper()
	waitFor(t, "ready", 15*time.Second, func() bool { return c.Status().Healthy() })
}

// newHTTPExample serves a fresh example server over Streamable HTTP.
func newHTTPExample(t *testing.T, opts ...exampleserver.Option) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(exampleserver.NewStreamableHTTPServer(exampleserver.New(opts...)))
	t.Cleanup(ts.Close)
	return ts
}

// newSSEExample serves a fresh example server over legacy SSE, its
// handler wrapped by wrap when one is given. The listener comes first: the
// SSE server must know its own URL before it serves.
func newSSEExample(t *testing.T, wrap ...func(http.Handler) http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sse := server.NewSSEServer(exampleserver.New(), server.WithBaseURL("http://"+ln.Addr().String()))
	var h http.Handler = sse
	for _, w := range wrap {
		h = w(h)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.Listener.Close()
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = sse.Shutdown(ctx)
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}

func toolNames(t *testing.T, d *downstream.Discovery) []string {
	t.Helper()
	var names []string
	for _, raw := range d.Tools {
		var tool struct{ Name string }
		if err := json.Unmarshal(raw, &tool); err != nil {
			t.Fatalf("tool %s: %v", raw, err)
		}
		names = append(names, tool.Name)
	}
	return names
}

func callText(t *testing.T, res json.RawMessage) string {
	t.Helper()
	var r struct {
		Content []struct{ Type, Text string }
		IsError bool
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatalf("result %s: %v", res, err)
	}
	if len(r.Content) == 0 {
		t.Fatalf("result without content: %s", res)
	}
	return r.Content[0].Text
}
