package mcpserver_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

// twoServers is a hub with the stdio example as "example" and an HTTP
// example as "web", and group g: web without delete_*.
func twoServers(t *testing.T) *env {
	t.Helper()
	web := newHTTPExample(t)
	cfg := hubConfig(stdioExample("example"), httpServer("web", web.URL))
	cfg.Groups = []config.Group{{Name: "g", Servers: []string{"web"}, Tools: config.ToolFilter{Deny: []string{"*.delete_*"}}}}
	return newEnv(t, cfg)
}

func TestScopes(t *testing.T) {
	e := twoServers(t)

	tests := []struct {
		path  string
		tools []string
	}{
		{"/mcp", slices.Sorted(slices.Values(append(exported(exampleToolNames...), webNames(exampleToolNames...)...)))},
		{"/mcp/", slices.Sorted(slices.Values(append(exported(exampleToolNames...), webNames(exampleToolNames...)...)))},
		{"/mcp/server/web", webNames(exampleToolNames...)},
		{"/mcp/server/example", exported(exampleToolNames...)},
		{"/mcp/group/g", without(webNames(exampleToolNames...), exampleserver.ToolDeleteNote)},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
			c := connect(t, e.url(tc.path), clientOpts{})
			if names := c.toolNames(t); !slices.Equal(names, tc.tools) {
				t.Errorf("tools/list %v, want %v", names, tc.tools)
			}
		})
	}
}

func TestScopedCallsAndItems(t *testing.T) {
	e := twoServers(t)
	web := connect(t, e.url("/mcp/server/web"), clientOpts{})

	// A tool of another server: not callable here.
	res, err := web.tryCall(ctxFor(t), "example__echo", map[string]any{"message": "x"}, nil)
	if err == nil && !res.IsError {
		t.Fatalf("example__echo on /mcp/server/web ran: %q", textOf(t, res))
	}
	if res := web.call(t, "web__echo", map[string]any{"message": "x"}); res.IsError || textOf(t, res) != "x" {
		t.Errorf("web__echo on /mcp/server/web: isError=%v %q", res.IsError, textOf(t, res))
	}

	// The group's filter hides delete_note from calls too.
	g := connect(t, e.url("/mcp/group/g"), clientOpts{})
	res, err = g.tryCall(ctxFor(t), "web__delete_note", map[string]any{"id": "todo"}, nil)
	if err == nil && !res.IsError {
		t.Fatalf("web__delete_note on /mcp/group/g ran: %q", textOf(t, res))
	}

	// Prompts and resources follow the server scope.
	ctx := ctxFor(t)
	pr, err := web.ListPrompts(ctx, mcp.ListPromptsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pr.Prompts) != 1 || pr.Prompts[0].Name != "web__greet" {
		t.Errorf("/mcp/server/web prompts: %+v", pr.Prompts)
	}
	var gp mcp.GetPromptRequest
	gp.Params.Name = "example__greet"
	gp.Params.Arguments = map[string]string{"name": "Ada"}
	if _, err := web.GetPrompt(ctx, gp); err == nil {
		t.Error("example__greet rendered on /mcp/server/web")
	}
	tpl, err := web.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(tpl.ResourceTemplates) != 1 {
		t.Errorf("/mcp/server/web templates: %+v", tpl.ResourceTemplates)
	}
}

// TestScopedResourceReads: both servers list note://welcome and the
// template note://{id}. A server's or group's endpoint lists them, so it
// must read them from a server in its scope, although the hub-wide routing
// picks "example" (first by name) for both.
func TestScopedResourceReads(t *testing.T) {
	e := twoServers(t)
	if res := connect(t, e.url("/mcp/server/web"), clientOpts{}).call(t, "web__create_note",
		map[string]any{"id": "webonly", "text": "only on web"}); res.IsError {
		t.Fatalf("create_note: %q", textOf(t, res))
	}
	tests := []struct {
		path, uri, want string
	}{
		{"/mcp", exampleserver.WelcomeURI, exampleserver.WelcomeText},
		{"/mcp/server/example", exampleserver.WelcomeURI, exampleserver.WelcomeText},
		{"/mcp/server/web", exampleserver.WelcomeURI, exampleserver.WelcomeText},
		{"/mcp/group/g", exampleserver.WelcomeURI, exampleserver.WelcomeText},
		{"/mcp/server/example", "note://todo", "Write the hub"},
		{"/mcp/server/web", "note://todo", "Write the hub"},
		{"/mcp/group/g", "note://todo", "Write the hub"},
		{"/mcp/server/web", "note://webonly", "only on web"},
		{"/mcp/group/g", "note://webonly", "only on web"},
	}
	clients := map[string]*mcpClient{}
	for _, tc := range tests {
		c := clients[tc.path]
		if c == nil {
			c = connect(t, e.url(tc.path), clientOpts{})
			clients[tc.path] = c
			res, err := c.ListResources(ctxFor(t), mcp.ListResourcesRequest{})
			if err != nil {
				t.Fatalf("%s: resources/list: %v", tc.path, err)
			}
			if len(res.Resources) != 1 || res.Resources[0].URI != exampleserver.WelcomeURI {
				t.Errorf("%s: resources/list: %+v", tc.path, res.Resources)
			}
		}
		got, err := tryRead(t, c, tc.uri)
		if err != nil || got != tc.want {
			t.Errorf("%s: read %s: %q, %v; want %q", tc.path, tc.uri, got, err, tc.want)
		}
	}
}

func TestUnknownEndpoints(t *testing.T) {
	e := twoServers(t)
	for _, path := range []string{"/mcp/server/nope", "/mcp/group/nope", "/mcp/other", "/mcp/server/", "/mcp/server/web/x", "/other"} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			code, body := httpStatus(t, method, e.url(path))
			if code != http.StatusNotFound {
				t.Errorf("%s %s: %d, want 404", method, path, code)
			}
			if msg, _ := body["error"].(string); msg == "" || body["success"] != false {
				t.Errorf("%s %s: body %v, want {success:false, error:...}", method, path, body)
			}
		}
	}
	if _, err := dial(t, e.url("/mcp/server/nope"), clientOpts{}); err == nil {
		t.Error("an MCP client initialized a session on /mcp/server/nope")
	}
}
