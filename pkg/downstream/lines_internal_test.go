package downstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
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
		<-l.done
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
