package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// binDir holds the binaries the tests share, built once when ./bin's are
// stale: building them in every run would take most of the time budget.
var (
	binDir   string
	binOnce  sync.Once
	binFlags []string
	binErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// binaryFlags are -mcphub and -example for the binaries of this tree.
func binaryFlags(t *testing.T) []string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "mcphub-bench-test-"); binErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var b binaries
		b, binErr = findBinaries(ctx, "", "", binDir, t.Logf)
		binFlags = []string{"-mcphub", b.hub, "-example", b.example}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binFlags
}

// TestRunJSON runs the tool with tiny settings on a subset of the
// scenarios and checks its figures and that nothing it started survives.
func TestRunJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and puts load on them")
	}
	args := append(binaryFlags(t), "-json", "-d", "300ms", "-warmup", "100ms", "-n", "1", "-c", "2",
		"-tools-requests", "100", "-scenarios", "rest-http,rest-stdio")
	procs := newProcSet(newRunID())
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr, procs); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	checkNothingLeft(t, procs.runID)

	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, stdout.String())
	}
	if rep.RunID != procs.runID || rep.Machine.NProc < 1 || rep.Machine.Kernel == "" || rep.Machine.ClkTck < 1 {
		t.Errorf("run id / machine: %q %+v", rep.RunID, rep.Machine)
	}
	if rep.Startup.MedianMs <= 0 || len(rep.Startup.RunsMs) != 1 || rep.ToolsGET.Requests != 100 || rep.ToolsGET.P50us <= 0 ||
		rep.HubRSSIdleKB <= 0 || rep.HubRSSAnonIdleKB <= 0 || rep.TotalSeconds <= 0 {
		t.Errorf("startup %+v, tools %+v, idle RSS %d kB, total %v s", rep.Startup, rep.ToolsGET, rep.HubRSSIdleKB, rep.TotalSeconds)
	}
	// The baselines of the chosen scenarios are added; mcp-http is not.
	want := map[string]bool{"direct-http": false, "rest-http": true, "direct-stdio": false, "rest-stdio": true}
	got := map[string]int{}
	for _, r := range rep.Results {
		viaHub, ok := want[r.Scenario]
		if !ok {
			t.Errorf("unexpected scenario %q", r.Scenario)
			continue
		}
		got[r.Scenario]++
		name := r.Scenario + " " + r.Mode
		if r.Mode != "seq" && r.Mode != "c2" || r.Clients != map[string]int{"seq": 1, "c2": 2}[r.Mode] {
			t.Errorf("%s: mode %q with %d clients", name, r.Mode, r.Clients)
		}
		if r.CallsPerSec <= 0 || r.Calls <= 0 || r.Ratio <= 0 || r.P50us <= 0 || r.P50us > r.P99us || len(r.Runs) != 1 {
			t.Errorf("%s: %+v", name, r)
		}
		if !viaHub && r.Ratio != 1 {
			t.Errorf("%s: a baseline's ratio is %v", name, r.Ratio)
		}
		if hubFigures := r.HubCPUusPerCall != nil && r.HubRSSPeakKB != nil && r.HubAddedP50us != nil; hubFigures != viaHub {
			t.Errorf("%s: hub figures present = %v, want %v", name, hubFigures, viaHub)
		} else if viaHub && (*r.HubCPUusPerCall < 0 || *r.HubRSSPeakKB < rep.HubRSSIdleKB/2) {
			t.Errorf("%s: hub CPU %v µs/call, RSS peak %d kB", name, *r.HubCPUusPerCall, *r.HubRSSPeakKB)
		}
	}
	for s := range want {
		if got[s] != 2 {
			t.Errorf("scenario %s: %d results, want 2 (seq and c2)", s, got[s])
		}
	}
}

// TestRunInterrupted cancels a run during its load, as Ctrl-C does, and
// checks that it ends promptly with nothing left running.
func TestRunInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and puts load on them")
	}
	args := append(binaryFlags(t), "-d", "2s", "-warmup", "0s", "-n", "2", "-c", "2", "-scenarios", "rest-stdio")
	procs := newProcSet(newRunID())
	interrupted := errors.New("interrupted by the test")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	// Cancel once the first window has been measured: the hub, the HTTP
	// server, the stdio clients and children are all running then.
	stderr := &watchWriter{match: "run 1/2", onMatch: func() { cancel(interrupted) }}
	start := time.Now()
	err := run(ctx, args, &bytes.Buffer{}, stderr, procs)
	if !errors.Is(err, interrupted) || strings.Contains(err.Error(), "cleanup") {
		t.Fatalf("run: %v, want %v\nstderr:\n%s", err, interrupted, stderr.String())
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("run took %v to stop", took)
	}
	checkNothingLeft(t, procs.runID)
}

// checkNothingLeft fails if a process of the run, or any child of the test
// process, is still running.
func checkNothingLeft(t *testing.T, runID string) {
	t.Helper()
	if pids := markedPIDs(runID); len(pids) > 0 {
		t.Errorf("processes of run %s still running: %v", runID, pids)
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) S ppid ...", comm may hold spaces.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(os.Getpid()) {
			t.Errorf("child process %d (%s) still exists, state %s", pid, procComm(pid), f[0])
		}
	}
}

// watchWriter calls onMatch once, the first time what was written holds
// match.
type watchWriter struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	match   string
	onMatch func()
	fired   bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.fired && strings.Contains(w.buf.String(), w.match) {
		w.fired = true
		w.onMatch()
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
