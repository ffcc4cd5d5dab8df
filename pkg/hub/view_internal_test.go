package hub

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/openai"
)

// setCatalogs makes the hub's catalog exactly servers (name → raw tools),
// reusing the connection of a server it already has, and rebuilds.
func setCatalogs(t *testing.T, h *Hub, servers map[string][]string) {
	t.Helper()
	old := h.state.Load()
	conns := map[string]*downstream.Conn{}
	for name, tools := range servers {
		c, ok := old.conns[name]
		if !ok {
			srv := config.Server{Name: name, Transport: config.TransportStdio, Command: "unused", Enabled: true}
			c = downstream.New(srv, downstream.Options{Logger: h.log})
		}
		conns[name] = c
		d := &downstream.Discovery{}
		for _, raw := range tools {
			d.Tools = append(d.Tools, json.RawMessage(raw))
		}
		sc, problems := toCatalog(name, d)
		if len(problems) > 0 {
			t.Fatal(problems)
		}
		h.catMu.Lock()
		h.catalogs[c] = sc
		h.catMu.Unlock()
	}
	h.state.Store(&state{cfg: old.cfg, conns: conns, policy: old.policy})
	h.rebuild()
}

// checkView compares the view with rendering the snapshot from scratch.
func checkView(t *testing.T, h *Hub, wantSkipped int) {
	t.Helper()
	v := h.view.Load()
	want, skipped := openai.RenderTools(v.snap.Tools(), v.needsApproval)
	if !bytes.Equal(v.tools, want) {
		t.Errorf("tool list\n got %s\nwant %s", v.tools, want)
	}
	if len(v.skipped) != len(skipped) || len(skipped) != wantSkipped {
		t.Errorf("skipped %v, a full render skips %v, want %d", v.skipped, skipped, wantSkipped)
	}
	var servers []string
	for name, body := range v.serverTools {
		servers = append(servers, name)
		if want, _ := openai.RenderTools(v.snap.ServerTools(name), v.needsApproval); !bytes.Equal(body, want) {
			t.Errorf("%s\n got %s\nwant %s", name, body, want)
		}
	}
	slices.Sort(servers)
	if !slices.Equal(servers, v.snap.Servers()) {
		t.Errorf("per-server lists for %v, snapshot servers %v", servers, v.snap.Servers())
	}
}

func TestRebuildRendersLikeAFullRender(t *testing.T) {
	h, err := New(config.Default(), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	tool := func(name, schema string) string {
		return `{"name":"` + name + `","description":"d <&> ` + name + `","inputSchema":` + schema + `}`
	}
	obj := `{"type":"object","properties":{"q":{"type":"string"}}}`

	setCatalogs(t, h, map[string][]string{
		"a.b":   {tool("x", obj), tool("bad", `{"type":"array"}`)}, // bad is skipped
		"a_b":   {tool("y", obj)},
		"empty": nil,
		"z":     {tool("q", `{ "type" : "object" }`)},
	})
	checkView(t, h, 1)
	if _, ok := h.view.Load().snap.Tool("a_b__x"); !ok {
		t.Fatal("a.b's x should have its natural name before the collision")
	}

	// a_b now also has x: a.b's x is renamed although a.b did not change,
	// so its cached rendering must not be reused.
	setCatalogs(t, h, map[string][]string{
		"a.b":   {tool("x", obj), tool("bad", `{"type":"array"}`)},
		"a_b":   {tool("y", obj), tool("x", obj)},
		"empty": nil,
		"z":     {tool("q", `{ "type" : "object" }`)},
	})
	checkView(t, h, 1)
	if _, ok := h.view.Load().snap.Tool("a_b__x"); ok && len(h.view.Load().snap.Collisions()) == 0 {
		t.Fatal("expected a collision")
	}

	// A changed schema and description, a removed server, an empty list.
	setCatalogs(t, h, map[string][]string{
		"a.b":   {tool("x", `{"type":"object","properties":{"n":{"type":"number"}}}`)},
		"empty": nil,
		"z":     {},
	})
	checkView(t, h, 0)
	if got := string(h.view.Load().tools); !bytes.Contains([]byte(got), []byte(`"n":{"type":"number"}`)) {
		t.Errorf("changed schema not rendered: %s", got)
	}
	setCatalogs(t, h, map[string][]string{})
	checkView(t, h, 0)
	if got := string(h.view.Load().tools); got != `{"tools":[]}` {
		t.Errorf("empty catalog: %s", got)
	}
}
