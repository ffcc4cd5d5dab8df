package events

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/r3labs/sse/v2"
	"go.uber.org/goleak"
	"gopkg.in/cenkalti/backoff.v1"
)

func TestHTTPWireFormat(t *testing.T) {
	b := newTestBus(t, 0)
	srv, _ := serve(t, b, HandlerOptions{})
	b.Publish(ServerStatus, "before connect: not sent")
	b.Publish(ServerStatus, "before connect: not sent")

	c := dialSSE(t, srv.Client(), srv.URL, nil)
	for name, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := c.resp.Header.Get(name); got != want {
			t.Errorf("header %s = %q, want %q", name, got, want)
		}
	}
	id, info := c.start(t)
	if id != "2" || info.Resumed || info.LastID != 2 || info.Resync || !info.Started.Equal(b.Started()) {
		t.Fatalf("stream_start id %s info %+v; want id 2, live only", id, info)
	}

	published := []Event{
		b.Publish(ToolsChanged, map[string]any{"server": "files", "tools": 3}),
		b.Publish(ApprovalPending, map[string]string{"id": "ap-1", "tool": "rm"}),
		b.Publish(ConfigError, "line 3: \"servers\" must be a map"),
	}
	for _, ev := range published {
		wantEvent(t, c.nextEvent(t), ev)
	}
}

// r3labs's own client: typed events in order, then a reconnect with its
// Last-Event-ID replays exactly the events it missed.
func TestHTTPR3labsClientReconnect(t *testing.T) {
	b := newTestBus(t, 0)
	srv, _ := serve(t, b, HandlerOptions{})
	b.Publish(ServerStatus, "old")
	b.Publish(ServerStatus, "old")

	client := sse.NewClient(srv.URL + "?types=tools_changed,approval_pending")
	client.Connection = srv.Client() // not http.DefaultClient: its idle conns would outlive the test
	// Its default backoff retries for 15 minutes and ignores the context;
	// this test reconnects by hand.
	client.ReconnectStrategy = &backoff.StopBackOff{}

	got := make(chan *sse.Event, 100)
	subscribe := func() (context.CancelFunc, <-chan error) {
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			errc <- client.SubscribeWithContext(ctx, "", func(msg *sse.Event) {
				select {
				case got <- msg:
				case <-ctx.Done():
				}
			})
		}()
		return cancel, errc
	}
	expect := func(wantType Type, wantID uint64) *sse.Event {
		t.Helper()
		select {
		case msg := <-got:
			if string(msg.Event) != string(wantType) || string(msg.ID) != uitoa(wantID) {
				t.Fatalf("got event %q id %q, want %q id %d", msg.Event, msg.ID, wantType, wantID)
			}
			return msg
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s event %d within 10s", wantType, wantID)
		}
		return nil
	}
	stop := func(cancel context.CancelFunc, errc <-chan error) {
		t.Helper()
		cancel()
		select {
		case <-errc: // nil or the cancellation: either way it returned
		case <-time.After(10 * time.Second):
			t.Fatal("r3labs client did not return after cancel")
		}
	}

	cancel, errc := subscribe()
	expect(StreamStart, 2)
	ev3 := b.Publish(ToolsChanged, "a")
	b.Publish(ServerStatus, "filtered out")
	b.Publish(ApprovalPending, "b")
	b.Publish(ToolsChanged, "c")
	msg := expect(ToolsChanged, 3)
	if line, _ := json.Marshal(ev3); string(msg.Data) != string(line) {
		t.Fatalf("data %s, want %s", msg.Data, line)
	}
	expect(ApprovalPending, 5)
	expect(ToolsChanged, 6)
	stop(cancel, errc)
	eventually(t, "the server to notice the client left", func() bool { return b.Subscribers() == 0 })

	// Missed while away: 7 and 9 match the filter.
	b.Publish(ToolsChanged, "d")
	b.Publish(Refresh, "filtered out")
	b.Publish(ApprovalPending, "e")

	cancel, errc = subscribe() // sends Last-Event-ID: 6
	start := expect(StreamStart, 6)
	var info struct {
		Data StreamInfo `json:"data"`
	}
	if err := json.Unmarshal(start.Data, &info); err != nil || !info.Data.Resumed || info.Data.After != 6 || info.Data.Resync {
		t.Fatalf("stream_start %s (%v), want resumed after 6 without resync", start.Data, err)
	}
	expect(ToolsChanged, 7)
	expect(ApprovalPending, 9)
	b.Publish(ToolsChanged, "live")
	expect(ToolsChanged, 10)
	select {
	case extra := <-got:
		t.Fatalf("unexpected extra event %q id %q", extra.Event, extra.ID)
	default:
	}
	stop(cancel, errc)
}

