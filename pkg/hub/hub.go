package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/events"
)

// Options configure a Hub.
type Options struct {
	Logger *slog.Logger
	// Load re-reads the configuration files. The refresh loop calls it when
	// the files changed; nil disables reloading from files. ctx bounds it
	// (a ${cmd: …} placeholder runs a command) and ends when the hub stops.
	Load func(ctx context.Context) (*config.Config, error)
	// Approvals stores calls waiting for approval; nil means in memory,
	// bounded by the config's approval.max_pending.
	Approvals approval.Store
	// Version is the hub's version, reported to downstream servers.
	Version string
	// Audit, when set, receives one record per call and per approval
	// decision (see auditor); nil turns auditing off.
	Audit *slog.Logger
	// Observer, when set, is told of every call, approval decision and
	// refresh pass (metrics); nil means nobody is.
	Observer Observer
}

// Hub is the core service. Create it with New, then Start; Stop ends it.
type Hub struct {
	log  *slog.Logger
	load func(context.Context) (*config.Config, error)

	ctx    context.Context // root of every connection
	cancel context.CancelFunc
	// waitCtx ends every wait for an approval decision: at Drain or Stop.
	waitCtx   context.Context
	stopWaits context.CancelFunc

	// mu serialises Start, Reload, Refresh and Stop: the writers of state.
	mu          sync.Mutex
	state       atomic.Pointer[state]
	fingerprint string
	started     bool
	stopped     bool

	// catMu guards catalogs; supervisors write them from their own
	// goroutines, so it is never held while waiting, nor while rebuilding.
	catMu    sync.Mutex
	catalogs map[*downstream.Conn]catalog.ServerCatalog
	// builds runs and coalesces rebuilds of the view (view.go).
	builds rebuilds
	// rendered caches each server's rendered tool list between rebuilds;
	// only the running rebuild touches it.
	rendered map[string]renderedServer

	// announced is what the event stream last said of each server's
	// catalog, by server name; guarded by catMu.
	announced map[string]fingerprints

	view atomic.Pointer[view] // what readers and callers see, swapped whole

	approvals approval.Store
	waiters   waiters
	claims    *claims
	version   string
	audit     auditor
	observer  Observer
	ready     atomic.Bool // latched by NotReady once the first discovery pass ended
	events    *events.Bus

	// startGate bounds concurrent stdio starts (max_concurrent_starts at
	// New; later reloads do not resize it).
	startGate chan struct{}

	intervalCh chan time.Duration
	loopDone   chan struct{}
	sweepDone  chan struct{}
}

// New builds a hub for cfg. Nothing runs until Start.
func New(cfg *config.Config, opts Options) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	st, err := newState(cfg, map[string]*downstream.Conn{})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if opts.Approvals == nil {
		opts.Approvals = newApprovalStore(cfg)
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	h := &Hub{
		log:        opts.Logger,
		load:       opts.Load,
		catalogs:   map[*downstream.Conn]catalog.ServerCatalog{},
		announced:  map[string]fingerprints{},
		approvals:  opts.Approvals,
		waiters:    waiters{m: map[string]*waiter{}},
		claims:     newClaims(),
		version:    opts.Version,
		audit:      auditor{log: opts.Audit},
		observer:   opts.Observer,
		events:     events.NewBus(events.Options{Logger: opts.Logger}),
		startGate:  make(chan struct{}, max(cfg.MaxConcurrentStarts, 1)),
		intervalCh: make(chan time.Duration, 1),
		loopDone:   make(chan struct{}),
		sweepDone:  make(chan struct{}),
	}
	h.builds.cond.L = &h.builds.mu
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.waitCtx, h.stopWaits = context.WithCancel(h.ctx)
	// Every log line of the hub and its connections is scrubbed of the
	// servers' secrets (see config.Config.Scrub).
	h.log = slog.New(scrubHandler{next: opts.Logger.Handler(), scrub: func(s string) string { return h.Config().Scrub(s) }})
	h.fingerprint, _ = fingerprint(cfg.Files)
	h.state.Store(st)
	h.rebuild()
	return h, nil
}

