package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

// items checks a list answer's only key and returns its items.
func items(t *testing.T, m map[string]any, key string) []map[string]any {
	t.Helper()
	wantKeys(t, m, key)
	list, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%s = %#v, want an array", key, m[key])
	}
	out := make([]map[string]any, 0, len(list))
	for _, raw := range list {
		item, ok := raw.(map[string]any)
		if !ok {
			t.Fatalf("%s item %#v is not an object", key, raw)
		}
		out = append(out, item)
	}
	return out
}

func TestResourceLists(t *testing.T) {
	e := threeServers(t)
	cases := []struct {
		path, key string
		keys      []string          // every item's exact keys
		want      map[string]string // every item's values besides server
	}{
		{"/mcp_hub/resources", "resources",
			[]string{"server", "uri", "name", "description", "mimeType"},
			map[string]string{"uri": exampleserver.WelcomeURI, "name": "welcome", "mimeType": "text/plain"}},
		{"/mcp_hub/resource_templates", "resource_templates",
			[]string{"server", "uriTemplate", "name", "description", "mimeType"},
			map[string]string{"uriTemplate": exampleserver.NoteURITemplate, "name": "note", "mimeType": "text/plain"}},
		{"/mcp_hub/prompts", "prompts",
			[]string{"server", "name", "prompt", "description", "arguments"},
			map[string]string{"prompt": exampleserver.PromptGreet, "description": "Ask the model to greet someone by name."}},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			for _, q := range []struct {
				query   string
				servers []string
			}{
				{"", []string{"example", "web"}},
				{"?server=web", []string{"web"}},
				{"?server=down", nil}, // configured, nothing discovered: empty, not an error
			} {
				var m map[string]any
				e.json(t, http.MethodGet, tc.path+q.query, "", http.StatusOK, &m)
				list := items(t, m, tc.key)
				if len(list) != len(q.servers) {
					t.Fatalf("%s%s: %d items, want %d: %v", tc.path, q.query, len(list), len(q.servers), list)
				}
				for i, item := range list {
					wantKeys(t, item, tc.keys...)
					if item["server"] != q.servers[i] {
						t.Errorf("item %d: server %v, want %s", i, item["server"], q.servers[i])
					}
					for k, v := range tc.want {
						if item[k] != v {
							t.Errorf("item %d: %s = %#v, want %q", i, k, item[k], v)
						}
					}
					if tc.key == "prompts" {
						if item["name"] != q.servers[i]+"__greet" {
							t.Errorf("prompt name %v, want the exported name", item["name"])
						}
						args, _ := item["arguments"].([]any)
						arg, _ := args[0].(map[string]any)
						if len(args) != 1 || arg["name"] != "name" || arg["required"] != true {
							t.Errorf("arguments %#v, want one required \"name\"", item["arguments"])
						}
					}
				}
			}
			var m map[string]any
			e.json(t, http.MethodGet, tc.path+"?server=nope", "", http.StatusNotFound, &m)
			wantError(t, m, "unknown server", `"nope"`)
		})
	}
}

