package downstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// inlineTransport is an HTTP/1.1 transport that runs each exchange on the
// caller's goroutine, with net/http's own Request.Write and ReadResponse.
// net/http's Transport hands every request to a write-loop goroutine and
// every response back from a read-loop goroutine, and keeps both goroutines
// per pooled connection: on the hub's call path that is four hand-offs per
// call, and two goroutines for each idle connection and each GET stream.
//
// It serves plain http without a proxy, the case of a hub next to its
// servers. Everything else (https, where HTTP/2 may be negotiated; a proxy
// from the environment; an upgrade) goes to fallback, a net/http Transport.
//
// A pooled connection the server may have closed while it was idle is
// checked before it is reused (a peek that does not wait), so a POST is not
// written into a connection already closed; net/http's read loop notices
// that instead.
//
// Of fallback's settings it honours Proxy (to decide what is its own),
// DialContext, MaxIdleConnsPerHost, IdleConnTimeout, DisableKeepAlives and
// MaxResponseHeaderBytes, with net/http's defaults for zero values.
type inlineTransport struct {
	fallback    *http.Transport
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int           // per host
	idleTimeout time.Duration // an idle connection is closed after it; 0: never
	maxHead     int64         // bytes of a response's head, 1xx answers included
	keepAlive   bool

	mu     sync.Mutex
	idle   map[string][]*inlineConn // by host:port, most recently used last
	pruner *time.Timer              // set while any connection is idle
}

func newInlineTransport(fallback *http.Transport) *inlineTransport {
	t := &inlineTransport{
		fallback:    fallback,
		dial:        fallback.DialContext,
		maxIdle:     fallback.MaxIdleConnsPerHost,
		idleTimeout: fallback.IdleConnTimeout,
		maxHead:     fallback.MaxResponseHeaderBytes,
		keepAlive:   !fallback.DisableKeepAlives,
		idle:        map[string][]*inlineConn{},
	}
	if t.dial == nil {
		t.dial = (&net.Dialer{}).DialContext
	}
	if t.maxIdle <= 0 {
		t.maxIdle = http.DefaultMaxIdleConnsPerHost
	}
	if t.maxHead <= 0 {
		t.maxHead = 10 << 20 // net/http's default
	}
	return t
}

type inlineConn struct {
	addr      string
	nc        net.Conn
	head      headLimit // what br reads through
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	// peek is alive's look at the socket, made once per connection: a
	// closure made per reuse, with what it captures, was four allocations
	// a call.
	peek *socketPeek
}

// socketPeek asks a socket whether anything (data, or the peer's close)
// is waiting to be read, without reading it or waiting.
type socketPeek struct {
	raw   syscall.RawConn
	fn    func(fd uintptr) bool
	buf   [1]byte
	quiet bool // after fn: nothing waiting
}

// newSocketPeek is nil for a connection that is no socket (nothing to
// ask), and a peek without raw for a socket that cannot be asked.
func newSocketPeek(nc net.Conn) *socketPeek {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return &socketPeek{}
	}
	p := &socketPeek{raw: raw}
	p.fn = func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), p.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		p.quiet = err == syscall.EAGAIN
		return true // never wait for readiness
	}
	return p
}

// headLimit bounds what is read from a connection while a response's head
// is read: ReadResponse itself reads headers without a limit.
type headLimit struct {
	r    io.Reader
	left int64 // < 0: no limit (the body is being read)
}

var errHeadTooLarge = errors.New("the response's head exceeds the limit")

func (h *headLimit) Read(p []byte) (int, error) {
	if h.left < 0 {
		return h.r.Read(p)
	}
	if h.left == 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > h.left {
		p = p[:h.left]
	}
	n, err := h.r.Read(p)
	h.left -= int64(n)
	return n, err
}

// errClosedIdle is a pooled connection that broke before the response's
// head: most likely the server closed it just as it was reused. A request
// whose write failed (errRequestNotSent: the server never had it) is sent
// again on a new connection whatever its method, when its body can be had
// again (rewound); one written whole only when it has no body and changes
// nothing (GET, HEAD), since the server may have acted on any other.
var errClosedIdle = errors.New("the server closed a kept-alive connection as it was reused")

func (t *inlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.serves(req) {
		return sendTraced(t.fallback, req)
	}
	ctx := req.Context()
	if req.URL.Hostname() == "" {
		closeBody(req)
		return nil, errors.New("http: no Host in request URL")
	}
	if err := ctx.Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	for {
		c, reused, err := t.conn(ctx, req)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, err := t.exchange(ctx, c, req)
		if err == nil {
			return resp, nil
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if reused && errors.Is(err, errRequestNotSent) {
			// The server closed the connection between the peek and the
			// write: it never had the request, whatever its method.
			if again, ok := rewound(req); ok {
				req = again
				continue
			}
		}
		if reused && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			if replayable(req) {
				continue // on a new connection: t.conn dials when the pool has no live one
			}
			return nil, fmt.Errorf("%w: %w", errClosedIdle, err)
		}
		return nil, err
	}
}