// Start connects to every enabled server and starts the refresh loop. It
// does not wait for servers: each one reports its own progress.
func (h *Hub) Start() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.stopped {
		return
	}
	h.started = true
	st := h.state.Load()
	conns := map[string]*downstream.Conn{}
	for _, srv := range st.cfg.Servers {
		if srv.Enabled {
			conns[srv.Name] = h.startConn(srv)
		}
	}
	h.state.Store(&state{cfg: st.cfg, conns: conns, policy: st.policy})
	h.rebuild()
	go h.refreshLoop(st.cfg.RefreshInterval)
	go h.sweepLoop()
}

// WaitFirstAttempt returns once every server has tried to connect once
// (successfully or not) and the outcome is visible: a server that connected
// has its tools in the catalog and is ready; one that failed is in backoff
// with its error. It returns early when ctx ends.
func (h *Hub) WaitFirstAttempt(ctx context.Context) error {
	for _, c := range h.state.Load().conns {
		if err := c.WaitFirstAttempt(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Drain ends every wait for an approval decision (with ErrStopped) and
// every event stream, so that an HTTP server shutting down is not held up
// by requests that would stay open for minutes. Running calls go on, and
// the hub keeps serving until Stop.
func (h *Hub) Drain() {
	h.stopWaits()
	h.events.Close()
}

// Stop closes every connection (reaping stdio children) and ends the refresh
// loop. It waits until that is done or ctx ends, and is idempotent.
func (h *Hub) Stop(ctx context.Context) error {
	// Cancel before taking the lock: a Reload holding it may be waiting for
	// a restarted server to connect, and that wait ends with the root
	// context. Taking the lock first would make Stop wait out the server's
	// whole connect timeout, whatever ctx says.
	h.cancel()
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return nil
	}
	h.stopped = true
	started := h.started
	st := h.state.Load()
	h.state.Store(&state{cfg: st.cfg, conns: map[string]*downstream.Conn{}, policy: st.policy})
	h.mu.Unlock()
	conns := st.conns

	err := stopAll(ctx, conns)
	if started {
		for name, done := range map[string]chan struct{}{"refresh loop": h.loopDone, "approval sweeper": h.sweepDone} {
			select {
			case <-done:
			case <-ctx.Done():
				err = errors.Join(err, fmt.Errorf("%s: %w", name, ctx.Err()))
			}
		}
	}
	h.rebuild()
	h.events.Close() // ends every event stream
	return err
}

func stopAll(ctx context.Context, conns map[string]*downstream.Conn) error {
	errs := make(chan error, len(conns))
	for _, c := range conns {
		go func() { errs <- c.Stop(ctx) }()
	}
	var all []error
	for range conns {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

func (h *Hub) startConn(srv config.Server) *downstream.Conn {
	var c *downstream.Conn
	c = downstream.New(srv, downstream.Options{
		Logger:        h.log,
		OnDiscovery:   func(_ string, d *downstream.Discovery) { h.onDiscovery(c, d) },
		OnStatus:      h.onStatus,
		StartGate:     h.startGate,
		ClientVersion: h.version,
	})
	c.Start(h.ctx)
	return c
}

func (h *Hub) onDiscovery(c *downstream.Conn, d *downstream.Discovery) {
	sc, problems := toCatalog(c.Config().Name, d)
	for _, p := range problems {
		h.log.Warn("skipped a downstream item", "server", c.Config().Name, "err", p)
	}
	name := c.Config().Name
	after := fingerprintCatalog(sc)
	h.catMu.Lock()
	h.catalogs[c] = sc
	before := h.announced[name]
	h.announced[name] = after
	h.catMu.Unlock()
	h.rebuild()
	h.announceCatalog(name, before, after)
}

func (h *Hub) onStatus(st downstream.Status) {
	h.log.Debug("server status", "server", st.Server, "state", st.State, "err", st.LastError)
	h.publishStatus(st)
}

// state is the configuration and the connections running it. Writers hold
// Hub.mu and swap it whole; everyone else reads it without locks.
type state struct {
	cfg    *config.Config
	conns  map[string]*downstream.Conn
	policy *approval.Policy // cfg's approval rules
}

// newState pairs a validated configuration with its connections.
func newState(cfg *config.Config, conns map[string]*downstream.Conn) (*state, error) {
	p, err := policyOf(cfg)
	if err != nil {
		return nil, err
	}
	return &state{cfg: cfg, conns: conns, policy: p}, nil
}

// Config returns the configuration the hub runs now.
func (h *Hub) Config() *config.Config {
	return h.state.Load().cfg
}
