package faultserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// maxRequestBytes bounds one request body the server reads.
const maxRequestBytes = 4 << 20

// HTTPServer serves MCP over Streamable HTTP and misbehaves as its faults
// say. It is an http.Handler (for httptest), and, after Listen, its own
// listener at URL, which Refuse and Restart need.
//
// Sessions are stateful (mcp-go's WithStateful): a request for a session
// the server does not know, e.g. after Restart, gets 404.
type HTTPServer struct {
	log *slog.Logger

	faults      atomic.Pointer[Spec]
	inner       atomic.Pointer[server.StreamableHTTPServer]
	initializes atomic.Int64

	mu          sync.Mutex
	addr        string                     // set by Listen, kept while refusing
	hs          *http.Server               // nil while refusing or closed
	ln          net.Listener               // hs's
	conns       map[net.Conn]chan struct{} // open connections → closed when they close
	closed      bool
	lastRestart string // the Restart fault's last token

	serving  sync.WaitGroup // Serve goroutines
	handlers sync.WaitGroup // requests in flight
}

// HTTPOptions configure NewHTTP.
type HTTPOptions struct {
	// Logger receives mcp-go's and net/http's logs. Nil: discarded.
	Logger *slog.Logger
}

// NewHTTP builds a healthy server; Listen or mount it.
func NewHTTP(opts HTTPOptions) *HTTPServer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &HTTPServer{log: opts.Logger, conns: map[net.Conn]chan struct{}{}}
	s.inner.Store(s.newInner())
	return s
}

// newInner is a fresh mcp-go server, with no sessions.
func (s *HTTPServer) newInner() *server.StreamableHTTPServer {
	ms := server.NewMCPServer(Name, Version, server.WithToolCapabilities(false), server.WithRecovery())
	ms.AddTool(mcp.NewTool(ToolEcho,
		mcp.WithDescription("Echo the message back. No fault applies to it."),
		mcp.WithString("message", mcp.Required(), mcp.Description("Text to send back.")),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		msg, err := req.RequireString("message")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(msg), nil
	})
	ms.AddTool(mcp.NewTool(ToolWork,
		mcp.WithDescription(`Do some work: three progress steps when asked for progress, then "worked". The faults in force apply to it.`),
		mcp.WithString("label", mcp.Description("Added to the answer.")),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if req.Params.Meta != nil && req.Params.Meta.ProgressToken != nil {
			srv := server.ServerFromContext(ctx)
			for i := 1; i <= 3; i++ {
				if err := srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
					"progressToken": req.Params.Meta.ProgressToken, "progress": i, "total": 3,
					"message": fmt.Sprintf("step %d of 3", i),
				}); err != nil {
					return mcp.NewToolResultError("progress not sent: " + err.Error()), nil
				}
			}
		}
		return mcp.NewToolResultText(workAnswer(req.GetString("label", ""))), nil
	})
	return server.NewStreamableHTTPServer(ms,
		server.WithStateful(true),
		// Without a store, mcp-go drops progress still in flight when the
		// result is written (see pkg/exampleserver).
		server.WithEventStore(server.NewInMemoryEventStore()),
		server.WithStreamableHTTPLogger(s.log),
	)
}

// Set replaces the faults in force. Refuse closes or reopens the listener
// at once; a new Restart token restarts. The error is a failure to listen
// again.
func (s *HTTPServer) Set(spec Spec) error {
	spec = maps.Clone(spec)
	s.faults.Store(&spec)
	if tok, ok := spec[Restart]; ok {
		s.mu.Lock()
		changed := tok != s.lastRestart
		s.lastRestart = tok
		s.mu.Unlock()
		if changed {
			s.Restart()
		}
	}
	return s.setRefusing(spec.Has(Refuse))
}

// Faults returns the faults in force.
func (s *HTTPServer) Faults() Spec {
	if p := s.faults.Load(); p != nil {
		return *p
	}
	return nil
}

// Initializes counts the initialize requests received.
func (s *HTTPServer) Initializes() int64 { return s.initializes.Load() }

// Listen starts serving Streamable HTTP at /mcp on addr (e.g.
// 127.0.0.1:0), in the background.
func (s *HTTPServer) Listen(addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr != "" || s.closed {
		return errors.New("faultserver: Listen called twice or after Close")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.addr = ln.Addr().String()
	s.serveLocked(ln)
	return nil
}

// URL is the MCP endpoint, after Listen.
func (s *HTTPServer) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "http://" + s.addr + "/mcp"
}

func (s *HTTPServer) serveLocked(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("/mcp", s)
	hs := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
		ConnState:         s.connState,
	}
	s.hs, s.ln = hs, ln
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		_ = hs.Serve(ln)
	}()
}

func (s *HTTPServer) connState(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateNew:
		s.conns[c] = make(chan struct{})
	case http.StateClosed, http.StateHijacked:
		if done, ok := s.conns[c]; ok {
			close(done)
			delete(s.conns, c)
		}
	}
}

// closeWait bounds how long Refuse waits for clients to close their ends.
const closeWait = 2 * time.Second

