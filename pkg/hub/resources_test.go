package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/openai"
)

func TestMatchURITemplate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		template, uri string
		want          bool
	}{
		// literals
		{"note://welcome", "note://welcome", true},
		{"note://welcome", "note://welcomes", false},
		{"note://welcome", "note://welcom", false},
		{"Note://{id}", "note://a", false}, // bytes as they are: no case folding
		{"", "", true},
		// one variable
		{"note://{id}", "note://todo", true},
		{"note://{id}", "note://a%2Fb", true}, // no decoding
		{"note://{id}", "note://", false},     // one or more characters
		{"note://{id}", "note://a/b", false},  // never '/'
		{"note://{id}", "other://todo", false},
		{"note://{id}", "note://todo/", false},
		{"file:///{name}.txt", "file:///a.txt", true},
		{"file:///{name}.txt", "file:///a.b.txt", true},
		{"file:///{name}.txt", "file:///.txt", false},
		{"file:///{name}.txt", "file:///dir/a.txt", false},
		{"file:///{name}.txt", "file:///a.md", false},
		{"x://{id:3}", "x://abc", true}, // a prefix modifier is still one segment
		// several variables
		{"repo://{owner}/{name}/issues/{n}", "repo://acme/app/issues/12", true},
		{"repo://{owner}/{name}/issues/{n}", "repo://acme/app/issues/", false},
		{"repo://{owner}/{name}", "repo://acme/app/x", false},
		{"repo://{owner}/{name}", "repo://acme", false},
		{"repo://{owner}/{name}", "repo:///app", false},
		{"x://{a}{b}", "x://ab", true},
		{"x://{a}{b}", "x://a", false},
		{"x://{a,b}", "x://1,2", true},
		// operators match any run, '/' and empty included
		{"file:///{+path}", "file:///a/b/c.txt", true},
		{"file:///{+path}", "file:///", true},
		{"file:///{+path}.txt", "file:///a/b.txt", true},
		{"file:///{+path}.txt", "file:///a/b.md", false},
		{"https://x{/seg}", "https://x/a/b", true},
		{"search://x{?q,lang}", "search://x?q=1&lang=en", true},
		{"doc://{id}{#frag}", "doc://a#b", true},
		// malformed templates match nothing, not even themselves
		{"note://{id", "note://{id", false},
		{"note://id}", "note://id}", false},
		{"note://{}", "note://{}", false},
		{"note://{a{b}}", "note://x", false},
		{"note://{=x}", "note://a", false},
		{"note://{|x}", "note://a", false},
	}
	for _, tc := range cases {
		if got := hub.MatchURITemplate(tc.template, tc.uri); got != tc.want {
			t.Errorf("MatchURITemplate(%q, %q) = %v, want %v", tc.template, tc.uri, got, tc.want)
		}
	}
}

