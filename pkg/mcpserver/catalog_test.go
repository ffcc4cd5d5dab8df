package mcpserver_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/openai"
)

// downstreams are the ways the example server is reached in these tests.
var downstreams = []struct {
	name  string
	setup func(t *testing.T) config.Server
	// splitsProgress: mcp-go's Streamable HTTP server sends a call's
	// notifications on the POST and GET streams both, so one can overtake
	// another (see TestProgressEveryNotification).
	splitsProgress bool
}{
	{"stdio", func(t *testing.T) config.Server { return stdioExample("example") }, false},
	{"streamable-http", func(t *testing.T) config.Server { return httpServer("example", newHTTPExample(t).URL) }, true},
}

var exampleToolNames = []string{
	exampleserver.ToolAdd, exampleserver.ToolCreateNote, exampleserver.ToolDeleteNote, exampleserver.ToolEcho,
	exampleserver.ToolFail, exampleserver.ToolRegisterTool, exampleserver.ToolSlowCount, exampleserver.ToolUnregisterTool,
}

// exported is names as server "example"'s exported tool names, sorted.
func exported(names ...string) []string { return prefixed("example", names...) }

// prefixed is names as server's exported tool names, sorted.
func prefixed(server string, names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = server + "__" + n
	}
	slices.Sort(out)
	return out
}

// gatedExample is the example server with delete_* needing approval.
func gatedExample(s config.Server) config.Server {
	s.RequireApproval = []string{"delete_*"}
	return s
}

func TestListTools(t *testing.T) {
	// What the example server lists itself, straight from an instance.
	direct := connect(t, newHTTPExample(t).URL, clientOpts{}).rawTools(t)
	if len(direct) != len(exampleToolNames) {
		t.Fatalf("the example server lists %d tools, want %d", len(direct), len(exampleToolNames))
	}
	for _, ds := range downstreams {
		t.Run(ds.name, func(t *testing.T) {
			e := newEnv(t, hubConfig(gatedExample(ds.setup(t))))
			c := connect(t, e.url("/mcp"), clientOpts{})
			got := c.rawTools(t)
			var names []string
			for n := range got {
				names = append(names, n)
			}
			slices.Sort(names)
			if want := exported(exampleToolNames...); !slices.Equal(names, want) {
				t.Fatalf("tools/list names %v, want %v", names, want)
			}
			for name, want := range direct {
				tool := got["example__"+name]
				if !jsonEqual(t, tool["inputSchema"], want["inputSchema"]) {
					t.Errorf("%s: inputSchema %s, downstream sent %s", name, tool["inputSchema"], want["inputSchema"])
				}
				if (tool["outputSchema"] == nil) != (want["outputSchema"] == nil) ||
					(want["outputSchema"] != nil && !jsonEqual(t, tool["outputSchema"], want["outputSchema"])) {
					t.Errorf("%s: outputSchema %s, downstream sent %s", name, tool["outputSchema"], want["outputSchema"])
				}
				if want["annotations"] != nil && !jsonEqual(t, tool["annotations"], want["annotations"]) {
					t.Errorf("%s: annotations %s, downstream sent %s", name, tool["annotations"], want["annotations"])
				}
				var desc, wantDesc string
				_ = json.Unmarshal(tool["description"], &desc)
				_ = json.Unmarshal(want["description"], &wantDesc)
				if name == exampleserver.ToolDeleteNote {
					if !strings.HasPrefix(desc, wantDesc) || !strings.Contains(desc, openai.ApprovalNote) {
						t.Errorf("gated %s: description %q lacks the approval note", name, desc)
					}
				} else if desc != wantDesc {
					t.Errorf("%s: description %q, downstream sent %q", name, desc, wantDesc)
				}
			}
			if out := got["example__add"]["outputSchema"]; !strings.Contains(string(out), `"sum"`) {
				t.Errorf("add: outputSchema %s", out)
			}
		})
	}
}