func TestHTTPResume(t *testing.T) {
	const history = 8
	tests := []struct {
		name      string
		header    string // Last-Event-ID
		query     string
		published int
		wantStart uint64
		wantFrom  uint64 // first replayed ID; 0: none
		wantInfo  StreamInfo
	}{
		{"no id: live only", "", "", 5, 5, 0, StreamInfo{LastID: 5}},
		{"header", "3", "", 5, 3, 4, StreamInfo{Resumed: true, After: 3, LastID: 5}},
		{"query parameter", "", "last_event_id=2", 5, 2, 3, StreamInfo{Resumed: true, After: 2, LastID: 5}},
		{"header wins over query", "4", "last_event_id=1", 5, 4, 5, StreamInfo{Resumed: true, After: 4, LastID: 5}},
		{"explicit 0 replays all", "0", "", 5, 0, 1, StreamInfo{Resumed: true, LastID: 5}},
		{"explicit 0 on an empty bus", "0", "", 0, 0, 0, StreamInfo{Resumed: true}},
		{"gap", "3", "", 20, 12, 13, StreamInfo{Resumed: true, After: 3, LastID: 20, Missed: 9, Resync: true}},
		{"reset", "50", "", 20, 12, 13, StreamInfo{Resumed: true, After: 50, LastID: 20, Reset: true, Resync: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBus(t, history)
			srv, _ := serve(t, b, HandlerOptions{})
			for i := 0; i < tc.published; i++ {
				b.Publish(Refresh, i)
			}
			h := http.Header{}
			if tc.header != "" {
				h.Set("Last-Event-ID", tc.header)
			}
			c := dialSSE(t, srv.Client(), srv.URL+"?"+tc.query, h)
			id, info := c.start(t)
			tc.wantInfo.Started = info.Started
			if id != uitoa(tc.wantStart) || info != tc.wantInfo {
				t.Fatalf("stream_start id %s %+v\nwant id %d %+v", id, info, tc.wantStart, tc.wantInfo)
			}
			if tc.wantFrom > 0 {
				for want := tc.wantFrom; want <= uint64(tc.published); want++ {
					if f := c.nextEvent(t); f.id != uitoa(want) {
						t.Fatalf("replayed id %s, want %d", f.id, want)
					}
				}
			}
			live := b.Publish(ToolsChanged, "live")
			wantEvent(t, c.nextEvent(t), live)
		})
	}
}

func TestHTTPTypesFilter(t *testing.T) {
	b := newTestBus(t, 0)
	srv, _ := serve(t, b, HandlerOptions{})
	c := dialSSE(t, srv.Client(), srv.URL+"?types=approval_pending,%20approval_decided&types=config_error", nil)
	c.start(t)
	var want []Event
	for _, typ := range []Type{ServerStatus, ApprovalPending, ToolsChanged, ApprovalDecided, Refresh, ConfigError} {
		ev := b.Publish(typ, "x")
		if typ == ApprovalPending || typ == ApprovalDecided || typ == ConfigError {
			want = append(want, ev)
		}
	}
	for _, ev := range want {
		wantEvent(t, c.nextEvent(t), ev)
	}
}

