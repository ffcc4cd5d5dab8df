package mcpserver_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/hub"
)

const toolsListChanged = string(mcp.MethodNotificationToolsListChanged)

// waitListChanged waits until the client has had more than before
// tools/list_changed notifications.
func waitListChanged(t *testing.T, c *mcpClient, before int, why string) {
	t.Helper()
	if !c.rec.waitUntil(waitTimeout, func() bool { return c.rec.count(toolsListChanged) > before }) {
		t.Fatalf("no tools/list_changed after %s", why)
	}
}

func TestToolListChanged(t *testing.T) {
	for _, ds := range downstreams {
		t.Run(ds.name, func(t *testing.T) {
			e := newEnv(t, hubConfig(ds.setup(t)))
			c := connect(t, e.url("/mcp"), clientOpts{listen: true})
			// A second session that only watches: it made no request, so
			// only the GET stream can tell it.
			watcher := connect(t, e.url("/mcp"), clientOpts{listen: true})
			if slices.Contains(c.toolNames(t), "example__extra") {
				t.Fatal("example__extra listed before it was registered")
			}

			before, wBefore := c.rec.count(toolsListChanged), watcher.rec.count(toolsListChanged)
			if res := c.call(t, "example__register_tool", map[string]any{"name": "extra"}); res.IsError {
				t.Fatalf("register_tool: %q", textOf(t, res))
			}
			waitListChanged(t, c, before, "register_tool")
			waitListChanged(t, watcher, wBefore, "register_tool (watcher)")
			if names := c.toolNames(t); !slices.Contains(names, "example__extra") {
				t.Fatalf("after list_changed, tools/list is %v: no example__extra", names)
			}
			if res := c.call(t, "example__extra", nil); res.IsError || textOf(t, res) != "extra" {
				t.Errorf("example__extra: isError=%v %q", res.IsError, textOf(t, res))
			}

			before = c.rec.count(toolsListChanged)
			if res := c.call(t, "example__unregister_tool", map[string]any{"name": "extra"}); res.IsError {
				t.Fatalf("unregister_tool: %q", textOf(t, res))
			}
			waitListChanged(t, c, before, "unregister_tool")
			if names := c.toolNames(t); slices.Contains(names, "example__extra") {
				t.Fatalf("after unregister and list_changed, tools/list still has example__extra: %v", names)
			}
			if names := c.toolNames(t); !slices.Equal(names, exported(exampleToolNames...)) {
				t.Errorf("tools/list after unregister: %v", names)
			}
		})
	}
}

func TestReload(t *testing.T) {
	web := newHTTPExample(t)
	servers := []config.Server{stdioExample("example"), httpServer("web", web.URL)}
	e := newEnv(t, hubConfig(servers...))
	c := connect(t, e.url("/mcp"), clientOpts{listen: true})
	onWeb := connect(t, e.url("/mcp/server/web"), clientOpts{})
	all := append(exported(exampleToolNames...), webNames(exampleToolNames...)...)
	slices.Sort(all)
	if names := c.toolNames(t); !slices.Equal(names, all) {
		t.Fatalf("/mcp lists %v, want %v", names, all)
	}
	if code, _ := httpStatus(t, http.MethodPost, e.url("/mcp/group/g")); code != http.StatusNotFound {
		t.Fatalf("/mcp/group/g before the reload: %d, want 404", code)
	}

	// Adding a group adds its endpoint.
	cfg := hubConfig(servers...)
	cfg.Groups = []config.Group{{Name: "g", Servers: []string{"web"}}}
	reload(t, e, cfg)
	var g *mcpClient
	waitFor(t, "/mcp/group/g to appear", waitTimeout, func() bool {
		var err error
		g, err = dial(t, e.url("/mcp/group/g"), clientOpts{})
		return err == nil
	})
	if names := g.toolNames(t); !slices.Equal(names, webNames(exampleToolNames...)) {
		t.Errorf("/mcp/group/g lists %v, want web's tools", names)
	}

	// Removing a server removes its tools and its endpoint.
	before := c.rec.count(toolsListChanged)
	reload(t, e, hubConfig(servers[0]))
	waitListChanged(t, c, before, "removing server web")
	waitFor(t, "web's tools to leave /mcp", waitTimeout, func() bool {
		return slices.Equal(c.toolNames(t), exported(exampleToolNames...))
	})
	for _, path := range []string{"/mcp/server/web", "/mcp/group/g"} {
		if code, body := httpStatus(t, http.MethodPost, e.url(path)); code != http.StatusNotFound || body["error"] == nil {
			t.Errorf("%s after the reload: %d %v, want 404 with an error", path, code, body)
		}
	}
	// A session on the removed endpoint is over.
	if _, err := onWeb.ListTools(ctxFor(t), mcp.ListToolsRequest{}); err == nil {
		t.Error("a session on /mcp/server/web still answers after web was removed")
	}
	// What stays keeps working, on the same session.
	if res := c.call(t, "example__echo", map[string]any{"message": "ok"}); textOf(t, res) != "ok" {
		t.Errorf("echo after the reload: %q", textOf(t, res))
	}
}