func TestReadResource(t *testing.T) {
	e := threeServers(t)
	read := func(t *testing.T, body string, status int) map[string]any {
		t.Helper()
		var m map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/resources/read", body, status, &m)
		return m
	}
	// text checks a successful read and returns the content's text.
	text := func(t *testing.T, m map[string]any, server, uri string) string {
		t.Helper()
		wantKeys(t, m, "success", "server", "uri", "result")
		if m["success"] != true || m["server"] != server || m["uri"] != uri {
			t.Errorf("read %s: %v, want success from %s", uri, m, server)
		}
		result, _ := m["result"].(map[string]any)
		wantKeys(t, result, "contents")
		contents, _ := result["contents"].([]any)
		if len(contents) != 1 {
			t.Fatalf("contents %#v, want one", result["contents"])
		}
		c, _ := contents[0].(map[string]any)
		wantKeys(t, c, "uri", "mimeType", "text")
		if c["uri"] != uri || c["mimeType"] != "text/plain" {
			t.Errorf("content %v", c)
		}
		s, _ := c["text"].(string)
		return s
	}

	m := read(t, `{"uri":"note://welcome"}`, http.StatusOK)
	if got := text(t, m, "example", exampleserver.WelcomeURI); got != exampleserver.WelcomeText {
		t.Errorf("welcome text %q", got)
	}
	// Both servers have the note template: the first by name answers.
	const note = `if a < b && c > d`
	e.call(t, callJSON("example__create_note", `{"id":"todo","text":`+quote(note)+`}`), http.StatusOK)
	if got := text(t, read(t, `{"uri":"note://todo"}`, http.StatusOK), "example", "note://todo"); got != note {
		t.Errorf("note://todo text %q", got)
	}
	// A note only web has: routed to example unless web is named.
	e.call(t, callJSON("web__create_note", `{"id":"webonly","text":"only on web"}`), http.StatusOK)
	wantError(t, read(t, `{"uri":"note://webonly"}`, http.StatusBadGateway), "server example", "resource not found")
	if got := text(t, read(t, `{"uri":"note://webonly","server":"web"}`, http.StatusOK), "web", "note://webonly"); got != "only on web" {
		t.Errorf("note://webonly from web: %q", got)
	}
	if got := text(t, read(t, `{"uri":"note://welcome","server":"web"}`, http.StatusOK), "web", "note://welcome"); got != exampleserver.WelcomeText {
		t.Errorf("welcome from web: %q", got)
	}

	for _, tc := range []struct {
		name, body string
		status     int
		want       []string
	}{
		{"empty body", "", http.StatusBadRequest, []string{"empty body", `{"uri","server"}`}},
		{"not JSON", `{"uri":`, http.StatusBadRequest, []string{"invalid JSON"}},
		{"not an object", `["note://welcome"]`, http.StatusBadRequest, []string{"got an array"}},
		{"uri not a string", `{"uri":5}`, http.StatusBadRequest, []string{"uri", "expected a string"}},
		{"no uri", `{}`, http.StatusBadRequest, []string{"uri is required"}},
		{"empty uri", `{"uri":""}`, http.StatusBadRequest, []string{"uri is required"}},
		{"huge uri", `{"uri":"note://` + strings.Repeat("x", 9000) + `"}`, http.StatusBadRequest, []string{"9007 bytes", "limit is 8192"}},
		{"unknown", `{"uri":"nope://x"}`, http.StatusNotFound, []string{`"nope://x"`}},
		{"no template matches", `{"uri":"note://a/b"}`, http.StatusNotFound, []string{`"note://a/b"`}},
		{"server not a string", `{"uri":"note://welcome","server":1}`, http.StatusBadRequest, []string{"server", "expected a string"}},
		{"unknown server", `{"uri":"note://welcome","server":"nope"}`, http.StatusNotFound, []string{`unknown server "nope"`}},
		{"server offers nothing", `{"uri":"note://welcome","server":"down"}`, http.StatusNotFound, []string{`"note://welcome"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, read(t, tc.body, tc.status), tc.want...)
		})
	}
}

func TestGetPrompt(t *testing.T) {
	e := threeServers(t)
	get := func(t *testing.T, body string, status int) map[string]any {
		t.Helper()
		var m map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/prompts/get", body, status, &m)
		return m
	}
	for _, name := range []string{"web__greet", "web.greet"} {
		m := get(t, `{"name":`+quote(name)+`,"arguments":{"name":"Ada"}}`, http.StatusOK)
		wantKeys(t, m, "success", "name", "server", "result")
		if m["success"] != true || m["name"] != "web__greet" || m["server"] != "web" {
			t.Errorf("%s: %v", name, m)
		}
		result, _ := m["result"].(map[string]any)
		msgs, _ := result["messages"].([]any)
		msg, _ := msgs[0].(map[string]any)
		content, _ := msg["content"].(map[string]any)
		if len(msgs) != 1 || msg["role"] != "user" || content["text"] != "Say hello to Ada" || result["description"] != "Greet Ada" {
			t.Errorf("%s: result %v", name, result)
		}
	}
	for _, tc := range []struct {
		name, body string
		status     int
		want       []string
	}{
		{"empty body", "", http.StatusBadRequest, []string{"empty body"}},
		{"no name", `{"arguments":{"name":"Ada"}}`, http.StatusBadRequest, []string{"name is required"}},
		{"name not a string", `{"name":5}`, http.StatusBadRequest, []string{"name", "expected a string"}},
		{"name too long", `{"name":"` + strings.Repeat("x", 2000) + `"}`, http.StatusBadRequest, []string{"2000 bytes", "limit is 1024"}},
		{"arguments an array", `{"name":"web__greet","arguments":["Ada"]}`, http.StatusBadRequest, []string{"arguments must be an object of strings", "got an array"}},
		{"arguments a string", `{"name":"web__greet","arguments":"{\"name\":\"Ada\"}"}`, http.StatusBadRequest, []string{"arguments must be an object of strings", "got a string"}},
		{"argument a number", `{"name":"web__greet","arguments":{"name":"Ada","times":3}}`, http.StatusBadRequest, []string{`arguments["times"] must be a string`, "got a number"}},
		{"argument null", `{"name":"web__greet","arguments":{"name":null}}`, http.StatusBadRequest, []string{`arguments["name"] must be a string`, "got null"}},
		{"required argument missing", `{"name":"web__greet","arguments":{}}`, http.StatusBadRequest, []string{"web__greet", "missing required argument(s) name"}},
		{"no arguments at all", `{"name":"web__greet"}`, http.StatusBadRequest, []string{"missing required argument(s) name"}},
		{"unknown prompt", `{"name":"web__nope","arguments":{}}`, http.StatusNotFound, []string{"unknown prompt", `"web__nope"`}},
		{"down server's prompt", `{"name":"down__greet"}`, http.StatusNotFound, []string{"unknown prompt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantError(t, get(t, tc.body, tc.status), tc.want...)
		})
	}
}

// A server that goes away keeps its items listed: reads and prompts are
// routed to it and answer 503, and 503 "hub stopped" once the hub stops.
func TestResourcesServerDown(t *testing.T) {
	ts := serveHTTP(t, exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	srv := httpServer("web", ts.URL+"/mcp")
	srv.Backoff = config.Backoff{Initial: time.Minute, Max: time.Minute}
	e := startHub(t, api.Options{}, srv)
	// post answers with a fresh map: decoding into a used one would merge.
	post := func(path, body string, status int) map[string]any {
		t.Helper()
		var m map[string]any
		e.json(t, http.MethodPost, path, body, status, &m)
		return m
	}
	post("/mcp_hub/resources/read", `{"uri":"note://welcome"}`, http.StatusOK)

	ts.CloseClientConnections()
	ts.Close()
	for range 2 { // the first finds the connection refused, the next the server down
		wantError(t, post("/mcp_hub/resources/read", `{"uri":"note://welcome"}`, http.StatusServiceUnavailable), "server unavailable", "web")
		wantError(t, post("/mcp_hub/prompts/get", `{"name":"web__greet","arguments":{"name":"x"}}`, http.StatusServiceUnavailable), "server unavailable", "web")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	wantError(t, post("/mcp_hub/resources/read", `{"uri":"note://welcome"}`, http.StatusServiceUnavailable), "hub stopped")
	wantError(t, post("/mcp_hub/prompts/get", `{"name":"web__greet","arguments":{"name":"x"}}`, http.StatusServiceUnavailable), "hub stopped")
}

func TestResourceRoutesMethods(t *testing.T) {
	e := startHub(t, api.Options{}) // no servers
	for _, tc := range []struct{ method, path, allow string }{
		{http.MethodGet, "/mcp_hub/resources/read", "POST"},
		{http.MethodGet, "/mcp_hub/prompts/get", "POST"},
		{http.MethodPost, "/mcp_hub/resources", "GET"},
		{http.MethodPost, "/mcp_hub/prompts", "GET"},
		{http.MethodDelete, "/mcp_hub/resource_templates", "GET"},
	} {
		var m map[string]any
		r := e.json(t, tc.method, tc.path, "", http.StatusMethodNotAllowed, &m)
		wantError(t, m, tc.method)
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
		}
	}
	// An empty hub lists nothing: [] rather than null.
	for path, key := range map[string]string{"/mcp_hub/resources": "resources", "/mcp_hub/resource_templates": "resource_templates", "/mcp_hub/prompts": "prompts"} {
		var m map[string]any
		e.json(t, http.MethodGet, path, "", http.StatusOK, &m)
		if list := items(t, m, key); len(list) != 0 {
			t.Errorf("%s: %v", path, list)
		}
	}
}

// rawServer is an MCP server whose answers to resources/list and
// resources/read a wrapper writes itself, so that a test can see what the
// hub does to the bytes servers send. answers maps "resources/list", or
// the URI of a read, to the rest of the JSON-RPC response after its id
// (`"result":…` or `"error":…`).
func rawServer(t *testing.T, answers map[string]string) string {
	t.Helper()
	s := server.NewMCPServer("raw", "0.0.1", server.WithResourceCapabilities(false, false))
	inner := server.NewStreamableHTTPServer(s)
	ts := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			var msg struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Params struct {
					URI string `json:"uri"`
				} `json:"params"`
			}
			if json.Unmarshal(body, &msg) == nil {
				answer, ok := answers[msg.Method]
				if msg.Method == "resources/read" {
					answer, ok = answers[msg.Params.URI]
				}
				if ok {
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"jsonrpc":"2.0","id":`+string(msg.ID)+`,`+answer+`}`)
					return
				}
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		inner.ServeHTTP(w, r)
	}))
	return ts.URL + "/mcp"
}

