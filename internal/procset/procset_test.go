package procset

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every Start starts a goroutine that reaps its process: none may
// outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testMarker = "PROCSET_TEST_RUN"

// newTestSet is a set whose processes are all gone when t ends.
func newTestSet(t *testing.T, opts ...Option) *Set {
	t.Helper()
	s := New(testMarker, opts...)
	t.Cleanup(func() {
		_ = s.StopAll(time.Second)
		if pids := s.Marked(); len(pids) > 0 {
			t.Errorf("marked processes left: %v", pids)
		}
	})
	return s
}

// waitFor polls cond until it holds, at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pidLine waits for p's first output line and reads it as a pid (the
// scripts echo $! of a background child).
func pidLine(t *testing.T, p *Proc) int {
	t.Helper()
	var pid int
	waitFor(t, p.Name()+"'s first line", func() bool {
		line, _, ok := strings.Cut(p.Output(), "\n")
		var err error
		pid, err = strconv.Atoi(line)
		return ok && err == nil
	})
	return pid
}

// gone reports whether pid has ended: no longer in /proc, or a zombie
// (a killed orphan waits there for init to reap it).
func gone(pid int) bool {
	st, err := ReadStat(pid)
	return err != nil || st.State == 'Z'
}

func TestStartEnvDirOutput(t *testing.T) {
	t.Setenv("PROCSET_TEST_SECRET", "s3cret")
	t.Setenv(testMarker, "outer") // the tool's own marker must not leak
	s := newTestSet(t, Unset("PROCSET_TEST_SECRET"))
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p, err := s.Start("env", dir, &out, "sh", "-c",
		`echo "secret=${PROCSET_TEST_SECRET-unset} marker=$`+testMarker+` dir=$(pwd -P)"; echo oops >&2`)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the process to exit", p.Exited)
	want := "secret=unset marker=" + s.RunID() + " dir=" + dir + "\noops\n"
	if got := p.Output(); got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if out.String() != want { // done is closed after Wait copied everything
		t.Errorf("out got %q, want %q", out.String(), want)
	}
	if err := s.StopAll(time.Second); err != nil {
		t.Errorf("StopAll after a clean exit: %v", err)
	}
	if len(s.Procs()) != 0 {
		t.Errorf("exited process not forgotten: %v", s.Procs())
	}
}

func TestStartFails(t *testing.T) {
	s := newTestSet(t)
	if _, err := s.Start("missing", "", nil, "/nonexistent/procset-test"); err == nil || !strings.Contains(err.Error(), "starting missing") {
		t.Errorf("Start of a missing binary: %v", err)
	}
	if len(s.Procs()) != 0 {
		t.Errorf("a process that did not start is registered")
	}
}