func TestListResourcesAndPrompts(t *testing.T) {
	e := newEnv(t, hubConfig(stdioExample("example")))
	c := connect(t, e.url("/mcp"), clientOpts{})
	ctx := ctxFor(t)

	res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	if len(res.Resources) != 1 || res.Resources[0].URI != exampleserver.WelcomeURI ||
		res.Resources[0].Name != "welcome" || res.Resources[0].MIMEType != "text/plain" {
		t.Errorf("resources/list: %+v", res.Resources)
	}

	tpl, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
	if err != nil {
		t.Fatalf("resources/templates/list: %v", err)
	}
	if len(tpl.ResourceTemplates) != 1 || tpl.ResourceTemplates[0].URITemplate == nil ||
		tpl.ResourceTemplates[0].URITemplate.Raw() != exampleserver.NoteURITemplate {
		t.Errorf("resources/templates/list: %+v", tpl.ResourceTemplates)
	}

	pr, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatalf("prompts/list: %v", err)
	}
	if len(pr.Prompts) != 1 || pr.Prompts[0].Name != "example__greet" {
		t.Fatalf("prompts/list: %+v", pr.Prompts)
	}
	if args := pr.Prompts[0].Arguments; len(args) != 1 || args[0].Name != "name" || !args[0].Required {
		t.Errorf("example__greet arguments: %+v", args)
	}
}

func TestCallTools(t *testing.T) {
	for _, ds := range downstreams {
		t.Run(ds.name, func(t *testing.T) {
			e := newEnv(t, hubConfig(ds.setup(t)))
			c := connect(t, e.url("/mcp"), clientOpts{})

			res := c.call(t, "example__echo", map[string]any{"message": "hello through the hub"})
			if res.IsError || textOf(t, res) != "hello through the hub" {
				t.Errorf("echo: isError=%v %q", res.IsError, textOf(t, res))
			}

			// structuredContent as sent, not as mcp-go's types read it.
			var add struct {
				StructuredContent json.RawMessage `json:"structuredContent"`
				IsError           bool            `json:"isError"`
				Content           []mcp.TextContent
			}
			raw := c.raw(t, "tools/call", map[string]any{"name": "example__add", "arguments": map[string]any{"a": 2, "b": 3}})
			if err := json.Unmarshal(raw, &add); err != nil {
				t.Fatal(err)
			}
			if add.IsError || !jsonEqual(t, add.StructuredContent, []byte(`{"sum":5}`)) ||
				len(add.Content) != 1 || add.Content[0].Text != "5" {
				t.Errorf("add: %s", raw)
			}

			res = c.call(t, "example__fail", map[string]any{"message": "boom"})
			if !res.IsError || textOf(t, res) != "boom" {
				t.Errorf("fail: isError=%v %q", res.IsError, textOf(t, res))
			}

			// A name the endpoint does not serve is a protocol error.
			if _, err := c.tryCall(ctxFor(t), "example__nope", nil, nil); err == nil {
				t.Error("calling an unknown tool succeeded")
			}
		})
	}
}

func TestReadResourcesAndGetPrompt(t *testing.T) {
	for _, ds := range downstreams {
		t.Run(ds.name, func(t *testing.T) {
			e := newEnv(t, hubConfig(ds.setup(t)))
			c := connect(t, e.url("/mcp"), clientOpts{})

			if got := readText(t, c, exampleserver.WelcomeURI); got != exampleserver.WelcomeText {
				t.Errorf("read %s: %q", exampleserver.WelcomeURI, got)
			}

			res := c.call(t, "example__create_note", map[string]any{"id": "n1", "text": "hi"})
			if res.IsError {
				t.Fatalf("create_note: %q", textOf(t, res))
			}
			if got := readText(t, c, "note://n1"); got != "hi" {
				t.Errorf("read note://n1 (template): %q", got)
			}

			var req mcp.ReadResourceRequest
			req.Params.URI = "note://missing"
			if _, err := c.ReadResource(ctxFor(t), req); err == nil {
				t.Error("reading a note that does not exist succeeded")
			}

			var pr mcp.GetPromptRequest
			pr.Params.Name = "example__greet"
			pr.Params.Arguments = map[string]string{"name": "Ada"}
			got, err := c.GetPrompt(ctxFor(t), pr)
			if err != nil {
				t.Fatalf("prompts/get: %v", err)
			}
			if got.Description != "Greet Ada" || len(got.Messages) != 1 {
				t.Fatalf("prompts/get: %+v", got)
			}
			if tc, ok := mcp.AsTextContent(got.Messages[0].Content); !ok || tc.Text != "Say hello to Ada" ||
				got.Messages[0].Role != mcp.RoleUser {
				t.Errorf("prompts/get message: %+v", got.Messages[0])
			}
		})
	}
}

