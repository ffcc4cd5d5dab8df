package main

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
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
// so the marker also finds the processes the tool did not start itself:
// whatever still carries it when the tool ends is killed (and reported).
const markerEnv = "MCPHUB_BENCH_RUN"

// newRunID is a random id for markerEnv.
func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// proc is one process the tool started (or adopted), leader of its own
// process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *tailBuffer
	// done is closed once the process has exited and been reaped; nil for
	// an adopted process, which its owner (mcp-go's stdio transport) reaps.
	done chan struct{}
	err  error // Wait's error, set before done is closed
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended (always false while it runs
// and for adopted processes).
func (p *proc) exited() bool {
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

// exitError describes an unexpected exit, with the end of the process's
// output.
func (p *proc) exitError() error {
	return fmt.Errorf("%s (pid %d) exited: %v; its last output:\n%s", p.name, p.pid(), p.err, p.log.String())
}

// procSet owns every process of one run: it starts them in process groups
// of their own, marked with markerEnv, and ends them all.
type procSet struct {
	runID string
	mu    sync.Mutex
	procs []*proc
}

func newProcSet(runID string) *procSet { return &procSet{runID: runID} }

func (s *procSet) marker() string { return markerEnv + "=" + s.runID }

// command is an unstarted command for path with the run's marker, in a
// process group of its own, with its output going to a tail buffer.
func (s *procSet) command(path string, args ...string) (*exec.Cmd, *tailBuffer) {
	cmd := exec.Command(path, args...)
	cmd.Env = append(childEnv(), s.marker())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out := newTailBuffer(32 << 10)
	cmd.Stdout, cmd.Stderr = out, out
	return cmd, out
}

// childEnv is the tool's environment without what would change how the
// hub behaves: an API token in the environment would turn auth on.
func childEnv() []string {
	env := os.Environ()
	kept := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, config.EnvAPIToken+"=") || strings.HasPrefix(kv, markerEnv+"=") {
			continue
		}
		kept = append(kept, kv)
	}
	return kept
}

// start starts name (a label for messages) from path in dir.
func (s *procSet) start(name, dir, path string, args ...string) (*proc, error) {
	cmd, out := s.command(path, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.add(p)
	return p, nil
}

// adopt registers a process another owner started from s.command (the
// direct stdio client's server), so that killAll reaches it.
func (s *procSet) adopt(name string, cmd *exec.Cmd, out *tailBuffer) *proc {
	p := &proc{name: name, cmd: cmd, log: out}
	s.add(p)
	return p
}

func (s *procSet) add(p *proc) {
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
}

// forget drops p once its owner has reaped it: its pid may be reused.
func (s *procSet) forget(p *proc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return
		}
	}
}

// stop ends p gracefully: SIGTERM (the hub then stops its stdio children),
// then after grace SIGKILL to its whole process group. It returns p's exit
// error when p did not exit cleanly on SIGTERM.
func (s *procSet) stop(p *proc, grace time.Duration) error {
	defer s.forget(p)
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s (pid %d) stopped with %v; its last output:\n%s", p.name, p.pid(), p.err, p.log.String())
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
	return fmt.Errorf("%s (pid %d) ignored SIGTERM for %v and was killed; its last output:\n%s", p.name, p.pid(), grace, p.log.String())
}

// stopAll stops every registered process, the latest started first (the
// hub before the server it calls), then sweeps for marked processes left
// behind. An adopted process its owner did not release is killed.
func (s *procSet) stopAll(grace time.Duration) error {
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	var errs []error
	for _, p := range slices.Backward(procs) {
		if p.done == nil {
			_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
			s.forget(p)
			continue
		}
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
	procs := append([]*proc(nil), s.procs...)
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
				if st, _, err := procStat(pid); err == nil && st != 'Z' {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// procComm is the command name of pid, for messages.
func procComm(pid int) string {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// procStat reads pid's state and CPU time (utime+stime, in clock ticks)
// from /proc/<pid>/stat.
func procStat(pid int) (state byte, ticks uint64, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, err
	}
	// "pid (comm) S ppid ...": comm may hold spaces and ')', so fields are
	// counted after the last ')'. Field 3 is the state, 14 utime, 15 stime.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: only %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return f[0][0], utime + stime, nil
}

// procRSSKB reads VmRSS (kB) from /proc/<pid>/status.
func procRSSKB(pid int) (int64, error) {
	m, err := procMemKB(pid, "VmRSS")
	return m["VmRSS"], err
}

// procMemKB reads the given fields (in kB: VmRSS, RssAnon, RssFile, ...)
// from /proc/<pid>/status.
func procMemKB(pid int, fields ...string) (map[string]int64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(fields))
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !slices.Contains(fields, k) {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		out[k] = n
	}
	for _, f := range fields {
		if _, ok := out[f]; !ok {
			return nil, fmt.Errorf("/proc/%d/status: no %s", pid, f)
		}
	}
	return out, nil
}

// clockTicks is sysconf(_SC_CLK_TCK), the unit of /proc/<pid>/stat's CPU
// times: glibc reads it from the AT_CLKTCK entry of the auxiliary vector,
// and so does this. It falls back to 100 (Linux's USER_HZ everywhere) and
// says so in source.
func clockTicks() (hz int64, source string) {
	const atClkTck = 17
	b, err := os.ReadFile("/proc/self/auxv")
	if err == nil {
		for ; len(b) >= 16; b = b[16:] { // (type, value) pairs of 64-bit words
			typ, val := binary.NativeEndian.Uint64(b), binary.NativeEndian.Uint64(b[8:])
			if typ == atClkTck && val > 0 {
				return int64(val), "AT_CLKTCK"
			}
			if typ == 0 {
				break
			}
		}
	}
	return 100, "assumed (AT_CLKTCK unreadable)"
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.buf) == 0 {
		return "(no output)"
	}
	return string(t.buf)
}
