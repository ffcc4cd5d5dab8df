package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/procset"
	"github.com/mcphub/mcphub/pkg/faultserver"
)

// run is main without the process: it soaks, stops everything it started,
// and prints the report. procs owns the processes (main kills them on a
// second signal). It returns an error wrapping errUnexpected when the soak
// found UNEXPECTED outcomes, errInterrupted (after the report) when ctx
// was cancelled.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, procs *procset.Set) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	began := time.Now()
	var logMu sync.Mutex // the injectors log concurrently
	logf := func(format string, a ...any) {
		logMu.Lock()
		defer logMu.Unlock()
		fmt.Fprintf(stderr, "mcphub-soak: "+format+"\n", a...)
	}
	if o.seed == 0 {
		o.seed = rand.Uint64()
	}
	rngFor := func(stream uint64) *rand.Rand { return rand.New(rand.NewPCG(o.seed, stream)) }

	tmp, err := os.MkdirTemp("", "mcphub-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fhttp := faultserver.NewHTTP(faultserver.HTTPOptions{Logger: slog.New(slog.DiscardHandler)})
	// cleanup stops the processes, then the fault server they used; it
	// runs before the report and, on errors, on return.
	var cleanupOnce sync.Once
	var cleanupErr error
	cleanup := func() error {
		cleanupOnce.Do(func() {
			cleanupErr = errors.Join(procs.StopAll(20*time.Second), fhttp.Close())
		})
		return cleanupErr
	}
	defer func() {
		if cerr := cleanup(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()

	bins, err := findBinaries(ctx, o.hubBin, o.exampleBin, o.faultBin, tmp, logf)
	if err != nil {
		return err
	}
	if err := fhttp.Listen("127.0.0.1:0"); err != nil {
		return err
	}
	control := filepath.Join(tmp, "fstdio.faults")
	cfg := filepath.Join(tmp, "mcp_servers.yaml")
	if err := os.WriteFile(cfg, []byte(hubConfig(o, bins, fhttp.URL(), control)), 0o644); err != nil {
		return err
	}
	addr, err := loopback.FreeAddr()
	if err != nil {
		return err
	}
	hubLog := newLogSink()
	hub, err := procs.Start("mcphub", tmp, hubLog, bins.hub, "-c", cfg, "--listen", addr, "--log-level", "warn")
	if err != nil {
		return err
	}
	base := "http://" + addr
	hc := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4*o.workers + 8, MaxIdleConnsPerHost: 4*o.workers + 8, IdleConnTimeout: time.Minute,
	}}
	defer hc.CloseIdleConnections()
	if _, err := waitHealthy(ctx, hc, base, hub, 30*time.Second, srvOK, srvHTTP, srvStdio); err != nil {
		return err
	}
	logf("run %s, seed %d: hub (pid %d) up at %s with %s, %s, %s; %v of load with %d workers",
		procs.RunID(), o.seed, hub.PID(), base, srvOK, srvHTTP, srvStdio, o.duration, o.workers)

	faults := &faultLog{}
	st := newStats(faults, o.serverTimeout, o.lookback, o.shown)
	s := newSoak(ctx, base, hc, o.serverTimeout+o.margin, st, o.workers)
	load, stopLoad := context.WithTimeoutCause(ctx, o.duration, errors.New("the load's time is up"))
	defer stopLoad()
	mon := startMonitor(hub, st, o.maxRSSMiB<<10, stopLoad)
	defer mon.stop()

	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	watcher := newEventWatcher(s, rngFor(1))
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		watcher.run(evCtx)
	}()

	targets := []*faultTarget{
		{name: srvHTTP, http: fhttp, defs: selectFaults(httpFaults, o.faults)},
		{name: srvStdio, control: control, defs: selectFaults(stdioFaults, o.faults)},
	}
	injErr := make(chan error, len(targets))
	var injectors sync.WaitGroup
	for i, ft := range targets {
		if len(ft.defs) == 0 {
			continue
		}
		injectors.Go(func() {
			if err := inject(load, ft, rngFor(uint64(2+i)), o.faultMin, o.faultMax, faults, logf); err != nil {
				injErr <- err
				stopLoad()
			}
		})
	}

	var workers sync.WaitGroup
	loadStart := time.Now()
	for i := range o.workers {
		workers.Go(func() { s.worker(load, rngFor(uint64(10+i))) })
	}
	<-load.Done()
	workers.Wait()
	loadSecs := time.Since(loadStart).Seconds()
	injectors.Wait()
	close(injErr)
	for e := range injErr {
		err = errors.Join(err, e)
	}
	if err != nil {
		return err // the tool failed, not the hub
	}
	interrupted := context.Cause(ctx) != nil
	logf("load done: %.1f s; checking recovery, events and shutdown", loadSecs)

	// The event stream: the decisions just made reach it within moments.
	time.Sleep(500 * time.Millisecond)
	stopEvents()
	<-evDone
	var decided []string
	if !interrupted {
		decided = s.decisions(time.Now())
	}
	events := watcher.finish(decided, o.maxSilence, loadSecs)

	var recovery []recoveryReport
	if !interrupted && !mon.died() {
		recovery = s.recoverAll(ctx, 30*time.Second, hub)
		checkZombies(hub, st)
	}
	mon.stop()
	children := len(procset.Children(hub.PID()))

	// Shut the hub down as an operator would: SIGTERM, exit 0, no child left.
	stopStart := time.Now()
	hubExit := "exit 0 on SIGTERM"
	if serr := procs.Stop(hub, 20*time.Second); serr != nil {
		hubExit = serr.Error()
		if !mon.died() {
			st.unexpectedEvent("", "", newProblem("hub shutdown", "%v", serr))
		}
	} else {
		hubExit += fmt.Sprintf(" after %.2f s", time.Since(stopStart).Seconds())
	}
	if cerr := cleanup(); cerr != nil {
		st.unexpectedEvent("", "", newProblem("processes left behind", "%v", cerr))
	}

	rep := buildReport(o, procs.RunID(), began, bins.how, interrupted, loadSecs, st, faults, events, recovery)
	rep.Hub = mon.report(hub.PID(), o.maxRSSMiB<<10, children, hubExit, hubLog)
	rep.TotalSeconds = time.Since(began).Seconds()
	if o.json {
		err = writeJSON(stdout, rep)
	} else {
		err = writeSummary(stdout, rep)
	}
	switch {
	case err != nil:
		return err
	case rep.Unexpected > 0:
		return fmt.Errorf("%w: %d (see the report)", errUnexpected, rep.Unexpected)
	case interrupted:
		return context.Cause(ctx)
	}
	return nil
}

