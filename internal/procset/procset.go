// Package procset supervises the child processes of the tools that run
// the repository's programs as real processes (cmd/mcphub-bench,
// cmd/mcphub-soak): it starts each in a process group of its own, marked
// with an environment variable, stops them (SIGTERM, then SIGKILL to the
// group), and sweeps what carries the marker when the tool ends. It also
// reads what the tools measure of a process from /proc (Linux only).
package procset

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcphub/mcphub/internal/tail"
)

// sweepWait is how long StopAll gives marked processes to go away by
// themselves (the hub stopping its stdio children) before killing them.
const sweepWait = 2 * time.Second

// killWait bounds the wait for a process to be reaped after SIGKILL.
const killWait = 5 * time.Second

// pipeWait is how long Wait waits, once a process has exited, for its
// output to end: a descendant it left running (a server's child, a
// background job) holds the output pipe open, and without a bound the
// process would not count as exited until that descendant ends. After
// pipeWait the pipe is closed; a process that had exited 0 then ends with
// exec.ErrWaitDelay.
const pipeWait = time.Second

// Set owns every process of one run of a tool.
type Set struct {
	// markerEnv=runID is in the environment of every process the set
	// starts. Children inherit it (the hub passes its environment on to
	// its stdio servers), so the marker also finds the processes the set
	// did not start itself.
	markerEnv, runID string
	unset            []string
	tailBytes        int

	mu    sync.Mutex
	procs []*Proc
}

// Option configures a Set.
type Option func(*Set)

// Unset keeps the named environment variables from the processes the set
// starts: a variable that would change how they behave (the hub's API
// token turns auth on).
func Unset(names ...string) Option {
	return func(s *Set) { s.unset = append(s.unset, names...) }
}

// TailBytes is how much of each process's output is kept for messages;
// the default is 32 KiB.
func TailBytes(n int) Option {
	return func(s *Set) { s.tailBytes = n }
}

// New is an empty set whose processes carry markerEnv set to a fresh
// random run id.
func New(markerEnv string, opts ...Option) *Set {
	var b [8]byte
	_, _ = rand.Read(b[:])
	s := &Set{markerEnv: markerEnv, runID: hex.EncodeToString(b[:]), tailBytes: 32 << 10}
	for _, o := range opts {
		o(s)
	}
	return s
}

// RunID is the value of the marker in this set's processes.
func (s *Set) RunID() string { return s.runID }

// Command is an unstarted command for path with the run's marker, in a
// process group of its own, its output (stdout and stderr) going to the
// tail it returns, its Wait waiting at most pipeWait for that output once
// it has exited. Start uses it; a process another owner starts from it
// (and reaps) joins the set with Adopt.
func (s *Set) Command(path string, args ...string) (*exec.Cmd, *tail.Buffer) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(s.childEnv(), s.markerEnv+"="+s.runID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = pipeWait
	output := tail.New(s.tailBytes)
	cmd.Stdout, cmd.Stderr = output, output
	return cmd, output
}

// childEnv is the tool's environment without the unset variables and
// without a marker of its own, which would mark the children wrongly.
func (s *Set) childEnv() []string {
	var kept []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == s.markerEnv || slices.Contains(s.unset, name) {
			continue
		}
		kept = append(kept, kv)
	}
	return kept
}

// Start starts name (a label for messages) from path in dir. Its output
// goes to its tail (Proc.Output) and, when out is not nil, to out too.
func (s *Set) Start(name, dir string, out io.Writer, path string, args ...string) (*Proc, error) {
	return s.StartEnv(name, dir, nil, out, path, args...)
}

// StartEnv is Start with env ("NAME=value") added to the environment the
// process would have.
func (s *Set) StartEnv(name, dir string, env []string, out io.Writer, path string, args ...string) (*Proc, error) {
	cmd, output := s.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, env...)
	if out != nil {
		// One writer for both: exec then copies them through one pipe,
		// in the order the process wrote them.
		w := io.MultiWriter(output, out)
		cmd.Stdout, cmd.Stderr = w, w
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{name: name, cmd: cmd, tail: output, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.add(p)
	return p, nil
}

// Adopt registers a process another owner started from Command (a client
// library that runs its server as a child), so that StopAll and KillAll
// reach it. The owner reaps it, and calls Forget once it has.
func (s *Set) Adopt(name string, cmd *exec.Cmd, output *tail.Buffer) *Proc {
	p := &Proc{name: name, cmd: cmd, tail: output}
	s.add(p)
	return p
}

func (s *Set) add(p *Proc) {
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
}

// Forget drops p from the set: once it has been reaped its pid may be
// reused, and nothing may signal that pid any more.
func (s *Set) Forget(p *Proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.procs, p); i >= 0 {
		s.procs = slices.Delete(s.procs, i, i+1)
	}
}

// Procs is a snapshot of the registered processes, in the order they
// were started.
func (s *Set) Procs() []*Proc {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.procs)
}

