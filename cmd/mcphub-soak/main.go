// Command mcphub-soak is mcphub's soak test (issue 6): for a set time it
// runs mixed traffic through the hub while the servers behind it fail at
// random, and reports every outcome by kind. The only acceptable errors are
// the injected ones; anything else is UNEXPECTED, a bug, and makes it exit
// with status 1.
//
// It starts, as real processes on loopback, the hub (./bin/mcphub) with
// three servers:
//
//	ok      the example server over stdio, healthy; its add tool needs approval
//	fhttp   a fault server (pkg/faultserver) over Streamable HTTP, in this process
//	fstdio  cmd/fault-server over stdio, steered by a control file
//
// -c workers make a weighted mix of POST /mcp_hub/call (ok__echo,
// fhttp__work, fstdio__work), POST /mcp_hub/call_stream (read to the end),
// GET /mcp_hub/tools and /mcp_hub/servers, and approvals (a call of
// ok__add → 202 → approve, which answers the sum, or reject, after which
// the request is rejected and approving it is a 409); one GET
// /mcp_hub/events subscriber cuts its stream every few seconds and resumes
// with Last-Event-ID, and must see consecutive ids, events throughout, and
// every approval decided. Meanwhile an injector per fault server switches
// its faults every 0.5–3 s (crash, hang, stall, malformed answers, answers
// over the 16 MiB limit, refused connections, restarts, failing and slow
// starts), and records what was in force when.
//
// An outcome is ok, an injected-fault error (an error of a fault server's
// call whose status and text match a fault in force while it ran, as
// test/e2e/faultinjection_test.go maps them), or UNEXPECTED: an error of
// the healthy server, a 500, a broken connection to the hub, a wrong
// answer, no answer within the timeout and a margin, the hub dying, its RSS
// over a bound, a server that does not come back once the faults end, a
// zombie child, an unclean shutdown, a process left behind.
//
//	go run ./cmd/mcphub-soak              # or: make soak
//	go run ./cmd/mcphub-soak -d 2m -c 16 -json
//
// Every process it starts is in a process group of its own and carries
// MCPHUB_SOAK_RUN=<run id> in its environment; all of them are stopped at
// the end, on errors and on Ctrl-C (which ends the load early and still
// reports; a second Ctrl-C kills them at once).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	procs := newProcSet()
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "\nmcphub-soak: %v: ending the load early (again to kill everything at once)\n", sig)
		cancel(fmt.Errorf("%w (%v)", errInterrupted, sig))
		<-sigs
		fmt.Fprintln(os.Stderr, "mcphub-soak: killing every process it started")
		procs.KillAll()
		os.Exit(130)
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, procs)
	cancel(nil)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUnexpected):
		fmt.Fprintln(os.Stderr, "mcphub-soak:", err)
		os.Exit(1)
	case errors.Is(err, errInterrupted):
		fmt.Fprintln(os.Stderr, "mcphub-soak:", err)
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "mcphub-soak:", err)
		os.Exit(1)
	}
}

var (
	// errUnexpected is run's error when the soak found UNEXPECTED outcomes.
	errUnexpected = errors.New("UNEXPECTED outcomes")
	// errInterrupted is the cause of an interrupted run.
	errInterrupted = errors.New("interrupted")
)

type options struct {
	duration      time.Duration
	workers       int
	json          bool
	seed          uint64
	serverTimeout time.Duration
	margin        time.Duration
	lookback      time.Duration
	faultMin      time.Duration
	faultMax      time.Duration
	maxRSSMiB     int64
	maxSilence    time.Duration
	faults        map[string]bool // nil: all
	shown         int
	hubBin        string
	exampleBin    string
	faultBin      string
}

// maxDuration bounds -d: a soak is bounded in time.
const maxDuration = 24 * time.Hour

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mcphub-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mcphub-soak [flags]\n\nFaults (-faults): %s\n\nFlags:\n", strings.Join(allFaultKinds(), ", "))
		fs.PrintDefaults()
	}
	fs.DurationVar(&o.duration, "d", 30*time.Second, "how long the load runs (at most 24h)")
	fs.IntVar(&o.workers, "c", 8, "concurrent workers")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of the summary")
	fs.Uint64Var(&o.seed, "seed", 0, "random seed of the mix and the faults (0: random; the report gives the one used)")
	fs.DurationVar(&o.serverTimeout, "timeout", 2*time.Second, "the servers' timeout in the hub's config")
	fs.DurationVar(&o.margin, "margin", 3*time.Second, "how much longer than -timeout any answer may take")
	fs.DurationVar(&o.lookback, "lookback", 5*time.Second, "how long after a fault that breaks the connection its errors (server down) are still its own")
	fs.DurationVar(&o.faultMin, "fault-min", 500*time.Millisecond, "shortest time between two fault switches")
	fs.DurationVar(&o.faultMax, "fault-max", 3*time.Second, "longest time between two fault switches")
	fs.Int64Var(&o.maxRSSMiB, "max-rss", 0, "bound on the hub's RSS in MiB (0: 96 + 40 per worker)")
	fs.DurationVar(&o.maxSilence, "max-silence", 10*time.Second, "longest time the event stream may go without an event")
	faults := fs.String("faults", "all", "comma-separated fault kinds to inject")
	fs.IntVar(&o.shown, "show", 10, "UNEXPECTED outcomes shown in detail")
	fs.StringVar(&o.hubBin, "mcphub", "", "mcphub `binary` (default: ./bin/mcphub if fresh, else a fresh go build)")
	fs.StringVar(&o.exampleBin, "example", "", "example-server `binary` (default: ./bin/example-server if fresh, else a fresh go build)")
	fs.StringVar(&o.faultBin, "fault-server", "", "fault-server `binary` (default: ./bin/fault-server if fresh, else a fresh go build)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.duration <= 0 || o.duration > maxDuration:
		return o, fmt.Errorf("-d must be positive and at most %v", maxDuration)
	case o.workers < 1:
		return o, errors.New("-c must be at least 1")
	case o.serverTimeout < 100*time.Millisecond || o.serverTimeout%time.Millisecond != 0:
		return o, errors.New("-timeout must be at least 100ms, in whole milliseconds")
	case o.margin <= 0 || o.lookback < 0:
		return o, errors.New("-margin must be positive, -lookback not negative")
	case o.faultMin <= 0 || o.faultMax < o.faultMin:
		return o, errors.New("want 0 < -fault-min <= -fault-max")
	case o.maxRSSMiB < 0 || o.maxSilence <= 0 || o.shown < 0:
		return o, errors.New("-max-rss and -show must not be negative, -max-silence must be positive")
	}
	if o.maxRSSMiB == 0 {
		o.maxRSSMiB = 96 + 40*int64(o.workers)
	}
	if *faults != "all" {
		o.faults = map[string]bool{}
		known := allFaultKinds()
		for k := range strings.SplitSeq(*faults, ",") {
			k = strings.TrimSpace(k)
			if !slices.Contains(known, k) {
				return o, fmt.Errorf("-faults: unknown fault %q (known: %s)", k, strings.Join(known, ", "))
			}
			o.faults[k] = true
		}
	}
	return o, nil
}

// allFaultKinds lists the fault kinds of both servers.
func allFaultKinds() []string {
	var out []string
	for _, d := range append(append([]*faultDef{}, stdioFaults...), httpFaults...) {
		if !slices.Contains(out, d.kind) {
			out = append(out, d.kind)
		}
	}
	return out
}
