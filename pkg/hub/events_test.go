package hub_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/hub"
)

func decodeEvent[T any](t *testing.T, ev events.Event) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(ev.Data, &v); err != nil {
		t.Fatalf("%s event %s: %v", ev.Type, ev.Data, err)
	}
	return v
}

func TestHubEvents(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	cfg := hubConfig(httpServer("example", ex.URL))
	h := newHub(t, cfg, hub.Options{})
	sub := h.Events().Subscribe(0, 1024)
	defer sub.Close()
	h.Start()
	waitHealthy(t, h, "example")
	ctx := context.Background()

	// Connecting announces the state and the whole catalog (in either order).
	var st *hub.ServerStatusEvent
	var tools *hub.CatalogEvent
	for st == nil || tools == nil {
		ev := nextEvent(t, sub, func(ev events.Event) bool { return ev.Type == events.ServerStatus || ev.Type == events.ToolsChanged })
		if ev.Type == events.ToolsChanged {
			tools = new(decodeEvent[hub.CatalogEvent](t, ev))
		} else if s := decodeEvent[hub.ServerStatusEvent](t, ev); s.State == "ready" {
			st = &s
		}
	}
	if st.Server != "example" || !st.Healthy || st.Error != "" {
		t.Errorf("ready event = %+v", st)
	}
	if tools.Server != "example" || tools.Count != exampleTools || len(tools.Added) != exampleTools || len(tools.Removed) != 0 {
		t.Errorf("first tools_changed = %+v", tools)
	}

	// A tool registered at run time: list_changed → re-discovery → one added.
	call(t, h, "example__register_tool", `{"name":"extra"}`)
	added := decodeEvent[hub.CatalogEvent](t, nextEvent(t, sub, func(ev events.Event) bool { return ev.Type == events.ToolsChanged }))
	if len(added.Added) != 1 || added.Added[0] != "extra" || added.Count != exampleTools+1 {
		t.Errorf("tools_changed after register_tool = %+v", added)
	}

	// A refresh announces start and finish.
	if _, err := h.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	started := decodeEvent[hub.RefreshEvent](t, nextEvent(t, sub, func(ev events.Event) bool { return ev.Type == events.Refresh }))
	finished := decodeEvent[hub.RefreshEvent](t, nextEvent(t, sub, func(ev events.Event) bool { return ev.Type == events.Refresh }))
	if started.Phase != "started" || finished.Phase != "finished" || len(finished.Servers) != 1 || !finished.Servers[0].Healthy {
		t.Errorf("refresh events = %+v, %+v", started, finished)
	}

	// Removing the server by a reload announces its catalog as gone.
	next := *h.Config()
	next.Servers = nil
	if _, err := h.Reload(ctx, &next); err != nil {
		t.Fatal(err)
	}
	gone := decodeEvent[hub.CatalogEvent](t, nextEvent(t, sub, func(ev events.Event) bool { return ev.Type == events.ToolsChanged }))
	if gone.Count != 0 || len(gone.Removed) != exampleTools+1 {
		t.Errorf("tools_changed after removal = %+v", gone)
	}
	reloaded := decodeEvent[hub.ConfigEvent](t, nextEvent(t, sub, func(ev events.Event) bool { return ev.Type == events.ConfigReloaded }))
	if len(reloaded.Removed) != 1 || reloaded.Removed[0] != "example" {
		t.Errorf("config_reloaded = %+v", reloaded)
	}

	// A rejected config is announced and changes nothing.
	bad := next
	bad.Servers = []config.Server{{Name: "", Transport: config.TransportStdio}}
	if _, err := h.Reload(ctx, &bad); err == nil {
		t.Fatal("an invalid config was applied")
	}
	cfgErr := decodeEvent[hub.ConfigEvent](t, nextEvent(t, sub, func(ev events.Event) bool { return ev.Type == events.ConfigError }))
	if cfgErr.Error == "" {
		t.Error("config_error without the error")
	}
}

func TestServerStatusEventsOnFailure(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	cfg := hubConfig(httpServer("example", ex.URL))
	h := startHub(t, cfg)
	sub := h.Events().Subscribe(h.Events().LastID(), 256)
	defer sub.Close()
	ex.kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, _ = h.Refresh(ctx) // the heartbeat of the refresh finds the server gone
	ev := decodeEvent[hub.ServerStatusEvent](t, nextEvent(t, sub, func(ev events.Event) bool {
		return ev.Type == events.ServerStatus && decodeEvent[hub.ServerStatusEvent](t, ev).State == "backoff"
	}))
	if ev.Healthy || ev.Error == "" || ev.NextRetry == nil {
		t.Errorf("backoff event = %+v, want unhealthy with an error and a retry time", ev)
	}
}
