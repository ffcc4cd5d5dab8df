package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcphub/mcphub/internal/rawjson"
)

// pipeScenario is n callers of the example server over stdio with the
// JSON-RPC written out by hand: one child, each call a line on its stdin,
// the answers matched by id from its stdout by one reader. It is the
// direct stdio call without mcp-go's client (its envelope types, and a
// goroutine and a channel per request), as direct-post is for HTTP: a
// baseline that does not count a client's cost for the hub.
func pipeScenario(ctx context.Context, t *target, n int) ([]caller, []func(), error) {
	cmd, out := t.procs.Command(t.bins.example, "--log-level", "WARN")
	cmd.Stdout = nil // the pipe below
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("starting the example server over stdio: %w", err)
	}
	p := t.procs.Adopt("example-server (direct pipe)", cmd, out)
	pc := &pipeClient{w: stdin, pending: map[int64]chan []byte{}, done: make(chan struct{})}
	exited := make(chan struct{})
	go func() { // the reader: ends when the child's stdout does
		pc.read(stdout)
		_ = cmd.Wait()
		close(exited)
	}()
	closeFn := func() {
		stdin.Close() // the example server ends at EOF
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		t.procs.Forget(p)
	}

	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pc.call(hctx, 0, []byte(initializeRequest), negotiated); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("example server over a pipe: initialize: %w; its output:\n%s", err, out.String())
	}
	if err := pc.send([]byte(initializedNotification)); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("example server over a pipe: notifications/initialized: %w", err)
	}
	call := func(ctx context.Context) error {
		id := pc.ids.Add(1)
		return pc.call(ctx, id, echoCall(id), echoed)
	}
	callers := make([]caller, n)
	for i := range callers {
		callers[i] = call
	}
	return callers, []func(){closeFn}, nil
}

// pipeClient speaks JSON-RPC lines to a child: writes under a lock, one
// reader handing each answer to the call waiting for its id.
type pipeClient struct {
	ids     atomic.Int64
	wmu     sync.Mutex
	w       io.Writer
	mu      sync.Mutex
	pending map[int64]chan []byte
	done    chan struct{} // closed when the reader ends
	err     error         // why it ended; read after done
}

// errPipeClosed is a call made or waiting when the child's stdout ended.
var errPipeClosed = errors.New("the example server's stdout ended")

// call sends line, a request with id, and waits for its answer, which
// must hold want.
func (pc *pipeClient) call(ctx context.Context, id int64, line []byte, want string) error {
	ch := make(chan []byte, 1)
	pc.mu.Lock()
	pc.pending[id] = ch
	pc.mu.Unlock()
	defer func() {
		pc.mu.Lock()
		delete(pc.pending, id)
		pc.mu.Unlock()
	}()
	if err := pc.send(line); err != nil {
		return err
	}
	select {
	case answer := <-ch:
		if !bytes.Contains(answer, []byte(want)) {
			return fmt.Errorf("answer %.500s", answer)
		}
		return nil
	case <-pc.done:
		return fmt.Errorf("%w: %v", errPipeClosed, pc.err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// send writes one line.
func (pc *pipeClient) send(line []byte) error {
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	_, err := pc.w.Write(append(line, '\n'))
	return err
}

// read hands each answer line to the call waiting for its id, until r
// ends; lines that answer no waiting call (notifications) are dropped.
func (pc *pipeClient) read(r io.Reader) {
	defer close(pc.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var buf [8]rawjson.Member
		members, ok := rawjson.AppendObject(buf[:0], sc.Bytes())
		if !ok {
			continue
		}
		for _, m := range members {
			if string(m.Name()) != "id" {
				continue
			}
			id, err := strconv.ParseInt(string(m.Value), 10, 64)
			if err != nil {
				break
			}
			pc.mu.Lock()
			ch := pc.pending[id]
			pc.mu.Unlock()
			if ch != nil {
				select {
				case ch <- bytes.Clone(sc.Bytes()):
				default: // a second answer to one id: the first counts
				}
			}
		}
	}
	pc.err = sc.Err()
}
