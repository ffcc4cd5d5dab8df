package exampleserver

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// ScaleToolName is the name of the i-th (1-based) of n tools added by
// WithScaleTools: tool_001 … tool_050 for n = 50, zero-padded to at least
// three digits and to the width of n.
func ScaleToolName(i, n int) string {
	return fmt.Sprintf("tool_%0*d", max(3, len(strconv.Itoa(n))), i)
}

// WithScaleTools adds n tools named as ScaleToolName says, for the hub's
// scale measurements (many servers with many tools each). Unlike the
// WithTools filler, each has a description and a small input schema (a
// required string "query" and an optional integer "limit"), so that a tool
// list weighs about what a real server's does. A call returns
// "<name>: <query>". n <= 0 adds none.
func WithScaleTools(n int) Option {
	return func(c *config) { c.scaleTools = n }
}

// WithListDelay makes the server wait d before answering each tools/list
// request (each page, when paginated), as a slow real server would: with
// it, "the slowest server" of a discovery is a known quantity. The wait
// ends early when the request is cancelled. d <= 0 means no delay (the
// default). It is a BeforeListTools hook, added to the server's hooks
// (those of a WithServerOptions(server.WithHooks(h)), when given).
func WithListDelay(d time.Duration) Option {
	return func(c *config) { c.listDelay = d }
}

func (ex *example) addScaleTools(n int) {
	if n <= 0 {
		return
	}
	tools := make([]server.ServerTool, 0, n)
	for i := 1; i <= n; i++ {
		name := ScaleToolName(i, n)
		tools = append(tools, server.ServerTool{
			Tool: mcp.NewTool(name,
				mcp.WithDescription(fmt.Sprintf("Scale-test tool %d of %d: looks nothing up; returns its name and the query.", i, n)),
				mcp.WithString("query", mcp.Required(), mcp.Description("What to look up."), mcp.MinLength(1)),
				mcp.WithInteger("limit", mcp.Description("Most results to return."),
					mcp.DefaultNumber(10), mcp.Min(1), mcp.Max(100)),
				mcp.WithReadOnlyHintAnnotation(true),
			),
			Handler: scaleTool(name),
		})
	}
	ex.srv.AddTools(tools...)
}

func scaleTool(name string) server.ToolHandlerFunc {
	return func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		q, err := req.RequireString("query")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(name + ": " + q), nil
	}
}

// delayListTools installs WithListDelay's hook on s.
func delayListTools(s *server.MCPServer, d time.Duration) {
	if d <= 0 {
		return
	}
	hooks := s.GetHooks()
	if hooks == nil {
		hooks = &server.Hooks{}
		server.WithHooks(hooks)(s)
	}
	hooks.AddBeforeListTools(func(ctx context.Context, _ any, _ *mcp.ListToolsRequest) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	})
}
