package downstream

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
)

// The standalone GET stream of a Streamable HTTP session: how a server's
// notifications (list_changed, progress) and requests reach the hub between
// calls. The hub keeps it itself, on the session's one goroutine, and reads
// it with the POST path's event reader (readEvents, dispatch). mcp-go's
// listener cost three goroutines per server, logged every retry at ERROR,
// and did not notice a restarted server until the next request.

// DefaultListenRetry is how long the listener waits before it opens the
// stream again after it ended, as mcp-go did, and the first wait after it
// failed (failures in a row back off up to maxListenBackoff):
// Options.ListenRetry's default.
const DefaultListenRetry = time.Second

// noRequest is the request id the GET stream's reader expects: none. The
// hub's ids start at firstRequestID and mcp-go's at 1.
const noRequest int64 = 0

// listener is the session's GET stream state.
type listener struct {
	mu     sync.Mutex
	cancel context.CancelFunc // ends the stream open now (nil: none)
	done   chan struct{}      // closed when listenLoop returns; nil: not started
	// moved is signalled by relisten: the session moved to a new
	// generation (buffered: a signal nobody waits for yet is kept; nil,
	// and never signalled, while nothing listens).
	moved chan struct{}
}

// startListening starts the GET stream's goroutine; close waits for it.
func (s *session) startListening() {
	s.listen.done = make(chan struct{})
	s.listen.moved = make(chan struct{}, 1)
	go s.listenLoop()
}

// relisten ends the stream open now, so that it opens again on the session
// a re-initialisation gave.
func (s *session) relisten() {
	s.listen.mu.Lock()
	defer s.listen.mu.Unlock()
	if s.listen.cancel != nil {
		s.listen.cancel()
	}
	select {
	case s.listen.moved <- struct{}{}:
	default: // a signal is pending already
	}
}

func (s *session) listenLoop() {
	defer close(s.listen.done)
	openedGen := int64(-1) // the generation the stream last opened on
	// Streams that fail to open in a row wait longer each time.
	failing := backoff{cfg: config.Backoff{Initial: s.listenRetry, Max: maxListenBackoff}}
	for s.ctx.Err() == nil {
		delay := s.listenRetry
		select {
		case <-s.listen.moved: // a move signalled before now shows in gen
		default:
		}
		gen := s.generation.Load()
		p := s.postable()
		if p == nil {
			// mcp-go forgot the session (a request met a 404) and the
			// request path is re-initialising it: wait for the new one.
			if !s.waitMove(gen, -1) {
				return
			}
			continue
		}
		ctx, cancel := context.WithCancel(s.ctx)
		s.listen.mu.Lock()
		s.listen.cancel = cancel
		s.listen.mu.Unlock()
		if s.generation.Load() != gen { // re-initialised meanwhile: relisten missed it
			cancel()
		}
		opened, status, err := s.listenOnce(ctx, p)
		moved := ctx.Err() != nil || s.generation.Load() != gen
		cancel()
		if opened {
			openedGen = gen
			failing.reset()
		}
		switch {
		case s.ctx.Err() != nil:
			return
		case moved:
			continue // a new session: listen on it at once
		case status == http.StatusMethodNotAllowed:
			s.log.Info("the server offers no GET stream: its notifications between calls are not heard")
			return
		case status == http.StatusNotFound && openedGen != gen:
			// Refused on a session it never opened on: the server offers no
			// stream (it should say 405), as mcp-go judged it.
			s.log.Info("the server refused the GET stream on this session: its notifications between calls are not heard")
			return
		case status == http.StatusNotFound:
			// The server forgot the session (it restarted, or the session
			// expired). A request finds that out and re-initialises; ping
			// now, so that notifications are not lost until the next call.
			pctx, pcancel := context.WithTimeout(s.ctx, s.srv.Timeout)
			_, perr := s.request(pctx, "ping", nil)
			pcancel()
			var rpcErr *RPCError
			switch {
			case s.generation.Load() != gen:
				continue // re-initialised: listen on the new session at once
			case perr == nil || errors.As(perr, &rpcErr):
				// The server still knows the session, only not for the
				// stream: one more 404 on it ends listening, as above.
				openedGen = -1
			default:
				s.log.Debug("ping after the GET stream's 404 failed", "err", perr)
			}
		case err != nil && opened:
			s.log.Debug("GET stream ended; opening it again", "err", err)
		case err != nil:
			level := slog.LevelDebug
			if failing.attempt == 0 {
				level = slog.LevelWarn // once per run of failures, not per retry
			}
			delay = failing.next()
			s.log.Log(s.ctx, level, "GET stream failed; opening it again", "err", err, "retry_in", delay)
		}
		if !s.waitMove(gen, delay) {
			return
		}
	}
}

// maxListenBackoff bounds the wait between GET streams that fail in a row.
const maxListenBackoff = 30 * time.Second

// listenOnce opens the GET stream and reads it until it ends. opened says
// whether the server accepted it; status is the HTTP status (0: none).
func (s *session) listenOnce(ctx context.Context, p *poster) (opened bool, status int, err error) {
	resp, status, err := s.openStream(ctx, p, "")
	if err != nil {
		return false, status, err
	}
	defer resp.Body.Close()
	var cur sseCursor
	_, _, err = s.readEvents(ctx, resp.Body, &cur, noRequest, "the GET stream")
	if err == nil {
		err = errors.New("the server ended the stream")
	}
	return true, status, err
}

// waitMove waits until the session is re-initialised past gen, or d has
// passed (d >= 0; no limit when negative), or the session ends; it says
// whether the session is still open. A stream that failed is opened again
// after d, or at once on a new session.
func (s *session) waitMove(gen int64, d time.Duration) bool {
	var timeout <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	for s.generation.Load() == gen {
		select {
		case <-timeout:
			return true
		case <-s.listen.moved: // perhaps an older move: check again
		case <-s.ctx.Done():
			return false
		}
	}
	return true
}
