package mcpserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/openai"
)

// badHeaderTools are tools whose x-mcp-header annotations mcp-go refuses
// (AddTools panics on them).
var badHeaderTools = []string{
	`{"name":"number_header","inputSchema":{"type":"object","properties":{"score":{"type":"number","x-mcp-header":"Score"}}}}`,
	`{"name":"empty_header","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":""}}}}`,
	`{"name":"space_header","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"a b"}}}}`,
	`{"name":"duplicate_header","inputSchema":{"type":"object","properties":{"a":{"type":"string","x-mcp-header":"Region"},"b":{"type":"string","x-mcp-header":"region"}}}}`,
	`{"name":"nested_bad","inputSchema":{"type":"object","properties":{"o":{"type":"object","properties":{"x":{"type":"array","x-mcp-header":"X"}}}}}}`,
}

var goodTools = []string{
	`{"name":"plain","description":"A plain tool.","inputSchema":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}`,
	`{"name":"good_header","inputSchema":{"type":"object","properties":{"region":{"type":"string","x-mcp-header":"Region"}}}}`,
	`{"name":"rich","title":"Rich","inputSchema":{"$schema":"https://json-schema.org/draft/2020-12/schema","anyOf":[{"required":["a"]},{"required":["b"]}],"type":"object","properties":{"a":{"type":"string"},"b":{"type":"string"}},"definitions":{"x":{"type":"string"}}},"outputSchema":{"type":"object","properties":{"n":{"type":"number"}}},"annotations":{"readOnlyHint":true,"title":"R"},"_meta":{"vendor/x":{"k":1}},"icons":[{"src":"https://example.com/i.png","mimeType":"image/png"}]}`,
	`{"name":"no_schema","description":"Sent without inputSchema."}`,
}

// snapshotOf builds a catalog of one server from tool objects as a server
// would list them.
func snapshotOf(t *testing.T, server string, tools ...string) *catalog.Snapshot {
	t.Helper()
	sc := catalog.ServerCatalog{Server: server}
	for _, raw := range tools {
		parsed, _, err := catalog.ParseTools(server, json.RawMessage(`{"tools":[`+raw+`]}`))
		if err != nil {
			t.Fatalf("ParseTools %s: %v", raw, err)
		}
		sc.Tools = append(sc.Tools, parsed...)
	}
	return catalog.Build([]catalog.ServerCatalog{sc}, config.DefaultToolNameSeparator)
}

func toolOf(t *testing.T, snap *catalog.Snapshot, exported string) catalog.Tool {
	t.Helper()
	tool, ok := snap.Tool(exported)
	if !ok {
		t.Fatalf("no tool %s in the catalog", exported)
	}
	return tool
}

func TestToMCPToolKeepsSchemas(t *testing.T) {
	snap := snapshotOf(t, "s", goodTools...)
	for _, tc := range []struct {
		exported string
		gated    bool
	}{{"s__plain", false}, {"s__plain", true}, {"s__rich", false}, {"s__good_header", false}} {
		tool := toolOf(t, snap, tc.exported)
		mt, err := toMCPTool(tool, tc.gated)
		if err != nil {
			t.Fatalf("%s: %v", tc.exported, err)
		}
		b, err := json.Marshal(mt)
		if err != nil {
			t.Fatal(err)
		}
		var got, sent map[string]json.RawMessage
		_ = json.Unmarshal(b, &got)
		_ = json.Unmarshal(tool.Raw, &sent)
		if string(got["name"]) != `"`+tc.exported+`"` {
			t.Errorf("%s: name %s", tc.exported, got["name"])
		}
		for _, field := range []string{"inputSchema", "outputSchema", "annotations", "title", "_meta", "icons"} {
			if field == "annotations" && sent[field] == nil {
				continue // mcp-go always writes annotations, {} when there are none
			}
			if !sameJSON(got[field], sent[field]) {
				t.Errorf("%s: %s %s, sent %s", tc.exported, field, got[field], sent[field])
			}
		}
		var desc string
		_ = json.Unmarshal(got["description"], &desc)
		if tc.gated != strings.Contains(desc, openai.ApprovalNote) {
			t.Errorf("%s gated=%v: description %q", tc.exported, tc.gated, desc)
		}
	}
	mt, err := toMCPTool(toolOf(t, snap, "s__no_schema"), false)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(mt); !strings.Contains(string(b), `"inputSchema":{"type":"object"}`) {
		t.Errorf("a tool sent without inputSchema: %s", b)
	}
}

