package linerpc

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mcphub/mcphub/internal/linerpc/linerpctest"
)

func TestMain(m *testing.M) {
	linerpctest.Main()
	goleak.VerifyTestMain(m)
}

func start(t *testing.T) *Pipe {
	t.Helper()
	p, err := Start(linerpctest.Command())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func request(id, method string) []byte { return []byte(linerpctest.Request(id, method)) }

var answerOf = linerpctest.AnswerOf

// bounded is the test's context, ended after 10 s: a Call that would wait
// forever fails instead.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// call makes a Call and checks it got id's answer.
func call(t *testing.T, p *Pipe, id, method string) {
	t.Helper()
	got, err := p.Call(bounded(t), []byte(id), request(id, method))
	if err != nil || string(got) != answerOf(id) {
		t.Errorf("%s %s: %q, %v; want %q", method, id, got, err, answerOf(id))
	}
}

func closeOK(t *testing.T, p *Pipe) {
	t.Helper()
	if err := p.Close(5 * time.Second); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestCallMatchesIDs: answers reach their requests whatever their order,
// by ids of any JSON type, and lines that are not answers (not JSON, a
// notification, the server's own request with the same id) are not taken
// for them.
func TestCallMatchesIDs(t *testing.T) {
	p := start(t)
	defer closeOK(t, p)
	call(t, p, `1`, "echo")
	call(t, p, `"a"`, "echo")
	var wg sync.WaitGroup
	for _, id := range []string{`2`, `"b"`} {
		wg.Go(func() { call(t, p, id, "hold") })
	}
	linerpctest.WaitWaiting(t, p, 2)
	call(t, p, `3`, "release") // answers "b", then 2, then 3
	wg.Wait()
	call(t, p, `1`, "echo") // an answered id is free again
}

// TestInFlightAndCancel: an id still waiting is refused; a Call whose
// context ends frees its id.
func TestInFlightAndCancel(t *testing.T) {
	p := start(t)
	defer closeOK(t, p)
	ctx, cancel := context.WithCancel(bounded(t))
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(ctx, []byte(`5`), request(`5`, "hold"))
		done <- err
	}()
	linerpctest.WaitWaiting(t, p, 1)
	if _, err := p.Call(bounded(t), []byte(`5`), request(`5`, "echo")); !errors.Is(err, ErrInFlight) {
		t.Errorf("a second request with id 5: %v, want ErrInFlight", err)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the cancelled Call: %v", err)
	}
	call(t, p, `5`, "echo")
}

// TestExtraAnswers: a server answering one request three times neither
// blocks the reader nor answers a later request.
func TestExtraAnswers(t *testing.T) {
	p := start(t)
	defer closeOK(t, p)
	call(t, p, `1`, "thrice")
	call(t, p, `2`, "echo")
}

// TestAnswerOwned: an answer is the caller's, not the reader's buffer,
// which later lines overwrite.
func TestAnswerOwned(t *testing.T) {
	p := start(t)
	defer closeOK(t, p)
	got, err := p.Call(bounded(t), []byte(`1`), request(`1`, "flood"))
	if err != nil {
		t.Fatal(err)
	}
	call(t, p, `2`, "echo") // answered after the flood: the reader has read it all
	if string(got) != answerOf(`1`) {
		t.Errorf("the first answer became %.200q", got)
	}
}

// TestServerExits: a request waiting when the server exits, and one made
// after, fail instead of waiting; Close reports the exit status.
func TestServerExits(t *testing.T) {
	p := start(t)
	done := make(chan error, 1)
	go func() {
		_, err := p.Call(bounded(t), []byte(`1`), request(`1`, "hold"))
		done <- err
	}()
	linerpctest.WaitWaiting(t, p, 1)
	if _, err := p.Call(bounded(t), []byte(`2`), request(`2`, "exit")); !errors.Is(err, ErrEnded) {
		t.Errorf("the request it exited on: %v, want ErrEnded", err)
	}
	if err := <-done; !errors.Is(err, ErrEnded) {
		t.Errorf("the request waiting: %v, want ErrEnded", err)
	}
	select {
	case <-p.Ended():
	default:
		t.Error("Ended is not closed")
	}
	if _, err := p.Call(bounded(t), []byte(`3`), request(`3`, "echo")); err == nil {
		t.Error("a request after the exit succeeded")
	}
	var exit *exec.ExitError
	if err := p.Close(5 * time.Second); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("Close: %v, want exit status 3", err)
	}
	if err := p.Close(5 * time.Second); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("Close again: %v, want the first one's result", err)
	}
}

