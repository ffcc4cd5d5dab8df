// Package linerpc speaks JSON-RPC to a child process as MCP's stdio
// transport frames it: each message one line on the child's stdin, and one
// reader handing each answer on its stdout to the request waiting for its
// id. It is the plain client of the repository's references, not of the
// hub: the load tool's direct stdio baseline (cmd/mcphub-bench, direct-pipe)
// and the stdio reference proxy (cmd/proxy-floor, floor-stdio). The hub has
// its own transport (pkg/downstream/lines.go), which also answers the
// server's requests and survives its faults.
package linerpc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/mcphub/mcphub/internal/rawjson"
)

// MaxLine bounds one line from the child; a longer one ends the answers
// (ErrEnded, with bufio.ErrTooLong).
const MaxLine = 4 << 20

// writeTimeout bounds a write to a child that no longer reads its stdin,
// when the caller's context has no earlier deadline.
const writeTimeout = 10 * time.Second

var (
	// ErrInFlight is a Call with the id of a request still waiting.
	ErrInFlight = errors.New("a request with this id is in flight")
	// ErrEnded is a Call waiting when no more answers can come: the
	// child's stdout ended (it exited) or failed.
	ErrEnded = errors.New("the child's output ended")
	// ErrNotOneLine is a message with a newline in it: stdio frames
	// messages by newlines.
	ErrNotOneLine = errors.New("linerpc: a message must be one line")
)

// Pipe is a running child and the client speaking to it.
type Pipe struct {
	cmd *exec.Cmd

	wmu    sync.Mutex // one line at a time on stdin
	w      *os.File   // the child's stdin; os.Pipe's, for its write deadline
	broken error      // a write failed, perhaps halfway through a line: no more

	mu      sync.Mutex
	pending map[string]chan []byte // by the request's id as sent

	answers chan struct{} // closed when no more answers come
	err     error         // why, once answers is closed (nil: stdout ended)
	drained chan struct{} // closed once stdout is read to its end

	closeOnce sync.Once
	closeErr  error
}

