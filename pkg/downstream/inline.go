package downstream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
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
type inlineTransport struct {
	fallback    *http.Transport
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxIdle     int           // per host
	idleTimeout time.Duration // an idle connection is closed after it

	mu     sync.Mutex
	idle   map[string][]*inlineConn // by host:port, most recently used last
	pruner *time.Timer              // set while any connection is idle
}

func newInlineTransport(fallback *http.Transport) *inlineTransport {
	return &inlineTransport{
		fallback:    fallback,
		dial:        fallback.DialContext,
		maxIdle:     fallback.MaxIdleConnsPerHost,
		idleTimeout: fallback.IdleConnTimeout,
		idle:        map[string][]*inlineConn{},
	}
}

type inlineConn struct {
	addr      string
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// errClosedIdle is a pooled connection that broke before the response's
// head: most likely the server closed it just as it was reused. The request
// is not sent again: the server may have acted on it.
var errClosedIdle = errors.New("the server closed a kept-alive connection as it was reused")

func (t *inlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.serves(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	c, reused, err := t.conn(ctx, req)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	// The context's end sets a past deadline, which fails the read or
	// write in progress: no goroutine watches the exchange.
	x := &inlineBody{t: t, c: c, ctx: ctx}
	x.stop = context.AfterFunc(ctx, x.abort)
	resp, err := c.exchange(req)
	if err != nil {
		x.stop()
		c.nc.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if reused && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			return nil, fmt.Errorf("%w: %w", errClosedIdle, err)
		}
		return nil, err
	}
	x.rc, x.keep = resp.Body, !resp.Close && !req.Close
	if resp.Body == http.NoBody {
		x.eof.Store(true)
	}
	resp.Body = x
	return resp, nil
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
	return &inlineConn{addr: addr, nc: nc, br: bufio.NewReaderSize(nc, 4<<10), bw: bufio.NewWriterSize(nc, 4<<10)}, false, nil
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
	if t.pruner == nil {
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

// exchange writes the request and reads the response's head.
func (c *inlineConn) exchange(req *http.Request) (*http.Response, error) {
	if err := req.Write(c.bw); err != nil { // closes req.Body
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
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

// inlineBody is one exchange's response body. It returns its connection
// to the pool once it was read to its end and closed, and closes the
// connection otherwise (net/http's Transport does the same for HTTP/1).
type inlineBody struct {
	rc   io.ReadCloser
	t    *inlineTransport
	c    *inlineConn
	ctx  context.Context
	stop func() bool // unregisters abort from ctx
	keep bool        // neither side asked to close the connection
	eof  atomic.Bool
	once sync.Once

	// Callers often end the context before they close the body read
	// whole (mcp-go does, against its #768); the exchange is over by
	// then, and its connection fit for reuse unless abort set its deadline.
	mu                sync.Mutex
	finished, aborted bool
}

// abort runs when the context ends: it fails the exchange's read or write
// in progress, unless the body was closed already.
func (b *inlineBody) abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.finished {
		b.aborted = true
		b.c.nc.SetDeadline(time.Unix(1, 0))
	}
}

func (b *inlineBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof.Store(true)
	case err != nil && b.ctx.Err() != nil:
		err = b.ctx.Err() // the deadline the context's end set, said as net/http says it
	}
	return n, err
}

func (b *inlineBody) Close() error {
	b.once.Do(func() {
		b.stop()
		b.mu.Lock()
		b.finished = true
		reuse := !b.aborted && b.keep && b.eof.Load()
		b.mu.Unlock()
		// The body's own Close would read an unfinished body to its end
		// (an event stream may never end), and waits for a Read in
		// progress: an unfinished body's connection is closed instead,
		// which also ends that Read.
		if reuse {
			b.rc.Close()
			b.t.put(b.c)
			return
		}
		b.c.nc.Close()
	})
	return nil
}

// alive reports whether an idle connection may be reused: nothing arrived
// on it while it was idle, neither the server's close nor stray bytes. It
// asks the socket without waiting.
func (c *inlineConn) alive() bool {
	if c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	quiet := false
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		quiet = rerr == syscall.EAGAIN
		return true // never wait for readiness
	})
	return err == nil && quiet
}
