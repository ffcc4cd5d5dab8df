// Package app wires the hub and its HTTP server together and runs their
// lifecycle: start in order, stop in reverse, reload in place.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/mcpserver"
	"github.com/mcphub/mcphub/pkg/metrics"
	"github.com/mcphub/mcphub/pkg/reqid"
)

// Options configure an App.
type Options struct {
	Logger *slog.Logger
	// Load re-reads the configuration (SIGHUP, refresh); nil disables it.
	Load func(ctx context.Context) (*config.Config, error)
	// Listen overrides the config's listen address.
	Listen string
	// OpenAPI is served at /openapi.yaml.
	OpenAPI []byte
	// Version is reported to MCP clients.
	Version string
	// InsecureNoAuth allows listening on a non-loopback address without
	// auth tokens (a warning is logged). Without it New refuses.
	InsecureNoAuth bool
	// Pprof, when set, is a loopback address ("127.0.0.1:6060") on which
	// Go's runtime profiles are served (net/http/pprof), apart from the
	// API. New refuses any other address.
	Pprof string
}

// openAudit opens the audit log's sink: JSON lines to a file (appended,
// created 0600), stderr or stdout; nil when auditing is off.
func openAudit(cfg config.Audit) (*slog.Logger, func(), error) {
	switch cfg.File {
	case "":
		return nil, func() {}, nil
	case "stderr":
		return slog.New(slog.NewJSONHandler(os.Stderr, nil)), func() {}, nil
	case "stdout":
		return slog.New(slog.NewJSONHandler(os.Stdout, nil)), func() {}, nil
	}
	f, err := os.OpenFile(cfg.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("opening the audit log: %w", err)
	}
	return slog.New(slog.NewJSONHandler(f, nil)), func() { _ = f.Close() }, nil
}

// ErrInsecure is New's answer to a non-loopback listen address without
// authentication.
var ErrInsecure = errors.New("insecure configuration")

// App is one running hub with its HTTP server.
type App struct {
	log *slog.Logger
	hub *hub.Hub
	mcp *mcpserver.Server
	// closeAudit closes the audit log's file, if it has one.
	closeAudit func()
	srv        *http.Server
	ln         net.Listener
	addr       string
	pprofAddr  string
	pprof      *pprofServer // while started, with Options.Pprof
	// pprofDone is closed when the pprof server's goroutine returned.
	pprofDone chan struct{}

	mu       sync.Mutex
	started  bool
	stopped  bool
	serveErr chan error
	// stopSettle ends the wait for the first discovery; settled is closed
	// when that goroutine returned.
	stopSettle context.CancelFunc
	settled    chan struct{}
}