func TestHTTPBadInput(t *testing.T) {
	b := newTestBus(t, 0)
	srv, th := serve(t, b, HandlerOptions{})
	tests := []struct {
		name, header, query, wantInError string
	}{
		{"non-numeric header", "abc", "", `Last-Event-ID header "abc"`},
		{"negative header", "-1", "", `Last-Event-ID header "-1"`},
		{"non-numeric query", "", "last_event_id=1.5", `last_event_id parameter "1.5"`},
		{"unknown type", "", "types=tools_changed,bogus", `"bogus"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"?"+tc.query, nil)
			if tc.header != "" {
				req.Header.Set("Last-Event-ID", tc.header)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Success *bool  `json:"success"`
				Error   string `json:"error"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" ||
				body.Success == nil || *body.Success || !strings.Contains(body.Error, tc.wantInError) {
				t.Fatalf("%s %s success=%v error=%q; want 400 JSON naming %s",
					resp.Status, resp.Header.Get("Content-Type"), body.Success, body.Error, tc.wantInError)
			}
		})
	}
	if b.Subscribers() != 0 || th.active.Load() != 0 {
		t.Fatal("a rejected request left a subscriber or a running handler")
	}
}

func TestHTTPClosedBus(t *testing.T) {
	b := newTestBus(t, 0)
	srv, _ := serve(t, b, HandlerOptions{})
	b.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %s, want 503", resp.Status)
	}
}

// noFlushWriter hides the recorder's Flush.
type noFlushWriter struct{ w http.ResponseWriter }

func (n noFlushWriter) Header() http.Header         { return n.w.Header() }
func (n noFlushWriter) Write(p []byte) (int, error) { return n.w.Write(p) }
func (n noFlushWriter) WriteHeader(code int)        { n.w.WriteHeader(code) }

func TestHTTPNoFlusher(t *testing.T) {
	b := newTestBus(t, 0)
	rec := httptest.NewRecorder()
	b.Handler(HandlerOptions{Logger: quietLogger()}).ServeHTTP(noFlushWriter{rec}, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusInternalServerError || b.Subscribers() != 0 {
		t.Fatalf("status %d, subscribers %d; want 500 and none", rec.Code, b.Subscribers())
	}
}

func TestHTTPHeartbeat(t *testing.T) {
	b := newTestBus(t, 0)
	srv, _ := serve(t, b, HandlerOptions{Heartbeat: 20 * time.Millisecond})
	c := dialSSE(t, srv.Client(), srv.URL, nil)
	c.start(t)
	for i := 0; i < 3; i++ {
		f := c.next(t)
		if f.data != "" || f.hasID || !slices.Equal(f.comments, []string{"keepalive"}) {
			t.Fatalf("frame %+v, want a keepalive comment", f)
		}
	}
}

// HTTP/2 resets a stream when its write deadline passes, even while idle.
// The handler arms the deadline only during writes, so a stream idle for
// many WriteTimeouts stays open.
func TestHTTP2IdleLongerThanWriteTimeout(t *testing.T) {
	b := newTestBus(t, 0)
	th := track(b.Handler(HandlerOptions{
		Heartbeat:    300 * time.Millisecond,
		WriteTimeout: 100 * time.Millisecond,
		Logger:       quietLogger(),
	}))
	srv := httptest.NewUnstartedServer(th)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close)

	c := dialSSE(t, srv.Client(), srv.URL, nil)
	if c.resp.ProtoMajor != 2 {
		t.Fatalf("protocol %s, want HTTP/2", c.resp.Proto)
	}
	c.start(t)
	for i := 0; i < 3; i++ { // ~900ms idle apart from heartbeats
		if f := c.next(t); len(f.comments) == 0 {
			t.Fatalf("frame %+v, want a heartbeat", f)
		}
	}
	live := b.Publish(ToolsChanged, "still here")
	wantEvent(t, c.nextEvent(t), live)
}

func TestHTTPBusCloseEndsStreams(t *testing.T) {
	b := newTestBus(t, 0)
	srv, th := serve(t, b, HandlerOptions{})
	var conns []*sseConn
	for i := 0; i < 3; i++ {
		c := dialSSE(t, srv.Client(), srv.URL, nil)
		c.start(t)
		conns = append(conns, c)
	}
	b.Close()
	for _, c := range conns {
		c.wantEOF(t)
	}
	eventually(t, "handlers to return", func() bool { return th.active.Load() == 0 })
	if b.Subscribers() != 0 {
		t.Fatalf("Subscribers() = %d", b.Subscribers())
	}
}

func TestHTTPClientGoneEndsHandler(t *testing.T) {
	b := newTestBus(t, 0)
	srv, th := serve(t, b, HandlerOptions{})
	c := dialSSE(t, srv.Client(), srv.URL, nil)
	c.start(t)
	c.close()
	eventually(t, "the handler to return", func() bool { return th.active.Load() == 0 && b.Subscribers() == 0 })
}

