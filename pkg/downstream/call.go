package downstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/mcphub/mcphub/pkg/reqid"
)

// ErrTimeout is returned when a request outlives the server's timeout.
var ErrTimeout = errors.New("downstream timed out")

type callParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	Meta      requestMeta     `json:"_meta,omitzero"` // a value: no allocation of its own
}

// readParams are resources/read's params.
type readParams struct {
	URI  string      `json:"uri"`
	Meta requestMeta `json:"_meta,omitzero"`
}

// promptParams are prompts/get's params.
type promptParams struct {
	Name      string            `json:"name"`
	Arguments map[string]string `json:"arguments"`
	Meta      requestMeta       `json:"_meta,omitzero"`
}

// requestMeta is a request's _meta: the progress token of a call that
// wants progress, and, for a server configured with request_id_meta, the
// id of the hub request it serves (see reqid), so that the server's logs
// can be matched with the hub's. The id is one the hub made or checked
// (printable ASCII, bounded), never a caller's credential.
type requestMeta struct {
	ProgressToken string `json:"progressToken,omitempty"`
	RequestID     string `json:"io.mcphub/request-id,omitempty"`
}

// metaID is the request id a request made for ctx's hub request carries
// in its _meta: "" outside one, or when the server is not configured to
// get it (config.Server.RequestIDMeta).
func (c *Conn) metaID(ctx context.Context) string {
	if !c.cfg.RequestIDMeta {
		return ""
	}
	return reqid.From(ctx)
}

// CallTool calls a tool and returns its CallToolResult exactly as the server
// sent it. args must be a JSON object; nil is sent as {} because real servers
// reject a missing or null arguments field. onProgress, when set, receives the
// server's progress notifications for this call, in order, on the
// transport's reader goroutine: it must not block.
func (c *Conn) CallTool(ctx context.Context, name string, args json.RawMessage, onProgress func(Progress)) (json.RawMessage, error) {
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	params := callParams{Name: name, Arguments: args, Meta: requestMeta{RequestID: c.metaID(ctx)}}
	return c.do(ctx, "tools/call", func(s *session) (any, func()) {
		if onProgress == nil {
			return params, func() {}
		}
		tok := "mcphub-" + strconv.FormatInt(s.nextID.Add(1), 10)
		tr := newProgressTracker(onProgress)
		s.progress.Store(tok, tr.deliver)
		p := params
		p.Meta.ProgressToken = tok
		return p, func() {
			tr.linger(progressLinger)
			s.progress.Delete(tok)
			tr.finish()
		}
	})
}

// staleCheckInterval bounds re-discoveries triggered by call errors.
const staleCheckInterval = 10 * time.Second

// progressLinger bounds how long a finished call waits for progress that
// has not reached its announced total yet.
const progressLinger = 100 * time.Millisecond

// progressTracker forwards one call's progress notifications.
//
// It forwards only progress that increases, as the spec requires of servers:
// mcp-go servers split one call's notifications between the POST and GET
// streams, which reorders them and can deliver the last ones after the
// result. Two reader goroutines may deliver for one token, hence the lock.
type progressTracker struct {
	fn       func(Progress)
	mu       sync.Mutex
	last     float64
	seen     bool
	complete chan struct{} // closed when progress reached its total
	closed   bool
	finished bool // the call returned: the caller must hear nothing more
}

// finish stops delivery; a notification already looked up by the reader
// goroutine is dropped instead of reaching a caller that has moved on.
func (t *progressTracker) finish() {
	t.mu.Lock()
	t.finished = true
	t.mu.Unlock()
}

func newProgressTracker(fn func(Progress)) *progressTracker {
	return &progressTracker{fn: fn, complete: make(chan struct{})}
}

func (t *progressTracker) deliver(p Progress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.finished || t.seen && p.Progress <= t.last {
		return
	}
	t.last, t.seen = p.Progress, true
	t.fn(p)
	if p.Total != nil && p.Progress >= *p.Total && !t.closed {
		t.closed = true
		close(t.complete)
	}
}

// linger waits up to d for progress still owed: some progress arrived, it
// announced a total, and has not reached it.
func (t *progressTracker) linger(d time.Duration) {
	t.mu.Lock()
	owed := t.seen && !t.closed
	t.mu.Unlock()
	if !owed {
		return
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-t.complete:
	case <-timer.C:
	}
}