// A long URI against many expressions stays linear: no backtracking.
func TestMatchURITemplateLinear(t *testing.T) {
	t.Parallel()
	tmpl := "x://" + strings.Repeat("{a}", 50) + "!"
	uri := "x://" + strings.Repeat("a", 8000)
	start := time.Now()
	if hub.MatchURITemplate(tmpl, uri) || hub.MatchURITemplate("x://"+strings.Repeat("{+a}", 50)+"!", uri) {
		t.Error("matched a URI without the final literal")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
}

func TestRouteResource(t *testing.T) {
	t.Parallel()
	res := func(uris ...string) []catalog.Resource {
		var out []catalog.Resource
		for _, u := range uris {
			out = append(out, catalog.Resource{URI: u, Raw: json.RawMessage(`{"uri":"` + u + `"}`)})
		}
		return out
	}
	tmpl := func(templates ...string) []catalog.ResourceTemplate {
		var out []catalog.ResourceTemplate
		for _, u := range templates {
			out = append(out, catalog.ResourceTemplate{URITemplate: u})
		}
		return out
	}
	// Given out of name order: Build sorts.
	snap := catalog.Build([]catalog.ServerCatalog{
		{Server: "c", Resources: res("note://welcome"), ResourceTemplates: tmpl("note://x{rest}")},
		{Server: "b", ResourceTemplates: tmpl("note://{id}", "docs://{+path}")},
		{Server: "a", Resources: res("note://welcome", "note://xz"), ResourceTemplates: tmpl("note://{id}")},
		{Server: "0", ResourceTemplates: tmpl("{+anything}", "note://{broken")}, // first by name, least specific
	}, "__")
	cases := []struct {
		uri, want string // want "" for no server
	}{
		{"note://welcome", "a"}, // listed by a and c: the first by name
		{"note://xz", "a"},      // listed by a: beats c's more specific template
		{"note://todo", "a"},    // a's and b's templates tie: the first by name
		{"note://xy", "c"},      // c's template has the longest literal prefix
		{"docs://a/b.md", "b"},  // only b's
		{"docs://", "b"},        // {+path} may be empty
		{"note://a/b", "0"},     // {id} never takes '/': only the catch-all
		{"nope://x", "0"},
		{"", "0"}, // {+anything} may be empty
	}
	for _, tc := range cases {
		got, ok := hub.RouteResource(snap, tc.uri, nil)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("RouteResource(%q) = %q, %v; want %q", tc.uri, got, ok, tc.want)
		}
	}
	// Among some servers only.
	for _, tc := range []struct {
		uri     string
		servers []string
		want    string
	}{
		{"note://welcome", []string{"c"}, "c"}, // c's listing, hidden by a's in the index
		{"note://welcome", []string{"b"}, "b"}, // b only has the template
		{"note://welcome", []string{"b", "c"}, "c"},
		{"note://xz", []string{"b", "c"}, "c"}, // a's listing is out: c's template is the most specific
		{"note://todo", []string{"b", "c"}, "b"},
		{"note://todo", []string{"c"}, ""},
		{"docs://a", []string{"a", "c"}, ""},
		{"docs://a", []string{"0", "a"}, "0"},
	} {
		got, ok := hub.RouteResource(snap, tc.uri, func(s string) bool { return slices.Contains(tc.servers, s) })
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("RouteResource(%q) among %v = %q, %v; want %q", tc.uri, tc.servers, got, ok, tc.want)
		}
	}
	if got, ok := hub.RouteResource(nil, "note://x", nil); ok || got != "" {
		t.Errorf("nil snapshot routed to %q", got)
	}
	// Without the catch-all, nothing takes what only it took.
	snap = catalog.Build([]catalog.ServerCatalog{{Server: "a", ResourceTemplates: tmpl("note://{id}", "note://{broken")}}, "__")
	for _, uri := range []string{"note://a/b", "nope://x", "", "note://"} {
		if got, ok := hub.RouteResource(snap, uri, nil); ok {
			t.Errorf("RouteResource(%q) = %q, want none", uri, got)
		}
	}
}

// readText reads uri through h and returns the server and the first
// content's text.
func readText(t *testing.T, h *hub.Hub, uri string) (server, text string) {
	t.Helper()
	res, err := h.ReadResource(t.Context(), uri)
	if err != nil {
		t.Fatalf("ReadResource(%q): %v", uri, err)
	}
	var doc struct {
		Contents []struct {
			URI, MIMEType, Text string
		} `json:"contents"`
	}
	if err := json.Unmarshal(res.Result, &doc); err != nil || len(doc.Contents) != 1 {
		t.Fatalf("ReadResource(%q) result %s: %v", uri, res.Result, err)
	}
	if res.URI != uri || doc.Contents[0].URI != uri {
		t.Errorf("ReadResource(%q): URI %q, content URI %q", uri, res.URI, doc.Contents[0].URI)
	}
	return res.Server, doc.Contents[0].Text
}

