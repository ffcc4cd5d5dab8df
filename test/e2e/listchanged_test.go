package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestListChanged registers and removes tools on running servers, over stdio
// and Streamable HTTP: the hub follows tools/list_changed without a refresh,
// and exports MCP names OpenAI would reject under valid, callable names.
func TestListChanged(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	srv := startProc(t, "", nil, bins.example, "--http", addr)
	waitHTTP(t, "http://"+addr+"/mcp", srv)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: local
    command: %q
  - name: web
    url: "http://%s/mcp"
`, bins.example, addr))
	for _, server := range []string{"local", "web"} {
		t.Run(server, func(t *testing.T) {
			h.waitReady(server, 20*time.Second)
			before := h.servers()[server].Tools
			const mcpName = "ns.tool/v2 beta"
			h.mustCall(server+"__register_tool", map[string]any{"name": mcpName})

			var exported string
			waitFor(t, 10*time.Second, "the new tool in /mcp_hub/tools", func() (bool, string) {
				var names []string
				for _, tool := range h.tools(server) {
					names = append(names, tool.Function.Name)
					if strings.Contains(tool.Function.Description, "Registered at run time") {
						exported = tool.Function.Name
					}
				}
				return exported != "", fmt.Sprint(names)
			})
			if !openAIName.MatchString(exported) || !strings.HasPrefix(exported, server+"__") {
				t.Errorf("%q exported as %q", mcpName, exported)
			}
			if out := h.mustCall(exported, map[string]any{}); out.Content != mcpName {
				t.Errorf("calling %s: %+v", exported, out)
			}
			// The server.tool form takes the MCP name as it is.
			if out := h.mustCall(server+"."+mcpName, map[string]any{}); out.Content != mcpName {
				t.Errorf("calling %s.%s: %+v", server, mcpName, out)
			}
			if n := h.servers()[server].Tools; n != before+1 {
				t.Errorf("tools count %d after registering one, was %d", n, before)
			}

			h.mustCall(server+"__unregister_tool", map[string]any{"name": mcpName})
			h.waitServer(server, 10*time.Second, "tool removed", func(s serverInfo) bool { return s.Tools == before })
			if code, _ := h.call(exported, map[string]any{}); code != 404 {
				t.Errorf("calling a removed tool: status %d, want 404", code)
			}
		})
	}
}
