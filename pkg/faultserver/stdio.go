package faultserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// The reasons ServeStdio ends the process on purpose. It has said why on
// stderr already; cmd/fault-server exits with ExitCode.
var (
	ErrExitOnStart = errors.New("refusing to start: fault exit-on-start is set")
	ErrCrashed     = errors.New("crashed in the middle of a call: fault crash is set")
)

// ExitCode is the exit status for an error ServeStdio returned.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrCrashed):
		return 2
	case errors.Is(err, ErrExitOnStart):
		return 3
	default:
		return 1
	}
}

// StdioOptions configure ServeStdio.
type StdioOptions struct {
	// Faults returns the faults in force; it is called whenever one could
	// apply, so it should be cheap. Nil: a healthy server.
	Faults func() Spec
	// Stderr receives the reasons for exits. Nil: discarded.
	Stderr io.Writer
}

// stopWait bounds how long ServeStdio waits, once its input ends, for calls
// still running (a huge answer to a peer that stopped reading never ends).
const stopWait = time.Second

// ServeStdio serves MCP over newline-delimited JSON-RPC on in and out until
// in ends (nil), ctx ends (nil), or a fault ends it (ErrExitOnStart,
// ErrCrashed: the caller should exit at once, with ExitCode).
func ServeStdio(ctx context.Context, in io.Reader, out io.Writer, opts StdioOptions) error {
	s := &stdioServer{out: out, faults: opts.Faults, stderr: opts.Stderr, crashed: make(chan struct{}), calls: map[string]*inflight{}}
	if s.faults == nil {
		s.faults = func() Spec { return nil }
	}
	if s.stderr == nil {
		s.stderr = io.Discard
	}
	if s.faults().Has(ExitOnStart) {
		fmt.Fprintln(s.stderr, "faultserver: refusing to start: fault exit-on-start is set")
		return ErrExitOnStart
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	lines := make(chan []byte)
	readErr := make(chan error, 1)
	go func() {
		br := bufio.NewReader(in)
		for {
			line, err := br.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	for {
		select {
		case line := <-lines:
			s.dispatch(ctx, line)
		case <-s.crashed:
			return ErrCrashed
		case <-readErr:
			return s.stop(cancel)
		case <-ctx.Done():
			return s.stop(cancel)
		}
	}
}

type stdioServer struct {
	faults func() Spec
	stderr io.Writer

	wmu  sync.Mutex // one message at a time on out
	out  io.Writer
	dead bool // crashed: nothing more may be written

	crashed   chan struct{}
	crashOnce sync.Once

	cmu   sync.Mutex
	calls map[string]*inflight // by request id
	wg    sync.WaitGroup
	// running counts the calls being answered (calls may hold fewer: a
	// client may reuse the id of a call still running).
	running atomic.Int64
}

// stop cancels the calls still running and waits a moment for them,
// saying on stderr how many it leaves running. A call that crashed
// meanwhile still makes it ErrCrashed.
func (s *stdioServer) stop(cancel context.CancelFunc) error {
	cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(stopWait):
		if n := s.running.Load(); n > 0 {
			fmt.Fprintf(s.stderr, "faultserver: %d call(s) still running %v after stop\n", n, stopWait)
		}
	}
	select {
	case <-s.crashed:
		return ErrCrashed
	default:
		return nil
	}
}

// inflight is a request being answered.
type inflight struct{ cancel context.CancelFunc }

// message is any JSON-RPC message the client sends.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

func (s *stdioServer) dispatch(ctx context.Context, line []byte) {
	var m message
	if err := json.Unmarshal(line, &m); err != nil {
		_ = s.write(errorResponse(json.RawMessage("null"), -32700, "parse error: "+err.Error()))
		return
	}
	switch {
	case m.Method == "":
		// A response to a request of ours: we send none.
	case len(m.ID) == 0 || string(m.ID) == "null":
		s.notification(m)
	default:
		cctx, cancel := context.WithCancel(ctx)
		key, call := string(m.ID), &inflight{cancel: cancel}
		s.cmu.Lock()
		s.calls[key] = call
		s.cmu.Unlock()
		s.wg.Add(1)
		s.running.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.running.Add(-1)
			defer func() {
				s.cmu.Lock()
				if s.calls[key] == call { // a client may reuse a finished request's id
					delete(s.calls, key)
				}
				s.cmu.Unlock()
				cancel()
			}()
			s.request(cctx, m)
		}()
	}
}

func (s *stdioServer) notification(m message) {
	if m.Method != "notifications/cancelled" {
		return
	}
	var p struct {
		RequestID json.RawMessage `json:"requestId"`
	}
	if json.Unmarshal(m.Params, &p) != nil {
		return
	}
	s.cmu.Lock()
	call := s.calls[string(p.RequestID)]
	s.cmu.Unlock()
	if call != nil {
		call.cancel()
	}
}

func (s *stdioServer) request(ctx context.Context, m message) {
	switch m.Method {
	case "initialize":
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(m.Params, &p)
		if !waitSlowStart(ctx, s.faults) {
			return
		}
		version := p.ProtocolVersion
		if !supportedVersions[version] {
			version = defaultVersion
		}
		res, _ := json.Marshal(map[string]any{
			"protocolVersion": version,
			"capabilities":    map[string]any{"tools": map[string]any{}},
			"serverInfo":      map[string]any{"name": Name, "version": Version},
		})
		_ = s.write(response(m.ID, res))
	case "ping":
		_ = s.write(response(m.ID, json.RawMessage(`{}`)))
	case "tools/list":
		_ = s.write(response(m.ID, json.RawMessage(`{"tools":`+string(toolsJSON)+`}`)))
	case "tools/call":
		s.call(ctx, m)
	default:
		_ = s.write(errorResponse(m.ID, codeMethodNotFound, "method not found: "+m.Method))
	}
}

// callParams are the parts of a tools/call the server reads.
type callParams struct {
	Name      string `json:"name"`
	Arguments struct {
		Message *string `json:"message"`
		Label   string  `json:"label"`
	} `json:"arguments"`
	Meta struct {
		ProgressToken json.RawMessage `json:"progressToken"`
	} `json:"_meta"`
}

func (s *stdioServer) call(ctx context.Context, m message) {
	var p callParams
	if err := json.Unmarshal(m.Params, &p); err != nil {
		_ = s.write(errorResponse(m.ID, codeInvalidParams, "bad tools/call params: "+err.Error()))
		return
	}
	switch p.Name {
	case ToolEcho:
		if p.Arguments.Message == nil {
			_ = s.write(response(m.ID, json.RawMessage(`{"content":[{"type":"text","text":"message is required"}],"isError":true}`)))
			return
		}
		_ = s.write(response(m.ID, textResult(*p.Arguments.Message)))
	case ToolWork:
		s.work(ctx, m.ID, p.Arguments.Label, p.Meta.ProgressToken)
	default:
		_ = s.write(errorResponse(m.ID, codeInvalidParams, "unknown tool: "+p.Name))
	}
}

// work runs the work tool under the faults in force.
func (s *stdioServer) work(ctx context.Context, id json.RawMessage, label string, token json.RawMessage) {
	hasToken := len(token) > 0 && string(token) != "null"
	switch f := s.faults().callFault(); f {
	case Crash, CrashSSE:
		s.crash(id)
		return
	case Hang:
		if !waitWhile(ctx, s.faults, func(sp Spec) bool { return sp.Has(Hang) }) {
			return
		}
	case Stall:
		if hasToken {
			_ = s.write(progressNotification(token, 1, 10))
			_ = s.write(progressNotification(token, 2, 10))
		}
		if !waitWhile(ctx, s.faults, func(sp Spec) bool { return sp.Has(Stall) }) {
			return
		}
		_ = s.write(response(id, textResult(workAnswer(label))))
		return
	case NotJSON, NoID, WrongID, ResultNotObject, ResultNull:
		_ = s.write(malformed(f, id))
		return
	case Huge, HugeSSE:
		s.writeHuge(id, s.faults().size(f))
		return
	case HugeNoID:
		s.writeHuge(nil, s.faults().size(f))
		return
	}
	if hasToken {
		for i := 1; i <= 3; i++ {
			_ = s.write(progressNotification(token, i, 3))
		}
	}
	_ = s.write(response(id, textResult(workAnswer(label))))
}

// write sends one message as one line.
func (s *stdioServer) write(msg []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.dead {
		return ErrCrashed
	}
	_, err := s.out.Write(append(msg, '\n'))
	return err
}

func (s *stdioServer) writeHuge(id json.RawMessage, size int) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.dead {
		return
	}
	if writeHuge(s.out, id, size) == nil {
		_, _ = s.out.Write([]byte("\n"))
	}
}

// crash writes half of an answer, then makes ServeStdio return ErrCrashed;
// nothing more is written.
func (s *stdioServer) crash(id json.RawMessage) {
	s.wmu.Lock()
	if !s.dead {
		full := response(id, textResult("this answer is cut short"))
		_, _ = s.out.Write(full[:len(full)/2])
		s.dead = true
	}
	s.wmu.Unlock()
	s.crashOnce.Do(func() {
		fmt.Fprintln(s.stderr, "faultserver: crashing in the middle of a call (fault crash)")
		close(s.crashed)
	})
}