// ReadResource reads one resource; the ReadResourceResult is returned raw.
func (c *Conn) ReadResource(ctx context.Context, uri string) (json.RawMessage, error) {
	params := readParams{URI: uri, Meta: requestMeta{RequestID: c.metaID(ctx)}}
	return c.do(ctx, "resources/read", func(*session) (any, func()) { return params, func() {} })
}

// GetPrompt renders one prompt; the GetPromptResult is returned raw.
func (c *Conn) GetPrompt(ctx context.Context, name string, args map[string]string) (json.RawMessage, error) {
	if args == nil {
		args = map[string]string{}
	}
	params := promptParams{Name: name, Arguments: args, Meta: requestMeta{RequestID: c.metaID(ctx)}}
	return c.do(ctx, "prompts/get", func(*session) (any, func()) { return params, func() {} })
}

// do sends one request with the server's timeout (a session the server
// forgot is re-initialised by session.request). Each request is logged at
// debug level with ctx, so the line names the hub request it serves.
func (c *Conn) do(ctx context.Context, method string, prepare func(*session) (any, func())) (json.RawMessage, error) {
	start := time.Now()
	sess := c.sess.Load()
	if sess == nil {
		err := c.notConnected()
		c.logRequest(ctx, method, start, err)
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	params, done := prepare(sess)
	defer done()

	res, err := sess.request(rctx, method, params)
	if err != nil {
		err = c.classify(rctx, err)
		res = nil
	}
	c.logRequest(ctx, method, start, err)
	return res, err
}

// logRequest writes a request's debug line. The error is the classified
// one, which says the kind (not connected, timed out, protocol) first.
func (c *Conn) logRequest(ctx context.Context, method string, start time.Time, err error) {
	if !c.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := []slog.Attr{slog.String("method", method), slog.Duration("took", time.Since(start))}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "downstream request", attrs...)
}

func (c *Conn) notConnected() error {
	st := c.status.Load()
	if st.State == StateStopped {
		return ErrStopped
	}
	if st.LastError != "" {
		return fmt.Errorf("%w (%s): %s%w", ErrNotConnected, st.State, st.LastError, silent{errNoSession})
	}
	return fmt.Errorf("%w (%s)%w", ErrNotConnected, st.State, silent{errNoSession})
}

// silent wraps an error that marks a kind without adding to the message.
type silent struct{ err error }

func (silent) Error() string   { return "" }
func (s silent) Unwrap() error { return s.err }

// classify turns a request error into one of the package's kinds and asks
// the supervisor to check a session that may be broken.
func (c *Conn) classify(ctx context.Context, err error) error {
	var rpcErr *RPCError
	switch {
	case errors.As(err, &rpcErr):
		if rpcErr.Code == CodeInvalidParams || rpcErr.Code == CodeMethodNotFound {
			// Servers (mcp-go among them) answer an unknown tool this way:
			// the catalog may be stale, so look again — at most once per
			// interval, since bad arguments from a model share the code.
			now := time.Now().UnixNano()
			if last := c.lastStaleCheck.Load(); now-last >= int64(staleCheckInterval) && c.lastStaleCheck.CompareAndSwap(last, now) {
				signal(c.listChanged)
			}
		}
		return err
	case errors.Is(err, ErrProtocol):
		return err
	case errors.Is(err, ErrNotConnected):
		signal(c.probe) // e.g. a re-initialize that failed, or a session found dead
		return err
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%w after %s", ErrTimeout, c.cfg.Timeout)
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return err // the caller gave up
	case errors.Is(err, context.Canceled):
		// The session was torn down under the call (server lost, reload, stop).
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	case isConnectionError(err):
		signal(c.probe)
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	default:
		signal(c.probe)
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
}

func isConnectionError(err error) bool {
	var opErr *net.OpError
	var exitErr *exitError
	return errors.As(err, &opErr) || errors.As(err, &exitErr) ||
		errors.Is(err, transport.ErrTransportClosed) || errors.Is(err, transport.ErrSessionTerminated) ||
		errors.Is(err, os.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		serverClosedIdle(err)
}

// reinitialize performs the handshake again on the same transport, once for
// all the requests that saw the session end at generation gen.
func (s *session) reinitialize(ctx context.Context, gen int64) error {
	s.reinitMu.Lock()
	defer s.reinitMu.Unlock()
	if s.generation.Load() != gen {
		return nil // another request already did it
	}
	if err := s.initialize(ctx); err != nil {
		return err
	}
	s.generation.Add(1)
	s.relisten() // the GET stream follows the new session
	s.log.InfoContext(ctx, "session re-initialized after the server forgot it")
	return nil
}
