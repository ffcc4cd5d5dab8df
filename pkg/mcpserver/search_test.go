package mcpserver_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

var metaTools = []string{"call_tool", "get_server_detail", "search_tools"}

type searchHit struct {
	Name             string          `json:"name"`
	Server           string          `json:"server"`
	Description      string          `json:"description"`
	InputSchema      json.RawMessage `json:"inputSchema"`
	RequiresApproval bool            `json:"requiresApproval"`
}

func search(t *testing.T, c *mcpClient, args map[string]any) []searchHit {
	t.Helper()
	res := c.call(t, "search_tools", args)
	if res.IsError {
		t.Fatalf("search_tools %v: %q", args, textOf(t, res))
	}
	var out struct {
		Tools []searchHit `json:"tools"`
	}
	if err := json.Unmarshal([]byte(textOf(t, res)), &out); err != nil {
		t.Fatalf("search_tools result %q: %v", textOf(t, res), err)
	}
	return out.Tools
}

func TestSearchMode(t *testing.T) {
	cfg := hubConfig(gatedExample(stdioExample("example")))
	cfg.Expose = config.ExposeSearch
	e := newEnv(t, cfg)
	c := connect(t, e.url("/mcp"), clientOpts{})

	if names := c.toolNames(t); !slices.Equal(names, metaTools) {
		t.Fatalf("tools/list in search mode: %v, want %v", names, metaTools)
	}

	hits := search(t, c, map[string]any{"query": "echo a message back"})
	if len(hits) == 0 || hits[0].Name != "example__echo" || hits[0].Server != "example" {
		t.Fatalf("search_tools: %+v, want example__echo first", hits)
	}
	direct := connect(t, newHTTPExample(t).URL, clientOpts{}).rawTools(t)
	if !jsonEqual(t, hits[0].InputSchema, direct[exampleserver.ToolEcho]["inputSchema"]) {
		t.Errorf("search_tools inputSchema %s, downstream sent %s", hits[0].InputSchema, direct[exampleserver.ToolEcho]["inputSchema"])
	}
	hits = search(t, c, map[string]any{"query": "delete a note", "limit": 1})
	if len(hits) != 1 || hits[0].Name != "example__delete_note" || !hits[0].RequiresApproval {
		t.Errorf("search_tools delete with limit 1: %+v", hits)
	}
	if res := c.call(t, "search_tools", map[string]any{"query": "x", "limit": 500}); !res.IsError {
		t.Errorf("search_tools with limit 500: %q, want a tool error", textOf(t, res))
	}

	res := c.call(t, "call_tool", map[string]any{"name": "example__echo", "arguments": map[string]any{"message": "x"}})
	if res.IsError || textOf(t, res) != "x" {
		t.Errorf("call_tool example__echo: isError=%v %q", res.IsError, textOf(t, res))
	}
	res = c.call(t, "call_tool", map[string]any{"name": "example__fail", "arguments": map[string]any{"message": "bad"}})
	if !res.IsError || textOf(t, res) != "bad" {
		t.Errorf("call_tool example__fail: isError=%v %q", res.IsError, textOf(t, res))
	}
	res = c.call(t, "call_tool", map[string]any{"name": "example__nope", "arguments": map[string]any{}})
	if !res.IsError || !strings.Contains(textOf(t, res), "example__nope") {
		t.Errorf("call_tool of an unknown tool: isError=%v %q", res.IsError, textOf(t, res))
	}
	// The meta-tools are not tools of the catalog.
	res = c.call(t, "call_tool", map[string]any{"name": "call_tool", "arguments": map[string]any{}})
	if !res.IsError {
		t.Errorf("call_tool of call_tool: %q", textOf(t, res))
	}
	// Approval goes through call_tool too.
	pendingID(t, c.call(t, "call_tool", map[string]any{"name": "example__delete_note", "arguments": map[string]any{"id": "todo"}}))
	// A tool's direct name is not callable in search mode.
	if res, err := c.tryCall(ctxFor(t), "example__echo", map[string]any{"message": "x"}, nil); err == nil && !res.IsError {
		t.Errorf("example__echo called directly in search mode: %q", textOf(t, res))
	}

	res = c.call(t, "get_server_detail", map[string]any{"server": "example"})
	if res.IsError {
		t.Fatalf("get_server_detail: %q", textOf(t, res))
	}
	var detail struct {
		Server     string            `json:"server"`
		Status     string            `json:"status"`
		Healthy    bool              `json:"healthy"`
		ServerInfo map[string]string `json:"server_info"`
		Tools      []string          `json:"tools"`
		Resources  int               `json:"resources"`
		Prompts    int               `json:"prompts"`
	}
	if err := json.Unmarshal([]byte(textOf(t, res)), &detail); err != nil {
		t.Fatalf("get_server_detail %q: %v", textOf(t, res), err)
	}
	if detail.Server != "example" || !detail.Healthy || detail.Status != "ready" ||
		detail.ServerInfo["name"] != exampleserver.Name || detail.ServerInfo["version"] != exampleserver.Version ||
		!slices.Equal(detail.Tools, exported(exampleToolNames...)) || detail.Resources != 1 || detail.Prompts != 1 {
		t.Errorf("get_server_detail: %+v", detail)
	}
	if res := c.call(t, "get_server_detail", map[string]any{"server": "nope"}); !res.IsError {
		t.Errorf("get_server_detail of an unknown server: %q", textOf(t, res))
	}

	// Resources and prompts are still served in search mode.
	if got := readText(t, c, exampleserver.WelcomeURI); got != exampleserver.WelcomeText {
		t.Errorf("read in search mode: %q", got)
	}
}