func reload(t *testing.T, e *env, cfg *config.Config) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := e.hub.Reload(ctx, cfg); err != nil {
		t.Fatalf("Reload: %v", err)
	}
}

func webNames(names ...string) []string { return prefixed("web", names...) }

func without(names []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(names), func(n string) bool {
		return slices.ContainsFunc(drop, func(d string) bool { return strings.HasSuffix(n, "__"+d) })
	})
}

// TestNoSpuriousListChanged: a change of one server's tools must not tell
// clients that resources or prompts changed. Both servers list
// note://welcome, which /mcp serves once.
func TestNoSpuriousListChanged(t *testing.T) {
	e := twoServers(t)
	c := connect(t, e.url("/mcp"), clientOpts{listen: true})
	before := c.rec.count(toolsListChanged)
	if res := c.call(t, "example__register_tool", map[string]any{"name": "extra"}); res.IsError {
		t.Fatalf("register_tool: %q", textOf(t, res))
	}
	waitListChanged(t, c, before, "register_tool")
	if res := c.call(t, "web__register_tool", map[string]any{"name": "extra"}); res.IsError {
		t.Fatalf("register_tool: %q", textOf(t, res))
	}
	waitFor(t, "web__extra on /mcp", waitTimeout, func() bool { return slices.Contains(c.toolNames(t), "web__extra") })
	for _, m := range []mcp.MCPMethod{mcp.MethodNotificationResourcesListChanged, mcp.MethodNotificationPromptsListChanged} {
		if n := c.rec.count(string(m)); n != 0 {
			t.Errorf("%d %s after tool changes only", n, m)
		}
	}
	res, err := c.ListResources(ctxFor(t), mcp.ListResourcesRequest{})
	if err != nil || len(res.Resources) != 1 {
		t.Errorf("resources/list: %v %+v", err, res)
	}
}

// TestFollowsAfterEventFlood: a burst of hub events larger than the
// follower's queue makes its subscription lag; the endpoints must resync
// and go on following the catalog.
func TestFollowsAfterEventFlood(t *testing.T) {
	e := newEnv(t, hubConfig(stdioExample("example")))
	c := connect(t, e.url("/mcp"), clientOpts{listen: true})
	for range 5000 {
		e.hub.Events().Publish(events.ToolsChanged, hub.CatalogEvent{Server: "flood"})
	}
	before := c.rec.count(toolsListChanged)
	if res := c.call(t, "example__register_tool", map[string]any{"name": "after_flood"}); res.IsError {
		t.Fatalf("register_tool: %q", textOf(t, res))
	}
	waitListChanged(t, c, before, "register_tool after the flood")
	waitFor(t, "example__after_flood on /mcp", waitTimeout, func() bool {
		return slices.Contains(c.toolNames(t), "example__after_flood")
	})
}

// TestReloadExposeMode: switching /mcp to search mode gives it the
// meta-tools; sessions of the old shape end.
func TestReloadExposeMode(t *testing.T) {
	e := newEnv(t, hubConfig(stdioExample("example")))
	old := connect(t, e.url("/mcp"), clientOpts{})
	if names := old.toolNames(t); !slices.Equal(names, exported(exampleToolNames...)) {
		t.Fatalf("/mcp lists %v", names)
	}
	cfg := hubConfig(stdioExample("example"))
	cfg.Expose = config.ExposeSearch
	reload(t, e, cfg)
	waitFor(t, "/mcp in search mode", waitTimeout, func() bool {
		c, err := dial(t, e.url("/mcp"), clientOpts{})
		return err == nil && slices.Equal(c.toolNames(t), []string{"call_tool", "get_server_detail", "search_tools"})
	})
	if names, err := old.ListTools(ctxFor(t), mcp.ListToolsRequest{}); err == nil && len(names.Tools) == len(exampleToolNames) {
		t.Error("a session of the old /mcp still lists every tool after the switch to search mode")
	}
}