// Start starts cmd, whose Stdin and Stdout must be unset, with pipes to its
// stdin and stdout. Close stops and reaps it.
func Start(cmd *exec.Cmd) (*Pipe, error) {
	if cmd.Stdin != nil || cmd.Stdout != nil {
		return nil, errors.New("linerpc: cmd's Stdin and Stdout must be unset")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin = r
	if cmd.WaitDelay == 0 {
		// A descendant holding the child's stderr open must not keep
		// Close's Wait from returning.
		cmd.WaitDelay = 5 * time.Second
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	err = cmd.Start()
	r.Close() // the child's end
	if err != nil {
		w.Close()
		return nil, err
	}
	p := &Pipe{cmd: cmd, w: w, pending: map[string]chan []byte{},
		answers: make(chan struct{}), drained: make(chan struct{})}
	go p.read(stdout)
	return p, nil
}

// Call writes line, a request whose id is id (its JSON text as sent: 7,
// "a"), and returns the line that answers it. Ids are matched as text: a
// server must write an id back as it came (1.0 is not 1). An id whose
// Call has given up is free again, so a late answer to it goes to the next
// Call with that id.
func (p *Pipe) Call(ctx context.Context, id, line []byte) ([]byte, error) {
	key := string(id)
	ch := make(chan []byte, 1)
	p.mu.Lock()
	if _, taken := p.pending[key]; taken {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrInFlight, id)
	}
	p.pending[key] = ch
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if p.pending[key] == ch { // not yet taken by its answer
			delete(p.pending, key)
		}
		p.mu.Unlock()
	}()
	if err := p.Send(ctx, line); err != nil {
		return nil, err
	}
	select {
	case b := <-ch:
		return b, nil
	case <-p.answers:
		select {
		case b := <-ch: // answered just before the end
			return b, nil
		default:
		}
		return nil, p.ended()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Send writes line, one message, with no answer awaited: a notification,
// or what Call sends. A write waits at most until ctx's deadline or 10 s
// for a child that does not read its stdin (a cancelled ctx without a
// deadline does not cut it short). One that fails after writing part of
// the line leaves the child half a message, so the Pipe writes nothing
// more after it; one that wrote nothing (a deadline already past) costs
// only its own line.
func (p *Pipe) Send(ctx context.Context, line []byte) error {
	if bytes.IndexByte(line, '\n') >= 0 {
		return ErrNotOneLine
	}
	deadline := time.Now().Add(writeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	line = append(line[:len(line):len(line)], '\n') // the line and its newline in one write, one syscall
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.broken != nil {
		return p.broken
	}
	if err := p.w.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if n, err := p.w.Write(line); err != nil {
		err = fmt.Errorf("writing to the child: %w", err)
		if n > 0 {
			p.broken = err
		}
		return err
	}
	return nil
}

// Waiting is how many Calls are waiting for their answers.
func (p *Pipe) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}

// Ended is closed when no more answers can come.
func (p *Pipe) Ended() <-chan struct{} { return p.answers }

// Err is why the answers ended, once Ended is closed: nil when the child's
// stdout ended (it closed it or exited), bufio.ErrTooLong after a line over
// MaxLine, or the read's error.
func (p *Pipe) Err() error {
	select {
	case <-p.answers:
		return p.err
	default:
		return nil
	}
}

func (p *Pipe) ended() error {
	if p.err != nil {
		return fmt.Errorf("%w: %w", ErrEnded, p.err)
	}
	return ErrEnded
}

// read hands each answer line to the Call waiting for its id. Anything
// else (notifications, the child's own requests, lines that are not
// JSON) is dropped. After the last answer it reads stdout to its end, so
// that a child whose line was too long does not block on a full pipe.
func (p *Pipe) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), MaxLine)
	for sc.Scan() {
		p.dispatch(sc.Bytes())
	}
	p.err = sc.Err()
	close(p.answers)
	_, _ = io.Copy(io.Discard, stdout)
	close(p.drained)
}

func (p *Pipe) dispatch(line []byte) {
	id, isRequest := Head(line)
	if id == nil || isRequest { // a notification, or the child's own request, whatever its id
		return
	}
	p.mu.Lock()
	ch := p.pending[string(id)]
	delete(p.pending, string(id)) // the id is free again at once
	p.mu.Unlock()
	if ch != nil {
		ch <- bytes.Clone(line) // the scanner reuses its buffer
	}
}

// Head reads a message's id (its JSON text; nil when it has none or it is
// null, which nothing can be matched by) and
// whether it has a method (a request or a notification; without one it is
// an answer), without decoding it. msg should be valid JSON: rawjson
// neither checks nor panics, so anything else at worst reads wrongly.
func Head(msg []byte) (id []byte, hasMethod bool) {
	var buf [8]rawjson.Member
	members, _ := rawjson.AppendObject(buf[:0], msg)
	for _, m := range members {
		switch string(m.Name()) {
		case "id":
			id = m.Value
		case "method":
			hasMethod = true
		}
	}
	if string(id) == "null" {
		id = nil
	}
	return id, hasMethod
}

// Close closes the child's stdin (an MCP stdio server ends at EOF), kills
// it if its output has not ended within grace, or it has not exited within
// grace after that, and reaps it. It returns
// Wait's error: a child killed, or exiting with a status, says so. Only
// the child is killed, not processes it started (put it in a process group
// of its own and kill that, as internal/procset does, where that matters).
// Later calls return the first one's result.
func (p *Pipe) Close(grace time.Duration) error {
	p.closeOnce.Do(func() { p.closeErr = p.close(grace) })
	return p.closeErr
}

func (p *Pipe) close(grace time.Duration) error {
	p.w.Close()
	select {
	case <-p.drained:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		select {
		case <-p.drained:
		case <-time.After(grace): // a descendant holds stdout open: Wait closes our end
		}
	}
	// A child may end its output and stay up all the same.
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		return err
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		return <-exited
	}
}