// TestSearchModeGroup: a group in search mode searches and calls only
// what its filter lets through; other endpoints keep listing tools.
func TestSearchModeGroup(t *testing.T) {
	web := newHTTPExample(t)
	cfg := hubConfig(stdioExample("example"), httpServer("web", web.URL))
	cfg.Groups = []config.Group{{Name: "g", Servers: []string{"web"}, Expose: config.ExposeSearch,
		Tools: config.ToolFilter{Deny: []string{"*.delete_*"}}}}
	e := newEnv(t, cfg)

	g := connect(t, e.url("/mcp/group/g"), clientOpts{})
	if names := g.toolNames(t); !slices.Equal(names, metaTools) {
		t.Fatalf("/mcp/group/g tools/list: %v", names)
	}
	for _, h := range search(t, g, map[string]any{"query": "note echo delete message", "limit": 50}) {
		if h.Server != "web" || h.Name == "web__delete_note" {
			t.Errorf("/mcp/group/g search found %s", h.Name)
		}
	}
	for _, name := range []string{"example__echo", "web__delete_note"} {
		res := g.call(t, "call_tool", map[string]any{"name": name, "arguments": map[string]any{"message": "x", "id": "todo"}})
		if !res.IsError {
			t.Errorf("call_tool %s on /mcp/group/g ran: %q", name, textOf(t, res))
		}
	}
	if web.callsOf(exampleserver.ToolDeleteNote) != 0 {
		t.Error("delete_note reached web through a group that denies it")
	}
	res := g.call(t, "call_tool", map[string]any{"name": "web__echo", "arguments": map[string]any{"message": "y"}})
	if res.IsError || textOf(t, res) != "y" {
		t.Errorf("call_tool web__echo: isError=%v %q", res.IsError, textOf(t, res))
	}
	if res := g.call(t, "get_server_detail", map[string]any{"server": "example"}); !res.IsError {
		t.Errorf("get_server_detail of a server outside the group: %q", textOf(t, res))
	}
	res = g.call(t, "get_server_detail", map[string]any{"server": "web"})
	if strings.Contains(textOf(t, res), "web__delete_note") {
		t.Errorf("get_server_detail lists a denied tool: %q", textOf(t, res))
	}

	all := connect(t, e.url("/mcp"), clientOpts{})
	if names := all.toolNames(t); slices.Contains(names, "search_tools") || len(names) != 2*len(exampleToolNames) {
		t.Errorf("/mcp (expose all) lists %v", names)
	}
}
