package events

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Test plumbing shared by the HTTP tests: a raw SSE reader over net/http,
// a handler wrapper that tracks running handlers, and server setup.

// frame is one parsed SSE event (or comment-only block).
type frame struct {
	id, event, data string
	hasID           bool
	comments        []string
}

// sseConn reads frames from one streaming response in its own goroutine.
type sseConn struct {
	resp   *http.Response
	frames chan frame
	stop   chan struct{}
	done   chan struct{}
	err    error // why reading ended; set before done closes
}

func dialSSE(t *testing.T, client *http.Client, url string, header http.Header) *sseConn {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	c := &sseConn{resp: resp, frames: make(chan frame, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	go c.read()
	t.Cleanup(c.close)
	return c
}

func (c *sseConn) read() {
	defer close(c.done)
	r := bufio.NewReader(c.resp.Body)
	var f frame
	empty := true
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.err = err
			return
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !empty {
				select {
				case c.frames <- f:
				case <-c.stop:
					c.err = errors.New("stopped")
					return
				}
			}
			f, empty = frame{}, true
			continue
		}
		empty = false
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			f.comments = append(f.comments, value)
		case "id":
			f.id, f.hasID = value, true
		case "event":
			f.event = value
		case "data":
			f.data = value
		}
	}
}

func (c *sseConn) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	c.resp.Body.Close()
	<-c.done
}

// next returns the next frame, comments included.
func (c *sseConn) next(t *testing.T) frame {
	t.Helper()
	select {
	case f := <-c.frames:
		return f
	case <-c.done:
		select {
		case f := <-c.frames:
			return f
		default:
		}
		t.Fatalf("stream ended: %v", c.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no frame within 10s")
	}
	return frame{}
}

// nextEvent returns the next frame that carries data, skipping heartbeats.
func (c *sseConn) nextEvent(t *testing.T) frame {
	t.Helper()
	for {
		if f := c.next(t); f.data != "" {
			return f
		}
	}
}

// start reads the StreamStart event and returns its id and info.
func (c *sseConn) start(t *testing.T) (string, StreamInfo) {
	t.Helper()
	f := c.nextEvent(t)
	if f.event != string(StreamStart) {
		t.Fatalf("first event is %q, want %q", f.event, StreamStart)
	}
	var ev struct {
		Event
		Data StreamInfo `json:"data"`
	}
	if err := json.Unmarshal([]byte(f.data), &ev); err != nil {
		t.Fatalf("stream_start data %s: %v", f.data, err)
	}
	if ev.Type != StreamStart || f.id != uitoa(ev.ID) {
		t.Fatalf("stream_start frame id %q, JSON %s", f.id, f.data)
	}
	return f.id, ev.Data
}

// wantEvent checks that f is the SSE form of ev.
func wantEvent(t *testing.T, f frame, ev Event) {
	t.Helper()
	line, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if f.id != uitoa(ev.ID) || f.event != string(ev.Type) || f.data != string(line) {
		t.Fatalf("frame id=%q event=%q data=%s\nwant id=%d event=%q data=%s", f.id, f.event, f.data, ev.ID, ev.Type, line)
	}
}

// wantEOF waits for the server to end the stream cleanly.
func (c *sseConn) wantEOF(t *testing.T) {
	t.Helper()
	for {
		select {
		case <-c.frames:
			continue
		case <-c.done:
			if c.err != io.EOF {
				t.Fatalf("stream ended with %v, want a clean EOF", c.err)
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("stream not ended within 10s")
		}
	}
}

// tracked counts running handlers so tests can see them return.
type tracked struct {
	h      http.Handler
	active atomic.Int32
	ended  chan time.Time
}

func (h *tracked) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.active.Add(1)
	defer func() {
		h.active.Add(-1)
		select {
		case h.ended <- time.Now():
		default:
		}
	}()
	h.h.ServeHTTP(w, r)
}

func track(h http.Handler) *tracked {
	return &tracked{h: h, ended: make(chan time.Time, 64)}
}

// serve starts an HTTP/1.1 test server for the bus. Cleanup closes the bus
// first: httptest.Server.Close waits for running handlers, and streams
// only end when something ends them.
func serve(t *testing.T, b *Bus, opts HandlerOptions) (*httptest.Server, *tracked) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	th := track(b.Handler(opts))
	srv := httptest.NewServer(th)
	t.Cleanup(srv.Close)
	t.Cleanup(b.Close)
	return srv, th
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func uitoa(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
