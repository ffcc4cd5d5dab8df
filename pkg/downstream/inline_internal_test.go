package downstream

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// connCounter is an httptest server that counts the connections it
// accepted and has open.
type connCounter struct {
	*httptest.Server
	accepted, closed atomic.Int64
	closes           chan struct{} // one per closed connection
}

// waitClosed waits until n connections in all were closed.
func (s *connCounter) waitClosed(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(3 * time.Second)
	for s.closed.Load() < n {
		select {
		case <-s.closes:
		case <-timeout:
			t.Fatalf("%d connections closed, want %d", s.closed.Load(), n)
		}
	}
}

func newCounted(t *testing.T, h http.HandlerFunc) *connCounter {
	t.Helper()
	s := &connCounter{Server: httptest.NewUnstartedServer(h), closes: make(chan struct{}, 1024)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.accepted.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.closed.Add(1)
			s.closes <- struct{}{}
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func testInline(t *testing.T) *inlineTransport {
	t.Helper()
	tr := newInlineTransport(&http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
	})
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func post(t *testing.T, ctx context.Context, rt http.RoundTripper, to, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return rt.RoundTrip(req)
}

// readAll posts and returns the status and the whole body.
func readAll(t *testing.T, rt http.RoundTripper, to, body string) (int, string) {
	t.Helper()
	resp, err := post(t, context.Background(), rt, to, body)
	if err != nil {
		t.Fatalf("POST %s: %v", to, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp.StatusCode, string(b)
}

func echoHandler(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Content-Type", r.Header.Get("Content-Type"))
	w.Write(b)
}

func TestInlineKeepsConnectionsAlive(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last: after the server's close
	srv := newCounted(t, echoHandler)
	tr := testInline(t)
	for i := range 20 {
		body := strings.Repeat("x", i*100)
		code, got := readAll(t, tr, srv.URL+"/mcp", body)
		if code != http.StatusOK || got != body {
			t.Fatalf("request %d: %d %q", i, code, got)
		}
	}
	// chunked answers too
	for range 3 {
		code, got := readAll(t, tr, srv.URL+"/mcp", `{"a":1}`)
		if code != http.StatusOK || got != `{"a":1}` {
			t.Fatalf("%d %q", code, got)
		}
	}
	// Ending the context before closing the body read whole, as mcp-go
	// and the poster do, leaves the connection fit for reuse.
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		resp, err := post(t, ctx, tr, srv.URL, "x")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		cancel()
		resp.Body.Close()
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("26 sequential requests opened %d connections, want 1", n)
	}
	tr.CloseIdleConnections()
	srv.waitClosed(t, 1)
}

func TestInlineConcurrent(t *testing.T) {
	srv := newCounted(t, echoHandler)
	tr := testInline(t)
	tr.maxIdle = 16 // every caller's connection fits in the pool between its calls
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				body := strings.Repeat(string(rune('a'+g)), i+1)
				resp, err := post(t, context.Background(), tr, srv.URL, body)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != body {
					errs <- errors.New("goroutine got another's answer or none: " + string(b))
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.accepted.Load(); n > 16 {
		t.Errorf("16 concurrent callers opened %d connections", n)
	}
	tr.mu.Lock()
	idle := len(tr.idle[strings.TrimPrefix(srv.URL, "http://")])
	tr.mu.Unlock()
	if idle > tr.maxIdle {
		t.Errorf("%d idle connections kept, the limit is %d", idle, tr.maxIdle)
	}
}

// A kept-alive connection the server closed while it was idle is not
// written to: the request goes out on a new one.
func TestInlineServerClosedIdle(t *testing.T) {
	srv := newCounted(t, echoHandler)
	tr := testInline(t)
	for round := range 3 {
		if code, got := readAll(t, tr, srv.URL, "ping"); code != http.StatusOK || got != "ping" {
			t.Fatalf("round %d: %d %q", round, code, got)
		}
		srv.CloseClientConnections()
		srv.waitClosed(t, int64(round+1))
	}
	if n := srv.accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// The caller's context ends an exchange the server never answers, and the
// connection is not reused.
func TestInlineContextEnds(t *testing.T) {
	release := make(chan struct{})
	srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		echoHandler(w, r)
	})
	defer close(release)
	tr := testInline(t)
	readAll(t, tr, srv.URL, "warm") // a pooled connection, reused below

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := post(t, ctx, tr, srv.URL+"/hang", "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's deadline", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the exchange ended %s after a 100 ms deadline", took)
	}
	if code, got := readAll(t, tr, srv.URL, "after"); code != http.StatusOK || got != "after" {
		t.Fatalf("after the timeout: %d %q", code, got)
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the timed-out one is not reused)", n)
	}
}

// An event stream is read as it arrives; closing it before its end
// neither waits for the end nor returns the connection to the pool, and a
// Read in progress ends with it.
func TestInlineStream(t *testing.T) {
	next := make(chan struct{})
	done := make(chan struct{})
	srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sse" {
			echoHandler(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
		w.(http.Flusher).Flush()
		select { // never ends by itself
		case <-done:
		case <-r.Context().Done():
		}
	})
	defer close(done)
	tr := testInline(t)

	resp, err := post(t, context.Background(), tr, srv.URL+"/sse", "{}")
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "data: one\n" {
		t.Fatalf("first event: %q %v", line, err)
	}
	close(next)
	br.ReadString('\n')
	if line, err := br.ReadString('\n'); err != nil || line != "data: two\n" {
		t.Fatalf("second event: %q %v", line, err)
	}
	br.ReadString('\n') // the event's blank line: the stream is now idle
	readErr := make(chan error, 1)
	go func() {
		_, err := br.ReadString('\n') // blocks: nothing more comes
		readErr <- err
	}()
	time.Sleep(20 * time.Millisecond)
	closed := make(chan struct{})
	go func() { resp.Body.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("closing an unfinished stream waits for its end")
	}
	select {
	case err := <-readErr:
		if err == nil {
			t.Error("the Read in progress returned no error after Close")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the Read in progress still waits after Close")
	}
	if code, got := readAll(t, tr, srv.URL, "next"); code != http.StatusOK || got != "next" {
		t.Fatalf("after the stream: %d %q", code, got)
	}
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the stream's is not reused)", n)
	}
}

// Idle connections are closed after the idle timeout, without traffic.
func TestInlineIdleTimeout(t *testing.T) {
	srv := newCounted(t, echoHandler)
	tr := testInline(t)
	tr.idleTimeout = 50 * time.Millisecond
	readAll(t, tr, srv.URL, "a")
	srv.waitClosed(t, 1)
	tr.mu.Lock()
	pruner := tr.pruner
	tr.mu.Unlock()
	if pruner != nil {
		t.Error("the pruner is still set with no idle connection")
	}
	readAll(t, tr, srv.URL, "b") // and the pool works on
	if n := srv.accepted.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// https and proxied requests go to net/http's transport.
func TestInlineFallback(t *testing.T) {
	tls := httptest.NewTLSServer(http.HandlerFunc(echoHandler))
	defer tls.Close()
	fb := tls.Client().Transport.(*http.Transport).Clone()
	tr := newInlineTransport(fb)
	defer tr.CloseIdleConnections()
	if code, got := readAll(t, tr, tls.URL, "over tls"); code != http.StatusOK || got != "over tls" {
		t.Fatalf("https: %d %q", code, got)
	}

	var sawURI atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawURI.Store(r.RequestURI)
		io.WriteString(w, "from the proxy")
	}))
	defer proxy.Close()
	fb2 := &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse(proxy.URL) }}
	tr2 := newInlineTransport(fb2)
	defer tr2.CloseIdleConnections()
	if _, got := readAll(t, tr2, "http://mcp.invalid/mcp", "x"); got != "from the proxy" {
		t.Fatalf("proxied: %q", got)
	}
	if uri, _ := sawURI.Load().(string); uri != "http://mcp.invalid/mcp" {
		t.Errorf("the proxy saw %q, want the absolute URL", uri)
	}
}

