// Package downstream keeps one supervised connection per MCP server: it starts
// the transport (stdio child, legacy SSE or Streamable HTTP), performs the
// handshake, discovers everything the server offers, watches the connection,
// and reconnects with backoff when it fails.
package downstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
)

// State is where a connection is in its life.
type State string

const (
	StateConnecting State = "connecting"
	StateReady      State = "ready"
	StateBackoff    State = "backoff"
	StateStopped    State = "stopped"
)

// Status is a point-in-time view of a connection, safe to share.
type Status struct {
	Server      string
	State       State
	Since       time.Time // when State was entered
	LastError   string
	LastErrorAt time.Time
	LastSeen    time.Time // last successful exchange with the server
	Failures    int       // consecutive failed connection attempts
	// Reconnects counts sessions lost since the connection started: a
	// server in a crash loop (it connects, then dies) shows here, where
	// Failures stays at 0.
	Reconnects      int
	NextRetry       time.Time // in StateBackoff
	ServerName      string    // from the server's initialize result
	ServerVersion   string
	ProtocolVersion string
}

// Healthy reports whether the server can take calls now.
func (s Status) Healthy() bool { return s.State == StateReady }

// Discovery is everything a server offered at its last discovery, each item
// exactly as the server sent it.
type Discovery = discovered

// RefreshResult is what one refresh pass found for a server.
type RefreshResult struct {
	Server  string
	Healthy bool
	Changed bool // the server's catalog differs from before
	Error   string
}

// stableUptime is how long a session must last before a failure after it
// starts the backoff from scratch.
const stableUptime = 10 * time.Second

// DefaultHeartbeat is how often a live connection is pinged.
const DefaultHeartbeat = 30 * time.Second

// Options are the hooks a Conn reports through. They are called from the
// connection's supervisor goroutine and must not block for long.
type Options struct {
	Logger *slog.Logger
	// OnDiscovery receives every new or changed discovery result.
	OnDiscovery func(server string, d *Discovery)
	// OnStatus receives every state change.
	OnStatus func(Status)
	// Heartbeat is how often a live connection is pinged (default
	// DefaultHeartbeat).
	Heartbeat time.Duration
	// MaxMessageBytes bounds one message from the server (default
	// DefaultMaxMessageBytes): see ErrMessageTooLarge.
	MaxMessageBytes int
	// StartGate, when set, is a semaphore shared by the connections of one
	// hub: a stdio server holds a slot from spawning its process until it
	// is initialized and discovered, so that many servers (or a flapping
	// one) do not fork all at once. Its capacity is the limit.
	StartGate chan struct{}
	// ClientVersion is the hub's version, sent in initialize's clientInfo
	// (default "dev").
	ClientVersion string
	// ListenRetry is how long a Streamable HTTP session's GET stream waits
	// before it opens again after it ended, and the first wait after it
	// failed (default DefaultListenRetry; see listen.go).
	ListenRetry time.Duration
}

// Conn supervises the connection to one server. Its supervisor goroutine is
// the only code that changes its state; calls read the current session
// without locks.
type Conn struct {
	cfg    config.Server
	opts   Options
	log    *slog.Logger
	client *httpClient

	sess   atomic.Pointer[session]
	status atomic.Pointer[Status]
	disc   *Discovery // supervisor-owned

	listChanged    chan struct{} // coalesced: capacity 1
	lastStaleCheck atomic.Int64  // unix nanos of the last call-triggered re-discovery
	probe          chan struct{} // a call saw a transport failure
	refresh        chan chan RefreshResult

	firstAttempt     chan struct{}
	firstAttemptOnce sync.Once

	startOnce sync.Once
	stopOnce  sync.Once
	cancel    context.CancelFunc
	done      chan struct{}
}

