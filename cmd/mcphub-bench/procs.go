package main

import (
	"github.com/mcphub/mcphub/internal/procset"
	"github.com/mcphub/mcphub/pkg/config"
)

// markerEnv is set, to the run's id, in the environment of every process
// the tool starts. The hub passes its environment on to its stdio children,
// so the marker also finds the processes the tool did not start itself:
// whatever still carries it when the tool ends is killed (and reported).
const markerEnv = "MCPHUB_BENCH_RUN"

// newProcSet is the set of one run's processes. They do not inherit an
// API token: in the hub's environment it would turn auth on.
func newProcSet() *procset.Set {
	return procset.New(markerEnv, procset.Unset(config.EnvAPIToken))
}
