package hub

import (
	"crypto/sha256"
	"maps"
	"slices"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/events"
)

// The payloads of the hub's events (GET /mcp_hub/events). Field names are
// the wire names; README documents them.

// ServerStatusEvent is a server's connection changing state.
type ServerStatusEvent struct {
	Server    string     `json:"server"`
	State     string     `json:"state"` // connecting, ready, backoff, stopped
	Healthy   bool       `json:"healthy"`
	Error     string     `json:"error,omitempty"`
	Failures  int        `json:"failures"`
	NextRetry *time.Time `json:"next_retry,omitempty"`
}

// CatalogEvent is one kind of a server's catalog changing: tools,
// resources (with templates) or prompts. Names are the server's own
// (resources by URI or URI template); Count is how many there are now.
type CatalogEvent struct {
	Server  string   `json:"server"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
	Count   int      `json:"count"`
}

// RefreshEvent is a refresh pass starting or finishing.
type RefreshEvent struct {
	Phase      string                 `json:"phase"` // started or finished
	DurationMS float64                `json:"duration_ms,omitempty"`
	Changed    []string               `json:"changed,omitempty"`
	Unhealthy  []string               `json:"unhealthy,omitempty"`
	Config     *ReloadReport          `json:"config,omitempty"`
	Servers    []refreshServerPayload `json:"servers,omitempty"`
}

type refreshServerPayload struct {
	Server  string `json:"server"`
	Healthy bool   `json:"healthy"`
	Changed bool   `json:"changed"`
	Error   string `json:"error,omitempty"`
}

// ConfigEvent is a configuration applied (config_reloaded) or rejected
// (config_error, the old configuration keeps running).
type ConfigEvent struct {
	Added     []string `json:"added,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Restarted []string `json:"restarted,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// ApprovalEvent is an approval request created or decided (approved,
// rejected or expired). The arguments are included: an approval UI shows
// them to the person deciding.
type ApprovalEvent struct {
	approval.Request
	State approval.State `json:"state"`
}

// Events is the hub's event stream.
func (h *Hub) Events() *events.Bus { return h.events }

func (h *Hub) publishStatus(st downstream.Status) {
	ev := ServerStatusEvent{
		Server: st.Server, State: string(st.State), Healthy: st.Healthy(),
		Error: h.Config().Scrub(st.LastError), Failures: st.Failures,
	}
	if st.State != downstream.StateReady && !st.NextRetry.IsZero() {
		ev.NextRetry = &st.NextRetry
	}
	if st.State == downstream.StateReady {
		ev.Error = "" // the last error is history once the server is back
	}
	h.events.Publish(events.ServerStatus, ev)
}

func (h *Hub) publishApproval(t events.Type, r approval.Request) {
	h.events.Publish(t, ApprovalEvent{Request: r, State: r.State(time.Now())})
}

// fingerprints is what the hub last announced of one server's catalog:
// each item's name and a hash of how it was sent.
type fingerprints struct {
	tools, resources, prompts map[string][sha256.Size]byte
}

func fingerprintCatalog(sc catalog.ServerCatalog) fingerprints {
	f := fingerprints{
		tools:     make(map[string][sha256.Size]byte, len(sc.Tools)),
		resources: make(map[string][sha256.Size]byte, len(sc.Resources)+len(sc.ResourceTemplates)),
		prompts:   make(map[string][sha256.Size]byte, len(sc.Prompts)),
	}
	for _, t := range sc.Tools {
		f.tools[t.Name] = sha256.Sum256(t.Raw)
	}
	for _, r := range sc.Resources {
		f.resources[r.URI] = sha256.Sum256(r.Raw)
	}
	for _, r := range sc.ResourceTemplates {
		f.resources[r.URITemplate] = sha256.Sum256(r.Raw)
	}
	for _, p := range sc.Prompts {
		f.prompts[p.Name] = sha256.Sum256(p.Raw)
	}
	return f
}

// announceCatalog publishes what changed between two announcements of a
// server's catalog. Comparing by server name rather than by connection
// means a server restarted by a reload with the same tools announces
// nothing.
func (h *Hub) announceCatalog(server string, before, after fingerprints) {
	for _, k := range []struct {
		t             events.Type
		before, after map[string][sha256.Size]byte
	}{
		{events.ToolsChanged, before.tools, after.tools},
		{events.ResourcesChanged, before.resources, after.resources},
		{events.PromptsChanged, before.prompts, after.prompts},
	} {
		if ev, ok := diff(server, k.before, k.after); ok {
			h.events.Publish(k.t, ev)
		}
	}
}

func diff(server string, before, after map[string][sha256.Size]byte) (CatalogEvent, bool) {
	ev := CatalogEvent{Server: server, Added: []string{}, Removed: []string{}, Changed: []string{}, Count: len(after)}
	for name, sum := range after {
		if old, ok := before[name]; !ok {
			ev.Added = append(ev.Added, name)
		} else if old != sum {
			ev.Changed = append(ev.Changed, name)
		}
	}
	for name := range before {
		if _, ok := after[name]; !ok {
			ev.Removed = append(ev.Removed, name)
		}
	}
	if len(ev.Added)+len(ev.Removed)+len(ev.Changed) == 0 {
		return ev, false
	}
	slices.Sort(ev.Added)
	slices.Sort(ev.Removed)
	slices.Sort(ev.Changed)
	return ev, true
}

// announceRemoved publishes the catalog of servers that a reload removed
// as gone.
func (h *Hub) announceRemoved(names []string) {
	h.catMu.Lock()
	gone := make(map[string]fingerprints, len(names))
	for _, n := range names {
		if f, ok := h.announced[n]; ok {
			gone[n] = f
			delete(h.announced, n)
		}
	}
	h.catMu.Unlock()
	for _, n := range slices.Sorted(maps.Keys(gone)) {
		h.announceCatalog(n, gone[n], fingerprints{})
	}
}

func refreshPayload(r RefreshReport, scrub func(string) string) RefreshEvent {
	ev := RefreshEvent{
		Phase:      "finished",
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
		Changed:    r.Changed(),
		Config:     r.Config,
	}
	for _, s := range r.Servers {
		ev.Servers = append(ev.Servers, refreshServerPayload{Server: s.Server, Healthy: s.Healthy, Changed: s.Changed, Error: scrub(s.Error)})
		if !s.Healthy {
			ev.Unhealthy = append(ev.Unhealthy, s.Server)
		}
	}
	return ev
}
