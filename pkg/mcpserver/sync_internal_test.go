package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
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
	s := &Server{hub: h, log: slog.New(slog.DiscardHandler), opts: Options{Version: "bench", SessionIdleTTL: time.Minute}, endpoints: map[string]*endpoint{}, stopDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	b.Cleanup(func() { _ = s.Stop(context.Background()) })
	s.sync()
	if n := len(s.endpoints); n != servers+1 {
		b.Fatalf("%d endpoints", n)
	}
	// Every endpoint had a request: the most a sync can have to do.
	for _, ep := range s.endpoints {
		ep.activate()
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

// TestEndpointsRegisterOnFirstRequest checks an endpoint registers nothing
// with mcp-go until it is asked, then what the hub has at that moment, and
// from then on follows the syncs.
func TestEndpointsRegisterOnFirstRequest(t *testing.T) {
	snap := snapshotOf(t, "s", goodTools[0])
	cfg := config.Default()
	cfg.Servers = []config.Server{{Name: "s", Enabled: true, Transport: config.TransportStreamableHTTP, Endpoint: "http://127.0.0.1:1/mcp"}}
	h := &scaleHub{fakeHub: &fakeHub{snap: snap}, cfg: cfg}
	s := &Server{hub: h, log: slog.New(slog.DiscardHandler), opts: Options{Version: "test", SessionIdleTTL: time.Minute}, endpoints: map[string]*endpoint{}, stopDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	s.sync()
	all, one := s.endpoints[""], s.endpoints["server/s"]
	if len(all.tools) != 0 || len(one.tools) != 0 || all.listing.Load() != nil {
		t.Fatalf("registered before any request: %d and %d tools", len(all.tools), len(one.tools))
	}

	h.snap = snapshotOf(t, "s", goodTools[0], goodTools[1])
	s.sync() // a change while nobody asks: still nothing
	all.activate()
	if got := slices.Sorted(maps.Keys(all.tools)); !slices.Equal(got, []string{"s__good_header", "s__plain"}) {
		t.Errorf("after the first request /mcp has %v", got)
	}
	if len(one.tools) != 0 {
		t.Errorf("/mcp/server/s registered %d tools without a request", len(one.tools))
	}

	h.snap = snapshotOf(t, "s", goodTools[1])
	s.sync()
	if got := slices.Sorted(maps.Keys(all.tools)); !slices.Equal(got, []string{"s__good_header"}) {
		t.Errorf("after a sync /mcp has %v", got)
	}
}

// notedSession is an initialized mcp-go session that, as mcp-go sends it
// a notification, runs noted: what a client told of a change could ask for
// at that moment.
type notedSession struct {
	ch    chan mcp.JSONRPCNotification
	noted func(method string)
}

func (s *notedSession) Initialize()       {}
func (s *notedSession) Initialized() bool { return true }
func (s *notedSession) SessionID() string { return "noted" }
func (s *notedSession) NotificationChannel() chan<- mcp.JSONRPCNotification {
	s.noted(string(mcp.MethodNotificationToolsListChanged))
	return s.ch
}

// TestListChangedAfterListing checks that when mcp-go tells a session the
// tool list changed, the endpoint's own listing (the fast path's
// tools/list) and the tools it serves already show the change: a client
// that lists or calls at once must not find the old list.
func TestListChangedAfterListing(t *testing.T) {
	cfg := config.Default()
	cfg.Servers = []config.Server{{Name: "s", Enabled: true, Transport: config.TransportStreamableHTTP, Endpoint: "http://127.0.0.1:1/mcp"}}
	h := &scaleHub{fakeHub: &fakeHub{snap: snapshotOf(t, "s", goodTools[0])}, cfg: cfg}
	s := &Server{hub: h, log: slog.New(slog.DiscardHandler), opts: Options{Version: "test", SessionIdleTTL: time.Minute}, endpoints: map[string]*endpoint{}, stopDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	s.sync()
	ep := s.endpoints[""]
	ep.activate()

	var seen [][]string // at each notification: the listing's names, and whether each is served
	session := &notedSession{ch: make(chan mcp.JSONRPCNotification, 16), noted: func(string) {
		var names []string
		if l := ep.listing.Load(); l != nil {
			for _, lt := range l.tools {
				name := lt.tool.Exported
				if !ep.serves(name) {
					name += " (not served)"
				}
				names = append(names, name)
			}
		}
		seen = append(seen, names)
	}}
	if err := ep.mcp.RegisterSession(context.Background(), session); err != nil {
		t.Fatal(err)
	}

	h.snap = snapshotOf(t, "s", goodTools[0], goodTools[1])
	s.sync()
	h.snap = snapshotOf(t, "s", goodTools[1])
	s.sync()
	want := [][]string{{"s__good_header", "s__plain"}, {"s__good_header"}}
	if !slices.EqualFunc(seen, want, slices.Equal) {
		t.Errorf("at the notifications the listing was %q, want %q", seen, want)
	}
}
