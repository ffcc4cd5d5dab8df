// Package mcpserver serves the hub's catalog to MCP clients (Claude Desktop,
// Cursor, the Inspector, any SDK) as MCP servers over Streamable HTTP:
//
//   - /mcp: every server's tools, resources, resource templates and prompts,
//     under the same exported names as the REST API;
//   - /mcp/server/{name}: one server's;
//   - /mcp/group/{name}: a configured group's, through the group's tool filter.
//
// Each endpoint is its own mcp-go MCPServer. It registers the catalog with
// mcp-go on its first request; from then on one goroutine that follows the
// hub's event stream keeps it in step: what changed is added or removed, and
// mcp-go tells connected clients with list_changed notifications. Calls,
// reads and prompts go through the hub, so routing, timeouts, approvals and
// error kinds are the REST API's.
//
// A plain tools/call or tools/list is answered without mcp-go (fastpath.go);
// everything else goes to mcp-go. The endpoint owns its MCP sessions
// (sessions.go): it is mcp-go's session-id manager and ends idle sessions
// itself, because mcp-go never sees the fast path's requests.
package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/hub"
)

// Hub is what the endpoints need from the core.
type Hub interface {
	Snapshot() *catalog.Snapshot
	Config() *config.Config
	Events() *events.Bus
	NeedsApproval(t catalog.Tool) bool
	Servers() []hub.ServerInfo
	Call(ctx context.Context, req hub.CallRequest) (*hub.CallResult, error)
	Approve(ctx context.Context, req hub.ApproveRequest) (*hub.CallResult, error)
	Reject(ctx context.Context, id, by, reason string) (approval.Request, error)
	ReadResourceFrom(ctx context.Context, uri string, servers ...string) (*hub.ResourceResult, error)
	GetPrompt(ctx context.Context, name string, args map[string]string) (*hub.PromptResult, error)
}

// Options configure the endpoints.
type Options struct {
	Logger *slog.Logger
	// Version is reported to clients in the initialize result.
	Version string
	// SessionIdleTTL ends sessions idle this long (default 30m): clients
	// that vanish without DELETE would otherwise stay forever.
	SessionIdleTTL time.Duration
	// DisableLocalhostProtection turns off mcp-go's DNS-rebinding guard,
	// which refuses requests whose Host is not localhost when they arrive on
	// loopback (needed behind a local reverse proxy).
	DisableLocalhostProtection bool
	// NoFastPath sends every request through mcp-go's server, plain tool
	// calls included (see fastpath.go): for comparing the two paths.
	NoFastPath bool
}

// Server is the set of MCP endpoints. Create it with New, start it with
// Start, and Stop it before the hub.
type Server struct {
	hub  Hub
	log  *slog.Logger
	opts Options

	mu        sync.RWMutex
	endpoints map[string]*endpoint // by key: "", "server/x", "group/y"
	started   bool
	stopped   bool

	// ctx ends at Stop: the follower, and handlers waiting for a person
	// (elicitation), which mcp-go's Shutdown does not cancel.
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed when the follower returned
	swept    chan struct{} // closed when the idle-session sweeper returned
	stopDone chan struct{} // closed when the first Stop returned
}

// New builds the endpoints for the hub's current configuration.
func New(h Hub, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SessionIdleTTL <= 0 {
		opts.SessionIdleTTL = 30 * time.Minute
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	s := &Server{hub: h, log: opts.Logger, opts: opts, endpoints: map[string]*endpoint{}, done: make(chan struct{}), swept: make(chan struct{}), stopDone: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.sync()
	return s
}

// Start follows the hub's events and keeps the endpoints in step with its
// catalog and configuration until Stop.
func (s *Server) Start() {
	s.mu.Lock()
	if s.started || s.stopped {
		s.mu.Unlock()
		return
	}
	s.started = true
	s.mu.Unlock()
	sub := s.hub.Events().Subscribe(s.hub.Events().LastID(), 256)
	s.sync() // whatever changed before the subscription
	go s.follow(s.ctx, sub)
	go func() {
		defer close(s.swept)
		s.sweep(s.ctx)
	}()
}

// follow resyncs on events that can change what an endpoint offers. The
// events queued meanwhile are taken together and cost one sync: a start
// of many servers sends several per server, and each sync looks at every
// endpoint. A lagging subscription only means many changes: resync and
// resubscribe.
func (s *Server) follow(ctx context.Context, sub *events.Subscription) {
	defer close(s.done)
	defer func() { sub.Close() }()
	for {
		var ev *events.Event
		var ok bool
		select {
		case <-ctx.Done():
			return
		case ev, ok = <-sub.C():
		}
		dirty := false
		for ok {
			dirty = dirty || changesOffer(ev)
			select {
			case ev, ok = <-sub.C():
				continue
			default:
			}
			break
		}
		if dirty {
			s.sync()
		}
		if !ok {
			if !sub.Lagged() {
				return // the bus closed: the hub is stopping
			}
			sub = s.hub.Events().Subscribe(s.hub.Events().LastID(), 256)
			s.sync()
		}
	}
}

// changesOffer reports whether an event can change what endpoints offer.
func changesOffer(ev *events.Event) bool {
	switch ev.Type {
	case events.ToolsChanged, events.ResourcesChanged, events.PromptsChanged, events.ConfigReloaded:
		return true
	}
	return false
}

// Stop ends every session, the follower and the session sweeper, and waits
// for them until ctx ends. A second Stop returns once the first is done.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		// Another Stop is under way or done: return once it is, so that a
		// caller stopping the hub next never stops it under live endpoints.
		select {
		case <-s.stopDone: // done already: whatever ctx says
			return nil
		default:
		}
		select {
		case <-s.stopDone:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("mcp endpoints: waiting for another Stop: %w", ctx.Err())
		}
	}
	s.stopped = true
	defer close(s.stopDone)
	started := s.started
	eps := s.endpoints
	s.endpoints = map[string]*endpoint{}
	s.mu.Unlock()
	var errs []error
	s.cancel()
	if started {
		for _, c := range []struct {
			what string
			done chan struct{}
		}{{"follower", s.done}, {"session sweeper", s.swept}} {
			select {
			case <-c.done:
			case <-ctx.Done():
				errs = append(errs, fmt.Errorf("mcp endpoints: %s: %w", c.what, ctx.Err()))
			}
		}
	}
	for _, ep := range eps {
		if err := ep.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("mcp endpoint %q: %w", ep.path(), err))
		}
	}
	return errors.Join(errs...)
}