// New prepares a connection; Start runs it.
func New(srv config.Server, opts Options) *Conn {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if srv.Timeout <= 0 {
		srv.Timeout = config.DefaultServerTimeout
	}
	if srv.ProtocolVersion == "" {
		srv.ProtocolVersion = config.DefaultProtocolVersion
	}
	c := &Conn{
		cfg:          srv,
		opts:         opts,
		log:          opts.Logger.With("server", srv.Name),
		listChanged:  make(chan struct{}, 1),
		probe:        make(chan struct{}, 1),
		refresh:      make(chan chan RefreshResult),
		firstAttempt: make(chan struct{}),
		done:         make(chan struct{}),
	}
	if c.opts.ClientVersion == "" {
		c.opts.ClientVersion = "dev"
	}
	if c.opts.ListenRetry <= 0 {
		c.opts.ListenRetry = DefaultListenRetry
	}
	if c.opts.MaxMessageBytes <= 0 {
		c.opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if srv.Transport != config.TransportStdio {
		c.client = newHTTPClient(srv.Endpoint, srv.Headers, c.opts.MaxMessageBytes)
	}
	c.status.Store(&Status{Server: srv.Name, State: StateConnecting, Since: time.Now()})
	return c
}

// Config is the server configuration this connection runs.
func (c *Conn) Config() config.Server { return c.cfg }

// Start launches the supervisor. ctx is the connection's lifetime (the hub's
// root context), never a request's.
func (c *Conn) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		ctx, c.cancel = context.WithCancel(ctx)
		go c.run(ctx)
	})
}

// Stop ends the connection and waits for it to close, or for ctx to end.
// It is idempotent.
func (c *Conn) Stop(ctx context.Context) error {
	c.startOnce.Do(func() { close(c.done) }) // never started: nothing to wait for
	c.stopOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
	})
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", c.cfg.Name, ctx.Err())
	}
}

// Attempted reports whether the first connection attempt has ended,
// successfully or not; see WaitFirstAttempt.
func (c *Conn) Attempted() bool {
	select {
	case <-c.firstAttempt:
		return true
	default:
		return false
	}
}

