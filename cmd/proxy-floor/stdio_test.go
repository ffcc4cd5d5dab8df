package main

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/linerpc"
	"github.com/mcphub/mcphub/internal/linerpc/linerpctest"
	"github.com/mcphub/mcphub/internal/loopback"
)

func TestMain(m *testing.M) {
	linerpctest.Main()
	os.Exit(m.Run())
}

var (
	request  = linerpctest.Request
	answerOf = linerpctest.AnswerOf
)

// TestStdioFloor checks the stdio reference's HTTP side: each request gets
// the answer with its own id, in whatever order they come; notifications
// and answers to the server are accepted with nothing to wait for; bad
// input, a second request with an id in flight and a server that never
// answers each get their status; once the server has ended, requests fail
// at once.
func TestStdioFloor(t *testing.T) {
	pipe, err := linerpc.Start(linerpctest.Command())
	if err != nil {
		t.Fatal(err)
	}
	defer pipe.Close(5 * time.Second) // Close is idempotent: the checked one is below
	srv := httptest.NewServer(stdioFloor{pipe, 2 * time.Second})
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

	for _, body := range []string{
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":9,"result":{}}`,        // an answer to a request of the server's
		`{"jsonrpc":"2.0","id":null,"method":"ping"}`, // no id to answer to
	} {
		if code, got := post(body); code != http.StatusAccepted || got != "" {
			t.Errorf("%s: %d %q, want 202 and no body", body, code, got)
		}
	}
	for _, bad := range []string{`{"id":`, "{\"id\":1,\n\"method\":\"ping\"}", `[` + request(`1`, "ping") + `]`, `7`} {
		if code, got := post(bad); code != http.StatusBadRequest {
			t.Errorf("%q: %d %q, want 400", bad, code, got)
		}
	}
	if code, _ := post(`{"jsonrpc":"2.0","method":"x","params":"` + strings.Repeat("x", linerpc.MaxLine) + `"}`); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a message over linerpc.MaxLine: %d, want 413", code)
	}
	if resp, err := srv.Client().Get(srv.URL); err != nil {
		t.Errorf("GET: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d, want 405", resp.StatusCode)
		}
	}

	// Two requests held at once, answered in reverse order; the second of
	// one id is refused while the first waits.
	var wg sync.WaitGroup
	for _, id := range []string{`1`, `"a"`} {
		wg.Go(func() {
			if code, got := post(request(id, "hold")); code != http.StatusOK || got != answerOf(id) {
				t.Errorf("id %s: %d %q, want 200 %q", id, code, got, answerOf(id))
			}
		})
	}
	linerpctest.WaitWaiting(t, pipe, 2)
	if code, got := post(request(`1`, "ping")); code != http.StatusConflict {
		t.Errorf("a second request with id 1: %d %q, want 409", code, got)
	}
	if code, got := post(request(`2`, "release")); code != http.StatusOK || got != answerOf(`2`) {
		t.Errorf("release: %d %q", code, got)
	}
	wg.Wait()

	impatient := httptest.NewServer(stdioFloor{pipe, 100 * time.Millisecond})
	defer impatient.Close()
	if resp, err := impatient.Client().Post(impatient.URL, "application/json", strings.NewReader(request(`3`, "hold"))); err != nil {
		t.Error(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("never answered: %d, want 504", resp.StatusCode)
		}
	}

	// The server ends: a request then fails at once.
	if code, _ := post(request(`4`, "quit")); code != http.StatusBadGateway {
		t.Errorf("the request the server exited on: %d, want 502", code)
	}
	if err := pipe.Close(5 * time.Second); err != nil {
		t.Errorf("Close: %v", err)
	}
	if code, got := post(request(`5`, "ping")); code != http.StatusBadGateway {
		t.Errorf("after the server ended: %d %q, want 502", code, got)
	}
}

// TestRunStdioEndsWithServer: proxy-floor serves the child until the child
// exits, then stops, reaps it and says why.
func TestRunStdioEndsWithServer(t *testing.T) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	// runStdio makes its own command from argv: the environment it
	// passes on says what the child is.
	for _, kv := range linerpctest.ChildEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	done := make(chan error, 1)
	go func() { done <- runStdio(addr, []string{os.Args[0]}) }()
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err = http.Post("http://"+addr, "application/json", strings.NewReader(request(`1`, "ping")))
		if err == nil || time.Now().After(deadline) {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("runStdio returned before serving: %v", err)
		default:
		}
	}
	if err != nil {
		t.Fatalf("not serving: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != answerOf(`1`) {
		t.Errorf("answer %q", b)
	}
	if resp, err := http.Post("http://"+addr, "application/json", strings.NewReader(request(`2`, "exit"))); err == nil {
		resp.Body.Close()
	}
	select {
	case err := <-done:
		if !errors.Is(err, errServerEnded) {
			t.Errorf("runStdio: %v, want errServerEnded", err)
		}
		// Reaped: the fake server's "exit" status is in the error.
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Errorf("runStdio: %v, want the child's exit status 3", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still serving 10 s after its server exited")
	}
}
