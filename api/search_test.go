package api_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/openai"
)

// searchResult is one tool of a search answer, in order.
type searchResult struct {
	name, description string
	approval          bool
}

// search asks GET /mcp_hub/tools with query (already encoded) and returns
// the tools in the order given, checking each entry's shape.
func (e *env) search(t *testing.T, query string) []searchResult {
	t.Helper()
	var m map[string]any
	e.json(t, http.MethodGet, "/mcp_hub/tools?"+query, "", http.StatusOK, &m)
	gated := map[string]bool{}
	if list, ok := m["requires_approval"].([]any); ok {
		wantKeys(t, m, "tools", "requires_approval")
		for _, n := range list {
			gated[n.(string)] = true
		}
	} else {
		wantKeys(t, m, "tools")
	}
	tools, ok := m["tools"].([]any)
	if !ok {
		t.Fatalf("tools = %#v, want an array", m["tools"])
	}
	out := make([]searchResult, 0, len(tools))
	for _, raw := range tools {
		tool, _ := raw.(map[string]any)
		wantKeys(t, tool, "type", "function")
		fn, _ := tool["function"].(map[string]any)
		wantKeys(t, fn, "name", "description", "parameters")
		if params, _ := fn["parameters"].(map[string]any); tool["type"] != "function" || params["type"] != "object" {
			t.Errorf("bad entry %v", tool)
		}
		var r searchResult
		r.name, _ = fn["name"].(string)
		r.approval = gated[r.name]
		r.description, _ = fn["description"].(string)
		out = append(out, r)
	}
	return out
}

func resultNames(rs []searchResult) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.name)
	}
	return out
}

// searchHub runs the example server over stdio ("example", where delete_*
// needs approval) and over Streamable HTTP ("web", where nothing does).
func searchHub(t *testing.T) *env {
	t.Helper()
	ex := stdioExample("example")
	ex.RequireApproval = []string{"delete_*"}
	return startHub(t, api.Options{}, ex, httpServer("web", httpExample(t)))
}

func TestToolSearch(t *testing.T) {
	e := searchHub(t)
	t.Run("ranking", func(t *testing.T) {
		for _, tc := range []struct {
			q, server string
			first     []string // the first results, in order
		}{
			// Equal scores on two servers: by exported name.
			{"echo message", "", []string{"example__echo", "web__echo"}},
			{"echo+message", "web", []string{"web__echo"}},
			{"delete note", "", []string{"example__delete_note", "web__delete_note"}},
			{"createNote", "", []string{"example__create_note", "web__create_note"}},
			{"  add two numbers  ", "", []string{"example__add", "web__add"}},
		} {
			query := "q=" + url.QueryEscape(tc.q)
			if tc.server != "" {
				query += "&server=" + tc.server
			}
			got := resultNames(e.search(t, query))
			if len(got) < len(tc.first) || !slices.Equal(got[:len(tc.first)], tc.first) {
				t.Errorf("%s: %v, want %v first", query, got, tc.first)
			}
			if tc.server != "" && slices.ContainsFunc(got, func(n string) bool { return !strings.HasPrefix(n, tc.server+"__") }) {
				t.Errorf("%s: %v has another server's tools", query, got)
			}
		}
	})
	t.Run("approval marker", func(t *testing.T) {
		got := e.search(t, "q=delete+note&limit=2")
		if len(got) != 2 {
			t.Fatalf("%v", got)
		}
		if !got[0].approval || !strings.HasSuffix(got[0].description, openai.ApprovalNote) {
			t.Errorf("example__delete_note needs approval but %+v", got[0])
		}
		if got[1].approval || strings.Contains(got[1].description, openai.ApprovalNote) {
			t.Errorf("web__delete_note does not need approval but %+v", got[1])
		}
	})
	t.Run("limit", func(t *testing.T) {
		const broad = "q=message+note+count+tool+number+sum"
		if n := len(e.search(t, broad)); n != 10 {
			t.Errorf("default limit: %d tools, want 10", n)
		}
		if n := len(e.search(t, broad+"&limit=100")); n <= 10 {
			t.Errorf("limit=100: %d tools, want more than 10", n)
		}
		if n := len(e.search(t, broad+"&limit=1")); n != 1 {
			t.Errorf("limit=1: %d tools", n)
		}
		for _, bad := range []string{"0", "101", "-1", "ten", "", "1.5"} {
			var m map[string]any
			e.json(t, http.MethodGet, "/mcp_hub/tools?"+broad+"&limit="+bad, "", http.StatusBadRequest, &m)
			wantError(t, m, "limit must be an integer from 1 to 100", `"`+bad+`"`)
		}
	})
	t.Run("no match", func(t *testing.T) {
		if got := e.search(t, "q=xylophone"); len(got) != 0 {
			t.Errorf("%v", got)
		}
	})
	t.Run("without q", func(t *testing.T) {
		all := prefixed("example")
		all = append(all, prefixed("web")...)
		// An empty or blank q, with or without limit, is the plain list.
		for _, query := range []string{"", "q=", "q=+++", "limit=1", "q=%09&limit=0"} {
			var m map[string]any
			e.json(t, http.MethodGet, "/mcp_hub/tools?"+query, "", http.StatusOK, &m)
			tools, _ := m["tools"].([]any)
			if len(tools) != len(all) {
				t.Errorf("%q: %d tools, want all %d", query, len(tools), len(all))
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			query  string
			status int
			want   []string
		}{
			{"q=" + strings.Repeat("a", 1001), http.StatusBadRequest, []string{"q is 1001 bytes long", "limit is 1000"}},
			{"q=" + strings.Repeat("+", 1001), http.StatusBadRequest, []string{"q is 1001 bytes long"}},
			{"q=echo&server=nope", http.StatusNotFound, []string{"unknown server", `"nope"`}},
		} {
			var m map[string]any
			e.json(t, http.MethodGet, "/mcp_hub/tools?"+tc.query, "", tc.status, &m)
			wantError(t, m, tc.want...)
		}
		// The longest query allowed is searched.
		if got := resultNames(e.search(t, "q=echo"+strings.Repeat("+", 996))); len(got) == 0 || got[0] != "example__echo" {
			t.Errorf("1000-byte query: %v", got)
		}
	})
}

// A configured server with nothing discovered searches as an empty list.
func TestToolSearchDownServer(t *testing.T) {
	e := startHub(t, api.Options{}, httpServer("web", httpExample(t)), downServer(t, "down"))
	if got := e.search(t, "q=echo&server=down"); len(got) != 0 {
		t.Errorf("down: %v", got)
	}
	if got := resultNames(e.search(t, "q=echo")); len(got) == 0 || got[0] != "web__echo" {
		t.Errorf("all: %v", got)
	}
}
