package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
)

// Options configure a Hub.
type Options struct {
	Logger *slog.Logger
	// Load re-reads the configuration files. The refresh loop calls it when
	// the files changed; nil disables reloading from files.
	Load func() (*config.Config, error)
}

// Hub is the core service. Create it with New, then Start; Stop ends it.
type Hub struct {
	log  *slog.Logger
	load func() (*config.Config, error)

	ctx    context.Context // root of every connection
	cancel context.CancelFunc

	// mu serialises Start, Reload, Refresh and Stop: the writers of state.
	mu          sync.Mutex
	state       atomic.Pointer[state]
	fingerprint string
	started     bool
	stopped     bool

	// catMu guards catalogs and serialises rebuilds; supervisors write
	// catalogs from their own goroutines, so it is never held while waiting.
	catMu    sync.Mutex
	catalogs map[*downstream.Conn]catalog.ServerCatalog
	// rendered caches each server's rendered tool list between rebuilds.
	rendered map[string]renderedServer

	view atomic.Pointer[view] // what readers and callers see, swapped whole

	intervalCh chan time.Duration
	loopDone   chan struct{}
}

// New builds a hub for cfg. Nothing runs until Start.
func New(cfg *config.Config, opts Options) (*Hub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Hub{
		log:        opts.Logger,
		load:       opts.Load,
		catalogs:   map[*downstream.Conn]catalog.ServerCatalog{},
		intervalCh: make(chan time.Duration, 1),
		loopDone:   make(chan struct{}),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.fingerprint, _ = fingerprint(cfg.Files)
	h.state.Store(&state{cfg: cfg, conns: map[string]*downstream.Conn{}})
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
	cfg := h.state.Load().cfg
	conns := map[string]*downstream.Conn{}
	for _, srv := range cfg.Servers {
		if srv.Enabled {
			conns[srv.Name] = h.startConn(srv)
		}
	}
	h.state.Store(&state{cfg: cfg, conns: conns})
	h.rebuild()
	go h.refreshLoop(cfg.RefreshInterval)
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
	h.state.Store(&state{cfg: st.cfg, conns: map[string]*downstream.Conn{}})
	h.mu.Unlock()
	conns := st.conns

	err := stopAll(ctx, conns)
	if started {
		select {
		case <-h.loopDone:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("refresh loop: %w", ctx.Err()))
		}
	}
	h.rebuild()
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
		Logger:      h.log,
		OnDiscovery: func(_ string, d *downstream.Discovery) { h.onDiscovery(c, d) },
		OnStatus:    func(st downstream.Status) { h.onStatus(st) },
	})
	c.Start(h.ctx)
	return c
}

func (h *Hub) onDiscovery(c *downstream.Conn, d *downstream.Discovery) {
	sc, problems := toCatalog(c.Config().Name, d)
	for _, p := range problems {
		h.log.Warn("skipped a downstream item", "server", c.Config().Name, "err", p)
	}
	h.catMu.Lock()
	h.catalogs[c] = sc
	h.catMu.Unlock()
	h.rebuild()
}

func (h *Hub) onStatus(st downstream.Status) {
	h.log.Debug("server status", "server", st.Server, "state", st.State, "err", st.LastError)
}

// state is the configuration and the connections running it. Writers hold
// Hub.mu and swap it whole; everyone else reads it without locks.
type state struct {
	cfg   *config.Config
	conns map[string]*downstream.Conn
}

// Config returns the configuration the hub runs now.
func (h *Hub) Config() *config.Config {
	return h.state.Load().cfg
}
