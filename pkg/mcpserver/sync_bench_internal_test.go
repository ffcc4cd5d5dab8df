package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
)

// scaleHub is a fakeHub with a configuration of its own.
type scaleHub struct {
	*fakeHub
	cfg *config.Config
}

func (h *scaleHub) Config() *config.Config { return h.cfg }

// BenchmarkSync measures one sync of the endpoints of a hub with 100
// servers of 50 tools each (101 endpoints: /mcp and one per server): with
// nothing changed, and with one server re-discovered (its tools parsed
// anew, with the same content, as the refresh loop does).
func BenchmarkSync(b *testing.B) {
	const servers, tools = 100, 50
	cfg := config.Default()
	cfg.Servers = nil
	cats := make([]catalog.ServerCatalog, servers)
	parse := func(name string) []catalog.Tool {
		var sb strings.Builder
		sb.WriteString(`{"tools":[`)
		for j := range tools {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"name":"tool_%03d","description":"Scale-test tool %d.","inputSchema":{"type":"object","properties":{"query":{"type":"string","description":"What to look up."},"limit":{"type":"integer","minimum":1}},"required":["query"]}}`, j, j)
		}
		sb.WriteString(`]}`)
		parsed, _, err := catalog.ParseTools(name, json.RawMessage(sb.String()))
		if err != nil {
			b.Fatal(err)
		}
		return parsed
	}
	for i := range cats {
		name := fmt.Sprintf("s%03d", i+1)
		cfg.Servers = append(cfg.Servers, config.Server{Name: name, Enabled: true, Transport: config.TransportStreamableHTTP, Endpoint: "http://127.0.0.1:1/mcp"})
		cats[i] = catalog.ServerCatalog{Server: name, Tools: parse(name)}
	}
	first := catalog.Build(cats, config.DefaultToolNameSeparator)
	cats[0].Tools = parse(cats[0].Server)
	again := catalog.Build(cats, config.DefaultToolNameSeparator)

	h := &scaleHub{fakeHub: &fakeHub{snap: first}, cfg: cfg}
	s := &Server{hub: h, log: slog.New(slog.DiscardHandler), opts: Options{Version: "bench", SessionIdleTTL: time.Minute}, endpoints: map[string]*endpoint{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	s.sync()
	if n := len(s.endpoints); n != servers+1 {
		b.Fatalf("%d endpoints", n)
	}

	b.Run("unchanged", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.sync()
		}
	})
	b.Run("one-server-rediscovered", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			h.snap = []*catalog.Snapshot{first, again}[i%2]
			s.sync()
		}
	})
}
