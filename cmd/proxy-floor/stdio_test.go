package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv makes the test binary the stdio server of TestStdioFloor.
const childEnv = "PROXY_FLOOR_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		pairsInReverse()
		return
	}
	os.Exit(m.Run())
}

// pairsInReverse is a stdio server that holds each request until a second
// one comes and then answers the second first, so that answers come out of
// order. Before each answer it sends a line that is not JSON, a
// notification and a request of its own with the same id, none of which may
// be taken for the answer. Notifications from the client get nothing.
func pairsInReverse() {
	in := bufio.NewScanner(os.Stdin)
	var held []json.RawMessage
	for in.Scan() {
		var msg envelope
		if json.Unmarshal(in.Bytes(), &msg) != nil || msg.ID == nil {
			continue
		}
		if held = append(held, msg.ID); len(held) < 2 {
			continue
		}
		for _, id := range []json.RawMessage{held[1], held[0]} {
			fmt.Printf("not json\n{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\"}\n"+
				"{\"jsonrpc\":\"2.0\",\"id\":%s,\"method\":\"roots/list\"}\n"+
				"{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{\"answers\":%s}}\n", id, id, id)
		}
		held = held[:0]
	}
}

// TestStdioFloor checks the stdio reference: each request gets the answer
// with its own id, whatever the order the server answers in; notifications
// are accepted without an answer; bad input is refused; and once the
// server has ended, requests fail instead of waiting.
func TestStdioFloor(t *testing.T) {
	t.Setenv(childEnv, "1")
	f, stop, err := startStdio([]string{os.Args[0]})
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = stop()
		}
	}()
	srv := httptest.NewServer(f)
	defer srv.Close()
	post := func(body string) (int, string) {
		resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	request := func(id string) string { return `{"jsonrpc":"2.0","id":` + id + `,"method":"ping"}` }

	if code, body := post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); code != http.StatusAccepted || body != "" {
		t.Errorf("notification: %d %q, want 202 and no body", code, body)
	}
	for _, bad := range []string{`{"id":`, "{\"id\":1,\n\"method\":\"ping\"}"} {
		if code, body := post(bad); code != http.StatusBadRequest {
			t.Errorf("%q: %d %q, want 400", bad, code, body)
		}
	}

	// Two requests in flight at once; the server answers the second first.
	var wg sync.WaitGroup
	for _, id := range []string{`1`, `"a"`} {
		wg.Go(func() {
			code, body := post(request(id))
			if want := `{"jsonrpc":"2.0","id":` + id + `,"result":{"answers":` + id + `}}`; code != http.StatusOK || body != want {
				t.Errorf("id %s: %d %q, want 200 %q", id, code, body, want)
			}
		})
	}
	wg.Wait()

	// An id already in flight is refused; the first is answered once a
	// second request pairs with it.
	first := make(chan string, 1)
	go func() { _, body := post(request(`5`)); first <- body }()
	for inFlight := false; !inFlight; {
		time.Sleep(time.Millisecond)
		f.mu.Lock()
		_, inFlight = f.pending[`5`]
		f.mu.Unlock()
	}
	if code, body := post(request(`5`)); code != http.StatusConflict {
		t.Errorf("second request with id 5: %d %q, want 409", code, body)
	}
	if code, _ := post(request(`6`)); code != http.StatusOK {
		t.Errorf("id 6: %d, want 200", code)
	}
	if body := <-first; !strings.Contains(body, `"answers":5`) {
		t.Errorf("id 5: %q", body)
	}

	// The server ends at EOF on its stdin, cleanly; a request after that
	// fails at once.
	stopped = true
	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if code, body := post(request(`7`)); code != http.StatusBadGateway {
		t.Errorf("after the server ended: %d %q, want 502", code, body)
	}
}