func TestReadResourceAndGetPrompt(t *testing.T) {
	t.Parallel()
	for _, tr := range []string{"stdio", "streamable-http"} {
		t.Run(tr, func(t *testing.T) {
			t.Parallel()
			srv := stdioServer("example", exampleCmd(t, "res"))
			if tr == "streamable-http" {
				srv = httpServer("example", newHTTPExample(t).URL)
			}
			h := startHub(t, hubConfig(srv))

			if server, text := readText(t, h, exampleserver.WelcomeURI); server != "example" || text != exampleserver.WelcomeText {
				t.Errorf("welcome: server %q text %q", server, text)
			}
			// A note exists only once created: it is read through the template.
			call(t, h, "example__create_note", `{"id":"todo","text":"buy milk"}`)
			if server, text := readText(t, h, "note://todo"); server != "example" || text != "buy milk" {
				t.Errorf("note://todo: server %q text %q", server, text)
			}

			for _, tc := range []struct {
				name, uri string
				want      error
				says      string
			}{
				{"empty", "", hub.ErrInvalidInput, "empty"},
				{"too long", "note://" + strings.Repeat("x", 8<<10), hub.ErrInvalidInput, "limit"},
				{"unknown scheme", "nope://x", hub.ErrNotFound, `"nope://x"`},
				{"no template takes '/'", "note://a/b", hub.ErrNotFound, `"note://a/b"`},
				// Routed by the template; mcp-go turns the handler's "not
				// found" into -32603, which is a server failure for the hub.
				{"template, no such note", "note://missing", hub.ErrProtocol, "server example"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					res, err := h.ReadResource(t.Context(), tc.uri)
					if res != nil {
						t.Fatalf("got a result: %+v", res)
					}
					wantErr(t, err, tc.want)
					if !strings.Contains(err.Error(), tc.says) {
						t.Errorf("error %q does not say %q", err, tc.says)
					}
				})
			}

			for _, name := range []string{"example__greet", "example.greet"} {
				res, err := h.GetPrompt(t.Context(), name, map[string]string{"name": "Ada"})
				if err != nil {
					t.Fatalf("GetPrompt(%s): %v", name, err)
				}
				if res.Server != "example" || res.Name != "example__greet" || res.Prompt != exampleserver.PromptGreet {
					t.Errorf("GetPrompt(%s) = %+v", name, res)
				}
				var doc struct {
					Messages []struct {
						Role    string
						Content struct{ Type, Text string }
					}
				}
				if err := json.Unmarshal(res.Result, &doc); err != nil || len(doc.Messages) != 1 || doc.Messages[0].Content.Text != "Say hello to Ada" {
					t.Errorf("GetPrompt(%s) result %s (%v)", name, res.Result, err)
				}
			}
			for _, tc := range []struct {
				name string
				args map[string]string
				want error
				says string
			}{
				{"example__greet", nil, hub.ErrInvalidInput, `missing required argument(s) name`},
				{"example__greet", map[string]string{"other": "x"}, hub.ErrInvalidInput, "name"},
				{"example__nope", nil, hub.ErrNotFound, `"example__nope"`},
				{"other.greet", nil, hub.ErrNotFound, "unknown prompt"},
				{"", nil, hub.ErrNotFound, "unknown prompt"},
			} {
				res, err := h.GetPrompt(t.Context(), tc.name, tc.args)
				if res != nil {
					t.Fatalf("GetPrompt(%q, %v) = %+v", tc.name, tc.args, res)
				}
				wantErr(t, err, tc.want)
				if !strings.Contains(err.Error(), tc.says) {
					t.Errorf("GetPrompt(%q, %v): error %q does not say %q", tc.name, tc.args, err, tc.says)
				}
			}
			// None of that hurt the connection.
			if !serverInfo(t, h, "example").Healthy {
				t.Errorf("unhealthy: %+v", serverInfo(t, h, "example"))
			}
		})
	}
}

// Two servers with the same template: the first by name answers.
func TestReadResourceAmbiguous(t *testing.T) {
	t.Parallel()
	h := startHub(t, hubConfig(httpServer("b", newHTTPExample(t).URL), httpServer("a", newHTTPExample(t).URL)))
	call(t, h, "a__create_note", `{"id":"x","text":"from a"}`)
	call(t, h, "b__create_note", `{"id":"x","text":"from b"}`)
	if server, text := readText(t, h, "note://x"); server != "a" || text != "from a" {
		t.Errorf("note://x read from %q: %q", server, text)
	}
	if server, _ := readText(t, h, exampleserver.WelcomeURI); server != "a" {
		t.Errorf("welcome read from %q, want a", server)
	}
	// Among named servers only: what the collision hides.
	for _, servers := range [][]string{{"b"}, {"b", "nope"}} {
		res, err := h.ReadResourceFrom(t.Context(), "note://x", servers...)
		if len(servers) > 1 {
			wantErr(t, err, hub.ErrNotFound)
			if res != nil || !strings.Contains(err.Error(), `unknown server "nope"`) {
				t.Errorf("%v: %+v, %v", servers, res, err)
			}
			continue
		}
		if err != nil || res.Server != "b" || !strings.Contains(string(res.Result), "from b") {
			t.Errorf("note://x from b: %+v, %v", res, err)
		}
	}
	res, err := h.ReadResourceFrom(t.Context(), exampleserver.WelcomeURI, "b")
	if err != nil || res.Server != "b" {
		t.Errorf("welcome from b: %+v, %v", res, err)
	}
}