// smallBufListener shrinks the kernel send buffer of accepted connections so
// a client that never reads stalls the server's writes after a few KB
// instead of a few MB.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8 << 10)
	}
	return c, err
}

// A client that connects and never reads must not slow anybody down: Publish
// does not block, the other clients get every event promptly, and the stuck
// connection is cut off within WriteTimeout of stalling.
func TestHTTPSlowConsumer(t *testing.T) {
	const (
		// Long enough that a Publish held up by a 2-core machine under a
		// parallel -race test run (750 ms seen) is not taken for one that
		// waited for the slow client, which would take this long.
		writeTimeout = 2 * time.Second
		events       = 400
		fastClients  = 3
	)
	b := NewBus(Options{Logger: quietLogger()})
	th := track(b.Handler(HandlerOptions{Buffer: 16, WriteTimeout: writeTimeout, Heartbeat: time.Hour, Logger: quietLogger()}))
	srv := httptest.NewUnstartedServer(th)
	srv.Listener = smallBufListener{srv.Listener}
	srv.Start()

	// The slow client: a raw TCP connection with a tiny receive buffer that
	// sends a request and never reads the response.
	slow, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_ = slow.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, err := fmt.Fprintf(slow, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Listener.Addr()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the slow client to subscribe", func() bool { return b.Subscribers() == 1 })

	fast := make([]*sseConn, fastClients)
	for i := range fast {
		fast[i] = dialSSE(t, srv.Client(), srv.URL, nil)
		fast[i].start(t)
	}

	payload := strings.Repeat("x", 16<<10)
	var maxPublish, maxDelivery time.Duration
	began := time.Now()
	for i := 0; i < events; i++ {
		t0 := time.Now()
		ev := b.Publish(ToolsChanged, payload)
		maxPublish = max(maxPublish, time.Since(t0))
		for _, c := range fast {
			if f := c.nextEvent(t); f.id != uitoa(ev.ID) {
				t.Fatalf("fast client got id %s, want %d", f.id, ev.ID)
			}
		}
		maxDelivery = max(maxDelivery, time.Since(t0))
	}
	published := time.Now()

	var slowEnded time.Time
	select {
	case slowEnded = <-th.ended:
	case <-time.After(published.Sub(began) + writeTimeout + 5*time.Second):
		t.Fatal("the slow client's handler did not return")
	}
	t.Logf("%d events of %d KiB to %d clients in %v; max Publish %v, max delivery to all fast clients %v; slow client ended %v after the first publish",
		events, len(payload)>>10, fastClients, published.Sub(began), maxPublish, maxDelivery, slowEnded.Sub(began))
	if maxPublish >= writeTimeout {
		t.Errorf("a Publish took %v: it waited for the slow client", maxPublish)
	}
	if b.Subscribers() != fastClients {
		t.Errorf("Subscribers() = %d, want %d", b.Subscribers(), fastClients)
	}

	// Tear everything down and check nothing is left running.
	slow.Close()
	for _, c := range fast {
		c.close()
	}
	b.Close()
	srv.Close()
	goleak.VerifyNone(t)
}

// http.Server.WriteTimeout is a deadline on the connection, set when the
// request is read: left alone it would cut every stream after WriteTimeout.
// The handler's per-event deadline replaces it. (ReadTimeout is harmless:
// net/http lifts the read deadline when it starts its background read.)
func TestHTTPOutlivesServerTimeouts(t *testing.T) {
	b := newTestBus(t, 0)
	th := track(b.Handler(HandlerOptions{Heartbeat: 50 * time.Millisecond, Logger: quietLogger()}))
	srv := httptest.NewUnstartedServer(th)
	srv.Config.ReadTimeout = 150 * time.Millisecond
	srv.Config.WriteTimeout = 150 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close)

	c := dialSSE(t, srv.Client(), srv.URL, nil)
	c.start(t)
	for i := 0; i < 10; i++ { // ~500ms: several Read and WriteTimeouts
		c.next(t)
	}
	live := b.Publish(ToolsChanged, "still here")
	wantEvent(t, c.nextEvent(t), live)
}
