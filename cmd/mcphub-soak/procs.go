package main

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
)

// markerEnv is set, to the run's id, in the environment of every process
// the tool starts. The hub passes its environment on to its stdio children,
// so the marker also finds the processes the hub started: whatever still
// carries it when the tool ends is killed and reported.
const markerEnv = "MCPHUB_SOAK_RUN"

// newRunID is a random id for markerEnv.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// proc is one process the tool started, leader of its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *logSink
	done chan struct{} // closed once the process has exited and been reaped
	err  error         // Wait's error, set before done is closed
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an exit, with the end of the process's output.
func (p *proc) exitError() error {
	return fmt.Errorf("%s (pid %d) exited: %v; its last output:\n%s", p.name, p.pid(), p.err, p.out.tail())
}

// procSet owns every process of one run: it starts them in process groups
// of their own, marked with markerEnv, and ends them all.
type procSet struct {
	runID string
	mu    sync.Mutex
	procs []*proc
}

func newProcSet(runID string) *procSet { return &procSet{runID: runID} }

// start starts name (a label for messages) from path in dir; its output
// goes to out.
func (s *procSet) start(name, dir string, out *logSink, path string, args ...string) (*proc, error) {
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(childEnv(), markerEnv+"="+s.runID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// childEnv is the tool's environment without what would change how the
// hub behaves (an API token would turn auth on) or mark it wrongly.
func childEnv() []string {
	var kept []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, config.EnvAPIToken+"=") || strings.HasPrefix(kv, markerEnv+"=") {
			continue
		}
		kept = append(kept, kv)
	}
	return kept
}

func (s *procSet) forget(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.procs, p); i >= 0 {
		s.procs = slices.Delete(s.procs, i, i+1)
	}
}

// stop ends p gracefully: SIGTERM (the hub then stops its stdio children),
// then after grace SIGKILL to its whole process group. It returns an error
// when p did not exit cleanly on SIGTERM, or had exited before.
func (s *procSet) stop(p *proc, grace time.Duration) error {
	defer s.forget(p)
	if p.exited() {
		return p.exitError()
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s (pid %d) stopped with %v; its last output:\n%s", p.name, p.pid(), p.err, p.out.tail())
		}
		return nil
	case <-time.After(grace):
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) still running 5s after SIGKILL", p.name, p.pid())
	}
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed; its last output:\n%s", p.name, p.pid(), grace, p.out.tail())
}

// stopAll stops every registered process, the latest started first, then
// sweeps for marked processes left behind (the hub's children).
func (s *procSet) stopAll(grace time.Duration) error {
	s.mu.Lock()
	procs := slices.Clone(s.procs)
	s.mu.Unlock()
	var errs []error
	for _, p := range slices.Backward(procs) {
		errs = append(errs, s.stop(p, grace))
	}
	errs = append(errs, s.sweep(2*time.Second))
	return errors.Join(errs...)
}

// killAll sends SIGKILL to the process group of every process still
// registered, then to every marked process left: the forced path (second
// Ctrl-C). It does not wait.
func (s *procSet) killAll() {
	s.mu.Lock()
	procs := slices.Clone(s.procs)
	s.mu.Unlock()
	for _, p := range procs {
		if !p.exited() {
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		}
	}
	for _, pid := range markedPIDs(s.runID) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// sweep waits up to wait for the marked processes to go away, then kills
// the rest and names them: processes something (the hub) left behind.
func (s *procSet) sweep(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		pids := markedPIDs(s.runID)
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			var names []string
			for _, pid := range pids {
				names = append(names, fmt.Sprintf("%d (%s)", pid, procComm(pid)))
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return fmt.Errorf("processes left running after cleanup, killed: %s", strings.Join(names, ", "))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// markedPIDs lists the live (not zombie) processes whose environment holds
// markerEnv=runID.
func markedPIDs(runID string) []int {
	want := []byte(markerEnv + "=" + runID)
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				if st, _, err := procState(pid); err == nil && st != 'Z' {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// childrenOf lists pid's child processes with their states.
func childrenOf(pid int) map[int]byte {
	out := map[int]byte{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ppid, err := procState(child); err == nil && ppid == pid {
			out[child] = st
		}
	}
	return out
}

// procComm is the command name of pid, for messages.
func procComm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// procState reads pid's state and parent from /proc/<pid>/stat.
func procState(pid int) (state byte, ppid int, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) S ppid ...": comm may hold spaces and ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: only %d fields", pid, len(f)+2)
	}
	ppid, err = strconv.Atoi(f[1])
	return f[0][0], ppid, err
}

// procSample is what the tool reads of a process's resources.
type procSample struct {
	RSSKB   int64
	Threads int64
	FDs     int
}

// sampleProc reads VmRSS and Threads from /proc/<pid>/status and counts
// its open file descriptors.
func sampleProc(pid int) (procSample, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return procSample{}, err
	}
	var s procSample
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "Threads") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return procSample{}, fmt.Errorf("%s/status: %s: %w", dir, k, err)
		}
		if k == "VmRSS" {
			s.RSSKB = n
		} else {
			s.Threads = n
		}
	}
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return procSample{}, err
	}
	s.FDs = len(fds)
	return s, nil
}

// logSink receives a process's output: it keeps the last bytes for error
// messages, and counts and keeps the first lines logged at ERROR level
// (the hub logs with log/slog's text handler: "level=ERROR").
type logSink struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	partial []byte
	errors  int
	warns   int
	first   []string
	byMsg   map[string]int // ERROR lines by their msg
}

func newLogSink(max int) *logSink { return &logSink{max: max} }

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if over := len(l.buf) - l.max; over > 0 {
		l.buf = append(l.buf[:0], l.buf[over:]...)
	}
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 64<<10 { // a runaway line: judge what we have
		l.line(string(l.partial))
		l.partial = l.partial[:0]
	}
	return len(p), nil
}

func (l *logSink) line(s string) {
	switch {
	case strings.Contains(s, "level=ERROR"):
		l.errors++
		if len(l.first) < 5 {
			l.first = append(l.first, truncate(s, 600))
		}
		if l.byMsg == nil {
			l.byMsg = map[string]int{}
		}
		l.byMsg[logMsg(s)]++
	case strings.Contains(s, "level=WARN"):
		l.warns++
	}
}

// logMsg is the msg of a log/slog text line, with the server it names.
func logMsg(line string) string {
	msg := ""
	if _, rest, ok := strings.Cut(line, " msg="); ok {
		if strings.HasPrefix(rest, `"`) {
			if v, err := strconv.QuotedPrefix(rest); err == nil {
				msg, _ = strconv.Unquote(v)
			}
		} else {
			msg, _, _ = strings.Cut(rest, " ")
		}
	}
	if _, rest, ok := strings.Cut(line, " server="); ok {
		srv, _, _ := strings.Cut(rest, " ")
		msg += " (server=" + srv + ")"
	}
	return msg
}

// counts returns the ERROR and WARN lines seen, the first ERROR lines, and
// the ERROR lines counted by message.
func (l *logSink) counts() (errs, warns int, first []string, byMsg map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errors, l.warns, slices.Clone(l.first), maps.Clone(l.byMsg)
}

func (l *logSink) tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return "(no output)"
	}
	return string(l.buf)
}

// truncate cuts s to at most n bytes for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