// ServeHTTP routes /mcp, /mcp/server/{name} and /mcp/group/{name}.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, ok := endpointKey(r.URL.Path)
	if !ok {
		writeError(w, http.StatusNotFound, "no MCP endpoint at "+r.URL.Path+": use /mcp, /mcp/server/{name} or /mcp/group/{name}")
		return
	}
	s.mu.RLock()
	ep, found := s.endpoints[key]
	stopped := s.stopped
	s.mu.RUnlock()
	switch {
	case stopped:
		writeError(w, http.StatusServiceUnavailable, "the hub is stopping")
	case !found:
		kind, name, _ := strings.Cut(key, "/")
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown %s %q", kind, name))
	default:
		ep.serveHTTP(w, r)
	}
}

// serveHTTP serves one request to the endpoint: a plain tool call on the
// fast path, everything else through mcp-go.
func (ep *endpoint) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if ep.rebinding(r) {
		ep.http.ServeHTTP(w, r) // mcp-go refuses it, before anything else
		return
	}
	ep.activate()
	id := r.Header.Get(server.HeaderKeySessionID)
	ls := ep.sessions.touch(id)
	if ls == nil && id != "" && r.Method != http.MethodPost && !mcp.IsModernProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
		// An ended (or never issued) session. mcp-go checks a POST's id
		// with the table (sessions.Validate) but not a GET's or a
		// DELETE's: it would open a GET stream for any id, registering a
		// session nobody ends.
		http.Error(w, "Invalid session ID", http.StatusNotFound)
		return
	}
	if ls != nil && r.Method == http.MethodGet {
		// A listening stream is activity for as long as it is open.
		ls.streams.Add(1)
		defer func() {
			ls.streams.Add(-1)
			ep.sessions.touch(id)
		}()
	}
	if ls != nil && r.Method == http.MethodPost && !ep.srv.opts.NoFastPath && ep.serveFast(w, r, ls) {
		return
	}
	ep.http.ServeHTTP(w, r)
}

// endpointKey maps a request path to an endpoint key.
func endpointKey(p string) (string, bool) {
	p = strings.TrimSuffix(p, "/")
	if p == "/mcp" {
		return "", true
	}
	rest, ok := strings.CutPrefix(p, "/mcp/")
	if !ok {
		return "", false
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") || (kind != "server" && kind != "group") {
		return "", false
	}
	return kind + "/" + name, true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
	}{false, msg})
}

// sync makes the set of endpoints match the configuration and each
// endpoint's catalog match the snapshot.
func (s *Server) sync() {
	cfg := s.hub.Config()
	want := map[string]scope{"": {expose: cfg.ExposeFor("")}}
	for _, srv := range cfg.Servers {
		if srv.Enabled {
			want["server/"+srv.Name] = scope{servers: []string{srv.Name}, expose: cfg.ExposeFor("")}
		}
	}
	for _, g := range cfg.Groups {
		want["group/"+g.Name] = scope{servers: g.Servers, filter: g.Tools, expose: cfg.ExposeFor(g.Name)}
	}

	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	var gone []*endpoint
	for key, ep := range s.endpoints {
		if sc, ok := want[key]; !ok || sc.expose != ep.currentScope().expose {
			gone = append(gone, ep) // a changed expose mode changes the server's shape: start afresh
			delete(s.endpoints, key)
		}
	}
	for key, sc := range want {
		ep, ok := s.endpoints[key]
		if !ok {
			ep = s.newEndpoint(key, sc)
			s.endpoints[key] = ep
		}
		ep.scopeP.Store(&sc)
	}
	eps := make([]*endpoint, 0, len(s.endpoints))
	for _, ep := range s.endpoints {
		eps = append(eps, ep)
	}
	s.mu.Unlock()

	for _, ep := range eps {
		if ep.active.Load() {
			ep.refresh()
		}
	}
	for _, ep := range gone {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := ep.http.Shutdown(ctx); err != nil {
			s.log.Warn("closing an MCP endpoint", "path", ep.path(), "err", err)
		}
		cancel()
	}
}