// A server that no longer has a resource the hub still lists answers MCP's
// "resource not found", which is the caller's 404, not a server failure.
func TestReadResourceNotFoundDownstream(t *testing.T) {
	t.Parallel()
	const uri = "mem://gone"
	// No listChanged: the hub keeps listing the resource after it goes.
	s := server.NewMCPServer("gone", "0.0.1", server.WithResourceCapabilities(false, false))
	s.AddResource(mcp.NewResource(uri, "gone"), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, Text: "still here"}}, nil
	})
	ts := httptest.NewServer(server.NewStreamableHTTPServer(s))
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	h := startHub(t, hubConfig(httpServer("mem", ts.URL)))
	if server, text := readText(t, h, uri); server != "mem" || text != "still here" {
		t.Fatalf("before: %q %q", server, text)
	}
	s.DeleteResources(uri)
	_, err := h.ReadResource(t.Context(), uri)
	wantErr(t, err, hub.ErrNotFound)
	if errors.Is(err, hub.ErrProtocol) || !strings.Contains(err.Error(), "-32002") || !strings.Contains(err.Error(), "server mem") {
		t.Errorf("error %q: want only not found, naming the server and the code", err)
	}
	if !serverInfo(t, h, "mem").Healthy {
		t.Errorf("unhealthy after a 404: %+v", serverInfo(t, h, "mem"))
	}
}

func TestReadResourceServerDown(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	srv := httpServer("remote", ex.URL)
	srv.Backoff = slowBackoff
	h := startHub(t, hubConfig(srv))
	readText(t, h, exampleserver.WelcomeURI)
	ex.kill()
	// The catalog keeps the server's items while it is down: the read is
	// routed and fails as unavailable (503), as calls do.
	for range 2 {
		_, err := h.ReadResource(t.Context(), exampleserver.WelcomeURI)
		wantErr(t, err, hub.ErrUnavailable)
		_, err = h.GetPrompt(t.Context(), "remote__greet", map[string]string{"name": "x"})
		wantErr(t, err, hub.ErrUnavailable)
		if !strings.Contains(err.Error(), "remote") {
			t.Errorf("error %q does not name the server", err)
		}
	}
}

func TestResourcesAfterStop(t *testing.T) {
	t.Parallel()
	h := startHub(t, hubConfig(httpServer("web", newHTTPExample(t).URL)))
	readText(t, h, exampleserver.WelcomeURI)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := h.ReadResource(t.Context(), exampleserver.WelcomeURI)
	wantErr(t, err, hub.ErrStopped)
	_, err = h.GetPrompt(t.Context(), "web__greet", map[string]string{"name": "x"})
	wantErr(t, err, hub.ErrStopped)
}

func TestResourceLists(t *testing.T) {
	t.Parallel()
	off := stdioServer("off", exampleCmd(t, "off"))
	off.Enabled = false
	h := startHub(t, hubConfig(stdioServer("st", exampleCmd(t, "lists")), httpServer("web", newHTTPExample(t).URL), off))

	type list struct{ servers, names []string }
	lists := map[string]func(server string) (list, error){
		"resources": func(server string) (list, error) {
			items, err := h.Resources(server)
			var l list
			for _, r := range items {
				l.servers, l.names = append(l.servers, r.Server), append(l.names, r.URI)
				if !json.Valid(r.Raw) || !strings.Contains(string(r.Raw), `"uri":"`+r.URI+`"`) {
					t.Errorf("resource %s: raw %s", r.URI, r.Raw)
				}
			}
			return l, err
		},
		"templates": func(server string) (list, error) {
			items, err := h.ResourceTemplates(server)
			var l list
			for _, r := range items {
				l.servers, l.names = append(l.servers, r.Server), append(l.names, r.URITemplate)
			}
			return l, err
		},
		"prompts": func(server string) (list, error) {
			items, err := h.Prompts(server)
			var l list
			for _, p := range items {
				l.servers, l.names = append(l.servers, p.Server), append(l.names, p.Exported+"="+p.Name)
			}
			return l, err
		},
	}
	want := map[string][]string{
		"resources": {exampleserver.WelcomeURI, exampleserver.WelcomeURI},
		"templates": {exampleserver.NoteURITemplate, exampleserver.NoteURITemplate},
		"prompts":   {"st__greet=greet", "web__greet=greet"},
	}
	for kind, get := range lists {
		t.Run(kind, func(t *testing.T) {
			all, err := get("")
			if err != nil || !slices.Equal(all.servers, []string{"st", "web"}) || !slices.Equal(all.names, want[kind]) {
				t.Errorf("all: %+v, %v; want servers st, web with %v", all, err, want[kind])
			}
			one, err := get("web")
			if err != nil || !slices.Equal(one.servers, []string{"web"}) || !slices.Equal(one.names, want[kind][1:]) {
				t.Errorf("web: %+v, %v", one, err)
			}
			// Configured but disabled: empty, not an error.
			if none, err := get("off"); err != nil || len(none.names) != 0 {
				t.Errorf("off: %+v, %v", none, err)
			}
			_, err = get("nope")
			wantErr(t, err, hub.ErrNotFound)
			if !strings.Contains(err.Error(), `"nope"`) {
				t.Errorf("error %q does not name the server", err)
			}
		})
	}
}