// sendTraced sends req on rt, net/http's Transport, and tells a request it
// never wrote whole (errRequestNotSent, NotDelivered) from one that may
// have reached the server, as the inline path does. The Transport calls
// WroteRequest with an error, or not at all, when the request did not
// leave. Called without one, it may still have been in the Transport's
// buffer when the connection failed: that stays "may have arrived".
// A request whose context ended is left as it is: HTTP/2 returns then
// without waiting for its write to report.
func sendTraced(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	var wrote atomic.Bool
	ctx := httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		WroteRequest: func(w httptrace.WroteRequestInfo) {
			if w.Err == nil {
				wrote.Store(true)
			}
		},
	})
	resp, err := rt.RoundTrip(req.WithContext(ctx))
	if err != nil && !wrote.Load() && req.Context().Err() == nil && !NotDelivered(err) {
		return nil, fmt.Errorf("%w: %w", errRequestNotSent, err)
	}
	return resp, err
}

// rewound is req ready to be sent again (a resend here, a redirect the
// poster follows): itself without a body, a copy with a fresh
// one from GetBody; ok is false when the body cannot be had again.
func rewound(req *http.Request) (*http.Request, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, false
	}
	again := *req // a RoundTripper must not change its caller's request
	again.Body = body
	return &again, true
}

// exchange is one request and response on c. On an error c is closed.
func (t *inlineTransport) exchange(ctx context.Context, c *inlineConn, req *http.Request) (*http.Response, error) {
	// The context's end sets a past deadline, which fails the read or
	// write in progress: no goroutine watches the exchange.
	x := &inlineBody{t: t, c: c, ctx: ctx}
	x.stop = context.AfterFunc(ctx, x.abort)
	resp, err := c.roundTrip(ctx, req, t.maxHead)
	if err != nil {
		x.stop()
		c.nc.Close()
		return nil, err
	}
	x.rc = resp.Body
	x.keep = t.keepAlive && !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	resp.Body = x
	if x.rc == http.NoBody {
		x.finish(true) // nothing to read: the connection is free now
	}
	return resp, nil
}

