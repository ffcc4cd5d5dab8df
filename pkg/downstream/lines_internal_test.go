package downstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// fakeChild is the other end of a lines transport: what the hub writes to
// the child's stdin, and a writer for the child's stdout.
type fakeChild struct {
	requests *bufio.Scanner // the hub's lines
	stdout   *io.PipeWriter
}

func newFakeChild(t *testing.T) (*lines, *fakeChild) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	l := newLines(inW, outR, slog.New(slog.DiscardHandler))
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = l.Close()
		_ = outW.Close()
		_ = inR.Close()
		<-l.readerDone
	})
	return l, &fakeChild{requests: bufio.NewScanner(inR), stdout: outW}
}

func (c *fakeChild) next(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	if !c.requests.Scan() {
		t.Fatalf("no line from the hub: %v", c.requests.Err())
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(c.requests.Bytes(), &m); err != nil {
		t.Fatalf("the hub wrote %q: %v", c.requests.Text(), err)
	}
	return m
}

func (c *fakeChild) say(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdout, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// Between the request and its response the child may write anything: a
// notification, a request of its own, a line that is not JSON-RPC, the
// response with its id quoted.
func TestLinesRouting(t *testing.T) {
	l, child := newFakeChild(t)
	var mu sync.Mutex
	var notes []string
	l.SetNotificationHandler(func(n mcp.JSONRPCNotification) {
		mu.Lock()
		notes = append(notes, n.Method)
		mu.Unlock()
	})

	type answer struct {
		res json.RawMessage
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := l.call(context.Background(), 41, "tools/call", map[string]any{"name": "echo"})
		done <- answer{res, err}
	}()
	req := child.next(t)
	if string(req["id"]) != "41" || string(req["method"]) != `"tools/call"` || string(req["jsonrpc"]) != `"2.0"` {
		t.Fatalf("request %v", req)
	}
	child.say(t, `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`)
	child.say(t, `starting up...`)
	child.say(t, `{"jsonrpc":"2.0","id":"s1","method":"ping"}`)
	if got := child.next(t); string(got["id"]) != `"s1"` || string(got["result"]) != `{}` {
		t.Errorf("answer to ping: %v", got)
	}
	child.say(t, `{"jsonrpc":"2.0","id":7,"method":"roots/list"}`)
	if got := child.next(t); string(got["id"]) != `7` || !strings.Contains(string(got["error"]), "-32601") {
		t.Errorf("answer to roots/list: %v", got)
	}
	child.say(t, `{"jsonrpc":"2.0","id":"41","result":{"content":[],"x":1}}`)
	a := <-done
	if a.err != nil || string(a.res) != `{"content":[],"x":1}` {
		t.Fatalf("got %s, %v", a.res, a.err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notes) != 1 || notes[0] != "notifications/message" {
		t.Errorf("notifications %v", notes)
	}
}

// mcp-go's client runs the handshake over SendRequest.
func TestLinesSendRequest(t *testing.T) {
	l, child := newFakeChild(t)
	type answer struct {
		resp *transport.JSONRPCResponse
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := l.SendRequest(context.Background(), transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcp.NewRequestId(int64(1)), Method: "initialize", Params: map[string]any{}})
		done <- answer{resp, err}
	}()
	req := child.next(t)
	child.say(t, `{"jsonrpc":"2.0","id":`+string(req["id"])+`,"error":{"code":-32602,"message":"bad version"}}`)
	a := <-done
	if a.err != nil || a.resp.Error == nil || a.resp.Error.Code != -32602 || a.resp.ID.String() != mcp.NewRequestId(int64(1)).String() {
		t.Fatalf("got %+v, %v", a.resp, a.err)
	}
}

// A child that exits ends the calls waiting on it; one that goes quiet
// leaves them to their context.
func TestLinesEnd(t *testing.T) {
	l, child := newFakeChild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	scanned := make(chan struct{})
	go func() { child.requests.Scan(); close(scanned) }() // read, never answered
	if _, err := l.call(ctx, 1, "ping", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("quiet child: %v", err)
	}
	<-scanned
	errc := make(chan error, 1)
	go func() {
		_, err := l.call(context.Background(), 2, "ping", nil)
		errc <- err
	}()
	child.next(t)
	_ = child.stdout.Close() // the child's stdout ends: it exited
	select {
	case err := <-errc:
		if !errors.Is(err, transport.ErrTransportClosed) {
			t.Errorf("after the child's end: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call still waits after the child's end")
	}
	if _, err := l.call(context.Background(), 3, "ping", nil); !errors.Is(err, transport.ErrTransportClosed) {
		t.Errorf("a call after the end: %v", err)
	}
}

// A server may send a request and go on writing without reading its stdin:
// the reader must not wait on the answer (with a pipe that holds nothing,
// as here, it would deadlock with the server at once).
func TestLinesServerRequestWhileNotReading(t *testing.T) {
	l, child := newFakeChild(t)
	errc := make(chan error, 1)
	go func() {
		_, err := l.call(context.Background(), 5, "tools/call", nil)
		errc <- err
	}()
	child.next(t)
	written := make(chan error, 1)
	go func() {
		_, err := io.WriteString(child.stdout, `{"jsonrpc":"2.0","id":"p","method":"ping"}`+"\n"+`{"jsonrpc":"2.0","id":5,"result":{}}`+"\n")
		written <- err
	}()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("call: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the call's response was not read: the reader waits on the server's stdin")
	}
	if err := <-written; err != nil {
		t.Fatal(err)
	}
	if got := child.next(t); string(got["id"]) != `"p"` {
		t.Errorf("answer %v", got)
	}
}

// "error": null with a result is no error (some JSON-RPC libraries send it),
// in the handshake as in calls.
func TestLinesErrorNullIsNoError(t *testing.T) {
	l, child := newFakeChild(t)
	done := make(chan error, 1)
	go func() {
		resp, err := l.SendRequest(context.Background(), transport.JSONRPCRequest{JSONRPC: "2.0", ID: mcp.NewRequestId(int64(1)), Method: "initialize"})
		if err == nil && resp.Error != nil {
			err = errors.New("error set: " + resp.Error.Message)
		}
		done <- err
	}()
	req := child.next(t)
	child.say(t, `{"jsonrpc":"2.0","id":`+string(req["id"])+`,"result":{"protocolVersion":"2025-11-25"},"error":null}`)
	if err := <-done; err != nil {
		t.Fatalf("initialize: %v", err)
	}
	go func() {
		_, err := l.call(context.Background(), 2, "tools/call", nil)
		done <- err
	}()
	child.next(t)
	child.say(t, `{"jsonrpc":"2.0","id":2,"result":{"content":[]},"error":null}`)
	if err := <-done; err != nil {
		t.Fatalf("call: %v", err)
	}
}

// A caller that gave up before the request went out sends nothing.
func TestLinesCancelledContextNotSent(t *testing.T) {
	l, child := newFakeChild(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.call(ctx, 1, "tools/call", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	// The next line the child reads is the next request, not the cancelled one.
	done := make(chan error, 1)
	go func() {
		_, err := l.call(context.Background(), 2, "ping", nil)
		done <- err
	}()
	if req := child.next(t); string(req["id"]) != "2" {
		t.Fatalf("the child read %v first", req)
	}
	child.say(t, `{"jsonrpc":"2.0","id":2,"result":{}}`)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// A response after its caller gave up is dropped without holding up the
// reader, and calls on either side of it get their own answers, in any order.
func TestLinesLateAndOutOfOrder(t *testing.T) {
	l, child := newFakeChild(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	scanned := make(chan struct{})
	go func() { child.requests.Scan(); close(scanned) }()
	if _, err := l.call(ctx, 1, "tools/call", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	<-scanned
	child.say(t, `{"jsonrpc":"2.0","id":1,"result":{"late":true}}`)

	type answer struct {
		id  int64
		res string
	}
	answers := make(chan answer, 3)
	for id := int64(2); id <= 4; id++ {
		go func() {
			res, err := l.call(context.Background(), id, "tools/call", nil)
			if err != nil {
				t.Errorf("call %d: %v", id, err)
			}
			answers <- answer{id, string(res)}
		}()
	}
	var ids []string
	for range 3 {
		ids = append(ids, string(child.next(t)["id"]))
	}
	for i := len(ids) - 1; i >= 0; i-- { // answered last first
		child.say(t, `{"jsonrpc":"2.0","id":`+ids[i]+`,"result":{"n":`+ids[i]+`}}`)
	}
	for range 3 {
		a := <-answers
		if want := `{"n":` + strconv.FormatInt(a.id, 10) + `}`; a.res != want {
			t.Errorf("call %d got %s, want %s", a.id, a.res, want)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pending) != 0 {
		t.Errorf("%d requests still pending", len(l.pending))
	}
}

// After the transport closed, a notification is not written.
func TestLinesSendNotificationAfterClose(t *testing.T) {
	l, _ := newFakeChild(t)
	_ = l.Close()
	err := l.SendNotification(context.Background(), mcp.JSONRPCNotification{JSONRPC: "2.0", Notification: mcp.Notification{Method: "notifications/cancelled"}})
	if !errors.Is(err, transport.ErrTransportClosed) {
		t.Errorf("got %v, want ErrTransportClosed", err)
	}
}

// TestLinesAbandonedAnswerNotReused: an answer that reaches a call as it
// gives up is never handed to a later call. Answer channels are pooled;
// one the reader may have answered into after its caller left must not be.
// The answer and the cancellation race on purpose, 200 times.
func TestLinesAbandonedAnswerNotReused(t *testing.T) {
	l, child := newFakeChild(t)
	for i := range 200 {
		id := int64(2*i + 1)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = l.call(ctx, id, "tools/call", nil)
		}()
		req := child.next(t)
		go cancel()
		child.say(t, `{"jsonrpc":"2.0","id":`+string(req["id"])+`,"result":{"stale":true}}`)
		<-done
		cancel()

		next := id + 1
		res := make(chan string, 1)
		go func() {
			r, err := l.call(context.Background(), next, "tools/call", nil)
			if err != nil {
				t.Error(err)
			}
			res <- string(r)
		}()
		req = child.next(t)
		child.say(t, `{"jsonrpc":"2.0","id":`+string(req["id"])+`,"result":{"n":`+string(req["id"])+`}}`)
		if got, want := <-res, `{"n":`+strconv.FormatInt(next, 10)+`}`; got != want {
			t.Fatalf("round %d: call %d got %s, want %s", i, next, got, want)
		}
	}
}