// WaitFirstAttempt returns once the first connection attempt has succeeded
// or failed, or ctx ends.
func (c *Conn) WaitFirstAttempt(ctx context.Context) error {
	select {
	case <-c.firstAttempt:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Status returns the connection's current status.
func (c *Conn) Status() Status {
	st := *c.status.Load()
	if s := c.sess.Load(); s != nil {
		if ns := s.lastSeen.Load(); ns > 0 {
			st.LastSeen = time.Unix(0, ns)
		}
	}
	return st
}

// Refresh pings the server and re-discovers its catalog, or, when it is
// down, tries to connect now. It answers when that is done or ctx ends.
func (c *Conn) Refresh(ctx context.Context) RefreshResult {
	reply := make(chan RefreshResult, 1)
	select {
	case c.refresh <- reply:
	case <-c.done:
		return RefreshResult{Server: c.cfg.Name, Error: ErrStopped.Error()}
	case <-ctx.Done():
		return RefreshResult{Server: c.cfg.Name, Healthy: c.Status().Healthy(), Error: ctx.Err().Error()}
	}
	select {
	case r := <-reply:
		return r
	case <-ctx.Done():
		return RefreshResult{Server: c.cfg.Name, Healthy: c.Status().Healthy(), Error: ctx.Err().Error()}
	}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// run is the supervisor: connect, serve until the session fails, back off,
// again, until ctx ends.
func (c *Conn) run(ctx context.Context) {
	defer close(c.done)
	if c.client != nil {
		defer c.client.CloseIdleConnections()
	}
	bo := backoff{cfg: c.cfg.Backoff}
	var waiting []chan RefreshResult // refresh callers waiting for the next attempt
	answer := func(changed bool, err error) {
		r := RefreshResult{Server: c.cfg.Name, Healthy: err == nil, Changed: changed}
		if err != nil {
			r.Error = err.Error()
		}
		for _, w := range waiting {
			w <- r
		}
		waiting = nil
	}
	for {
		c.setStatus(func(s *Status) { s.State = StateConnecting })
		sess, disc, err := c.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				answer(false, ErrStopped)
				c.setStatus(func(s *Status) { s.State = StateStopped })
				c.attempted()
				return
			}
			delay := bo.next()
			c.log.Warn("connect failed", "err", err, "retry_in", delay.Round(time.Millisecond))
			c.setStatus(func(s *Status) {
				s.State = StateBackoff
				s.Failures++
				s.NextRetry = time.Now().Add(delay)
				s.LastError, s.LastErrorAt = err.Error(), time.Now()
			})
			answer(false, err)
			c.attempted()
			if !c.sleep(ctx, delay, &waiting) {
				answer(false, ErrStopped)
				c.setStatus(func(s *Status) { s.State = StateStopped })
				return
			}
			continue
		}
		connectedAt := time.Now()
		c.sess.Store(sess) // before publishing, so listed tools are callable
		changed := c.publish(disc)
		c.setStatus(func(s *Status) {
			s.State = StateReady
			s.Failures = 0
			s.NextRetry = time.Time{}
			init := sess.init.Load()
			s.ServerName = init.ServerInfo.Name
			s.ServerVersion = init.ServerInfo.Version
			s.ProtocolVersion = init.ProtocolVersion
		})
		c.log.Info("connected", "protocol", sess.init.Load().ProtocolVersion,
			"tools", len(disc.Tools), "resources", len(disc.Resources), "prompts", len(disc.Prompts))
		answer(changed, nil)
		c.attempted()

		reason := c.serve(ctx, sess, &waiting)
		c.sess.Store(nil)
		if ctx.Err() != nil {
			sess.close()
			answer(false, ErrStopped)
			c.setStatus(func(s *Status) { s.State = StateStopped })
			return
		}
		// Say why before closing: closing an HTTP session to a dead server
		// can take seconds, and callers meanwhile must see the reason.
		c.log.Warn("connection lost", "err", reason)
		lastSeen := time.Unix(0, sess.lastSeen.Load())
		c.setStatus(func(s *Status) {
			s.State = StateConnecting
			s.LastError, s.LastErrorAt = reason.Error(), time.Now()
			s.LastSeen = lastSeen
			s.Reconnects++
		})
		sess.close()
		// A session that stayed up earns an immediate reconnect and a fresh
		// backoff. One that died right after connecting waits out the next
		// backoff step, so a crash-looping server is not respawned in a
		// tight loop.
		if time.Since(connectedAt) >= stableUptime {
			bo.reset()
			continue
		}
		delay := bo.next()
		c.setStatus(func(s *Status) {
			s.State = StateBackoff
			s.NextRetry = time.Now().Add(delay)
		})
		if !c.sleep(ctx, delay, &waiting) {
			answer(false, ErrStopped)
			c.setStatus(func(s *Status) { s.State = StateStopped })
			return
		}
	}
}

// attempted marks the first connection attempt done, after its status and
// catalog are published, so waiters see its outcome.
func (c *Conn) attempted() {
	c.firstAttemptOnce.Do(func() { close(c.firstAttempt) })
}

// sleep waits out a backoff delay. A refresh request cuts it short: the
// caller is answered after the next attempt.
func (c *Conn) sleep(ctx context.Context, d time.Duration, waiting *[]chan RefreshResult) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case reply := <-c.refresh:
		*waiting = append(*waiting, reply)
		return true
	}
}

func (c *Conn) connect(ctx context.Context) (*session, *Discovery, error) {
	if c.opts.StartGate != nil && c.cfg.Transport == config.TransportStdio {
		select {
		case c.opts.StartGate <- struct{}{}:
			defer func() { <-c.opts.StartGate }()
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
	// The timeout starts once the slot is ours: waiting for it is not the
	// server's slowness.
	hctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	sess, err := openSession(hctx, ctx, c.cfg, c.client, c.opts, c.log, c.onListChanged)
	if err != nil {
		return nil, nil, timeoutErr(hctx, err, c.cfg.Timeout, "connect")
	}
	disc, err := sess.discover(hctx)
	if err != nil {
		sess.close()
		return nil, nil, timeoutErr(hctx, fmt.Errorf("discover: %w", err), c.cfg.Timeout, "discovery")
	}
	return sess, disc, nil
}

func timeoutErr(ctx context.Context, err error, d time.Duration, what string) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s timed out after %s: %w", what, d, err)
	}
	return err
}