// setRefusing stops listening and closes every connection, or listens on
// the same address again.
//
// Connections are closed the way a server that goes down closes them, and
// then some: each is half-closed first (FIN), and only once the client has
// closed its end too, or closeWait passed, is it closed for good. A client
// that sends a request on a pooled connection the server has just closed
// gets a different error ("server closed idle connection") from one that
// finds the port closed; waiting for the client to notice makes the next
// request meet the closed port every time.
func (s *HTTPServer) setRefusing(refuse bool) error {
	s.mu.Lock()
	if s.closed || s.addr == "" {
		s.mu.Unlock()
		return nil
	}
	switch {
	case refuse && s.hs != nil:
		hs, ln := s.hs, s.ln
		s.hs, s.ln = nil, nil
		open := make([]chan struct{}, 0, len(s.conns))
		for c, done := range s.conns {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			open = append(open, done)
		}
		s.mu.Unlock()
		_ = ln.Close()
		deadline := time.NewTimer(closeWait)
		defer deadline.Stop()
	wait:
		for _, done := range open {
			select {
			case <-done:
			case <-deadline.C:
				break wait
			}
		}
		_ = hs.Close()
		return nil
	case !refuse && s.hs == nil:
		defer s.mu.Unlock()
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("faultserver: listen again on %s: %w", s.addr, err)
		}
		s.serveLocked(ln)
		return nil
	default:
		s.mu.Unlock()
		return nil
	}
}

// Restart forgets every session, as a restarted server (or one whose
// sessions expired) would: the next request of an existing session gets
// 404, and open GET streams end. Connections stay open, so that the 404 is
// what the client sees; Refuse is for connections that break.
func (s *HTTPServer) Restart() {
	s.shutdownInner(s.inner.Swap(s.newInner()))
}

func (s *HTTPServer) shutdownInner(in *server.StreamableHTTPServer) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := in.Shutdown(ctx); err != nil {
		s.log.Warn("faultserver: shutdown of the old sessions", "err", err)
	}
}

// Close stops listening, ends every connection and session, and waits for
// the requests in flight. A server mounted elsewhere should be unmounted
// (its server closed) first.
func (s *HTTPServer) Close() error {
	s.mu.Lock()
	s.closed = true
	hs := s.hs
	s.hs, s.ln = nil, nil
	s.mu.Unlock()
	if hs != nil {
		_ = hs.Close()
	}
	s.serving.Wait()
	s.shutdownInner(s.inner.Load())
	done := make(chan struct{})
	go func() {
		s.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(5 * time.Second):
		return errors.New("faultserver: requests still running 5s after Close")
	}
}

// ServeHTTP takes over the requests a fault applies to and hands the rest
// to mcp-go.
func (s *HTTPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlers.Add(1)
	defer s.handlers.Done()
	if r.Method != http.MethodPost {
		s.inner.Load().ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes+1))
	if err != nil || len(body) > maxRequestBytes {
		http.Error(w, "faultserver: request body unreadable or over 4 MiB", http.StatusBadRequest)
		return
	}
	var m message
	if json.Unmarshal(body, &m) == nil { // a batch does not decode: passed on
		switch m.Method {
		case "initialize":
			s.initializes.Add(1)
			if !waitSlowStart(r.Context(), s.Faults) {
				return
			}
		case "tools/call":
			var p callParams
			if json.Unmarshal(m.Params, &p) == nil && p.Name == ToolWork && s.work(w, r, m.ID, p) {
				return
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.inner.Load().ServeHTTP(w, r)
}

// work answers a call of the work tool as the fault in force says, and
// reports whether it did; if not, mcp-go answers it normally.
func (s *HTTPServer) work(w http.ResponseWriter, r *http.Request, id json.RawMessage, p callParams) bool {
	token := p.Meta.ProgressToken
	hasToken := len(token) > 0 && string(token) != "null"
	rc := http.NewResponseController(w)
	switch f := s.Faults().callFault(); f {
	case "":
		return false
	case Crash:
		full := response(id, textResult("this answer is cut short"))
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(full)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(full[:len(full)/2])
		_ = rc.Flush()
		// net/http's way to drop a connection mid-response, without a log line.
		panic(http.ErrAbortHandler)
	case CrashSSE:
		startSSE(w)
		if hasToken {
			writeSSE(w, progressNotification(token, 1, 3))
		} else {
			_, _ = io.WriteString(w, ": working\n\n")
		}
		_ = rc.Flush()
		panic(http.ErrAbortHandler)
	case Hang:
		// Once the fault ends, mcp-go answers.
		return !waitWhile(r.Context(), s.Faults, func(sp Spec) bool { return sp.Has(Hang) })
	case Stall:
		startSSE(w)
		if hasToken {
			writeSSE(w, progressNotification(token, 1, 10))
			writeSSE(w, progressNotification(token, 2, 10))
		}
		_ = rc.Flush()
		if waitWhile(r.Context(), s.Faults, func(sp Spec) bool { return sp.Has(Stall) }) {
			writeSSE(w, response(id, textResult(workAnswer(p.Arguments.Label))))
		}
		return true
	case NotJSON, NoID, WrongID, ResultNotObject, ResultNull:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(malformed(f, id))
		return true
	case Huge, HugeNoID:
		// No Content-Length: the body is chunked, and the client has to
		// count to find out how big it is.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if f == HugeNoID {
			id = nil
		}
		_ = writeHuge(w, id, s.Faults().size(f))
		return true
	case HugeSSE:
		startSSE(w)
		if _, err := io.WriteString(w, "event: message\ndata: "); err == nil {
			if writeHuge(w, id, s.Faults().size(f)) == nil {
				_, _ = io.WriteString(w, "\n\n")
			}
		}
		return true
	default:
		return false
	}
}

func startSSE(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
}

func writeSSE(w http.ResponseWriter, msg []byte) {
	_, _ = fmt.Fprintf(w, "event: message\ndata: %s\n\n", msg)
	_ = http.NewResponseController(w).Flush()
}