// New validates cfg and builds the app; nothing runs until Start.
func New(cfg *config.Config, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// Every line logged with a request's context names the request, for
	// every user of the app, not only the command (wrapping twice is a
	// no-op).
	opts.Logger = slog.New(reqid.NewHandler(opts.Logger.Handler()))
	addr := cfg.Listen
	if opts.Listen != "" {
		addr = opts.Listen
	}
	if addr == "" {
		addr = config.DefaultListen
	}
	if err := needsAuth(addr, cfg); err != nil {
		if !opts.InsecureNoAuth {
			return nil, err
		}
		opts.Logger.Warn("listening on a non-loopback address without authentication: anyone who can reach it can call every tool",
			"addr", addr)
	}
	if opts.Pprof != "" {
		if err := checkPprofAddr(opts.Pprof); err != nil {
			return nil, err
		}
	}
	if load := opts.Load; load != nil && !opts.InsecureNoAuth {
		// A reload is held to the same rule as the start: a config without
		// tokens must not open a public hub to anyone.
		opts.Load = func(ctx context.Context) (*config.Config, error) {
			c, err := load(ctx)
			if err == nil {
				err = needsAuth(addr, c)
			}
			if err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	audit, closeAudit, err := openAudit(cfg.Audit)
	if err != nil {
		return nil, err
	}
	// Metrics observe the hub's calls as they happen and read its state
	// at each scrape: built before the hub, watching it once it exists.
	m := metrics.New(metrics.Options{Logger: opts.Logger})
	h, err := hub.New(cfg, hub.Options{Logger: opts.Logger, Load: opts.Load, Audit: audit, Version: opts.Version, Observer: m})
	if err != nil {
		closeAudit()
		return nil, err
	}
	if err := m.Watch(h); err != nil {
		closeAudit()
		return nil, err
	}
	mcp := mcpserver.New(h, mcpserver.Options{Logger: opts.Logger, Version: opts.Version})
	router := api.NewRouter(h, api.Options{Logger: opts.Logger, OpenAPI: opts.OpenAPI, MCP: mcp, Metrics: m})
	srv := &http.Server{
		Handler: router,
		// No ReadTimeout or WriteTimeout: they would cut SSE streams, MCP GET
		// streams and calls waiting for approval; bodies are size-limited
		// and slow writers are cut by the event stream's write deadlines.
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	// Event streams and calls waiting for approval stay open for minutes;
	// Shutdown waits for every request, so end those when it begins.
	srv.RegisterOnShutdown(h.Drain)
	srv.RegisterOnShutdown(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := mcp.Stop(ctx); err != nil {
			opts.Logger.Warn("stopping the MCP endpoints", "err", err)
		}
	})
	return &App{
		log:        opts.Logger,
		hub:        h,
		mcp:        mcp,
		closeAudit: closeAudit,
		addr:       addr,
		pprofAddr:  opts.Pprof,
		pprofDone:  make(chan struct{}),
		srv:        srv,
		serveErr:   make(chan error, 1),
		stopSettle: func() {},
		settled:    make(chan struct{}),
	}, nil
}

// Start listens, starts the hub, and serves. It returns once the listener is
// bound; serving errors come from Wait.
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("app already started")
	}
	ln, err := net.Listen("tcp", a.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", a.addr, err)
	}
	if a.pprofAddr != "" {
		if a.pprof, err = listenPprof(a.pprofAddr); err != nil {
			_ = ln.Close()
			return err
		}
		go func() {
			defer close(a.pprofDone)
			if err := a.pprof.serve(); err != nil {
				a.log.Error("pprof server failed", "err", err)
			}
		}()
		a.log.Info("pprof listening", "addr", a.pprof.ln.Addr().String())
	}
	a.ln = ln
	a.started = true
	a.hub.Start()
	a.mcp.Start()
	settleCtx, cancel := context.WithCancel(context.Background())
	a.stopSettle = cancel
	go func() {
		defer close(a.settled)
		// Discovery leaves garbage (parsed lists, rendered schemas) the
		// runtime would hand back to the OS only over minutes: an idle hub
		// holds MBs it does not use (4 MB with 50 servers). Once, here.
		if a.hub.WaitFirstAttempt(settleCtx) == nil {
			debug.FreeOSMemory()
		}
	}()
	go func() {
		if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.serveErr <- err
		}
		close(a.serveErr)
	}()
	a.log.Info("mcphub listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the app listens on (the real port when ":0" was asked).
func (a *App) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln != nil {
		return a.ln.Addr().String()
	}
	return a.addr
}

// PprofAddr is the address Go's profiles are served on ("" without
// Options.Pprof or before Start).
func (a *App) PprofAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pprof != nil {
		return a.pprof.ln.Addr().String()
	}
	return ""
}

// Hub is the app's hub.
func (a *App) Hub() *hub.Hub { return a.hub }

// Wait returns when the HTTP server fails (with its error) or stops (nil).
func (a *App) Wait() <-chan error { return a.serveErr }

// Reload re-reads the configuration files and applies them.
func (a *App) Reload(ctx context.Context) hub.ReloadReport {
	return a.hub.ReloadFromFiles(ctx)
}

// Stop stops accepting requests, lets in-flight ones finish until ctx ends,
// then stops the hub and its children. It is idempotent.
func (a *App) Stop(ctx context.Context) error {
	a.mu.Lock()
	if a.stopped {
		a.mu.Unlock()
		return nil
	}
	a.stopped = true
	started, stopSettle, pp := a.started, a.stopSettle, a.pprof
	a.mu.Unlock()
	stopSettle()
	if started {
		<-a.settled // returns at once: its context just ended
	}
	if pp != nil {
		_ = pp.close() // a profile being taken is cut: nothing waits for one
		<-a.pprofDone
	}

	var errs []error
	if started {
		if err := a.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http shutdown: %w", err))
			_ = a.srv.Close()
		}
	}
	// The hub gets a budget of its own: requests that used up ctx must not
	// leave stdio children unreaped (reaping is bounded at about 3 s).
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := a.mcp.Stop(hctx); err != nil { // already done if Shutdown ran
		errs = append(errs, fmt.Errorf("mcp endpoints: %w", err))
	}
	if err := a.hub.Stop(hctx); err != nil {
		errs = append(errs, fmt.Errorf("hub stop: %w", err))
	}
	a.closeAudit()
	return errors.Join(errs...)
}

// needsAuth refuses a config without auth tokens on a non-loopback address.
func needsAuth(addr string, cfg *config.Config) error {
	if loopback.Host(addr) || cfg.Auth.Enabled() {
		return nil
	}
	return fmt.Errorf("%w: refusing to listen on %s without authentication: configure auth.tokens "+
		"(or set %s), listen on 127.0.0.1, or pass --insecure-no-auth", ErrInsecure, addr, config.EnvAPIToken)
}