func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func TestToMCPToolRefusesBadHeaders(t *testing.T) {
	snap := snapshotOf(t, "s", badHeaderTools...)
	for _, tool := range snap.Tools() {
		if _, err := toMCPTool(tool, false); err == nil {
			t.Errorf("%s: accepted, mcp-go would panic on it", tool.Name)
		}
	}
}

// testEndpoint is an endpoint of a Server that has no hub: enough for
// update, which only reads the snapshot it is given.
func testEndpoint(t *testing.T, key string, sc scope) *endpoint {
	t.Helper()
	s := &Server{log: slog.New(slog.DiscardHandler), opts: Options{Version: "test", SessionIdleTTL: time.Minute}, endpoints: map[string]*endpoint{}, stopDone: make(chan struct{})}
	ep := s.newEndpoint(key, sc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = ep.http.Shutdown(ctx)
	})
	return ep
}

func registered(ep *endpoint) []string {
	var names []string
	for name := range ep.mcp.ListTools() {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func never(catalog.Tool) bool { return false }

// update syncs ep with snap, as the follower does.
func (ep *endpoint) update(snap *catalog.Snapshot, needsApproval func(catalog.Tool) bool) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.updateLocked(snap, needsApproval)
}

func TestUpdateToolsSkipsRefusedTools(t *testing.T) {
	ep := testEndpoint(t, "", scope{expose: config.ExposeAll})
	snap := snapshotOf(t, "s", append(slices.Clone(goodTools), badHeaderTools...)...)
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("update panicked: %v", v)
			}
		}()
		ep.update(snap, never)
	}()
	want := []string{"s__good_header", "s__no_schema", "s__plain", "s__rich"}
	if got := registered(ep); !slices.Equal(got, want) {
		t.Fatalf("registered %v, want %v", got, want)
	}
	if got := slices.Sorted(maps.Keys(ep.tools)); !slices.Equal(got, want) {
		t.Errorf("remembered %v, want %v", got, want)
	}
	// Updating again changes nothing and does not panic either.
	ep.update(snap, never)
	if got := registered(ep); !slices.Equal(got, want) {
		t.Errorf("after a second update: %v", got)
	}
	// A tool that disappears is removed; a changed one is replaced.
	changed := strings.Replace(goodTools[0], "A plain tool.", "Changed.", 1)
	ep.update(snapshotOf(t, "s", changed), never)
	if got := registered(ep); !slices.Equal(got, []string{"s__plain"}) {
		t.Fatalf("after removals: %v", got)
	}
	if d := ep.mcp.GetTool("s__plain").Tool.Description; d != "Changed." {
		t.Errorf("changed tool's description %q", d)
	}
	// Gating a tool changes its description.
	ep.update(snapshotOf(t, "s", changed), func(catalog.Tool) bool { return true })
	if d := ep.mcp.GetTool("s__plain").Tool.Description; !strings.Contains(d, openai.ApprovalNote) {
		t.Errorf("gated tool's description %q", d)
	}
}

// TestAddToolsIsolatesPanics: a tool mcp-go panics on for a reason
// toMCPTool does not check (here: a task tool of the same name) costs only
// itself.
func TestAddToolsIsolatesPanics(t *testing.T) {
	ep := testEndpoint(t, "", scope{expose: config.ExposeAll})
	ep.mcp.AddTaskTool(mcp.NewTool("s__rich"), func(context.Context, mcp.CallToolRequest) (*mcp.CreateTaskResult, error) {
		return nil, nil
	})
	snap := snapshotOf(t, "s", goodTools...)
	func() {
		defer func() {
			if v := recover(); v != nil {
				t.Fatalf("update panicked: %v", v)
			}
		}()
		ep.update(snap, never)
	}()
	want := []string{"s__good_header", "s__no_schema", "s__plain"}
	if got := registered(ep); !slices.Equal(got, want) {
		t.Errorf("registered %v, want %v", got, want)
	}
	if _, ok := ep.tools["s__rich"]; ok {
		t.Error("the refused tool is remembered as registered")
	}
}