func replayable(req *http.Request) bool {
	return (req.Method == http.MethodGet || req.Method == http.MethodHead) && (req.Body == nil || req.Body == http.NoBody)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// serves reports whether the request is this transport's to send.
func (t *inlineTransport) serves(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Method == http.MethodConnect || req.Header.Get("Upgrade") != "" {
		return false
	}
	if t.fallback.Proxy != nil {
		if u, err := t.fallback.Proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}

// conn is a live idle connection to the request's host, or a new one.
func (t *inlineTransport) conn(ctx context.Context, req *http.Request) (c *inlineConn, reused bool, err error) {
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for {
		if c = t.take(addr); c == nil {
			break
		}
		if c.alive() {
			return c, true, nil
		}
		c.nc.Close()
	}
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	c = &inlineConn{addr: addr, nc: nc, head: headLimit{r: nc, left: -1}, bw: bufio.NewWriterSize(nc, 4<<10), peek: newSocketPeek(nc)}
	c.br = bufio.NewReaderSize(&c.head, 4<<10)
	return c, false, nil
}

// take removes the most recently used idle connection to addr from the
// pool, nil if there is none.
func (t *inlineTransport) take(addr string) *inlineConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	list := t.idle[addr]
	if len(list) == 0 {
		return nil
	}
	c := list[len(list)-1]
	list[len(list)-1] = nil
	t.idle[addr] = list[:len(list)-1]
	return c
}

// put returns a connection whose response was read whole to the pool.
func (t *inlineTransport) put(c *inlineConn) {
	c.idleSince = time.Now()
	t.mu.Lock()
	list := t.idle[c.addr]
	if len(list) >= t.maxIdle {
		t.mu.Unlock()
		c.nc.Close()
		return
	}
	t.idle[c.addr] = append(list, c)
	if t.pruner == nil && t.idleTimeout > 0 {
		t.pruner = time.AfterFunc(t.idleTimeout, t.prune)
	}
	t.mu.Unlock()
}

// prune closes the connections idle for longer than idleTimeout and sets
// itself for the next one to expire.
func (t *inlineTransport) prune() {
	now := time.Now()
	var expired []*inlineConn
	t.mu.Lock()
	next := time.Duration(-1)
	for addr, list := range t.idle {
		n := 0
		for n < len(list) && now.Sub(list[n].idleSince) >= t.idleTimeout {
			n++
		}
		expired = append(expired, list[:n]...)
		rest := append(list[:0:0], list[n:]...)
		if len(rest) == 0 {
			delete(t.idle, addr)
			continue
		}
		t.idle[addr] = rest
		if d := t.idleTimeout - now.Sub(rest[0].idleSince); next < 0 || d < next {
			next = d
		}
	}
	if next < 0 {
		t.pruner = nil
	} else {
		t.pruner.Reset(next)
	}
	t.mu.Unlock()
	for _, c := range expired {
		c.nc.Close()
	}
}

// CloseIdleConnections closes every idle connection, here and in fallback.
func (t *inlineTransport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*inlineConn{}
	if t.pruner != nil {
		t.pruner.Stop()
		t.pruner = nil
	}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
	t.fallback.CloseIdleConnections()
}

// roundTrip writes the request and reads the response's head, at most
// maxHead bytes of it. A server may answer before it has read the whole
// request (413 to a large body, say) and close the connection: as with
// net/http, that answer is the result, not the write's error.
func (c *inlineConn) roundTrip(ctx context.Context, req *http.Request, maxHead int64) (*http.Response, error) {
	err := req.Write(c.bw) // closes req.Body
	if err == nil {
		err = c.bw.Flush()
	}
	if err != nil {
		// Not when the context's end failed the write: the caller is gone.
		if ctx.Err() == nil {
			c.nc.SetReadDeadline(time.Now().Add(earlyAnswerWait))
			if resp, rerr := c.readHead(req, maxHead); rerr == nil {
				resp.Close = true // the connection is broken
				return resp, nil
			}
		}
		return nil, fmt.Errorf("%w: %w", errRequestNotSent, err)
	}
	return c.readHead(req, maxHead)
}

// errRequestNotSent is a request whose write failed: at most a part of it
// left, so the server never had the whole request to act on
// (NotDelivered), whether the write met EPIPE or, as often, ECONNRESET.
var errRequestNotSent = errors.New("the request could not be written whole")

// earlyAnswerWait is how long a failed write waits for an answer the server
// may have sent before it stopped reading.
const earlyAnswerWait = 100 * time.Millisecond

func (c *inlineConn) readHead(req *http.Request, maxHead int64) (*http.Response, error) {
	c.head.left = maxHead
	defer func() { c.head.left = -1 }()
	for {
		resp, err := http.ReadResponse(c.br, req)
		if errors.Is(err, errHeadTooLarge) {
			return nil, fmt.Errorf("%w: %w (%d bytes)", ErrProtocol, err, maxHead)
		}
		if err != nil {
			return nil, err
		}
		// An informational answer (103 Early Hints, say) comes before the
		// real one.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		return resp, nil
	}
}

// inlineBody is one exchange's response body. As with net/http, its
// connection goes back to the pool once the body was read to its end, and
// is closed if the body is closed before that.
type inlineBody struct {
	rc   io.ReadCloser
	t    *inlineTransport
	c    *inlineConn
	ctx  context.Context
	stop func() bool // unregisters abort from ctx
	keep bool        // neither side asked to close the connection

	// abort runs on its own goroutine and may come after the exchange
	// finished (callers often end the context once they read the body):
	// finished tells it the connection is no longer the exchange's, and
	// finish that it already ran.
	mu                sync.Mutex
	finished, aborted bool
}

// abort runs when the context ends: it fails the exchange's read or write
// in progress, unless the exchange is over.
func (b *inlineBody) abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		b.aborted = true
		b.c.nc.SetDeadline(time.Unix(1, 0))
	}
}

// finish ends the exchange once: whole says the body was read to its end,
// and the connection is pooled if it may be kept; else it is closed.
func (b *inlineBody) finish(whole bool) {
	b.mu.Lock()
	if b.finished {
		b.mu.Unlock()
		return
	}
	b.finished = true
	reuse := whole && b.keep && !b.aborted
	b.mu.Unlock()
	b.stop() // an abort still to come finds the exchange finished
	if reuse {
		b.t.put(b.c)
		return
	}
	b.c.nc.Close()
}

func (b *inlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		// Later Reads of the finished body return EOF without touching
		// the connection, whoever uses it by then.
		b.finish(true)
	case err != nil && b.ctx.Err() != nil:
		err = b.ctx.Err() // the deadline the context's end set, said as net/http says it
	}
	return n, err
}

// Close closes an unfinished body's connection: the body's own Close would
// read it to its end (an event stream may never end) and wait for a Read in
// progress, which closing the connection ends instead.
func (b *inlineBody) Close() error {
	b.finish(false)
	return nil
}

// alive reports whether an idle connection may be reused: nothing arrived
// on it while it was idle, neither the server's close nor stray bytes. It
// asks the socket without waiting.
func (c *inlineConn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	switch {
	case c.peek == nil:
		return true // not a socket: nothing to ask
	case c.peek.raw == nil:
		return false // a socket that could not be asked: not to be trusted
	}
	c.peek.quiet = false
	return c.peek.raw.Read(c.peek.fn) == nil && c.peek.quiet
}
