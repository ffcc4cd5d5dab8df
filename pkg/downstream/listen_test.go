package downstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/downstream"
)

const listChanged = `{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`

// openStream answers a standalone GET with an event stream and the given
// events, then holds it open until the client goes (hold) or ends it.
func openStream(w http.ResponseWriter, r *http.Request, hold bool, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	for _, e := range events {
		fmt.Fprintf(w, "data: %s\n\n", e)
	}
	w.(http.Flusher).Flush()
	if hold {
		<-r.Context().Done()
	}
}

func (s *scripted) count(method, session string) int {
	n := 0
	for _, r := range s.seen() {
		if r.method == method && (session == "" || r.header.Get("Mcp-Session-Id") == session) {
			n++
		}
	}
	return n
}

// TestListenNotification checks that the GET stream reaches the hub
// between calls: list_changed makes it list the tools again, and a request
// from the server is answered.
func TestListenNotification(t *testing.T) {
	s := &scripted{}
	s.listen = func(w http.ResponseWriter, r *http.Request) {
		openStream(w, r, true,
			`{"jsonrpc":"2.0","id":7,"result":{}}`, // a stray response: skipped
			`{"jsonrpc":"2.0","id":"srv-1","method":"ping"}`,
			listChanged)
	}
	startScripted(t, s)
	waitFor(t, "tools/list again after list_changed on the GET stream", 5*time.Second, func() bool {
		return s.count("tools/list", "") >= 2
	})
	waitFor(t, "the server's ping answered", 5*time.Second, func() bool {
		for _, r := range s.seen() {
			if r.method == "" && strings.Contains(r.body, `"id":"srv-1"`) && strings.Contains(r.body, `"result"`) &&
				r.header.Get("Mcp-Session-Id") == "sess-1" {
				return true
			}
		}
		return false
	})
	if n := s.count("GET", "sess-1"); n != 1 {
		t.Errorf("%d GET streams opened, want the one held open", n)
	}
}

// TestListenFollowsSession checks that the GET stream is opened again when
// the server ends it, and that when the server forgets the session (404)
// the hub re-initialises at once and listens on the new session.
func TestListenFollowsSession(t *testing.T) {
	s := &scripted{}
	s.listen = func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		current := s.session
		s.mu.Unlock()
		switch sid := r.Header.Get("Mcp-Session-Id"); {
		case sid != current:
			http.Error(w, "unknown session", http.StatusNotFound)
		case sid == "sess-2":
			openStream(w, r, true, listChanged)
		default:
			openStream(w, r, false) // ends at once: the hub opens it again
		}
	}
	startScriptedWith(t, s, downstream.Options{ListenRetry: 20 * time.Millisecond})
	waitFor(t, "the ended stream opened again", 5*time.Second, func() bool { return s.count("GET", "sess-1") >= 3 })
	// Not at once: after the retry interval (20 ms here).
	before := s.count("GET", "sess-1")
	time.Sleep(200 * time.Millisecond)
	switch n := s.count("GET", "sess-1") - before; {
	case n > 12:
		t.Errorf("%d GET streams in 200 ms: reopened without waiting", n)
	case n < 2:
		t.Errorf("%d GET streams in 200 ms: not reopened after Options.ListenRetry", n)
	}

	s.mu.Lock()
	s.session = "sess-2" // the server restarted: sess-1 is unknown now
	s.mu.Unlock()
	waitFor(t, "a GET stream on the new session", 5*time.Second, func() bool { return s.count("GET", "sess-2") >= 1 })
	if n := s.count("initialize", ""); n != 2 {
		t.Errorf("%d initialize requests, want 2 (the start and after the 404)", n)
	}
	if n := s.count("tools/call", ""); n != 0 {
		t.Errorf("%d calls: the re-initialisation should not have waited for one", n)
	}
	// Ended and refused streams are opened again; a held one is not.
	time.Sleep(100 * time.Millisecond)
	if n := s.count("GET", "sess-2"); n != 1 {
		t.Errorf("%d GET streams on the new session, want 1 held open", n)
	}
}

// TestListenFollowsReinitByCall checks that when a call finds the session
// gone and re-initialises it, the GET stream moves to the new session as
// soon as it exists: while mcp-go has no session (the re-initialisation is
// under way) no GET goes out, and a listener waiting out its retry interval
// does not wait it to the end.
func TestListenFollowsReinitByCall(t *testing.T) {
	for _, tc := range []struct {
		name  string
		retry time.Duration
	}{
		// The stream is opened again every 20 ms, so the listener meets
		// the session mid-re-initialisation and waits for it.
		{"listening meanwhile", 20 * time.Millisecond},
		// The listener is waiting out a 10 s retry when the session moves.
		{"waiting to retry", 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{reinitDelay: 300 * time.Millisecond,
				call: func(w http.ResponseWriter, id json.RawMessage) { writeJSON(w, id, okResult) }}
			s.listen = func(w http.ResponseWriter, r *http.Request) { openStream(w, r, false) } // ends at once
			c := startScriptedWith(t, s, downstream.Options{ListenRetry: tc.retry})
			waitFor(t, "a GET stream on the first session", 5*time.Second, func() bool { return s.count("GET", "sess-1") >= 1 })
			s.mu.Lock()
			s.session = "sess-2" // the server restarted: sess-1 is unknown now
			s.mu.Unlock()
			if _, err := c.CallTool(context.Background(), "echo", json.RawMessage(`{}`), nil); err != nil {
				t.Fatalf("the call that re-initialises: %v", err)
			}
			waitFor(t, "a GET stream on the new session", 3*time.Second, func() bool { return s.count("GET", "sess-2") >= 1 })
			for _, r := range s.seen() {
				if r.method == "GET" && r.header.Get("Mcp-Session-Id") == "" {
					t.Error("a GET stream was asked for without a session")
				}
			}
		})
	}
}

// TestListenStopsOn405 checks that a server without a GET stream (405) is
// not asked again.
func TestListenStopsOn405(t *testing.T) {
	s := &scripted{} // no listen: 405
	startScriptedWith(t, s, downstream.Options{ListenRetry: 20 * time.Millisecond})
	waitFor(t, "the GET stream asked for", 5*time.Second, func() bool { return s.count("GET", "") >= 1 })
	time.Sleep(200 * time.Millisecond) // ten retry intervals
	if n := s.count("GET", ""); n != 1 {
		t.Errorf("%d GET requests, want 1", n)
	}
}

// TestListen404OnLiveSession checks that a server which refuses the GET
// stream with 404 while the session still works for requests is pinged
// once and then left alone, not pinged in a loop.
func TestListen404OnLiveSession(t *testing.T) {
	s := &scripted{}
	var opened atomic.Bool
	s.listen = func(w http.ResponseWriter, r *http.Request) {
		if opened.CompareAndSwap(false, true) {
			openStream(w, r, false) // works once, then ends
			return
		}
		http.Error(w, "no stream here", http.StatusNotFound)
	}
	startScriptedWith(t, s, downstream.Options{ListenRetry: 20 * time.Millisecond})
	waitFor(t, "a ping after the 404, and one more 404", 5*time.Second, func() bool {
		return s.count("ping", "") >= 1 && s.count("GET", "") >= 3
	})
	time.Sleep(200 * time.Millisecond) // ten retry intervals: nothing more
	if p, g, i := s.count("ping", ""), s.count("GET", ""), s.count("initialize", ""); p != 1 || g != 3 || i != 1 {
		t.Errorf("%d pings, %d GETs, %d initialize; want 1 ping, 3 GETs (opened, 404 and ping, 404 and stop), no re-initialisation", p, g, i)
	}
}
