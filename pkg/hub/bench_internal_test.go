package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
)

// benchHub is a hub whose catalog holds nServers servers of nTools tools
// each, as their discoveries would deliver them, without any I/O: the
// connections are never started.
func benchHub(b testing.TB, nServers, nTools int) *Hub {
	b.Helper()
	cfg := config.Default()
	cfg.Servers = nil
	for s := range nServers {
		cfg.Servers = append(cfg.Servers, config.Server{
			Name: fmt.Sprintf("server-%03d", s), Transport: config.TransportStdio, Command: "unused",
			Enabled: true, Timeout: time.Second, ProtocolVersion: config.DefaultProtocolVersion, Backoff: cfg.Backoff,
		})
	}
	h, err := New(cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = h.Stop(context.Background()) })
	conns := make(map[string]*downstream.Conn, nServers)
	for _, srv := range cfg.Servers {
		c := downstream.New(srv, downstream.Options{Logger: h.log})
		conns[srv.Name] = c
		d := &downstream.Discovery{}
		for i := range nTools {
			name := fmt.Sprintf("tool_%03d", i)
			if i%10 == 1 {
				name = fmt.Sprintf("ns.tool_%03d", i) // needs sanitising
			}
			d.Tools = append(d.Tools, json.RawMessage(fmt.Sprintf(
				`{"name":%q,"description":"Does something useful with q.","inputSchema":{"type":"object","properties":{"q":{"type":"string","description":"the query"}},"required":["q"]}}`,
				name)))
		}
		sc, problems := toCatalog(srv.Name, d)
		if len(problems) > 0 {
			b.Fatal(problems)
		}
		h.catalogs[c] = sc
	}
	h.state.Store(&state{cfg: cfg, conns: conns, policy: h.state.Load().policy})
	h.rebuild()
	if n := len(h.Snapshot().Tools()); n != nServers*nTools {
		b.Fatalf("%d tools in the catalog, want %d", n, nServers*nTools)
	}
	return h
}

// BenchmarkToolsJSON is what GET /tools costs: the list is pre-rendered, so
// serving it must not grow with the catalog.
func BenchmarkToolsJSON(b *testing.B) {
	h := benchHub(b, 100, 50)
	for _, server := range []string{"", "server-042"} {
		body, err := h.ToolsJSON(server)
		if err != nil || !json.Valid(body) {
			b.Fatalf("ToolsJSON(%q): %v", server, err)
		}
		b.Run("server="+server, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_, _ = h.ToolsJSON(server)
			}
		})
	}
}

// BenchmarkRebuild is what one catalog change costs with 5000 tools: a new
// snapshot and every pre-rendered list. "one-server" is the common case (a
// server's list changed), "cold" renders everything (a separator change).
func BenchmarkRebuild(b *testing.B) {
	h := benchHub(b, 100, 50)
	c := h.state.Load().conns["server-042"]
	before := h.catalogs[c]
	after := before
	after.Tools = append([]catalog.Tool{}, before.Tools...)
	after.Tools[0].Description = "Changed."
	for _, mode := range []string{"unchanged", "one-server", "cold"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				switch mode {
				case "one-server":
					i++
					h.catMu.Lock()
					h.catalogs[c] = [2]catalog.ServerCatalog{before, after}[i%2]
					h.catMu.Unlock()
				case "cold":
					h.catMu.Lock()
					h.rendered = nil
					h.catMu.Unlock()
				}
				h.rebuild()
			}
		})
	}
}

// BenchmarkCallLookup is the hub's share of routing a call: finding the
// tool and its connection.
func BenchmarkCallLookup(b *testing.B) {
	h := benchHub(b, 100, 50)
	for _, q := range []struct{ form, name string }{
		{"exported", "server-042__tool_007"},
		{"seed", "server-042.tool_007"},
		{"sanitised", "server-042__ns_tool_011"},
		{"missing", "server-042__nope"},
	} {
		b.Run(q.form, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v := h.view.Load()
				if t, ok := v.snap.Tool(q.name); ok {
					_ = v.conns[t.Server]
				}
			}
		})
	}
}

// BenchmarkToCatalog is what decoding one server's discovery of 50 tools
// costs (onDiscovery, once per server and change).
func BenchmarkToCatalog(b *testing.B) {
	d := &downstream.Discovery{}
	for i := range 50 {
		d.Tools = append(d.Tools, json.RawMessage(fmt.Sprintf(
			`{"name":"tool_%03d","description":"Does something useful with q.","inputSchema":{"type":"object","properties":{"q":{"type":"string","description":"the query"}},"required":["q"]},"annotations":{"readOnlyHint":true}}`, i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, problems := toCatalog("server-042", d); len(problems) > 0 {
			b.Fatal(problems)
		}
	}
}