func TestUpdateToolsFollowsScope(t *testing.T) {
	sc := catalog.ServerCatalog{Server: "a"}
	sc.Tools, _, _ = catalog.ParseTools("a", json.RawMessage(`{"tools":[{"name":"read_x","inputSchema":{"type":"object"}},{"name":"delete_x","inputSchema":{"type":"object"}}]}`))
	sb := catalog.ServerCatalog{Server: "b"}
	sb.Tools, _, _ = catalog.ParseTools("b", json.RawMessage(`{"tools":[{"name":"read_y","inputSchema":{"type":"object"}}]}`))
	snap := catalog.Build([]catalog.ServerCatalog{sc, sb}, "__")

	for _, tc := range []struct {
		name string
		sc   scope
		want []string
	}{
		{"all", scope{expose: config.ExposeAll}, []string{"a__delete_x", "a__read_x", "b__read_y"}},
		{"server a", scope{servers: []string{"a"}, expose: config.ExposeAll}, []string{"a__delete_x", "a__read_x"}},
		{"group deny", scope{servers: []string{"a", "b"}, filter: config.ToolFilter{Deny: []string{"*.delete_*"}}, expose: config.ExposeAll}, []string{"a__read_x", "b__read_y"}},
		{"group allow", scope{servers: []string{"a", "b"}, filter: config.ToolFilter{Allow: []string{"b.*"}}, expose: config.ExposeAll}, []string{"b__read_y"}},
		{"empty group", scope{servers: []string{}, expose: config.ExposeAll}, nil},
		{"search", scope{expose: config.ExposeSearch}, []string{"call_tool", "get_server_detail", "search_tools"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := testEndpoint(t, "group/x", tc.sc)
			ep.update(snap, never)
			if got := registered(ep); !slices.Equal(got, tc.want) {
				t.Errorf("registered %v, want %v", got, tc.want)
			}
		})
	}
}

// A resource or prompt whose new version mcp-go cannot decode is not
// served, and its old version does not stay registered either.
func TestUpdateDropsUndecodableVersions(t *testing.T) {
	ep := testEndpoint(t, "", scope{expose: config.ExposeAll})
	snap := func(resource, prompt string) *catalog.Snapshot {
		res, problems := catalog.ParseResourceList("s", []json.RawMessage{json.RawMessage(resource)})
		prompts, more := catalog.ParsePromptList("s", []json.RawMessage{json.RawMessage(prompt)})
		if len(problems)+len(more) != 0 {
			t.Fatalf("catalog refused the fixtures: %v %v", problems, more)
		}
		return catalog.Build([]catalog.ServerCatalog{{Server: "s", Resources: res, Prompts: prompts}}, config.DefaultToolNameSeparator)
	}
	ep.update(snap(`{"uri":"file:///a","name":"a"}`, `{"name":"greet"}`), never)
	if len(ep.mcp.ListResources()) != 1 || len(ep.mcp.ListPrompts()) != 1 {
		t.Fatalf("registered %v, %v", ep.mcp.ListResources(), ep.mcp.ListPrompts())
	}
	// The catalog takes these (a name and a URI are all it needs); mcp-go's
	// types do not (a description must be a string).
	ep.update(snap(`{"uri":"file:///a","name":"a","description":5}`, `{"name":"greet","description":5}`), never)
	if got := ep.mcp.ListResources(); len(got) != 0 {
		t.Errorf("resources still registered: %v", slices.Collect(maps.Keys(got)))
	}
	if got := ep.mcp.ListPrompts(); len(got) != 0 {
		t.Errorf("prompts still registered: %v", slices.Collect(maps.Keys(got)))
	}
}