// scope is what one endpoint serves.
type scope struct {
	servers []string // nil: every server
	filter  config.ToolFilter
	expose  config.ExposeMode
}

func (sc scope) hasServer(name string) bool {
	return sc.servers == nil || slices.Contains(sc.servers, name)
}

func (sc scope) keepsTool(t *catalog.Tool) bool {
	return sc.hasServer(t.Server) && sc.filter.AllowsQualified(t.Server, t.Name)
}

// endpoint is one MCP server and what it has registered.
type endpoint struct {
	key    string
	srv    *Server
	mcp    *server.MCPServer
	http   *server.StreamableHTTPServer
	scopeP atomic.Pointer[scope] // replaced by sync before update; read by update and handlers

	sessions sessions
	// served is the tool names the endpoint serves (as last published, which
	// is just before mcp-go's registry changes; a tool mcp-go then refuses
	// is dropped by a second publish): the fast path answers for no other.
	served atomic.Pointer[map[string]mark]
	// listing is the tools/list answer the fast path gives (nil: mcp-go's).
	listing atomic.Pointer[toolListing]

	active    atomic.Bool // it had a request: syncs keep its registrations current
	ready     atomic.Bool // its first registration is done
	mu        sync.Mutex  // serialises update
	tools     map[string]mark
	resources map[string]mark
	templates map[string]mark
	prompts   map[string]mark
}

func (ep *endpoint) path() string {
	if ep.key == "" {
		return "/mcp"
	}
	return "/mcp/" + ep.key
}

func (s *Server) newEndpoint(key string, sc scope) *endpoint {
	ep := &endpoint{
		key: key, srv: s,
		tools: map[string]mark{}, resources: map[string]mark{},
		templates: map[string]mark{}, prompts: map[string]mark{},
	}
	ep.scopeP.Store(&sc)
	name := "mcphub"
	if key != "" {
		name = "mcphub/" + key
	}
	ep.mcp = server.NewMCPServer(name, s.opts.Version,
		server.WithToolCapabilities(true),
		server.WithResourceCapabilities(false, true),
		server.WithPromptCapabilities(true),
		server.WithElicitation(),
		server.WithRecovery(),
		server.WithInstructions(instructions(sc)),
		server.WithHooks(ep.sessions.hooks()),
	)
	ep.http = server.NewStreamableHTTPServer(ep.mcp,
		server.WithEndpointPath(ep.path()),
		// Without an event store mcp-go loses progress sent right before a
		// handler returns; this one is bounded (see eventStore).
		server.WithEventStore(newEventStore(1024)),
		// Sessions are the endpoint's (sessions.go): it makes and checks
		// their ids, and ends idle ones itself (no WithSessionIdleTTL), as
		// mcp-go does not see fast-path calls.
		server.WithSessionIdManager(&ep.sessions),
		server.WithDisableLocalhostProtection(s.opts.DisableLocalhostProtection),
		server.WithStreamableHTTPLogger(s.log.With("mcp_endpoint", ep.path())),
	)
	if sc.expose == config.ExposeSearch {
		ep.mcp.AddTools(ep.metaTools()...)
	}
	return ep
}

func instructions(sc scope) string {
	if sc.expose == config.ExposeSearch {
		return "This server fronts many tools. Find the ones you need with search_tools, then run them with call_tool; get_server_detail describes one server."
	}
	return "Tools are named server__tool. Some calls wait for a person's approval; their result says how to proceed."
}

// activate registers the endpoint's catalog with mcp-go on its first
// request. Endpoints start inactive: a hub with 100 servers has 101 of
// them, most never used, and registering typed tools costs CPU at every
// start and memory for as long as the hub runs.
func (ep *endpoint) activate() {
	if ep.ready.Load() {
		return
	}
	// First: a sync from now on refreshes it too. The refresh below then
	// reads a snapshot at least as new as any sync that skipped it. Every
	// request until the first refresh is done refreshes too: they queue on
	// the endpoint's lock, so none is served from an empty registry.
	ep.active.Store(true)
	ep.refresh()
	ep.ready.Store(true)
}

// refresh updates the endpoint to the hub's current snapshot. Reading it
// under the endpoint's lock keeps updates from going back in time when a
// sync and an activation race.
func (ep *endpoint) refresh() {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.updateLocked(ep.srv.hub.Snapshot(), ep.srv.hub.NeedsApproval)
}

// updateLocked registers what changed since the last sync; ep.mu is held.
func (ep *endpoint) updateLocked(snap *catalog.Snapshot, needsApproval func(catalog.Tool) bool) {
	sc := ep.currentScope()
	if sc.expose != config.ExposeSearch {
		ep.updateTools(snap, sc, needsApproval)
	}
	ep.updateResources(snap, sc)
	ep.updatePrompts(snap, sc)
}
