package mcpserver

import (
	"context"
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// sessions is an endpoint's table of MCP sessions: mcp-go's session id
// manager (ids are made, checked and ended here) and its register and
// unregister hooks keep it.
//
// The hub keeps it, not only mcp-go, for two reasons. Plain tool calls are
// answered without mcp-go (see fastpath.go): the fast path must know a
// session is live and initialised, and mcp-go's idle sweeper would end a
// session whose only traffic it never saw; so the endpoint sweeps idle
// sessions itself, ending them through mcp-go's own DELETE handling. And
// mcp-go's default manager accepts any well-formed id, even of a session it
// ended or that a previous hub process made: such a client carried on
// without notifications or progress, never told to start again. Here an
// unknown id gets 404, which tells a client to open a new session, and
// nothing is kept of ended sessions.
type sessions struct {
	m sync.Map // session id → *liveSession
}

type liveSession struct {
	cs         atomic.Pointer[sessionRef] // set once initialize registered it
	lastActive atomic.Int64               // unix nanos
	streams    atomic.Int32               // GET streams open: never idle meanwhile
}

// sessionRef holds a session for an atomic.Pointer.
type sessionRef struct{ server.ClientSession }

// session is the mcp-go session, or nil before it is registered.
func (ls *liveSession) session() server.ClientSession {
	if ref := ls.cs.Load(); ref != nil {
		return ref.ClientSession
	}
	return nil
}

var _ server.SessionIdManager = (*sessions)(nil)

// errUnknownSession makes mcp-go answer 404: the session ended or never was.
var errUnknownSession = errors.New("unknown session")

// Generate makes the id of a session being initialised. It is known from
// now on: the client may send its next request before mcp-go registers the
// session.
func (t *sessions) Generate() string {
	id := "mcp-session-" + rand.Text()
	ls := &liveSession{}
	ls.lastActive.Store(time.Now().UnixNano())
	t.m.Store(id, ls)
	return id
}

func (t *sessions) Validate(id string) (isTerminated bool, err error) {
	if _, ok := t.m.Load(id); !ok {
		return false, errUnknownSession
	}
	return false, nil
}

func (t *sessions) Terminate(id string) (isNotAllowed bool, err error) {
	t.m.Delete(id)
	return false, nil
}

func (t *sessions) hooks() *server.Hooks {
	h := &server.Hooks{}
	h.AddOnRegisterSession(func(_ context.Context, cs server.ClientSession) {
		// Onto the entry Generate made, in place: a GET stream the client
		// opened already counts on it. An entry ended meanwhile stays ended.
		if v, ok := t.m.Load(cs.SessionID()); ok {
			ls := v.(*liveSession)
			ls.cs.Store(&sessionRef{cs})
			ls.lastActive.Store(time.Now().UnixNano())
		}
	})
	h.AddOnUnregisterSession(func(_ context.Context, cs server.ClientSession) {
		t.m.Delete(cs.SessionID())
	})
	return h
}

// touch records activity on a request's session, if it is live, and
// returns it.
func (t *sessions) touch(id string) *liveSession {
	if id == "" {
		return nil
	}
	v, ok := t.m.Load(id)
	if !ok {
		return nil
	}
	ls := v.(*liveSession)
	ls.lastActive.Store(time.Now().UnixNano())
	return ls
}

// idle lists the sessions without activity since before cutoff.
func (t *sessions) idle(cutoff time.Time) []string {
	var out []string
	c := cutoff.UnixNano()
	t.m.Range(func(k, v any) bool {
		if ls := v.(*liveSession); ls.lastActive.Load() < c && ls.streams.Load() == 0 {
			out = append(out, k.(string))
		}
		return true
	})
	return out
}

// sweepInterval is how often idle sessions are looked for: often enough
// that a session ends within a quarter of its TTL after expiring.
func sweepInterval(ttl time.Duration) time.Duration {
	return min(max(ttl/4, 50*time.Millisecond), time.Minute)
}

// sweep ends idle sessions of every endpoint until ctx ends.
func (s *Server) sweep(ctx context.Context) {
	t := time.NewTicker(sweepInterval(s.opts.SessionIdleTTL))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.mu.RLock()
			eps := make([]*endpoint, 0, len(s.endpoints))
			for _, ep := range s.endpoints {
				eps = append(eps, ep)
			}
			s.mu.RUnlock()
			for _, ep := range eps {
				for _, id := range ep.sessions.idle(now.Add(-s.opts.SessionIdleTTL)) {
					ep.endSession(ctx, id)
				}
			}
		}
	}
}

// endSession terminates a session as a client's DELETE would, so mcp-go
// drops all it keeps for it; a client that comes back gets 404 and starts
// a new one.
func (ep *endpoint) endSession(ctx context.Context, id string) {
	r, err := http.NewRequestWithContext(ctx, http.MethodDelete, ep.path(), nil)
	if err != nil {
		return
	}
	r.Header.Set(server.HeaderKeySessionID, id)
	ep.http.ServeHTTP(discardResponse{}, r)
	ep.sessions.m.Delete(id) // in case mcp-go had nothing to unregister
	ep.srv.log.Debug("idle MCP session ended", "endpoint", ep.path(), "session", id)
}

// discardResponse is a ResponseWriter for requests the hub makes to
// mcp-go itself.
type discardResponse struct{}

func (discardResponse) Header() http.Header         { return http.Header{} }
func (discardResponse) Write(b []byte) (int, error) { return len(b), nil }
func (discardResponse) WriteHeader(int)             {}
