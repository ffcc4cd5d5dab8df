package downstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

func TestTransports(t *testing.T) {
	cases := []struct {
		name string
		srv  func(t *testing.T) config.Server
	}{
		{"streamable-http", func(t *testing.T) config.Server { return httpServerConfig(newHTTPExample(t).URL) }},
		{"sse", func(t *testing.T) config.Server {
			s := serverConfig("sse", config.TransportSSE)
			s.Endpoint = newSSEExample(t).URL + "/sse"
			return s
		}},
		{"stdio", func(t *testing.T) config.Server { return stdioServerConfig() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := startConn(t, tc.srv(t))
			waitReady(t, c)
			d := rec.lastDiscovery()
			names := toolNames(t, d)
			for _, want := range []string{"echo", "add", "slow_count", "delete_note"} {
				if !slices.Contains(names, want) {
					t.Errorf("tools %v: missing %s", names, want)
				}
			}
			if len(d.Resources) != 1 || len(d.ResourceTemplates) != 1 || len(d.Prompts) != 1 {
				t.Errorf("resources %d templates %d prompts %d, want 1 each", len(d.Resources), len(d.ResourceTemplates), len(d.Prompts))
			}
			st := c.Status()
			if st.ServerName != exampleserver.Name || st.ProtocolVersion != "2025-11-25" {
				t.Errorf("status %+v: want server %s on 2025-11-25", st, exampleserver.Name)
			}

			res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"message":"hi there"}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := callText(t, res); got != "hi there" {
				t.Errorf("echo = %q", got)
			}

			var mu sync.Mutex
			var steps []float64
			res, err = c.CallTool(context.Background(), "slow_count", json.RawMessage(`{"count":5,"delay_ms":10}`), func(p downstream.Progress) {
				mu.Lock()
				steps = append(steps, p.Progress)
				mu.Unlock()
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := callText(t, res); !strings.Contains(got, "5") {
				t.Errorf("slow_count = %q", got)
			}
			mu.Lock()
			defer mu.Unlock()
			// mcp-go's Streamable HTTP server splits a call's progress
			// between the POST and GET streams, so a step can be overtaken;
			// the conn then drops it rather than go backwards.
			overtaken := tc.name == "streamable-http" && increasingTo(steps, 5)
			if !slices.Equal(steps, []float64{1, 2, 3, 4, 5}) && !overtaken {
				t.Errorf("progress %v, want 1..5 in order", steps)
			}

			if res, err := c.ReadResource(context.Background(), exampleserver.WelcomeURI); err != nil || !strings.Contains(string(res), exampleserver.WelcomeText) {
				t.Errorf("read resource: %s, %v", res, err)
			}
			if res, err := c.GetPrompt(context.Background(), exampleserver.PromptGreet, map[string]string{"name": "Ada"}); err != nil || !strings.Contains(string(res), "Ada") {
				t.Errorf("get prompt: %s, %v", res, err)
			}
		})
	}
}

func TestEmptyArgumentsSentAsObject(t *testing.T) {
	c, _ := startConn(t, httpServerConfig(newHTTPExample(t).URL))
	waitReady(t, c)
	// add requires a and b: the server must see an object and complain about
	// the fields, not about a missing arguments object.
	res, err := c.CallTool(context.Background(), "echo", nil, nil)
	if err != nil {
		var rpc *downstream.RPCError
		if !errors.As(err, &rpc) || strings.Contains(rpc.Message, "arguments") && strings.Contains(rpc.Message, "null") {
			t.Fatalf("nil arguments: %v", err)
		}
		return
	}
	if !strings.Contains(string(res), "message") {
		t.Errorf("expected a complaint about the missing message, got %s", res)
	}
}

func TestPagination(t *testing.T) {
	ts := newHTTPExample(t, exampleserver.WithTools(30), exampleserver.WithPageSize(7))
	c, rec := startConn(t, httpServerConfig(ts.URL))
	waitReady(t, c)
	names := toolNames(t, rec.lastDiscovery())
	for i := range 30 {
		if !slices.Contains(names, "extra_"+itoa(i)) {
			t.Fatalf("extra_%d missing from %d tools discovered over pages of 7", i, len(names))
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// The typed mcp.Tool drops $schema, title and top-level anyOf: the hub must
// keep the schema as the server sent it.
func TestSchemaKeptAsSent(t *testing.T) {
	schema := `{"$schema":"https://json-schema.org/draft/2020-12/schema","title":"Odd","description":"d","type":"object",` +
		`"properties":{"a":{"type":"string"},"b":{"$ref":"#/definitions/B"}},"anyOf":[{"required":["a"]},{"required":["b"]}],` +
		`"definitions":{"B":{"type":"integer"}}}`
	s := server.NewMCPServer("schemas", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewToolWithRawSchema("odd", "odd schema", json.RawMessage(schema)),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("ok"), nil
		})
	ts := httptest.NewServer(server.NewStreamableHTTPServer(s))
	t.Cleanup(ts.Close)

	c, rec := startConn(t, httpServerConfig(ts.URL))
	waitReady(t, c)
	var tool struct {
		InputSchema json.RawMessage `json:"inputSchema"`
	}
	if err := json.Unmarshal(rec.lastDiscovery().Tools[0], &tool); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, tool.InputSchema, []byte(schema)) {
		t.Errorf("schema changed in transit:\n got %s\nwant %s", tool.InputSchema, schema)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

func TestDownAtStartComesUpLater(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	c, rec := startConn(t, httpServerConfig("http://"+addr+"/mcp"))
	waitFor(t, "backoff", 10*time.Second, func() bool { return c.Status().State == downstream.StateBackoff })
	if st := c.Status(); !strings.Contains(st.LastError, "refused") {
		t.Errorf("last error %q should say the connection was refused", st.LastError)
	}
	if _, err := c.CallTool(context.Background(), "echo", nil, nil); !errors.Is(err, downstream.ErrNotConnected) {
		t.Errorf("call while down: %v, want ErrNotConnected", err)
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { closeServer(ts) })

	waitReady(t, c)
	if rec.lastDiscovery() == nil {
		t.Fatal("no discovery after coming up")
	}
	if st := c.Status(); st.Failures != 0 {
		t.Errorf("failures %d after success", st.Failures)
	}
}

func TestRefreshConnectsAServerThatIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := httpServerConfig("http://" + addr + "/mcp")
	srv.Backoff = config.Backoff{Initial: time.Hour, Max: time.Hour} // only a refresh can bring it back
	c, _ := startConn(t, srv)
	waitFor(t, "backoff", 10*time.Second, func() bool { return c.Status().State == downstream.StateBackoff })

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	ts.Listener = ln
	ts.Start()
	t.Cleanup(func() { closeServer(ts) })

	r := c.Refresh(context.Background())
	if !r.Healthy || !r.Changed || r.Error != "" {
		t.Fatalf("refresh = %+v, want healthy and changed", r)
	}
	if !c.Status().Healthy() {
		t.Fatal("not healthy after refresh")
	}
	if r := c.Refresh(context.Background()); !r.Healthy || r.Changed {
		t.Errorf("second refresh = %+v, want healthy and unchanged", r)
	}
}

func TestStdioChildKilledReconnects(t *testing.T) {
	marker := "--extra-tools=3" // unique to this test's child
	c, rec := startConn(t, stdioServerConfig(marker))
	waitReady(t, c)
	before := rec.discoveries()
	if n := c.Status().Reconnects; n != 0 {
		t.Errorf("%d reconnects before the kill", n)
	}

	if out, err := exec.Command("pkill", "-KILL", "-f", exampleBin+" "+marker).CombinedOutput(); err != nil {
		t.Fatalf("pkill: %v %s", err, out)
	}
	waitFor(t, "the loss to be noticed", 10*time.Second, func() bool {
		return rec.sawState(downstream.StateConnecting) && !c.Status().Healthy() || rec.sawState(downstream.StateBackoff)
	})
	waitReady(t, c)
	if st := c.Status(); !strings.Contains(st.LastError, "signal: killed") || st.Reconnects != 1 {
		t.Errorf("want the last error to say the child was killed, and 1 reconnect: %+v", st)
	}
	res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"message":"back"}`), nil)
	if err != nil || callText(t, res) != "back" {
		t.Fatalf("call after reconnect: %s %v", res, err)
	}
	if rec.discoveries() != before {
		t.Errorf("same catalog re-published after reconnect (%d → %d discoveries)", before, rec.discoveries())
	}
}

func TestStdioExitsImmediately(t *testing.T) {
	srv := serverConfig("broken", config.TransportStdio)
	srv.Command = "sh"
	srv.Args = []string{"-c", "echo 'cannot find module' >&2; exit 3"}
	c, _ := startConn(t, srv)
	waitFor(t, "two failures", 10*time.Second, func() bool { return c.Status().Failures >= 2 })
	st := c.Status()
	if st.State != downstream.StateBackoff && st.State != downstream.StateConnecting {
		t.Errorf("state %s", st.State)
	}
	if !strings.Contains(st.LastError, "exit status 3") || !strings.Contains(st.LastError, "cannot find module") {
		t.Errorf("last error %q should carry the exit status and stderr", st.LastError)
	}
}

func TestMissingCommand(t *testing.T) {
	srv := serverConfig("missing", config.TransportStdio)
	srv.Command = "/nonexistent/mcp-server"
	c, _ := startConn(t, srv)
	waitFor(t, "a failure", 10*time.Second, func() bool { return c.Status().Failures >= 1 })
	if st := c.Status(); !strings.Contains(st.LastError, "no such file") {
		t.Errorf("last error %q", st.LastError)
	}
}

func TestHungToolTimesOut(t *testing.T) {
	release := make(chan struct{})
	s := server.NewMCPServer("hang", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("hang"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		<-release // ignores cancellation, like a wedged server
		return mcp.NewToolResultText("late"), nil
	})
	s.AddTool(mcp.NewTool("quick"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("quick"), nil
	})
	ts := httptest.NewServer(server.NewStreamableHTTPServer(s))
	t.Cleanup(ts.Close)
	t.Cleanup(func() { close(release) })

	srv := httpServerConfig(ts.URL)
	srv.Timeout = 300 * time.Millisecond
	c, _ := startConn(t, srv)
	waitReady(t, c)
	start := time.Now()
	_, err := c.CallTool(context.Background(), "hang", nil, nil)
	if !errors.Is(err, downstream.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("timeout took %s", d)
	}
	res, err := c.CallTool(context.Background(), "quick", nil, nil)
	if err != nil || callText(t, res) != "quick" {
		t.Fatalf("other call after a timeout: %s %v", res, err)
	}
}

func TestCallerCancelStopsWaiting(t *testing.T) {
	c, _ := startConn(t, stdioServerConfig())
	waitReady(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.CallTool(ctx, "slow_count", json.RawMessage(`{"count":50,"delay_ms":100}`), func(downstream.Progress) {})
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, downstream.ErrTimeout) && !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %s", d)
	}
	// The session survives a cancelled call.
	if res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"message":"still here"}`), nil); err != nil || callText(t, res) != "still here" {
		t.Fatalf("after cancel: %s %v", res, err)
	}
}

