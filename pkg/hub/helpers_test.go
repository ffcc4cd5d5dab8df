package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/exampleserver/exampletest"
	"github.com/mcphub/mcphub/pkg/hub"
)

// exampleBin is ./cmd/example-server, built once for the whole package.
var exampleBin string

func TestMain(m *testing.M) { exampletest.Main(m, &exampleBin) }

// The example server's catalog.
const (
	exampleTools     = 8
	exampleResources = 1
	exampleTemplates = 1
	examplePrompts   = 1
)

// openAIName is the pattern OpenAI enforces on function names.
var openAIName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

var testBackoff = config.Backoff{Initial: 50 * time.Millisecond, Max: 400 * time.Millisecond}

// slowBackoff keeps a failed server down for the whole test unless the
// refresh loop or Refresh reconnects it.
var slowBackoff = config.Backoff{Initial: 5 * time.Minute, Max: 5 * time.Minute}

func baseServer(name string, tr config.Transport) config.Server {
	return config.Server{
		Name: name, Transport: tr, Enabled: true,
		Timeout:         10 * time.Second,
		ProtocolVersion: config.DefaultProtocolVersion,
		Backoff:         testBackoff,
	}
}

// stdioServer runs command (normally from exampleCmd) as a stdio child.
func stdioServer(name, command string, args ...string) config.Server {
	s := baseServer(name, config.TransportStdio)
	s.Command = command
	s.Args = args
	return s
}

func httpServer(name, url string) config.Server {
	s := baseServer(name, config.TransportStreamableHTTP)
	s.Endpoint = url
	return s
}

func hubConfig(servers ...config.Server) *config.Config {
	// Built on the defaults, so settings added to config later are valid here.
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.RefreshInterval = time.Hour // tests that want the loop set it
	c.Backoff = testBackoff
	c.Servers = servers
	return c
}

// exampleCmd returns a path unique to this test that runs the example
// server: a symlink whose name tells this test's children apart from every
// other process on the machine (see pidsOf).
func exampleCmd(t *testing.T, tag string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "example-"+tag)
	if err := os.Symlink(exampleBin, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// pidsOf lists the live processes whose argv[0] is path, like
// `pgrep -f '^path( |$)'`. A zombie has an empty cmdline and is not listed.
func pidsOf(t *testing.T, path string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("reading /proc: %v", err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue // gone meanwhile
		}
		if argv0, _, _ := strings.Cut(string(b), "\x00"); argv0 == path {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// onePID returns the single process running path.
func onePID(t *testing.T, path string) int {
	t.Helper()
	var pids []int
	waitFor(t, "one process for "+filepath.Base(path), 5*time.Second, func() bool {
		pids = pidsOf(t, path)
		return len(pids) == 1
	})
	return pids[0]
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// newHub builds a hub and stops it when the test ends (checking that Stop
// succeeds in bounded time); it does not start it.
func newHub(t *testing.T, cfg *config.Config, opts hub.Options) *hub.Hub {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	h, err := hub.New(cfg, opts)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return h
}

// startHub starts a hub on cfg and waits until every enabled server is ready.
func startHub(t *testing.T, cfg *config.Config) *hub.Hub {
	t.Helper()
	h := newHub(t, cfg, hub.Options{})
	h.Start()
	var names []string
	for _, s := range cfg.Servers {
		if s.Enabled {
			names = append(names, s.Name)
		}
	}
	waitHealthy(t, h, names...)
	return h
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

func serverInfo(t *testing.T, h *hub.Hub, name string) hub.ServerInfo {
	t.Helper()
	for _, s := range h.Servers() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("server %q not listed in %+v", name, h.Servers())
	return hub.ServerInfo{}
}

func waitHealthy(t *testing.T, h *hub.Hub, names ...string) {
	t.Helper()
	for _, name := range names {
		waitFor(t, name+" healthy", 15*time.Second, func() bool { return serverInfo(t, h, name).Healthy })
	}
}

// call calls a tool through the hub and fails the test on error.
func call(t *testing.T, h *hub.Hub, name, args string) *hub.CallResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := hub.CallRequest{Name: name}
	if args != "" {
		req.Arguments = json.RawMessage(args)
	}
	res, err := h.Call(ctx, req)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

// echo checks that name (an echo tool) answers through the hub.
func echo(t *testing.T, h *hub.Hub, name string) {
	t.Helper()
	res := call(t, h, name, `{"message":"ping `+name+`"}`)
	if res.IsError || res.Content != "ping "+name {
		t.Fatalf("%s: %+v", name, res)
	}
}

// toolsList decodes ToolsJSON output, checking its shape.
func toolsList(t *testing.T, body []byte) []string {
	t.Helper()
	var doc struct {
		Tools []struct {
			Type     string `json:"type"`
			Function struct {
				Name       string          `json:"name"`
				Parameters json.RawMessage `json:"parameters"`
			} `json:"function"`
		} `json:"tools"`
	}
	if !json.Valid(body) {
		t.Fatalf("ToolsJSON is not valid JSON: %s", body)
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatalf("ToolsJSON %s: %v", body, err)
	}
	if doc.Tools == nil {
		t.Fatalf("ToolsJSON has no tools array: %s", body)
	}
	var names []string
	for _, tool := range doc.Tools {
		if tool.Type != "function" || !openAIName.MatchString(tool.Function.Name) || len(tool.Function.Parameters) == 0 {
			t.Errorf("bad tool entry %+v", tool)
		}
		names = append(names, tool.Function.Name)
	}
	slices.Sort(names)
	return names
}

// httpExample is an example server over Streamable HTTP in httptest that
// counts the initialize requests it saw (one per hub connection) and can
// be switched off (answering 503) and back on.
type httpExample struct {
	*httptest.Server
	initializes atomic.Int64
	down        atomic.Bool
	mu          sync.Mutex
	calls       []string // raw tools/call request bodies
}

func newHTTPExample(t *testing.T, opts ...exampleserver.Option) *httpExample {
	t.Helper()
	ex := &httpExample{}
	inner := exampleserver.NewStreamableHTTPServer(exampleserver.New(opts...))
	ex.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ex.down.Load() {
			http.Error(w, "switched off by the test", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			switch {
			case strings.Contains(string(body), `"method":"initialize"`):
				ex.initializes.Add(1)
			case strings.Contains(string(body), `"method":"tools/call"`):
				ex.mu.Lock()
				ex.calls = append(ex.calls, string(body))
				ex.mu.Unlock()
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(ex.kill)
	return ex
}

// kill closes the server and every connection to it: afterwards connecting
// is refused.
func (ex *httpExample) kill() {
	ex.Server.CloseClientConnections()
	ex.Server.Close()
}

func (ex *httpExample) lastCall() string {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if len(ex.calls) == 0 {
		return ""
	}
	return ex.calls[len(ex.calls)-1]
}

// noListChanged makes an example server that never announces tool-list
// changes, so the hub only learns about them from a refresh.
func noListChanged() exampleserver.Option {
	return exampleserver.WithServerOptions(server.WithToolCapabilities(false))
}

// hangingServer accepts HTTP requests and never answers them (until the
// client gives up or the test ends).
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() {
		close(release)
		ts.CloseClientConnections()
		ts.Close()
	})
	return ts
}

func wantErr(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v: want %v", err, kind)
	}
}
