package api_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
)

// downServer is an HTTP server nobody listens for. Its long backoff keeps
// it in "backoff" (not briefly "connecting") while a test looks.
func downServer(t testing.TB, name string) config.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := httpServer(name, "http://"+addr+"/mcp")
	s.Backoff = config.Backoff{Initial: time.Minute, Max: time.Minute}
	return s
}

var exampleTools = []string{
	exampleserver.ToolAdd, exampleserver.ToolCreateNote, exampleserver.ToolDeleteNote, exampleserver.ToolEcho,
	exampleserver.ToolFail, exampleserver.ToolRegisterTool, exampleserver.ToolSlowCount, exampleserver.ToolUnregisterTool,
}

// threeServers runs the example server over stdio ("example") and over
// Streamable HTTP ("web"), and one server nobody listens for ("down").
func threeServers(t *testing.T) *env {
	t.Helper()
	web := httpExample(t)
	return startHub(t, api.Options{}, stdioExample("example"), httpServer("web", web), downServer(t, "down"))
}

func TestServers(t *testing.T) {
	e := threeServers(t)
	var list []map[string]any
	e.json(t, http.MethodGet, "/mcp_hub/servers", "", http.StatusOK, &list)
	if len(list) != 3 {
		t.Fatalf("%d servers, want 3: %v", len(list), list)
	}
	common := []string{"name", "transport", "enabled", "healthy", "status", "last_error",
		"tools", "resources", "resource_templates", "prompts", "last_seen", "since", "failures", "reconnects"}
	up := slices.Concat(common, []string{"server_info", "protocol_version"})
	for i, want := range []struct {
		name, transport, status string
		healthy                 bool
		keys                    []string
		where                   string // the endpoint or command key
		tools, resources        float64
	}{
		{"example", "stdio", "ready", true, slices.Concat(up, []string{"command"}), "command", 8, 1},
		{"web", "streamable-http", "ready", true, slices.Concat(up, []string{"endpoint"}), "endpoint", 8, 1},
		// A server that never connected has no server_info and shows when it retries.
		{"down", "streamable-http", "backoff", false, slices.Concat(common, []string{"endpoint", "next_retry"}), "endpoint", 0, 0},
	} {
		s := list[i]
		t.Run(want.name, func(t *testing.T) {
			wantKeys(t, s, want.keys...)
			for k, v := range map[string]any{
				"name": want.name, "transport": want.transport, "status": want.status,
				"enabled": true, "healthy": want.healthy, "tools": want.tools,
				"resources": want.resources, "prompts": want.resources,
			} {
				if s[k] != v {
					t.Errorf("%s = %#v, want %#v", k, s[k], v)
				}
			}
			if where, ok := s[want.where].(string); !ok || where == "" {
				t.Errorf("%s = %#v, want a string", want.where, s[want.where])
			}
			lastErr, ok := s["last_error"].(string)
			if !ok || (lastErr == "") != want.healthy {
				t.Errorf("last_error = %#v with healthy %v", s["last_error"], want.healthy)
			}
			if want.healthy {
				seen, ok := s["last_seen"].(string)
				if _, err := time.Parse(time.RFC3339Nano, seen); !ok || err != nil {
					t.Errorf("last_seen = %#v, want an RFC 3339 time", s["last_seen"])
				}
				info, _ := s["server_info"].(map[string]any)
				if info["name"] != exampleserver.Name || info["version"] != exampleserver.Version {
					t.Errorf("server_info = %#v", s["server_info"])
				}
			} else if s["last_seen"] != nil {
				t.Errorf("last_seen = %#v, want null for a server never seen", s["last_seen"])
			}
		})
	}
	if list[0]["command"] != exampleBin {
		t.Errorf("command = %v, want %s", list[0]["command"], exampleBin)
	}
	if !strings.Contains(list[2]["last_error"].(string), "connection refused") {
		t.Errorf("down's last_error %q does not say why", list[2]["last_error"])
	}
}