// swapHandler lets a test replace the server behind one URL, as a restart does.
type swapHandler struct{ h atomic.Value }

func (s *swapHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.h.Load().(http.Handler).ServeHTTP(w, r)
}

func TestStaleSessionReinitialised(t *testing.T) {
	var sw swapHandler
	sw.h.Store(http.Handler(exampleserver.NewStreamableHTTPServer(exampleserver.New())))
	ts := httptest.NewServer(&sw)
	t.Cleanup(ts.Close)

	c, _ := startConn(t, httpServerConfig(ts.URL))
	waitReady(t, c)
	// A restarted server knows nothing of our session and answers 404.
	sw.h.Store(http.Handler(exampleserver.NewStreamableHTTPServer(exampleserver.New())))
	res, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"message":"again"}`), nil)
	if err != nil {
		t.Fatalf("call after server restart: %v", err)
	}
	if callText(t, res) != "again" {
		t.Errorf("got %s", res)
	}
}

func TestListChangedRediscovers(t *testing.T) {
	for _, tc := range []struct {
		name string
		srv  func(t *testing.T) config.Server
	}{
		{"stdio", func(t *testing.T) config.Server { return stdioServerConfig() }},
		{"streamable-http", func(t *testing.T) config.Server { return httpServerConfig(newHTTPExample(t).URL) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rec := startConn(t, tc.srv(t))
			waitReady(t, c)
			if _, err := c.CallTool(context.Background(), exampleserver.ToolRegisterTool, json.RawMessage(`{"name":"brand_new"}`), nil); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "brand_new discovered", 10*time.Second, func() bool {
				d := rec.lastDiscovery()
				return d != nil && slices.Contains(toolNames(t, d), "brand_new")
			})
		})
	}
}

func TestStopReapsProcessGroup(t *testing.T) {
	marker := "sleep 3917"
	srv := serverConfig("group", config.TransportStdio)
	srv.Command = "sh"
	srv.Args = []string{"-c", marker + " & exec " + exampleBin}
	rec := &recorder{}
	c := downstream.New(srv, downstream.Options{OnStatus: func(st downstream.Status) {
		rec.mu.Lock()
		rec.statuses = append(rec.statuses, st)
		rec.mu.Unlock()
	}})
	c.Start(context.Background())
	waitReady(t, c)
	if err := exec.Command("pgrep", "-f", marker).Run(); err != nil {
		t.Fatalf("grandchild not running: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("second stop: %v", err)
	}
	waitFor(t, "grandchild gone", 3*time.Second, func() bool { return exec.Command("pgrep", "-f", marker).Run() != nil })
	if _, err := c.CallTool(context.Background(), "echo", nil, nil); !errors.Is(err, downstream.ErrStopped) {
		t.Errorf("call after stop: %v, want ErrStopped", err)
	}
	if st := c.Status(); st.State != downstream.StateStopped {
		t.Errorf("state after stop %s", st.State)
	}
}

// Stopping a Streamable HTTP connection closes its keep-alive connections
// too: they would otherwise stay open, each with two goroutines and its
// buffers, until the pool's idle timeout (90 s).
func TestStopClosesHTTPConnections(t *testing.T) {
	var open atomic.Int64
	ts := httptest.NewUnstartedServer(exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	ts.Start()
	t.Cleanup(func() { closeServer(ts) })
	c := downstream.New(httpServerConfig(ts.URL), downstream.Options{})
	c.Start(context.Background())
	waitReady(t, c)
	if _, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{"message":"hi"}`), nil); err != nil {
		t.Fatal(err)
	}
	if n := open.Load(); n < 2 {
		t.Fatalf("%d connections open while ready, want the GET stream's and a pooled one", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every connection closed", 3*time.Second, func() bool { return open.Load() == 0 })
}

// closeServer closes ts even while a hub connection still holds a stream
// open (Close alone waits for every outstanding request).
func closeServer(ts *httptest.Server) {
	ts.CloseClientConnections()
	ts.Close()
}

// A Streamable HTTP server has no connection to lose: the heartbeat is what
// notices it died while nobody was calling it.
func TestHeartbeatNoticesDeadHTTPServer(t *testing.T) {
	ts := httptest.NewServer(exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	c, _ := startConnWith(t, httpServerConfig(ts.URL), downstream.Options{Heartbeat: 50 * time.Millisecond})
	waitReady(t, c)
	closeServer(ts)
	// Without the heartbeat nothing would notice before the next refresh pass.
	waitFor(t, "the dead server noticed", 3*time.Second, func() bool { return !c.Status().Healthy() })
	if st := c.Status(); st.LastError == "" {
		t.Errorf("no last error after the server died: %+v", st)
	}
}

// A server that connects and then dies at once must back off, not be
// respawned in a tight loop.
func TestShortLivedSessionBacksOff(t *testing.T) {
	srv := serverConfig("flaky", config.TransportStdio)
	srv.Command = "timeout"
	srv.Args = []string{"0.5", exampleBin}
	srv.Backoff = config.Backoff{Initial: 2 * time.Second, Max: 2 * time.Second}
	c, _ := startConn(t, srv)
	waitReady(t, c)
	waitFor(t, "backoff after the short session", 5*time.Second, func() bool {
		return c.Status().State == downstream.StateBackoff
	})
	if st := c.Status(); st.LastSeen.IsZero() || st.Reconnects != 1 {
		t.Errorf("want last_seen kept while down and 1 reconnect: %+v", st)
	}
}

// increasingTo reports whether s rises strictly and ends at last.
func increasingTo(s []float64, last float64) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return len(s) > 0 && s[len(s)-1] == last
}