// A server that answers before it read the whole request and closes (413
// to a large body) is heard: its answer is the result, not the write's
// broken pipe.
func TestInlineEarlyAnswer(t *testing.T) {
	srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	})
	tr := testInline(t)
	resp, err := post(t, context.Background(), tr, srv.URL, strings.Repeat("x", 20<<20))
	if err != nil {
		t.Fatalf("err = %v, want the server's 413", err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d, want 413", resp.StatusCode)
	}
}

// TestInlineWriteFailsNotDelivered checks that a request whose write
// failed, here because the server reset the connection after reading its
// head, is reported as never delivered, so that an approval is handed back;
// an answer that breaks off after the whole request was written is not.
func TestInlineWriteFailsNotDelivered(t *testing.T) {
	reset := func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0) // Close sends RST
	}
	headOnly := rawServer(t, func(_ int, c net.Conn) { readHead(c); reset(c) })
	tr := testInline(t)
	_, err := post(t, context.Background(), tr, headOnly, strings.Repeat("x", 16<<20))
	if err == nil || !NotDelivered(err) {
		t.Errorf("reset while the body was written: %v; NotDelivered = %v, want true", err, NotDelivered(err))
	}

	whole := rawServer(t, func(_ int, c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			io.Copy(io.Discard, req.Body)
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
		reset(c)
	})
	resp, err := post(t, context.Background(), tr, whole, `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil || NotDelivered(err) {
		t.Errorf("answer broken off after the whole request: %v; NotDelivered = %v, want false", err, NotDelivered(err))
	}
}

// TestInlineResendsUnsentPost checks that a POST whose write fails on a
// reused connection (the server reset it after the idle peek looked) is
// sent again on a new connection, body and all: the server never had it.
func TestInlineResendsUnsentPost(t *testing.T) {
	reset := make(chan struct{})
	var bodies sync.Map // connection number → the body it received
	url := rawServer(t, func(n int, c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		b, _ := io.ReadAll(req.Body)
		bodies.Store(n, string(b))
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		if n == 0 { // kept alive by the client, then reset
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			close(reset)
		}
	})
	tr := testInline(t)
	if code, body := readAll(t, tr, url, "first"); code != http.StatusOK || body != "ok" {
		t.Fatalf("first POST: %d %q", code, body)
	}
	<-reset
	time.Sleep(50 * time.Millisecond) // the reset reaches the client's socket
	tr.mu.Lock()
	pooled := tr.idle[strings.TrimPrefix(url, "http://")]
	if len(pooled) != 1 {
		tr.mu.Unlock()
		t.Fatalf("%d pooled connections, want the first one", len(pooled))
	}
	pooled[0].peek = nil // the peek missed the reset: it came just after
	tr.mu.Unlock()
	if code, body := readAll(t, tr, url, "second"); code != http.StatusOK || body != "ok" {
		t.Fatalf("second POST: %d %q", code, body)
	}
	if b, _ := bodies.Load(1); b != "second" {
		t.Errorf("the new connection received %q, want the whole second body", b)
	}
}

// readHead reads a request's head from c and leaves its body unread.
func readHead(c net.Conn) {
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil || line == "\r\n" {
			return
		}
	}
}

// rawServer serves each connection with fn, on a listener of its own.
func rawServer(t *testing.T, fn func(n int, c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close() // ends fn's reads
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { defer c.Close(); fn(n, c) })
		}
	})
	return "http://" + ln.Addr().String()
}

// A response head is bounded, as net/http bounds it.
func TestInlineHeadLimit(t *testing.T) {
	url := rawServer(t, func(_ int, c net.Conn) {
		http.ReadRequest(bufio.NewReader(c))
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Filler: " + strings.Repeat("y", 1000) + "\r\n"
		for {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	})
	tr := testInline(t)
	tr.maxHead = 64 << 10
	_, err := post(t, context.Background(), tr, url, "x")
	if !errors.Is(err, errHeadTooLarge) || !errors.Is(err, ErrProtocol) {
		t.Fatalf("err = %v, want the head limit as a protocol error", err)
	}
}

// A kept-alive connection that breaks before the answer's head fails a
// POST (the server may have acted on it) and is retried for a GET.
func TestInlineStaleConnection(t *testing.T) {
	staleSecond := func(n int, c net.Conn) {
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			if n == 0 && i == 1 {
				return // the first connection's second request: closed unanswered
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	}
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			url := rawServer(t, staleSecond)
			tr := testInline(t)
			send := func() (*http.Response, error) {
				req, _ := http.NewRequest(method, url, nil)
				if method == http.MethodPost {
					req.Body = io.NopCloser(strings.NewReader("x"))
					req.ContentLength = 1
				}
				return tr.RoundTrip(req)
			}
			resp, err := send()
			if err != nil {
				t.Fatal(err)
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			resp, err = send()
			switch method {
			case http.MethodGet:
				if err != nil {
					t.Fatalf("GET on a stale connection: %v, want a retry on a new one", err)
				}
				resp.Body.Close()
			case http.MethodPost:
				if err == nil {
					resp.Body.Close()
				}
				if !errors.Is(err, errClosedIdle) {
					t.Fatalf("POST on a stale connection: %v, want errClosedIdle", err)
				}
			}
		})
	}
}

// An answer without a body frees its connection at once, closed or not.
func TestInlineNoBodyFreesConnection(t *testing.T) {
	srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	})
	tr := testInline(t)
	for range 5 {
		resp, err := post(t, context.Background(), tr, srv.URL, "{}")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("status %d", resp.StatusCode)
		}
		// not closed, as a careless caller would
	}
	if n := srv.accepted.Load(); n != 1 {
		t.Errorf("%d connections for 5 bodiless answers, want 1", n)
	}
}

func TestInlineNoHost(t *testing.T) {
	tr := testInline(t)
	if _, err := post(t, context.Background(), tr, "http://:8080/mcp", "x"); err == nil || !strings.Contains(err.Error(), "no Host") {
		t.Errorf("err = %v, want no Host", err)
	}
}
