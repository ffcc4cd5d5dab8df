package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
)

func TestCall(t *testing.T) {
	t.Parallel()
	transports := []struct {
		name  string
		setup func(t *testing.T) (config.Server, *httpExample)
	}{
		{"stdio", func(t *testing.T) (config.Server, *httpExample) {
			return stdioServer("example", exampleCmd(t, "call")), nil
		}},
		{"streamable-http", func(t *testing.T) (config.Server, *httpExample) {
			ex := newHTTPExample(t)
			return httpServer("example", ex.URL), ex
		}},
	}
	cases := []struct {
		name        string
		tool, args  string
		wantTool    string
		wantContent string
		wantIsError bool
		wantInRaw   string // a fragment of the result as the server sent it
		wantWire    string // a fragment of the tools/call request on the wire (HTTP only)
	}{
		{name: "exported name", tool: "example__echo", args: `{"message":"hi there"}`,
			wantTool: "echo", wantContent: "hi there", wantWire: `"arguments":{"message":"hi there"}`},
		{name: "seed form", tool: "example.echo", args: `{"message":"seed"}`,
			wantTool: "echo", wantContent: "seed"},
		{name: "structured result", tool: "example__add", args: `{"a":2,"b":3}`,
			wantTool: "add", wantContent: "5", wantInRaw: `"structuredContent":{"sum":5}`},
		{name: "nil arguments sent as {}", tool: "example__fail",
			wantTool: "fail", wantContent: "failure requested", wantIsError: true,
			wantInRaw: `"isError":true`, wantWire: `"arguments":{}`},
		{name: "null arguments sent as {}", tool: "example__fail", args: `null`,
			wantTool: "fail", wantContent: "failure requested", wantIsError: true, wantWire: `"arguments":{}`},
		{name: "arguments as a JSON string (OpenAI form)", tool: "example__echo", args: `"{\"message\":\"str\"}"`,
			wantTool: "echo", wantContent: "str", wantWire: `"arguments":{"message":"str"}`},
		{name: "tool error keeps the result", tool: "example.fail", args: `{"message":"it broke"}`,
			wantTool: "fail", wantContent: "it broke", wantIsError: true, wantInRaw: `"text":"it broke"`},
		{name: "bad arguments are a tool error, not a call error", tool: "example__add", args: `{"a":"x"}`,
			wantTool: "add", wantIsError: true},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			srv, ex := tr.setup(t)
			h := startHub(t, hubConfig(srv))
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					res := call(t, h, tc.tool, tc.args)
					if res.Server != "example" || res.Tool != tc.wantTool || res.Name != "example__"+tc.wantTool {
						t.Errorf("routed to server %q tool %q name %q", res.Server, res.Tool, res.Name)
					}
					if res.IsError != tc.wantIsError {
						t.Errorf("IsError = %v, want %v (result %s)", res.IsError, tc.wantIsError, res.Result)
					}
					if tc.wantContent != "" && res.Content != tc.wantContent {
						t.Errorf("Content = %q, want %q", res.Content, tc.wantContent)
					}
					if tc.wantIsError && res.Content == "" {
						t.Errorf("a tool error must carry its text for the model: %s", res.Result)
					}
					if !json.Valid(res.Result) || !strings.Contains(string(res.Result), tc.wantInRaw) {
						t.Errorf("Result %s: want it to contain %s", res.Result, tc.wantInRaw)
					}
					if ex != nil && tc.wantWire != "" && !strings.Contains(ex.lastCall(), tc.wantWire) {
						t.Errorf("request on the wire %s: want %s", ex.lastCall(), tc.wantWire)
					}
				})
			}
		})
	}
}

func TestCallRejectsBadRequests(t *testing.T) {
	t.Parallel()
	h := startHub(t, hubConfig(stdioServer("example", exampleCmd(t, "bad"))))
	cases := []struct {
		name, tool, args string
		want             error
	}{
		{"unknown tool", "example__nope", `{}`, hub.ErrNotFound},
		{"unknown server", "other__echo", `{}`, hub.ErrNotFound},
		{"unknown seed form", "other.echo", `{}`, hub.ErrNotFound},
		{"empty name", "", `{}`, hub.ErrNotFound},
		{"arguments not JSON", "example__echo", `{"message":`, hub.ErrInvalidInput},
		{"arguments an array", "example__echo", `["hi"]`, hub.ErrInvalidInput},
		{"arguments a string", "example__echo", `"hi"`, hub.ErrInvalidInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.Call(t.Context(), hub.CallRequest{Name: tc.tool, Arguments: json.RawMessage(tc.args)})
			wantErr(t, err, tc.want)
		})
	}
	// None of that may have hurt the connection.
	if !serverInfo(t, h, "example").Healthy {
		t.Errorf("server unhealthy after bad requests: %+v", serverInfo(t, h, "example"))
	}
	echo(t, h, "example__echo")
	// JSON null is "no arguments".
	if res := call(t, h, "example__fail", `null`); !res.IsError || res.Content != "failure requested" {
		t.Errorf("null arguments: %+v", res)
	}
}