// TestLongLine: a line over MaxLine ends the answers with bufio.ErrTooLong,
// and the server, still writing it, is not left blocked: it ends at EOF.
func TestLongLine(t *testing.T) {
	if linerpctest.LongLine <= MaxLine {
		t.Fatalf("the fake server's long line (%d bytes) is not over MaxLine (%d)", linerpctest.LongLine, MaxLine)
	}
	p := start(t)
	_, err := p.Call(bounded(t), []byte(`1`), request(`1`, "long"))
	if !errors.Is(err, ErrEnded) || !errors.Is(err, bufio.ErrTooLong) {
		t.Errorf("Call: %v, want ErrEnded and bufio.ErrTooLong", err)
	}
	if err := p.Err(); !errors.Is(err, bufio.ErrTooLong) {
		t.Errorf("Err: %v, want bufio.ErrTooLong", err)
	}
	start := time.Now()
	closed := make(chan error, 1)
	go func() { closed <- p.Close(5 * time.Second) }()
	select {
	case err := <-closed:
		if took := time.Since(start); err != nil || took > 3*time.Second {
			t.Errorf("Close: %v after %v; want the server ended at EOF at once, not blocked writing", err, took)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Close hung: the server is blocked writing and never exits")
	}
}

// TestCloseKills: a server that stays up after its stdin ends is killed
// after the grace period and reaped.
func TestCloseKills(t *testing.T) {
	p := start(t)
	call(t, p, `1`, "stay")
	err := p.Close(100 * time.Millisecond)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Close: %v, want killed", err)
	}
}

// TestWriteDeadline: a write to a server that no longer reads its stdin
// fails at the context's deadline instead of waiting for good, and as it
// may have written part of a line, nothing is written after it.
func TestWriteDeadline(t *testing.T) {
	p := start(t)
	call(t, p, `1`, "deaf")
	if err := p.Err(); err != nil {
		t.Errorf("Err while the answers go on: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	big := []byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"` + strings.Repeat("x", 1<<20) + `"}}`)
	sent := make(chan error, 1)
	go func() { sent <- p.Send(ctx, big) }()
	select {
	case err := <-sent:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Send to a server that does not read: %v, want os.ErrDeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send to a server that does not read is still waiting")
	}
	again := time.Now()
	if err := p.Send(bounded(t), []byte(`{"jsonrpc":"2.0","method":"x"}`)); !errors.Is(err, os.ErrDeadlineExceeded) || time.Since(again) > time.Second {
		t.Errorf("Send after a failed write: %v after %v, want the first failure at once", err, time.Since(again))
	}
	if err := p.Close(100 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Close: %v, want killed", err)
	}
}

// TestDispatchOnce: a request gets one answer, however many come for its
// id, and the reader never blocks handing over another.
func TestDispatchOnce(t *testing.T) {
	p := &Pipe{pending: map[string]chan []byte{}}
	ch := make(chan []byte, 1)
	p.pending[`1`] = ch
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 3 {
			p.dispatch([]byte(answerOf(`1`)))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the reader blocked on a second answer")
	}
	if len(ch) != 1 || len(p.pending) != 0 {
		t.Errorf("%d answers handed over, %d requests still waiting; want 1 and 0", len(ch), len(p.pending))
	}
}

// TestOneLine: a message with a newline would be two lines to the server.
func TestOneLine(t *testing.T) {
	p := start(t)
	defer closeOK(t, p)
	if err := p.Send(t.Context(), []byte("{\"jsonrpc\":\"2.0\",\n\"method\":\"x\"}")); !errors.Is(err, ErrNotOneLine) {
		t.Errorf("a message with a newline: %v, want ErrNotOneLine", err)
	}
	call(t, p, `1`, "echo")
}

// TestSendPastDeadline: a write whose deadline has passed writes nothing,
// so it fails alone: the next call goes through.
func TestSendPastDeadline(t *testing.T) {
	p := start(t)
	defer closeOK(t, p)
	ctx, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := p.Call(ctx, []byte(`1`), request(`1`, "echo")); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Call past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	call(t, p, `2`, "echo")
}

// TestCloseStayingChild: a child that ends its output but stays up is
// killed too, a grace after its output ended, and reaped.
func TestCloseStayingChild(t *testing.T) {
	p := start(t)
	if err := p.Send(bounded(t), request(`1`, "mute")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the child's output did not end")
	}
	closed := make(chan error, 1)
	go func() { closed <- p.Close(100 * time.Millisecond) }()
	select {
	case err := <-closed:
		if err == nil || !strings.Contains(err.Error(), "killed") {
			t.Errorf("Close: %v, want killed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close is still waiting for a child that stays up")
	}
}