// What servers send is passed on as sent: members in their order, unknown
// ones kept, text not HTML-escaped (as Go's encoders do by default); list
// items get the hub's "server" even when the server sent one of its own.
func TestResourceBytesAsSent(t *testing.T) {
	const result = `{"_meta":{"x":1},"contents":[{"uri":"raw://lt","text":"a < b && c > d","mimeType":"text/plain"}]}`
	e := startHub(t, api.Options{}, httpServer("raw", rawServer(t, map[string]string{
		"resources/list": `"result":{"resources":[` +
			`{"uri":"raw://lt","name":"lt","server":"spoofed","_meta":{"note":"<b>"},"size":3},` +
			`{"uri":"raw://array","name":"array"},{"uri":"raw://gone","name":"gone"},{"uri":"raw://broken","name":"broken"}]}`,
		"raw://lt":     `"result":` + result,
		"raw://array":  `"result":[1,2]`,
		"raw://gone":   `"error":{"code":-32002,"message":"Resource not found"}`,
		"raw://broken": `"error":{"code":-32603,"message":"disk on fire"}`,
	})))
	r := e.do(t, http.MethodPost, "/mcp_hub/resources/read", strings.NewReader(`{"uri":"raw://lt"}`))
	want := `{"success":true,"server":"raw","uri":"raw://lt","result":` + result + `}`
	if r.status != http.StatusOK || strings.TrimSpace(string(r.body)) != want {
		t.Errorf("status %d body\n%s\nwant\n%s", r.status, r.body, want)
	}
	wantJSONType(t, r)

	r = e.do(t, http.MethodGet, "/mcp_hub/resources", nil)
	if want := `{"_meta":{"note":"<b>"},"name":"lt","server":"raw","size":3,"uri":"raw://lt"}`; !strings.Contains(string(r.body), want) {
		t.Errorf("resources %s: want the item as %s", r.body, want)
	}

	for _, tc := range []struct {
		uri    string
		status int
		want   []string
	}{
		{"raw://array", http.StatusBadGateway, []string{"server raw", "not an object"}},
		{"raw://gone", http.StatusNotFound, []string{"server raw has no resource", `"raw://gone"`, "-32002"}},
		{"raw://broken", http.StatusBadGateway, []string{"server raw", "disk on fire"}},
	} {
		var m map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/resources/read", `{"uri":`+quote(tc.uri)+`}`, tc.status, &m)
		wantError(t, m, tc.want...)
	}
}

// Items built without a server's object (as a client library might) encode
// their fields.
func TestResourceItemsWithoutRaw(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{api.ResourceItem{Server: "s", URI: "x://a", Name: "a"}, `{"server":"s","uri":"x://a","name":"a"}`},
		{api.ResourceTemplateItem{Server: "s", URITemplate: "x://{id}", Name: "t"}, `{"server":"s","uriTemplate":"x://{id}","name":"t"}`},
		{api.PromptItem{Name: "s__p", Server: "s", Prompt: "p", Arguments: []api.PromptArgument{{Name: "n", Required: true}}},
			`{"name":"s__p","server":"s","prompt":"p","arguments":[{"name":"n","required":true}]}`},
	} {
		if b, err := json.Marshal(tc.v); err != nil || string(b) != tc.want {
			t.Errorf("%#v: %s, %v; want %s", tc.v, b, err, tc.want)
		}
	}
}
