package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestPassJSON checks that a request reaches the upstream as sent (method,
// headers, body) and its answer comes back as sent (status, headers, body).
func TestPassJSON(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.Header.Get("Mcp-Session-Id") != "s1" || r.ContentLength != 8 || string(body) != `{"id":1}` {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Mcp-Session-Id", "s1")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer up.Close()
	proxy := httptest.NewServer(pass(up.Client(), up.URL))
	defer proxy.Close()

	req, _ := http.NewRequest(http.MethodPost, proxy.URL, strings.NewReader(`{"id":1}`))
	req.Header.Set("Mcp-Session-Id", "s1")
	resp, err := proxy.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Mcp-Session-Id") != "s1" || string(body) != `{"ok":true}` {
		t.Errorf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// TestPassEventStream checks that an event stream's events reach the
// client as the upstream sends them, not at its end.
func TestPassEventStream(t *testing.T) {
	second := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-second:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	}))
	defer up.Close()
	proxy := httptest.NewServer(pass(up.Client(), up.URL))
	defer proxy.Close()

	var once sync.Once
	release := func() { once.Do(func() { close(second) }) }
	defer release() // first of the defers: the upstream ends, so do the servers
	// Bounded: an answer held back until its end never arrives at all,
	// since the upstream sends its second event only after the first.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, proxy.URL, nil)
	resp, err := proxy.Client().Do(req)
	if err != nil {
		t.Fatalf("no answer while the stream was open: %v", err)
	}
	defer resp.Body.Close()
	lines := make(chan string, 2)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() != "" {
				lines <- sc.Text()
			}
		}
	}()
	for i, want := range []string{"data: one", "data: two"} {
		select {
		case got := <-lines:
			if got != want {
				t.Fatalf("event %d: %q, want %q", i, got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d (%q) did not come through while the stream was open", i, want)
		}
		if i == 0 {
			release() // the upstream sends the second only now
		}
	}
}
