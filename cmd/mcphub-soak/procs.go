package main

import (
	"github.com/mcphub/mcphub/internal/procset"
	"github.com/mcphub/mcphub/pkg/config"
)

// markerEnv is set, to the run's id, in the environment of every process
// the tool starts. The hub passes its environment on to its stdio children,
// so the marker also finds the processes the hub started: whatever still
// carries it when the tool ends is killed and reported.
const markerEnv = "MCPHUB_SOAK_RUN"

// newProcSet is the set of one run's processes. They do not inherit an
// API token: in the hub's environment it would turn auth on. A failure
// message keeps the last 64 KiB of a process's output: the hub's log of a
// soak is long.
func newProcSet() *procset.Set {
	return procset.New(markerEnv, procset.Unset(config.EnvAPIToken), procset.TailBytes(64<<10))
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
	status, err := procset.ReadStatus(pid, "VmRSS", "Threads")
	if err != nil {
		return procSample{}, err
	}
	fds, err := procset.CountFDs(pid)
	if err != nil {
		return procSample{}, err
	}
	return procSample{RSSKB: status["VmRSS"], Threads: status["Threads"], FDs: fds}, nil
}