func TestStop(t *testing.T) {
	s := newTestSet(t)
	t.Run("clean on SIGTERM", func(t *testing.T) {
		p, err := s.Start("clean", "", nil, "sh", "-c", `trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "ready", func() bool { return strings.HasPrefix(p.Output(), "ready") })
		if err := s.Stop(p, 5*time.Second); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if !p.Exited() || len(s.Procs()) != 0 {
			t.Errorf("after Stop: exited %v, registered %v", p.Exited(), s.Procs())
		}
	})
	t.Run("killed by SIGTERM", func(t *testing.T) {
		p, err := s.Start("sleep", "", nil, "sleep", "60")
		if err != nil {
			t.Fatal(err)
		}
		err = s.Stop(p, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "stopped with signal: terminated") {
			t.Errorf("Stop: %v", err)
		}
	})
	t.Run("exited before", func(t *testing.T) {
		p, err := s.Start("failing", "", nil, "sh", "-c", "echo boom >&2; exit 3")
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the exit", p.Exited)
		err = s.Stop(p, time.Second)
		want := "failing (pid " + strconv.Itoa(p.PID()) + ") exited: exit status 3; its last output:\nboom\n"
		if err == nil || err.Error() != want || err.Error() != p.ExitError().Error() {
			t.Errorf("Stop of a process that had exited: %v, want %q", err, want)
		}
	})
}

// TestStopKillsGroup: a process that ignores SIGTERM is killed after the
// grace period with its whole process group, the child it started too.
func TestStopKillsGroup(t *testing.T) {
	s := newTestSet(t)
	// The background sleep inherits the ignored SIGTERM; only the group's
	// SIGKILL ends it.
	p, err := s.Start("stubborn", "", nil, "sh", "-c", `trap '' TERM; sleep 60 & echo $!; wait`)
	if err != nil {
		t.Fatal(err)
	}
	child := pidLine(t, p)
	if st, err := ReadStat(child); err != nil || st.PPID != p.PID() {
		t.Fatalf("the background sleep %d: %+v %v", child, st, err)
	}
	start := time.Now()
	err = s.Stop(p, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "ignored SIGTERM for 200ms and was killed") {
		t.Errorf("Stop: %v", err)
	}
	if took := time.Since(start); took < 200*time.Millisecond || took > 5*time.Second {
		t.Errorf("Stop took %v", took)
	}
	waitFor(t, "the grandchild to die", func() bool { return gone(child) })
	if pids := s.Marked(); len(pids) != 0 {
		t.Errorf("marked processes after the group kill: %v", pids)
	}
}

// TestStopOutputHeldOpen: a process that exits 0 by itself while a
// descendant keeps its output open counts as exited after pipeWait, not
// when the descendant ends, and Stop says what happened: no kill, of it
// or of its group.
func TestStopOutputHeldOpen(t *testing.T) {
	s := newTestSet(t)
	for _, tc := range []struct {
		name string
		// before is whether Stop comes once the exit is seen, or while
		// Wait still waits for the output.
		before bool
	}{{"exited before", true}, {"during the wait", false}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			p, err := s.Start("parent", "", nil, "sh", "-c", `sleep 5 & echo $!; exit 0`)
			if err != nil {
				t.Fatal(err)
			}
			orphan := pidLine(t, p)
			defer func() {
				_ = syscall.Kill(orphan, syscall.SIGKILL)
				waitFor(t, "the descendant to die", func() bool { return gone(orphan) })
			}()
			if tc.before {
				waitFor(t, "the exit", p.Exited)
				if took := time.Since(start); took > 4*time.Second {
					t.Errorf("exited after %v: Wait waited for the descendant", took)
				}
			} else {
				// Reaped (gone from /proc), its Wait still waiting.
				waitFor(t, "the reaping", func() bool { _, err := ReadStat(p.PID()); return err != nil })
			}
			err = s.Stop(p, 50*time.Millisecond)
			if err == nil || !strings.Contains(err.Error(), "exit status 0, but a process it left running kept its output open") ||
				strings.Contains(err.Error(), "killed") {
				t.Errorf("Stop: %v", err)
			}
			if !p.Exited() {
				t.Error("not exited after Stop")
			}
			if gone(orphan) {
				t.Error("the descendant was killed")
			}
		})
	}
}

// TestStopAllSweepsLeftover: a marked process nobody registered (a child
// whose parent exited without ending it, as a hub might leave a stdio
// server) is found by its marker, killed, and named.
func TestStopAllSweepsLeftover(t *testing.T) {
	s := newTestSet(t)
	// The orphan lets go of the output pipe: until it does, Wait waits.
	p, err := s.Start("parent", "", nil, "sh", "-c", `sleep 60 >/dev/null 2>&1 & echo $!`)
	if err != nil {
		t.Fatal(err)
	}
	orphan := pidLine(t, p)
	waitFor(t, "the parent to exit", p.Exited)
	if got := s.Marked(); len(got) != 1 || got[0] != orphan {
		t.Fatalf("Marked = %v, want [%d]", got, orphan)
	}
	err = s.StopAll(time.Second)
	want := "processes left running after cleanup, killed: " + strconv.Itoa(orphan) + " (sleep)"
	if err == nil || err.Error() != want {
		t.Errorf("StopAll: %v, want %q", err, want)
	}
	waitFor(t, "the leftover to die", func() bool { return gone(orphan) })
}

// TestStopAllOrder: the latest started is stopped first.
func TestStopAllOrder(t *testing.T) {
	s := newTestSet(t)
	log := t.TempDir() + "/order"
	for _, name := range []string{"first", "second"} {
		script := `trap 'echo ` + name + ` >> "$0"; exit 0' TERM; while :; do sleep 0.05; done`
		p, err := s.Start(name, "", nil, "sh", "-c", script, log)
		if err != nil {
			t.Fatal(err)
		}
		// The trap is set once the loop's first sleep runs.
		waitFor(t, name+"'s sleep", func() bool { return len(Children(p.PID())) > 0 })
	}
	if err := s.StopAll(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(log); err != nil || string(b) != "second\nfirst\n" {
		t.Errorf("stop order %q %v, want second, then first", b, err)
	}
}

// TestAdopted: a process another owner started from Command is killed
// with its group by StopAll and left for its owner to reap.
func TestAdopted(t *testing.T) {
	s := newTestSet(t)
	cmd, tail := s.Command("sh", "-c", "echo hi; exec sleep 60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := s.Adopt("adopted", cmd, tail)
	waitFor(t, "its output", func() bool { return p.Output() == "hi\n" })
	if p.Exited() {
		t.Error("an adopted process counts as exited")
	}
	if err := s.StopAll(time.Second); err != nil {
		t.Errorf("StopAll: %v", err)
	}
	if err := cmd.Wait(); err == nil || err.Error() != "signal: killed" {
		t.Errorf("the adopted process's end: %v", err)
	}
	if len(s.Procs()) != 0 {
		t.Errorf("adopted process still registered")
	}
}

// TestKillAll: the forced path kills the registered processes' groups and
// every marked process, without waiting.
func TestKillAll(t *testing.T) {
	s := newTestSet(t)
	p, err := s.Start("stubborn", "", nil, "sh", "-c", `trap '' TERM; echo x; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	parent, err := s.Start("parent", "", nil, "sh", "-c", `sleep 60 >/dev/null 2>&1 & echo $!`)
	if err != nil {
		t.Fatal(err)
	}
	orphan := pidLine(t, parent)
	waitFor(t, "stubborn's output", func() bool { return p.Output() == "x\n" })
	s.KillAll()
	waitFor(t, "the registered process to die", p.Exited)
	waitFor(t, "the leftover to die", func() bool { return gone(orphan) })
	if err := s.StopAll(time.Second); err != nil {
		t.Errorf("StopAll after KillAll: %v", err)
	}
}

// TestSampleLiveChild reads /proc for a child that burns CPU.
func TestSampleLiveChild(t *testing.T) {
	s := newTestSet(t)
	p, err := s.Start("busy", "", nil, "sh", "-c", "while :; do :; done")
	if err != nil {
		t.Fatal(err)
	}
	st0, err := ReadStat(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	if st0.PPID != os.Getpid() || !strings.ContainsRune("RS", rune(st0.State)) {
		t.Errorf("stat: %+v, want parent %d and running", st0, os.Getpid())
	}
	waitFor(t, "CPU time to accrue", func() bool {
		st, err := ReadStat(p.PID())
		return err == nil && st.CPUTicks > st0.CPUTicks
	})
	m, err := ReadStatus(p.PID(), "VmRSS", "Threads")
	if err != nil || m["VmRSS"] <= 0 || m["Threads"] != 1 {
		t.Errorf("status: %v %v", m, err)
	}
	if _, err := ReadStatus(p.PID(), "VmRSS", "NoSuchField"); err == nil || !strings.Contains(err.Error(), "no NoSuchField") {
		t.Errorf("a missing field: %v", err)
	}
	if n, err := CountFDs(p.PID()); err != nil || n < 3 {
		t.Errorf("open files: %d %v", n, err)
	}
	if c := Comm(p.PID()); c != "sh" {
		t.Errorf("comm %q", c)
	}
	if st, ok := Children(os.Getpid())[p.PID()]; !ok || st == 'Z' {
		t.Errorf("Children of the test process: %v", Children(os.Getpid()))
	}
	if got := s.Marked(); len(got) != 1 || got[0] != p.PID() {
		t.Errorf("Marked = %v, want [%d]", got, p.PID())
	}
	if err := s.Stop(p, time.Second); err == nil || !strings.Contains(err.Error(), "signal: terminated") {
		t.Errorf("Stop: %v", err)
	}
	if _, err := ReadStat(p.PID()); err == nil {
		t.Errorf("stat of a reaped process")
	}
	if c := Comm(p.PID()); c != "?" {
		t.Errorf("comm of a reaped process: %q", c)
	}
}

// TestZombie: a child that exited and is not reaped yet shows as 'Z' in
// Children (what the soak's zombie check counts), not in Marked, and has
// no memory to read.
func TestZombie(t *testing.T) {
	s := newTestSet(t)
	cmd, _ := s.Command("true")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waitFor(t, "the zombie", func() bool { return Children(os.Getpid())[pid] == 'Z' })
	if got := s.Marked(); len(got) != 0 {
		t.Errorf("Marked lists a zombie: %v", got)
	}
	if _, err := ReadStatus(pid, "VmRSS"); err == nil {
		t.Errorf("a zombie's VmRSS read without error")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, ok := Children(os.Getpid())[pid]; ok {
		t.Errorf("a reaped child is still listed")
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Stat
		err  bool
	}{
		{line: "42 (sh) S 7 42 42 0 -1 4194560 100 0 0 0 12 30 0 0 20 0 1 0 5 1000 100", want: Stat{State: 'S', PPID: 7, CPUTicks: 42}},
		{line: "42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 5", want: Stat{State: 'R', PPID: 1, CPUTicks: 3}},
		{line: "42 sh S 7", err: true},
		{line: "42 (sh) S 7 42", err: true},
		{line: "42 (sh) S x 42 42 0 -1 0 0 0 0 0 1 2", err: true},
	} {
		got, err := parseStat([]byte(tc.line))
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v", tc.line, got, err)
		}
	}
}

func TestClockTicks(t *testing.T) {
	hz, src := ClockTicks()
	if hz <= 0 || src != "AT_CLKTCK" {
		t.Errorf("ClockTicks() = %d, %q", hz, src)
	}
}