func TestCallServerDown(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	srv := httpServer("remote", ex.URL)
	srv.Backoff = slowBackoff
	h := startHub(t, hubConfig(srv))
	echo(t, h, "remote__echo")

	ex.kill()
	// The first call finds the connection refused; later ones find the
	// server marked down. Both are "unavailable" (503), and the tool stays
	// listed so the model's next turn can try again.
	for i := range 2 {
		_, err := h.Call(t.Context(), hub.CallRequest{Name: "remote__echo", Arguments: json.RawMessage(`{"message":"x"}`)})
		wantErr(t, err, hub.ErrUnavailable)
		if !strings.Contains(err.Error(), "remote") {
			t.Errorf("error %q does not name the server", err)
		}
		if i == 0 {
			waitFor(t, "remote marked down", 10*time.Second, func() bool { return !serverInfo(t, h, "remote").Healthy })
		}
	}
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	cmd := exampleCmd(t, "timeout")
	srv := stdioServer("slow", cmd)
	srv.Timeout = time.Second
	h := startHub(t, hubConfig(srv))
	pid := onePID(t, cmd)

	start := time.Now()
	hung := make(chan error, 1)
	go func() {
		_, err := h.Call(context.Background(), hub.CallRequest{Name: "slow__slow_count", Arguments: json.RawMessage(`{"count":1,"delay_ms":30000}`)})
		hung <- err
	}()
	// While one call hangs, the same server and the hub keep answering.
	time.Sleep(100 * time.Millisecond)
	echo(t, h, "slow__echo")
	if len(hung) != 0 {
		t.Fatalf("hanging call returned early: %v", <-hung)
	}

	err := <-hung
	took := time.Since(start)
	wantErr(t, err, hub.ErrTimeout)
	if took < 900*time.Millisecond || took > 5*time.Second {
		t.Errorf("timed out after %s, want about the server's 1s timeout", took)
	}
	// A slow tool is not a broken server: same child, still ready.
	echo(t, h, "slow__echo")
	if got := onePID(t, cmd); got != pid {
		t.Errorf("a timeout restarted the server: pid %d → %d", pid, got)
	}
	if !serverInfo(t, h, "slow").Healthy {
		t.Errorf("unhealthy after a timeout: %+v", serverInfo(t, h, "slow"))
	}
}

func TestCallCancelledByCaller(t *testing.T) {
	t.Parallel()
	h := startHub(t, hubConfig(stdioServer("slow", exampleCmd(t, "cancel"))))
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Call(ctx, hub.CallRequest{Name: "slow__slow_count", Arguments: json.RawMessage(`{"count":1,"delay_ms":30000}`)})
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("call outlived its context by %s", took)
	}
	if err == nil || errors.Is(err, hub.ErrProtocol) || errors.Is(err, hub.ErrUnavailable) {
		t.Fatalf("cancelled call: %v", err)
	}
	echo(t, h, "slow__echo")
}

// failingMiddleware makes echo return a Go error (JSON-RPC -32603) when
// asked to.
func failingMiddleware() exampleserver.Option {
	return exampleserver.WithServerOptions(server.WithToolHandlerMiddleware(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if req.GetString("message", "") == "rpc-error" {
				return nil, errors.New("handler exploded")
			}
			return next(ctx, req)
		}
	}))
}

func TestCallDownstreamRPCErrors(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t, failingMiddleware(), noListChanged())
	h := startHub(t, hubConfig(httpServer("x", ex.URL)))

	// A handler failure is the server's JSON-RPC error -32603: a bad gateway.
	_, err := h.Call(t.Context(), hub.CallRequest{Name: "x__echo", Arguments: json.RawMessage(`{"message":"rpc-error"}`)})
	wantErr(t, err, hub.ErrProtocol)
	if errors.Is(err, hub.ErrInvalidInput) || !strings.Contains(err.Error(), "handler exploded") || !strings.Contains(err.Error(), "server x") {
		t.Errorf("error %q: want the server's name and message", err)
	}

	// -32602 (invalid params) is the caller's problem: 400. mcp-go answers it
	// for a tool it does not have, which the hub still lists until it
	// re-discovers (this server does not announce list changes).
	call(t, h, "x__register_tool", `{"name":"ghost"}`)
	if _, err := h.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	echo(t, h, "x__echo")
	if res := call(t, h, "x__ghost", ""); res.Content != "ghost" {
		t.Fatalf("ghost: %+v", res)
	}
	call(t, h, "x__unregister_tool", `{"name":"ghost"}`)
	_, err = h.Call(t.Context(), hub.CallRequest{Name: "x__ghost"})
	wantErr(t, err, hub.ErrInvalidInput)
	if errors.Is(err, hub.ErrProtocol) || !strings.Contains(err.Error(), "-32602") {
		t.Errorf("error %q: want only invalid input, with the code", err)
	}

	// Neither error is a sign of a broken connection.
	if !serverInfo(t, h, "x").Healthy || ex.initializes.Load() != 1 {
		t.Errorf("server reconnected after JSON-RPC errors: %+v, %d initializes", serverInfo(t, h, "x"), ex.initializes.Load())
	}
}