// Stop ends p gracefully and forgets it: SIGTERM (the hub then stops its
// stdio children), then after grace SIGKILL to its whole process group.
// It returns an error unless p exited cleanly on that SIGTERM: p's exit
// error when it had exited before (an operator's shutdown found it dead),
// a status other than 0, a descendant that kept p's output open after p
// exited (p itself is not killed for it), or the kill. An adopted process,
// which its owner reaps, is killed with its group at once.
func (s *Set) Stop(p *Proc, grace time.Duration) error {
	defer s.Forget(p)
	if p.done == nil {
		_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		return nil
	}
	if p.Exited() {
		return p.ExitError()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.stopError()
	case <-time.After(grace):
	}
	// p itself may have exited and been reaped, its Wait still waiting
	// (at most pipeWait) for the output a descendant holds open: that is
	// no process ignoring SIGTERM, and nothing to kill.
	if errors.Is(p.cmd.Process.Signal(syscall.Signal(0)), os.ErrProcessDone) {
		select {
		case <-p.done:
			return p.stopError()
		case <-time.After(pipeWait + killWait):
			return fmt.Errorf("%s (pid %d) exited, but its output was still open %v later", p.name, p.PID(), grace+pipeWait+killWait)
		}
	}
	_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(killWait):
		return fmt.Errorf("%s (pid %d) still running %v after SIGKILL", p.name, p.PID(), killWait)
	}
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed; its last output:\n%s", p.name, p.PID(), grace, p.Output())
}

// StopAll is the cleanup: it stops every registered process, the latest
// started first (the hub before the server it calls), then waits for the
// marked processes left behind to go away and kills and names those that
// do not. A process that had exited before is only forgotten: whoever
// watched it reported its exit (Proc.ExitError), and saying it again would
// repeat its output.
func (s *Set) StopAll(grace time.Duration) error {
	var errs []error
	for _, p := range slices.Backward(s.Procs()) {
		if p.Exited() {
			s.Forget(p)
			continue
		}
		errs = append(errs, s.Stop(p, grace))
	}
	errs = append(errs, s.sweep(sweepWait))
	return errors.Join(errs...)
}

// KillAll sends SIGKILL to the process group of every process still
// registered, then to every marked process left: the forced path (a
// second Ctrl-C). It does not wait.
func (s *Set) KillAll() {
	for _, p := range s.Procs() {
		if !p.Exited() {
			_ = syscall.Kill(-p.PID(), syscall.SIGKILL)
		}
	}
	for _, pid := range s.Marked() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// sweep waits up to wait for the marked processes to go away, then kills
// the rest and names them: processes something (the hub) left behind.
func (s *Set) sweep(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		pids := s.Marked()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var names []string
			for _, pid := range pids {
				names = append(names, fmt.Sprintf("%d (%s)", pid, Comm(pid)))
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return fmt.Errorf("processes left running after cleanup, killed: %s", strings.Join(names, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Marked lists the live (not zombie) processes, other than this one, that
// carry the set's marker: whatever this run started, directly or not, and
// is still running.
func (s *Set) Marked() []int {
	return markedPIDs(s.markerEnv + "=" + s.runID)
}

// Proc is one process of a set, leader of its own process group.
type Proc struct {
	name string
	cmd  *exec.Cmd
	tail *tail.Buffer
	// done is closed once the process has exited and been reaped; nil for
	// an adopted process, which its owner reaps.
	done chan struct{}
	err  error // Wait's error, set before done is closed
}

// Name is the label Start or Adopt was given.
func (p *Proc) Name() string { return p.name }

// PID is the process's id, and its process group's.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended and been reaped (always
// false while it runs, and for an adopted process).
func (p *Proc) Exited() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitError describes the process's exit, with the end of its output;
// call it once Exited. Its text holds "(pid N) exited", which callers look
// for so as not to say it twice.
func (p *Proc) ExitError() error {
	return fmt.Errorf("%s (pid %d) exited: %s; its last output:\n%s", p.name, p.PID(), p.exitText(), p.Output())
}

// stopError is Stop's report of an exit on its SIGTERM: nil for a clean
// one.
func (p *Proc) stopError() error {
	if p.err == nil {
		return nil
	}
	return fmt.Errorf("%s (pid %d) stopped with %s; its last output:\n%s", p.name, p.PID(), p.exitText(), p.Output())
}

// exitText says how the process ended: Wait's error, or, for
// exec.ErrWaitDelay, that it exited with status 0 but a descendant kept
// its output open (and may still run).
func (p *Proc) exitText() string {
	if errors.Is(p.err, exec.ErrWaitDelay) {
		return fmt.Sprintf("exit status 0, but a process it left running kept its output open more than %v after", pipeWait)
	}
	return fmt.Sprint(p.err)
}

// Output is the end of what the process wrote, "(no output)" if nothing.
func (p *Proc) Output() string { return p.tail.String() }