// hubConfig is the hub's configuration: the healthy example server (its
// add tool needs approval), the HTTP fault server and the stdio one, each
// with the short timeout, and small backoffs so that servers come back
// quickly.
func hubConfig(o options, bins binaries, faultURL, control string) string {
	timeout := o.serverTimeout.String()
	return fmt.Sprintf(`# written by mcphub-soak
backoff: {initial: 100ms, max: 500ms}
approval: {ttl: 10m, max_pending: 1000}
servers:
  - name: %s
    command: %q
    args: ["--log-level", "WARN"]
    timeout: %s
    require_approval: ["add"]
  - name: %s
    url: %q
    timeout: %s
  - name: %s
    command: %q
    env: {%s: %q}
    timeout: %s
`, srvOK, bins.example, timeout, srvHTTP, faultURL, timeout, srvStdio, bins.fault, faultserver.ControlEnv, control, timeout)
}

// waitHealthy waits until GET /mcp_hub/servers shows every one of names
// healthy, and returns how long that took.
func waitHealthy(ctx context.Context, hc *http.Client, base string, hub *procset.Proc, limit time.Duration, names ...string) (time.Duration, error) {
	start := time.Now()
	for {
		var list []serverInfo
		err := getJSON(ctx, hc, base+"/mcp_hub/servers", &list)
		healthy := map[string]bool{}
		for _, si := range list {
			healthy[si.Name] = si.Healthy
		}
		ready := err == nil
		for _, n := range names {
			ready = ready && healthy[n]
		}
		if ready {
			return time.Since(start), nil
		}
		if hub.Exited() {
			return 0, hub.ExitError()
		}
		if time.Since(start) > limit {
			return 0, fmt.Errorf("servers %v not all healthy after %v: %v %+v", names, limit, err, list)
		}
		select {
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// recoveryReport is one fault server after the faults ended.
type recoveryReport struct {
	Server         string  `json:"server"`
	HealthySeconds float64 `json:"healthy_after_s"`
	WorkOK         bool    `json:"work_ok"`
	Error          string  `json:"error,omitempty"`
}

// recoverAll checks that the fault servers come back by themselves once
// their faults are cleared: healthy within limit, and work answering.
func (s *soak) recoverAll(ctx context.Context, limit time.Duration, hub *procset.Proc) []recoveryReport {
	var out []recoveryReport
	for _, srv := range []string{srvHTTP, srvStdio} {
		r := recoveryReport{Server: srv}
		took, err := waitHealthy(ctx, s.hc, s.base, hub, limit, srv)
		r.HealthySeconds = took.Seconds()
		if err == nil {
			label := s.next()
			o := outcome{endpoint: "POST /mcp_hub/call " + srv + "__work (after the faults)", kind: kindCall, server: srv}
			b := s.send(&o, http.MethodPost, "/mcp_hub/call", callBody("after", srv+"__work", map[string]any{"label": label}))
			if o.problem == nil && !o.aborted {
				var res callResponse
				if o.status != http.StatusOK || json.Unmarshal(b, &res) != nil || !res.Success || res.Content != "worked: "+label {
					o.problem = newProblem("no recovery", "%s__work once the faults ended: %d %s %.200s", srv, o.status, o.errMsg, b)
				}
			}
			s.stats.record(o)
			r.WorkOK = o.problem == nil && !o.aborted
			if o.problem != nil {
				r.Error = o.problem.detail
			}
		} else {
			r.Error = err.Error()
			s.stats.unexpectedEvent("", "", newProblem("no recovery", "%v", err))
		}
		out = append(out, r)
	}
	return out
}

// checkZombies files the hub's children that stay zombies: processes it
// did not reap.
func checkZombies(hub *procset.Proc, st *stats) {
	zombies := func() []int {
		var out []int
		for pid, state := range procset.Children(hub.PID()) {
			if state == 'Z' {
				out = append(out, pid)
			}
		}
		return out
	}
	first := zombies()
	if len(first) == 0 {
		return
	}
	time.Sleep(time.Second)
	var still []int
	for _, pid := range zombies() {
		if slices.Contains(first, pid) {
			still = append(still, pid)
		}
	}
	if len(still) > 0 {
		st.unexpectedEvent("", "", newProblem("zombie children", "the hub has not reaped %v for over a second", still))
	}
}
