package exampleserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/exampleserver"
)

// serveOptions serves exampleserver.New(opts...) over Streamable HTTP in
// process and connects one client.
func serveOptions(t *testing.T, opts ...exampleserver.Option) *conn {
	t.Helper()
	h := exampleserver.NewStreamableHTTPServer(exampleserver.New(opts...))
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		ts.Close()
	})
	tr, err := transport.NewStreamableHTTP(ts.URL+"/mcp",
		transport.WithHTTPLogger(quiet), transport.WithHTTPBasicClient(ownHTTPClient(t)))
	if err != nil {
		t.Fatal(err)
	}
	return start(t, tr)
}

func TestScaleToolName(t *testing.T) {
	for _, tc := range []struct {
		i, n int
		want string
	}{
		{1, 42, "tool_001"}, {42, 42, "tool_042"}, {7, 999, "tool_007"}, {5, 1000, "tool_0005"}, {12345, 12345, "tool_12345"},
	} {
		if got := exampleserver.ScaleToolName(tc.i, tc.n); got != tc.want {
			t.Errorf("ScaleToolName(%d, %d) = %q, want %q", tc.i, tc.n, got, tc.want)
		}
	}
}

func TestScaleTools(t *testing.T) {
	const n = 42
	c := serveOptions(t, exampleserver.WithScaleTools(n), exampleserver.WithTools(2))
	list, err := c.ListTools(callCtx(t), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range list.Tools {
		names = append(names, x.Name)
	}
	if len(names) != len(builtinTools)+2+n {
		t.Fatalf("%d tools, want %d built-in + 2 extra + %d scale tools: %v", len(names), len(builtinTools), n, names)
	}
	for _, want := range append(slices.Clone(builtinTools), "extra_0", "extra_1", "tool_001", "tool_021", "tool_042") {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from %v", want, names)
		}
	}
	tool := list.Tools[slices.IndexFunc(list.Tools, func(x mcp.Tool) bool { return x.Name == "tool_021" })]
	if tool.Description == "" || !slices.Equal(tool.InputSchema.Required, []string{"query"}) ||
		tool.InputSchema.Properties["query"] == nil || tool.InputSchema.Properties["limit"] == nil {
		t.Errorf("tool_021: %+v", tool)
	}

	if got := text(t, call(t, c, "tool_021", map[string]any{"query": "q", "limit": 3})); got != "tool_021: q" {
		t.Errorf("tool_021 returned %q", got)
	}
	if res := call(t, c, "tool_021", map[string]any{"limit": 3}); !res.IsError {
		t.Errorf("tool_021 without query: %+v, want a tool error", res)
	}
}

// TestListDelay checks that tools/list waits (and only tools/list), and
// that the caller's own hooks keep working.
func TestListDelay(t *testing.T) {
	const delay = 150 * time.Millisecond
	var listed atomic.Int32
	hooks := &server.Hooks{}
	hooks.AddBeforeListTools(func(context.Context, any, *mcp.ListToolsRequest) { listed.Add(1) })
	c := serveOptions(t, exampleserver.WithListDelay(delay),
		exampleserver.WithServerOptions(server.WithHooks(hooks)))

	start := time.Now()
	list, err := c.ListTools(callCtx(t), mcp.ListToolsRequest{})
	if took := time.Since(start); err != nil || len(list.Tools) != len(builtinTools) || took < delay {
		t.Errorf("tools/list: %d tools, %v, after %v (want at least %v)", len(list.Tools), err, took, delay)
	}
	if n := listed.Load(); n != 1 {
		t.Errorf("the caller's BeforeListTools hook ran %d times, want 1", n)
	}

	// A caller that gives up before the delay gets an error; the session
	// keeps working (and the package's leak check sees no waiting hook).
	ctx, cancel := context.WithTimeout(callCtx(t), 20*time.Millisecond)
	defer cancel()
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err == nil {
		t.Error("tools/list within 20ms succeeded despite the delay")
	}
	if got := text(t, call(t, c, exampleserver.ToolEcho, map[string]any{"message": "hi"})); got != "hi" {
		t.Errorf("echo returned %q", got)
	}
}