func readText(t *testing.T, c *mcpClient, uri string) string {
	t.Helper()
	text, err := tryRead(t, c, uri)
	if err != nil {
		t.Fatalf("resources/read %s: %v", uri, err)
	}
	return text
}

// tryRead reads a text resource; a protocol error is returned, a
// malformed result fails the test.
func tryRead(t *testing.T, c *mcpClient, uri string) (string, error) {
	t.Helper()
	var req mcp.ReadResourceRequest
	req.Params.URI = uri
	res, err := c.ReadResource(ctxFor(t), req)
	if err != nil {
		return "", err
	}
	if len(res.Contents) != 1 {
		t.Fatalf("resources/read %s: %d contents", uri, len(res.Contents))
	}
	tc, ok := mcp.AsTextResourceContents(res.Contents[0])
	if !ok {
		t.Fatalf("resources/read %s: %T", uri, res.Contents[0])
	}
	if tc.URI != uri {
		t.Errorf("resources/read %s: contents URI %q", uri, tc.URI)
	}
	return tc.Text, nil
}

// TestRefusedToolsSkipped: a downstream lists tools whose x-mcp-header
// annotations mcp-go refuses to serve (its AddTools panics on them). The
// endpoint serves the others and keeps working.
func TestRefusedToolsSkipped(t *testing.T) {
	bad := []string{
		`{"name":"number_header","inputSchema":{"type":"object","properties":{"score":{"type":"number","x-mcp-header":"Score"}}}}`,
		`{"name":"space_header","inputSchema":{"type":"object","properties":{"r":{"type":"string","x-mcp-header":"a b"}}}}`,
	}
	ex := newRewritingExample(t, func(body []byte) []byte {
		var msg map[string]json.RawMessage
		var res map[string]json.RawMessage
		var tools []json.RawMessage
		if json.Unmarshal(body, &msg) != nil || json.Unmarshal(msg["result"], &res) != nil || json.Unmarshal(res["tools"], &tools) != nil {
			return body
		}
		for _, b := range bad {
			tools = append(tools, json.RawMessage(b))
		}
		res["tools"], _ = json.Marshal(tools)
		msg["result"], _ = json.Marshal(res)
		out, _ := json.Marshal(msg)
		return out
	})
	e := newEnv(t, hubConfig(httpServer("example", ex.URL), stdioExample("other")))
	// The hub has them: the endpoint is what must leave them out.
	for _, name := range []string{"example__number_header", "example__space_header"} {
		if _, ok := e.hub.Snapshot().Tool(name); !ok {
			t.Fatalf("the hub's catalog lacks %s; the test's downstream did not send it", name)
		}
	}
	want := slices.Sorted(slices.Values(append(exported(exampleToolNames...), prefixed("other", exampleToolNames...)...)))
	for _, path := range []string{"/mcp", "/mcp/server/example"} {
		c := connect(t, e.url(path), clientOpts{})
		names := c.toolNames(t)
		if path == "/mcp" && !slices.Equal(names, want) {
			t.Errorf("%s: tools/list %v, want %v", path, names, want)
		}
		if path != "/mcp" && !slices.Equal(names, exported(exampleToolNames...)) {
			t.Errorf("%s: tools/list %v", path, names)
		}
		if res := c.call(t, "example__echo", map[string]any{"message": "fine"}); textOf(t, res) != "fine" {
			t.Errorf("%s: echo: %q", path, textOf(t, res))
		}
	}
}

// TestArgumentsRelayedExactly: arguments reach the downstream as the
// client wrote them; integers above 2^53 keep every digit.
func TestArgumentsRelayedExactly(t *testing.T) {
	ex := newHTTPExample(t)
	e := newEnv(t, hubConfig(httpServer("example", ex.URL)))
	c := connect(t, e.url("/mcp"), clientOpts{})
	raw := c.raw(t, "tools/call", json.RawMessage(`{"name":"example__add","arguments":{"a":9007199254740993,"b":0}}`))
	if !strings.Contains(string(raw), `"sum"`) {
		t.Fatalf("add: %s", raw)
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if len(ex.calls) != 1 || !strings.Contains(ex.calls[0], "9007199254740993") {
		t.Errorf("the downstream got %q, want the argument 9007199254740993 unchanged", ex.calls)
	}
}