var toolName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// checkTools checks a /tools answer's shape and returns the tool names.
func checkTools(t *testing.T, m map[string]any) []string {
	t.Helper()
	wantKeys(t, m, "tools")
	tools, ok := m["tools"].([]any)
	if !ok {
		t.Fatalf("tools = %#v, want an array", m["tools"])
	}
	var names []string
	for _, raw := range tools {
		tool, _ := raw.(map[string]any)
		wantKeys(t, tool, "type", "function")
		if tool["type"] != "function" {
			t.Errorf("type = %#v, want function", tool["type"])
		}
		fn, _ := tool["function"].(map[string]any)
		wantKeys(t, fn, "name", "description", "parameters")
		name, _ := fn["name"].(string)
		if !toolName.MatchString(name) {
			t.Errorf("name %q is not a valid OpenAI function name", name)
		}
		if d, _ := fn["description"].(string); d == "" {
			t.Errorf("%s: description = %#v", name, fn["description"])
		}
		params, _ := fn["parameters"].(map[string]any)
		if params["type"] != "object" {
			t.Errorf("%s: parameters.type = %#v, want object", name, params["type"])
		}
		if _, ok := params["properties"].(map[string]any); !ok {
			t.Errorf("%s: parameters.properties = %#v, want an object", name, params["properties"])
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func prefixed(server string) []string {
	out := make([]string, 0, len(exampleTools))
	for _, tool := range exampleTools {
		out = append(out, server+"__"+tool)
	}
	return out
}

func TestTools(t *testing.T) {
	e := threeServers(t)
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", append(prefixed("example"), prefixed("web")...)},
		{"?server=web", prefixed("web")},
		{"?server=example", prefixed("example")},
		{"?server=down", nil}, // configured, nothing discovered: an empty list, not an error
	} {
		t.Run(tc.query, func(t *testing.T) {
			var m map[string]any
			e.json(t, http.MethodGet, "/mcp_hub/tools"+tc.query, "", http.StatusOK, &m)
			if got := checkTools(t, m); !slices.Equal(got, tc.want) {
				t.Errorf("tools %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("unknown server", func(t *testing.T) {
		var m map[string]any
		e.json(t, http.MethodGet, "/mcp_hub/tools?server=nope", "", http.StatusNotFound, &m)
		wantError(t, m, "unknown server", `"nope"`)
	})
	t.Run("echo schema", func(t *testing.T) {
		var r api.ToolsResponse
		e.json(t, http.MethodGet, "/mcp_hub/tools?server=web", "", http.StatusOK, &r)
		i := slices.IndexFunc(r.Tools, func(s api.ToolSchema) bool { return s.Function.Name == "web__echo" })
		if i < 0 {
			t.Fatal("web__echo missing")
		}
		p := r.Tools[i].Function.Parameters
		msg, _ := p["properties"].(map[string]any)["message"].(map[string]any)
		if msg["type"] != "string" || !slices.Contains(p["required"].([]any), any("message")) {
			t.Errorf("echo parameters %v do not require a string message", p)
		}
	})
}

func TestHealth(t *testing.T) {
	t.Run("degraded", func(t *testing.T) {
		e := threeServers(t)
		var m map[string]any
		e.json(t, http.MethodGet, "/mcp_hub/health", "", http.StatusOK, &m)
		wantKeys(t, m, "status", "servers")
		if m["status"] != "degraded" {
			t.Errorf("status = %#v, want degraded", m["status"])
		}
		want := map[string]any{"example": true, "web": true, "down": false}
		if got, _ := m["servers"].(map[string]any); len(got) != len(want) || got["example"] != true || got["web"] != true || got["down"] != false {
			t.Errorf("servers = %#v, want %v", m["servers"], want)
		}
	})
	t.Run("ok", func(t *testing.T) {
		e := startHub(t, api.Options{}, httpServer("web", httpExample(t)))
		var m map[string]any
		e.json(t, http.MethodGet, "/mcp_hub/health", "", http.StatusOK, &m)
		if m["status"] != "ok" || m["servers"].(map[string]any)["web"] != true {
			t.Errorf("health = %v, want ok with web up", m)
		}
	})
}

func TestRefresh(t *testing.T) {
	e := threeServers(t)
	var m map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/refresh", "", http.StatusOK, &m)
	// No config files: nothing to reload, so no "config".
	wantKeys(t, m, "refreshed", "started_at", "duration_ms", "changed", "servers")
	if m["refreshed"] != true {
		t.Errorf("refreshed = %#v", m["refreshed"])
	}
	if at, _ := m["started_at"].(string); at == "" {
		t.Errorf("started_at = %#v", m["started_at"])
	}
	if d, ok := m["duration_ms"].(float64); !ok || d < 0 {
		t.Errorf("duration_ms = %#v", m["duration_ms"])
	}
	if c, ok := m["changed"].([]any); !ok || len(c) != 0 {
		t.Errorf("changed = %#v, want [] (nothing changed)", m["changed"])
	}
	servers, _ := m["servers"].([]any)
	var names []string
	for _, raw := range servers {
		s := raw.(map[string]any)
		names = append(names, s["name"].(string))
		healthy := s["name"] != "down"
		if s["healthy"] != healthy || s["changed"] != false {
			t.Errorf("server %v: want healthy %v, unchanged", s, healthy)
		}
		if healthy {
			wantKeys(t, s, "name", "healthy", "changed")
		} else {
			wantKeys(t, s, "name", "healthy", "changed", "error")
			if !strings.Contains(s["error"].(string), "connection refused") {
				t.Errorf("down's refresh error %q does not say why", s["error"])
			}
		}
	}
	if !slices.Equal(names, []string{"down", "example", "web"}) {
		t.Errorf("servers %v, want down, example, web (name order)", names)
	}
}

func TestStoppedHub(t *testing.T) {
	e := startHub(t, api.Options{}, httpServer("web", httpExample(t)))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.hub.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/refresh", "", http.StatusServiceUnavailable, &m)
	wantError(t, m, "hub stopped")
	m = e.call(t, callJSON("web__echo", `{"message":"hi"}`), http.StatusServiceUnavailable)
	wantError(t, m, "hub stopped")
}

func TestRoutingErrors(t *testing.T) {
	e := startHub(t, api.Options{}) // no servers
	for _, tc := range []struct {
		method, path string
		status       int
		allow        string
		want         []string
	}{
		{http.MethodGet, "/nope", http.StatusNotFound, "", []string{"no such endpoint", "GET /nope"}},
		{http.MethodPost, "/mcp_hub/nope", http.StatusNotFound, "", []string{"no such endpoint", "/mcp_hub/nope"}},
		{http.MethodGet, "/mcp_hub/call", http.StatusMethodNotAllowed, "POST", []string{"method GET not allowed", "/mcp_hub/call"}},
		{http.MethodPut, "/mcp_hub/call", http.StatusMethodNotAllowed, "POST", []string{"PUT"}},
		{http.MethodGet, "/mcp_hub/refresh", http.StatusMethodNotAllowed, "POST", []string{"GET"}},
		{http.MethodPost, "/mcp_hub/tools", http.StatusMethodNotAllowed, "GET", []string{"POST"}},
		{http.MethodDelete, "/mcp_hub/health", http.StatusMethodNotAllowed, "GET", []string{"DELETE"}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var m map[string]any
			r := e.json(t, tc.method, tc.path, "", tc.status, &m)
			wantError(t, m, tc.want...)
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
	t.Run("empty hub", func(t *testing.T) {
		var tools map[string]any
		e.json(t, http.MethodGet, "/mcp_hub/tools", "", http.StatusOK, &tools)
		if got := checkTools(t, tools); len(got) != 0 {
			t.Errorf("tools %v, want none", got)
		}
		var servers []any
		e.json(t, http.MethodGet, "/mcp_hub/servers", "", http.StatusOK, &servers)
		if servers == nil || len(servers) != 0 {
			t.Errorf("servers = %#v, want []", servers)
		}
		var health map[string]any
		e.json(t, http.MethodGet, "/mcp_hub/health", "", http.StatusOK, &health)
		if health["status"] != "ok" || len(health["servers"].(map[string]any)) != 0 {
			t.Errorf("health = %v, want ok with no servers", health)
		}
	})
}

// panicHub panics in every method: the recovery middleware is the only
// thing under test, so a fake is fine here.
type panicHub struct{}

func (panicHub) ToolsJSON(string) ([]byte, error) { panic("tools exploded") }
func (panicHub) Servers() []hub.ServerInfo        { panic("servers exploded") }
func (panicHub) Health() hub.Health               { panic("health exploded") }
func (panicHub) Refresh(context.Context) (hub.RefreshReport, error) {
	panic("refresh exploded")
}
func (panicHub) Call(context.Context, hub.CallRequest) (*hub.CallResult, error) {
	panic("call exploded")
}
func (panicHub) LookupTool(string) (catalog.Tool, error) { panic("lookup exploded") }
func (panicHub) Approve(context.Context, hub.ApproveRequest) (*hub.CallResult, error) {
	panic("approve exploded")
}
func (panicHub) Reject(context.Context, string, string, string) (approval.Request, error) {
	panic("reject exploded")
}
func (panicHub) Approval(context.Context, string) (approval.Request, error) {
	panic("approval exploded")
}
func (panicHub) Approvals(context.Context, approval.Filter) ([]approval.Request, error) {
	panic("approvals exploded")
}

func (panicHub) SearchToolsJSON(string, int, string) ([]byte, error) { panic("search exploded") }
func (panicHub) Resources(string) ([]catalog.Resource, error)        { panic("resources exploded") }
func (panicHub) ResourceTemplates(string) ([]catalog.ResourceTemplate, error) {
	panic("templates exploded")
}
func (panicHub) ReadResource(context.Context, string) (*hub.ResourceResult, error) {
	panic("read exploded")
}
func (panicHub) ReadResourceFrom(context.Context, string, ...string) (*hub.ResourceResult, error) {
	panic("read exploded")
}
func (panicHub) Prompts(string) ([]catalog.Prompt, error) { panic("prompts exploded") }
func (panicHub) GetPrompt(context.Context, string, map[string]string) (*hub.PromptResult, error) {
	panic("prompt exploded")
}

// Config is read by the middleware on every request: it cannot panic.
func (panicHub) Config() *config.Config { return config.Default() }

// Events is called while the router is built, so it cannot panic; the bus
// is closed, so the events endpoint answers at once (503).
func (panicHub) Events() *events.Bus {
	b := events.NewBus(events.Options{Logger: quiet})
	b.Close()
	return b
}

func TestPanicIsJSON500(t *testing.T) {
	e := &env{url: serveRouter(t, panicHub{})}
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodGet, "/mcp_hub/tools", ""},
		{http.MethodGet, "/mcp_hub/servers", ""},
		{http.MethodGet, "/mcp_hub/health", ""},
		{http.MethodPost, "/mcp_hub/refresh", ""},
		{http.MethodPost, "/mcp_hub/call", callJSON("x__y", "{}")},
		{http.MethodPost, "/mcp_hub/call_stream", callJSON("x__y", "{}")},
		{http.MethodPost, "/mcp_hub/approve", `{"approval_id":"appr_x","tool":"x__y","arguments":{}}`},
		{http.MethodPost, "/mcp_hub/reject", `{"approval_id":"appr_x"}`},
		{http.MethodGet, "/mcp_hub/approvals", ""},
		{http.MethodGet, "/mcp_hub/approvals/appr_x", ""},
		{http.MethodGet, "/mcp_hub/tools?q=echo", ""},
		{http.MethodGet, "/mcp_hub/resources", ""},
		{http.MethodGet, "/mcp_hub/resource_templates", ""},
		{http.MethodPost, "/mcp_hub/resources/read", `{"uri":"note://welcome"}`},
		{http.MethodPost, "/mcp_hub/resources/read", `{"uri":"note://welcome","server":"x"}`},
		{http.MethodGet, "/mcp_hub/prompts", ""},
		{http.MethodPost, "/mcp_hub/prompts/get", `{"name":"x__y","arguments":{"a":"b"}}`},
	} {
		t.Run(tc.path, func(t *testing.T) {
			var m map[string]any
			e.json(t, tc.method, tc.path, tc.body, http.StatusInternalServerError, &m)
			wantError(t, m, "internal error")
			if strings.Contains(m["error"].(string), "exploded") {
				t.Errorf("error %q shows the panic value", m["error"])
			}
		})
	}
	// The server is still up.
	var m map[string]any
	e.json(t, http.MethodGet, "/nope", "", http.StatusNotFound, &m)
}

func serveRouter(t *testing.T, h api.Hub) string {
	t.Helper()
	ts := httptest.NewServer(api.NewRouter(h, api.Options{Logger: quiet}))
	t.Cleanup(ts.Close)
	return ts.URL
}
