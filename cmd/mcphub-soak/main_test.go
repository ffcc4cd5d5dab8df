package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/procset/procsettest"
)

func TestMain(m *testing.M) { procsettest.Main(m) }

// binaryFlags are -mcphub, -example and -fault-server for this tree.
func binaryFlags(t *testing.T) []string {
	t.Helper()
	bins := procsettest.Binaries(t, "mcphub", "example-server", "fault-server")
	return []string{"-mcphub", bins[0], "-example", bins[1], "-fault-server", bins[2]}
}

// TestSoakJSON soaks the hub for 5 s with 2 workers and checks the report:
// traffic on every kind of endpoint, faults injected and survived, no
// UNEXPECTED outcome, and nothing left running.
func TestSoakJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and soaks them for seconds")
	}
	args := append(binaryFlags(t), "-json", "-d", "5s", "-c", "2")
	procs := newProcSet()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr, procs)
	procsettest.NothingLeft(t, procs)
	var rep report
	if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil {
		t.Fatalf("run: %v; output is not one JSON object: %v\n%s\nstderr:\n%s", err, jerr, stdout.String(), stderr.String())
	}
	if err != nil {
		first, _ := json.MarshalIndent(rep.FirstUnexpected, "", "  ")
		t.Fatalf("run: %v (seed %d)\nfirst unexpected: %s\nstderr:\n%s", err, rep.Seed, first, stderr.String())
	}
	if rep.Unexpected != 0 || len(rep.FirstUnexpected) != 0 {
		t.Errorf("%d unexpected outcomes: %+v", rep.Unexpected, rep.FirstUnexpected)
	}
	for _, k := range endpointKinds {
		if rep.RequestsByKind[k] == 0 {
			t.Errorf("no traffic on %s: %v", k, rep.RequestsByKind)
		}
	}
	if rep.Requests == 0 || rep.OK == 0 || rep.RequestsPerSec <= 0 || rep.LoadSeconds < 5 {
		t.Errorf("requests %d, ok %d, %.1f/s over %.1f s", rep.Requests, rep.OK, rep.RequestsPerSec, rep.LoadSeconds)
	}
	if rep.FaultsInjected == 0 || len(rep.Faults) == 0 {
		t.Errorf("no faults injected: %+v", rep.Faults)
	}
	ev := rep.Events
	if ev.Received == 0 || ev.Connections < 2 || ev.Resumed != ev.Connections || ev.Gaps != 0 ||
		ev.ApprovalsChecked == 0 || ev.ApprovalsMissing != 0 {
		t.Errorf("events: %+v", ev)
	}
	if len(rep.Recovery) != 2 || !rep.Recovery[0].WorkOK || !rep.Recovery[1].WorkOK {
		t.Errorf("recovery: %+v", rep.Recovery)
	}
	h := rep.Hub
	if h.Died || h.RSSPeakKB <= 0 || h.RSSPeakKB > h.RSSBoundKB || h.ChildrenEnd != 2 || !strings.HasPrefix(h.Exit, "exit 0") {
		t.Errorf("hub: %+v", h)
	}
	t.Logf("%d requests (%.0f/s): %d ok, %d injected-fault errors; %d faults; %d events; hub RSS peak %.1f MiB",
		rep.Requests, rep.RequestsPerSec, rep.OK, rep.Injected, rep.FaultsInjected, ev.Received, float64(h.RSSPeakKB)/1024)
}

// TestSoakInterrupted cancels a run during its load, as Ctrl-C does: it
// ends promptly, still reports, and leaves nothing running.
func TestSoakInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and soaks them for seconds")
	}
	args := append(binaryFlags(t), "-d", "1m", "-c", "2")
	procs := newProcSet()
	interrupted := errors.New("interrupted by the test")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	// Cancel a second into the load.
	stderr := &procsettest.Watch{Match: "of load with", OnMatch: func() {
		time.AfterFunc(time.Second, func() { cancel(interrupted) })
	}}
	var stdout bytes.Buffer
	start := time.Now()
	err := run(ctx, args, &stdout, stderr, procs)
	if !errors.Is(err, interrupted) {
		t.Fatalf("run: %v, want %v\nstdout:\n%s\nstderr:\n%s", err, interrupted, stdout.String(), stderr.String())
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("run took %v to stop", took)
	}
	if out := stdout.String(); !strings.Contains(out, "INTERRUPTED") || !strings.Contains(out, "UNEXPECTED: none") {
		t.Errorf("report:\n%s", out)
	}
	procsettest.NothingLeft(t, procs)
}
