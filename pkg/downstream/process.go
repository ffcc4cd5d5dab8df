package downstream

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcphub/mcphub/internal/tail"
	"github.com/mcphub/mcphub/pkg/config"
)

// Stop timing for stdio children: a well-behaved server exits as soon as its
// stdin closes; the others get SIGTERM, then SIGKILL, to the whole group.
var (
	stdinGrace = 1 * time.Second
	termGrace  = 2 * time.Second
)

// process is a stdio server child in its own process group. The hub owns the
// pipes and the Wait, so it learns at once when the child dies and can reap
// grandchildren (npx → sh → node) by signalling the group.
type process struct {
	cmd    *exec.Cmd
	stdin  *os.File // our write end of the child's stdin
	stdout *os.File // our read end of the child's stdout
	stderr *tail.Buffer

	exited  chan struct{} // closed once Wait returned
	waitErr error         // valid after exited is closed

	stopOnce sync.Once
}

func startProcess(srv config.Server) (*process, error) {
	cmd := exec.Command(srv.Command, srv.Args...)
	cmd.Dir = srv.Cwd
	cmd.Env = childEnv(srv.Env)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdin pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, fmt.Errorf("stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, fmt.Errorf("stderr pipe: %w", err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW

	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("start %s: %w", srv.Command, err)
	}
	// The child has its own copies now; keeping ours open would hide EOF.
	closeAll(inR, outW, errW)

	p := &process{
		cmd:    cmd,
		stdin:  inW,
		stdout: outR,
		stderr: tail.New(4096),
		exited: make(chan struct{}),
	}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		drainStderr(p.stderr, errR, stderrPause)
		errR.Close()
	}()
	go func() {
		p.waitErr = cmd.Wait()
		// Read stderr to its end (or a moment, if a grandchild holds it open)
		// so the exit report carries the child's last words.
		select {
		case <-drained:
		case <-time.After(100 * time.Millisecond):
		}
		close(p.exited)
	}()
	return p, nil
}

// stderrPause is how long drainStderr lets a child's stderr gather.
const stderrPause = 10 * time.Millisecond

// drainStderr keeps the tail of r in t until r ends. A server that logs a
// line or two on every call (mcp-go's WithLogger does) would wake the hub
// for each of them, a read and a goroutine switch per line: 4% of the
// hub's CPU in BenchmarkCallHandler/stdio, 1% or less with the pause. So
// after a read short of a burst (below) it pauses and lets lines gather
// in the pipe, which holds 64 KB on Linux while the child writes on.
//
// A large read, half a Linux pipe or more, means a burst that may have
// filled the pipe and held the child up: for the next pause it reads as
// the data comes, so that a child writing much waits for at most one pause
// now and then, not one per pipeful. Steady logging stays below that: the
// example server at 7,000 calls a second writes 17 KB in a pause.
func drainStderr(t io.Writer, r io.Reader, pause time.Duration) {
	buf := make([]byte, 64<<10)
	var burstUntil time.Time
	for {
		n, err := r.Read(buf)
		if n > 0 {
			_, _ = t.Write(buf[:n])
		}
		if err != nil {
			return
		}
		switch now := time.Now(); {
		case n >= largeStderrRead:
			burstUntil = now.Add(pause)
		case now.After(burstUntil):
			time.Sleep(pause)
		}
	}
}

// largeStderrRead is the read that tells drainStderr a burst is on. (On
// macOS, whose pipes hold 16 KB, no read reaches it: a child writing more
// than 1.6 MB a second to stderr waits now and then there.)
const largeStderrRead = 32 << 10

// childEnv passes the hub's environment plus the configured variables, in a
// stable order.
//
// The hub's own API token (config.EnvAPIToken) is left out: a stdio server
// may be anyone's code, and the token opens every tool the hub fronts. A
// server that needs it gets it only from its own env entry.
func childEnv(extra map[string]string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, config.EnvAPIToken+"=")
	})
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+extra[k])
	}
	return env
}

// exitError says why a stdio child ended, with the tail of its stderr.
type exitError struct {
	err    error
	stderr string
}

func (e *exitError) Error() string {
	if e.stderr != "" {
		return fmt.Sprintf("process exited: %v (stderr: %s)", e.err, e.stderr)
	}
	return fmt.Sprintf("process exited: %v", e.err)
}

func (e *exitError) Unwrap() error { return e.err }

func (p *process) exitError() error {
	err := p.waitErr
	if err == nil {
		err = errors.New("exit status 0")
	}
	e := &exitError{err: err}
	// A child killed by a signal did not choose to stop: its last stderr line
	// is just whatever it logged last. One that exited says why there.
	if ps := p.cmd.ProcessState; ps == nil || !ps.Sys().(syscall.WaitStatus).Signaled() {
		e.stderr = truncate(p.stderr.LastLine(), 300)
	}
	return e
}

// stop ends the child and every process in its group, within bounded time.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		p.stdin.Close()
		pgid := p.cmd.Process.Pid
		if !waitClosed(p.exited, stdinGrace) {
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			if !waitClosed(p.exited, termGrace) {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-p.exited
			}
		}
		// The leader is gone; anything left in its group is an orphan that
		// would outlive the hub.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		p.stdout.Close()
	})
}

// waitClosed waits up to d for ch to be closed, and says whether it was.
func waitClosed(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		f.Close()
	}
}