// searched decodes SearchToolsJSON output in order.
type searched struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
	Approval bool `json:"-"` // from requires_approval
}

func search(t *testing.T, h *hub.Hub, query string, limit int, server string) []searched {
	t.Helper()
	body, err := h.SearchToolsJSON(query, limit, server)
	if err != nil {
		t.Fatalf("SearchToolsJSON(%q, %d, %q): %v", query, limit, server, err)
	}
	var doc struct {
		Tools []searched `json:"tools"`
		Gated []string   `json:"requires_approval"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.Tools == nil {
		t.Fatalf("SearchToolsJSON(%q): %s (%v)", query, body, err)
	}
	for i := range doc.Tools {
		doc.Tools[i].Approval = slices.Contains(doc.Gated, doc.Tools[i].Function.Name)
	}
	return doc.Tools
}

func names(tools []searched) []string {
	var out []string
	for _, tl := range tools {
		out = append(out, tl.Function.Name)
	}
	return out
}

func TestSearchToolsJSON(t *testing.T) {
	t.Parallel()
	// "example" gates delete_* and slow_count; "st" gates nothing.
	h, _ := approvalHub(t, func(c *config.Config) {
		c.Servers = append(c.Servers, stdioServer("st", exampleCmd(t, "search")))
	})

	got := search(t, h, "echo message", 0, "")
	if n := names(got); len(n) < 2 || n[0] != "example__echo" || n[1] != "st__echo" {
		t.Errorf(`"echo message": %v, want example__echo then st__echo first (equal scores: by name)`, n)
	}
	for _, tl := range got {
		if tl.Type != "function" || len(tl.Function.Parameters) == 0 || tl.Function.Description == "" {
			t.Errorf("bad entry %+v", tl)
		}
	}
	if n := names(search(t, h, "echo message", 0, "st")); len(n) == 0 || n[0] != "st__echo" || slices.ContainsFunc(n, func(s string) bool { return !strings.HasPrefix(s, "st__") }) {
		t.Errorf(`"echo message" on st: %v`, n)
	}

	got = search(t, h, "delete note", 0, "")
	if n := names(got); len(n) < 2 || n[0] != "example__delete_note" || n[1] != "st__delete_note" {
		t.Fatalf(`"delete note": %v`, n)
	}
	if !got[0].Approval || !strings.HasSuffix(got[0].Function.Description, openai.ApprovalNote) {
		t.Errorf("gated tool unmarked: %+v", got[0])
	}
	if got[1].Approval || strings.Contains(got[1].Function.Description, openai.ApprovalNote) {
		t.Errorf("ungated tool marked: %+v", got[1])
	}
	// The same bytes as the full list renders for that tool.
	full, _ := h.ToolsJSON("example")
	one, _ := h.SearchToolsJSON("delete note", 1, "example")
	entry, _, _ := strings.Cut(strings.TrimPrefix(string(one), `{"tools":[`), `],"requires_approval":`)
	if !strings.Contains(string(full), entry) {
		t.Errorf("search entry %s is not in ToolsJSON", entry)
	}

	if n := names(search(t, h, "note", 1, "")); len(n) != 1 {
		t.Errorf("limit 1: %v", n)
	}
	if n := names(search(t, h, "", 10, "")); len(n) != 0 {
		t.Errorf("empty query: %v", n)
	}
	if n := names(search(t, h, "xylophone", 10, "")); len(n) != 0 {
		t.Errorf("no match: %v", n)
	}

	_, err := h.SearchToolsJSON("echo", 10, "nope")
	wantErr(t, err, hub.ErrNotFound)
	_, err = h.SearchToolsJSON(strings.Repeat("a", catalog.MaxQueryBytes+1), 10, "")
	wantErr(t, err, hub.ErrInvalidInput)
}
