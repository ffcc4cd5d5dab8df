package e2e

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TestPagination serves more items than fit in one page (an mcp-go server
// with a page limit, over real HTTP) and checks that the hub followed every
// cursor: server-everything happens to send all its lists in one page.
func TestPagination(t *testing.T) {
	t.Parallel()
	const pageSize, nTools, nResources, nTemplates, nPrompts = 4, 11, 25, 6, 9
	s := server.NewMCPServer("pager", "1.0.0",
		server.WithPaginationLimit(pageSize),
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
	)
	for i := range nTools {
		s.AddTool(mcp.NewTool(fmt.Sprintf("tool_%02d", i), mcp.WithString("x")),
			func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText(fmt.Sprint(i)), nil
			})
	}
	for i := range nResources {
		s.AddResource(mcp.NewResource(fmt.Sprintf("page://r/%02d", i), fmt.Sprintf("r%02d", i)),
			func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) { return nil, nil })
	}
	for i := range nTemplates {
		s.AddResourceTemplate(mcp.NewResourceTemplate(fmt.Sprintf("page://t%d/{id}", i), fmt.Sprintf("t%d", i)),
			func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) { return nil, nil })
	}
	for i := range nPrompts {
		s.AddPrompt(mcp.NewPrompt(fmt.Sprintf("p%02d", i)),
			func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) { return nil, nil })
	}
	mcpHTTP := server.NewStreamableHTTPServer(s)
	ts := httptest.NewServer(mcpHTTP)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = mcpHTTP.Shutdown(ctx)
		ts.Close()
	})
	url := ts.URL + "/mcp"

	// The server really pages: its first resources page is partial.
	d := directHTTP(t, url)
	_, pages := d.listAll(t, "resources/list", "resources")
	if pages < 2 {
		t.Fatalf("resources came in %d page(s); the test server should page", pages)
	}

	h := startHub(t, fmt.Sprintf(`
servers:
  - name: pager
    url: %q
`, url))
	got := h.waitReady("pager", 20*time.Second)
	if got.Tools != nTools || got.Resources != nResources || got.ResourceTemplates != nTemplates || got.Prompts != nPrompts {
		t.Errorf("hub counts %v; the server has %d tools, %d resources, %d templates, %d prompts (pages of %d)",
			got, nTools, nResources, nTemplates, nPrompts, pageSize)
	}
	if n := len(h.tools("pager")); n != nTools {
		t.Errorf("/mcp_hub/tools?server=pager lists %d tools, want %d", n, nTools)
	}
	if out := h.mustCall("pager__tool_10", map[string]any{}); out.Content != "10" {
		t.Errorf("tool from the last page: %+v", out)
	}
}
