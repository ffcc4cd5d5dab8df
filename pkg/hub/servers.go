package hub

import (
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
)

// ServerInfo is one configured server as the hub sees it now.
type ServerInfo struct {
	Name       string
	Transport  config.Transport
	Endpoint   string // HTTP servers
	Command    string // stdio servers (without arguments: they may hold secrets)
	Enabled    bool
	Healthy    bool
	Status     string // connecting, ready, backoff, stopped, disabled
	LastError  string
	LastSeen   time.Time
	Since      time.Time
	NextRetry  time.Time
	Failures   int
	Reconnects int

	ServerName, ServerVersion, ProtocolVersion string

	Tools, Resources, ResourceTemplates, Prompts int
}

// Servers lists every configured server, in config order.
func (h *Hub) Servers() []ServerInfo {
	st := h.state.Load()
	snap := h.view.Load().snap
	counts := map[string]*ServerInfo{}
	out := make([]ServerInfo, 0, len(st.cfg.Servers))
	for _, srv := range st.cfg.Servers {
		info := ServerInfo{Name: srv.Name, Transport: srv.Transport, Enabled: srv.Enabled, Status: "disabled"}
		if srv.Enabled {
			info.Status = string(downstream.StateStopped) // until Start, and after Stop
		}
		if srv.Transport == config.TransportStdio {
			info.Command = srv.Hide(srv.Command)
		} else {
			info.Endpoint = srv.Hide(config.RedactEndpoint(srv.Endpoint)) // keys ride in query strings and placeholders
		}
		if c, ok := st.conns[srv.Name]; ok {
			s := c.Status()
			info.Healthy = s.Healthy()
			info.Status = string(s.State)
			info.LastError = st.cfg.Scrub(s.LastError)
			info.LastSeen = s.LastSeen
			info.Since = s.Since
			info.NextRetry = s.NextRetry
			info.Failures, info.Reconnects = s.Failures, s.Reconnects
			info.ServerName, info.ServerVersion, info.ProtocolVersion = s.ServerName, s.ServerVersion, s.ProtocolVersion
		}
		out = append(out, info)
	}
	for i := range out {
		counts[out[i].Name] = &out[i]
	}
	for _, t := range snap.Tools() {
		if c := counts[t.Server]; c != nil {
			c.Tools++
		}
	}
	for _, r := range snap.Resources() {
		if c := counts[r.Server]; c != nil {
			c.Resources++
		}
	}
	for _, r := range snap.ResourceTemplates() {
		if c := counts[r.Server]; c != nil {
			c.ResourceTemplates++
		}
	}
	for _, p := range snap.Prompts() {
		if c := counts[p.Server]; c != nil {
			c.Prompts++
		}
	}
	return out
}

// Health is the hub's summary: every enabled server and whether it is up.
type Health struct {
	Status  string // "ok" when every enabled server is healthy, else "degraded"
	Servers map[string]bool
}

// Health summarises server health.
func (h *Hub) Health() Health {
	st := h.state.Load()
	out := Health{Status: "ok", Servers: make(map[string]bool, len(st.conns))}
	for name, c := range st.conns {
		ok := c.Status().Healthy()
		out.Servers[name] = ok
		if !ok {
			out.Status = "degraded"
		}
	}
	return out
}