func (c *Conn) onListChanged(kind string) {
	c.log.Debug("list changed", "kind", kind)
	signal(c.listChanged)
}

// serve watches a live session until it fails or ctx ends, re-discovering
// on list_changed and answering refresh requests.
func (c *Conn) serve(ctx context.Context, sess *session, waiting *[]chan RefreshResult) error {
	heartbeat := time.NewTicker(c.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sess.dead:
			return sess.deadErr
		case <-heartbeat.C:
			// Streamable HTTP has no connection to lose: without traffic, a
			// dead server would look healthy until the next refresh pass.
			if err := c.ping(ctx, sess); err != nil && isSessionFailure(err) {
				return fmt.Errorf("heartbeat: %w", err)
			}
		case <-c.listChanged:
			if _, err := c.rediscover(ctx, sess); err != nil {
				if isSessionFailure(err) {
					return err
				}
				c.log.Warn("re-discovery failed", "err", err)
			}
		case <-c.probe:
			if err := c.ping(ctx, sess); err != nil && isSessionFailure(err) {
				return fmt.Errorf("health probe: %w", err)
			}
		case reply := <-c.refresh:
			changed, err := c.rediscover(ctx, sess)
			if err != nil && isSessionFailure(err) {
				*waiting = append(*waiting, reply) // answered after reconnecting
				return err
			}
			r := RefreshResult{Server: c.cfg.Name, Healthy: err == nil, Changed: changed}
			if err != nil {
				r.Error = err.Error()
			}
			reply <- r
		}
	}
}

func (c *Conn) ping(ctx context.Context, sess *session) error {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	_, err := sess.request(pctx, "ping", map[string]any{})
	var rpcErr *RPCError
	if errors.As(err, &rpcErr) {
		return nil // it answered: alive, even if it does not implement ping
	}
	return timeoutErr(pctx, err, c.cfg.Timeout, "ping")
}

func (c *Conn) rediscover(ctx context.Context, sess *session) (bool, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	if err := c.ping(ctx, sess); err != nil {
		return false, err
	}
	disc, err := sess.discover(dctx)
	if err != nil {
		return false, timeoutErr(dctx, err, c.cfg.Timeout, "discovery")
	}
	return c.publish(disc), nil
}

// publish hands a discovery to the hub if it differs from the last one.
func (c *Conn) publish(d *Discovery) bool {
	if c.disc != nil && sameDiscovery(c.disc, d) {
		return false
	}
	c.disc = d
	if c.opts.OnDiscovery != nil {
		c.opts.OnDiscovery(c.cfg.Name, d)
	}
	return true
}

func sameDiscovery(a, b *Discovery) bool {
	return sameItems(a.Tools, b.Tools) && sameItems(a.Resources, b.Resources) &&
		sameItems(a.ResourceTemplates, b.ResourceTemplates) && sameItems(a.Prompts, b.Prompts)
}

func sameItems(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (c *Conn) setStatus(change func(*Status)) {
	next := *c.status.Load()
	prev := next.State
	change(&next)
	if next.State != prev {
		next.Since = time.Now()
	}
	c.status.Store(&next)
	if c.opts.OnStatus != nil {
		c.opts.OnStatus(next)
	}
}

// isSessionFailure reports whether err means the session itself is broken
// (as opposed to one request failing or timing out).
func isSessionFailure(err error) bool {
	var rpcErr *RPCError
	if err == nil || errors.As(err, &rpcErr) || errors.Is(err, ErrProtocol) {
		return false
	}
	return !errors.Is(err, context.Canceled)
}
