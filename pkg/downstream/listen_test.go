package downstream_test

import (
	"fmt"
	"net/http"
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

// TestListenNotification checks that a notification on the GET stream
// reaches the hub between calls: list_changed makes it list the tools again.
func TestListenNotification(t *testing.T) {
	s := &scripted{}
	s.listen = func(w http.ResponseWriter, r *http.Request) {
		openStream(w, r, true, `{"jsonrpc":"2.0","id":7,"result":{}}`, listChanged) // a stray response is skipped
	}
	startScripted(t, s)
	waitFor(t, "tools/list again after list_changed on the GET stream", 5*time.Second, func() bool {
		return s.count("tools/list", "") >= 2
	})
	if n := s.count("GET", "sess-1"); n != 1 {
		t.Errorf("%d GET streams opened, want the one held open", n)
	}
}

// TestListenFollowsSession checks that the GET stream is opened again when
// the server ends it, and that when the server forgets the session (404)
// the hub re-initialises at once and listens on the new session.
func TestListenFollowsSession(t *testing.T) {
	defer downstream.SetListenRetry(20 * time.Millisecond)()
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
	startScripted(t, s)
	waitFor(t, "the ended stream opened again", 5*time.Second, func() bool { return s.count("GET", "sess-1") >= 3 })

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

// TestListenStopsOn405 checks that a server without a GET stream (405) is
// not asked again.
func TestListenStopsOn405(t *testing.T) {
	defer downstream.SetListenRetry(20 * time.Millisecond)()
	s := &scripted{} // no listen: 405
	startScripted(t, s)
	time.Sleep(200 * time.Millisecond) // ten retry intervals
	if n := s.count("GET", ""); n != 1 {
		t.Errorf("%d GET requests, want 1", n)
	}
}
