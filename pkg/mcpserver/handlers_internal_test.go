package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/hub"
)

// fakeHub answers from a fixed snapshot; calls, reads and prompts return
// what the test sets.
type fakeHub struct {
	snap     *catalog.Snapshot
	calls    []hub.CallRequest
	callRes  *hub.CallResult
	callErr  error
	resource *hub.ResourceResult
	readFrom [][]string // the servers each read was limited to
	prompt   *hub.PromptResult
}

func (f *fakeHub) Snapshot() *catalog.Snapshot     { return f.snap }
func (f *fakeHub) Config() *config.Config          { return config.Default() }
func (f *fakeHub) Events() *events.Bus             { return nil }
func (f *fakeHub) NeedsApproval(catalog.Tool) bool { return false }
func (f *fakeHub) Servers() []hub.ServerInfo       { return nil }
func (f *fakeHub) Reject(context.Context, string, string, string) (approval.Request, error) {
	return approval.Request{}, nil
}
func (f *fakeHub) Approve(context.Context, hub.ApproveRequest) (*hub.CallResult, error) {
	return nil, errors.New("not here")
}
func (f *fakeHub) Call(_ context.Context, req hub.CallRequest) (*hub.CallResult, error) {
	f.calls = append(f.calls, req)
	return f.callRes, f.callErr
}
func (f *fakeHub) ReadResourceFrom(_ context.Context, _ string, servers ...string) (*hub.ResourceResult, error) {
	f.readFrom = append(f.readFrom, servers)
	return f.resource, nil
}
func (f *fakeHub) GetPrompt(context.Context, string, map[string]string) (*hub.PromptResult, error) {
	return f.prompt, nil
}

// fakeEndpoint is an endpoint scoped to server "a" of a catalog with
// servers a and b, each with a tool t and a prompt p.
func fakeEndpoint(t *testing.T) (*endpoint, *fakeHub) {
	t.Helper()
	var cats []catalog.ServerCatalog
	for _, s := range []string{"a", "b"} {
		sc := catalog.ServerCatalog{Server: s}
		sc.Tools, _, _ = catalog.ParseTools(s, json.RawMessage(`{"tools":[{"name":"t","inputSchema":{"type":"object"}}]}`))
		sc.Prompts, _, _ = catalog.ParsePrompts(s, json.RawMessage(`{"prompts":[{"name":"p"}]}`))
		cats = append(cats, sc)
	}
	fh := &fakeHub{snap: catalog.Build(cats, "__")}
	ep := testEndpoint(t, "server/a", scope{servers: []string{"a"}, expose: config.ExposeAll})
	ep.srv.hub = fh
	return ep, fh
}

func callReq(name string, args any) mcp.CallToolRequest {
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = args
	return req
}

// TestCallToolChecksScope: a call that reaches the handler for a tool of
// another server (a client racing a catalog change) does not run.
func TestCallToolChecksScope(t *testing.T) {
	ep, fh := fakeEndpoint(t)
	for _, name := range []string{"b__t", "nope"} {
		if _, err := ep.callTool(context.Background(), callReq(name, nil)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if len(fh.calls) != 0 {
		t.Errorf("the hub got %d calls", len(fh.calls))
	}
	// Arguments given as a map (no raw bytes) are encoded for the hub.
	fh.callRes = &hub.CallResult{Result: json.RawMessage(`{"content":[{"type":"text","text":"ok"}]}`)}
	res, err := ep.callTool(context.Background(), callReq("a__t", map[string]any{"x": 1}))
	if err != nil || res.IsError || len(fh.calls) != 1 || string(fh.calls[0].Arguments) != `{"x":1}` {
		t.Errorf("a__t: %+v %v; hub got %+v", res, err, fh.calls)
	}
	if !fh.calls[0].Claim || fh.calls[0].OnProgress != nil {
		t.Errorf("call request %+v: want Claim and no progress without a token", fh.calls[0])
	}
}

func TestToolResult(t *testing.T) {
	ep, _ := fakeEndpoint(t)
	toolResult := ep.toolResult
	if _, err := toolResult(nil, context.Canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want the error itself", err)
	}
	res, err := toolResult(nil, hub.ErrUnavailable)
	if err != nil || !res.IsError || !strings.Contains(res.Content[0].(mcp.TextContent).Text, hub.ErrUnavailable.Error()) {
		t.Errorf("hub error: %+v %v, want a tool error with its text", res, err)
	}
	res, err = toolResult(&hub.CallResult{Result: json.RawMessage(`{"content":"not a list"}`)}, nil)
	if err != nil || !res.IsError {
		t.Errorf("malformed result: %+v %v, want a tool error", res, err)
	}
	res, err = toolResult(&hub.CallResult{Result: json.RawMessage(`{"content":[{"type":"text","text":"x"}],"isError":true}`)}, nil)
	if err != nil || !res.IsError {
		t.Errorf("downstream isError: %+v %v", res, err)
	}
}

func TestScopedReadsAndPrompts(t *testing.T) {
	ep, fh := fakeEndpoint(t)
	fh.resource = &hub.ResourceResult{Server: "a", URI: "x://1", Result: json.RawMessage(`{"contents":[{"uri":"x://1","text":"x"}]}`)}
	var rr mcp.ReadResourceRequest
	rr.Params.URI = "x://1"
	if out, err := ep.readResource(context.Background(), rr); err != nil || len(out) != 1 {
		t.Errorf("read of server a's resource: %+v %v", out, err)
	}
	if len(fh.readFrom) != 1 || !slices.Equal(fh.readFrom[0], []string{"a"}) {
		t.Errorf("reads were routed among %v, want [a]", fh.readFrom)
	}
	fh.resource.Result = json.RawMessage(`{"contents":"nope"}`)
	if out, err := ep.readResource(context.Background(), rr); err == nil {
		t.Errorf("a malformed read result was relayed: %+v", out)
	}

	fh.prompt = &hub.PromptResult{Server: "a", Result: json.RawMessage(`{"messages":[]}`)}
	var pr mcp.GetPromptRequest
	pr.Params.Name = "b__p"
	if _, err := ep.getPrompt(context.Background(), pr); err == nil {
		t.Error("prompt of server b rendered on /mcp/server/a")
	}
	pr.Params.Name = "a__p"
	if _, err := ep.getPrompt(context.Background(), pr); err != nil {
		t.Errorf("a__p: %v", err)
	}
}

func TestEndpointKey(t *testing.T) {
	for path, want := range map[string]string{
		"/mcp": "", "/mcp/": "", "/mcp/server/x": "server/x", "/mcp/server/x/": "server/x",
		"/mcp/group/g.1": "group/g.1",
	} {
		if got, ok := endpointKey(path); !ok || got != want {
			t.Errorf("endpointKey(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
	for _, path := range []string{"", "/", "/mcpx", "/mcp/server", "/mcp/server/", "/mcp/tool/x", "/mcp/server/x/y", "/api/mcp"} {
		if got, ok := endpointKey(path); ok {
			t.Errorf("endpointKey(%q) = %q, want no endpoint", path, got)
		}
	}
}
