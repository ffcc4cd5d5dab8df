package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything one run found; -json prints it as is.
type report struct {
	Started     time.Time `json:"started"`
	RunID       string    `json:"run_id"` // the MCPHUB_SOAK_RUN value of every process started
	Seed        uint64    `json:"seed"`
	Settings    settings  `json:"settings"`
	Binaries    string    `json:"binaries"`
	Interrupted bool      `json:"interrupted"`
	LoadSeconds float64   `json:"load_seconds"`
	// Requests counts every request the workers made (events excluded);
	// each is OK, an injected-fault error, or UNEXPECTED.
	Requests       int              `json:"requests"`
	RequestsPerSec float64          `json:"requests_per_sec"`
	OK             int              `json:"ok"`
	Injected       int              `json:"injected_errors"`
	Unexpected     int              `json:"unexpected"`
	ByKind         map[string]int   `json:"by_kind"`
	RequestsByKind map[string]int   `json:"requests_by_endpoint_kind"` // call, call_stream, tools, servers, approval, events (connections)
	Endpoints      []endpointReport `json:"endpoints"`
	FaultsInjected int              `json:"faults_injected"` // switches to a fault (not to none)
	Faults         []faultStats     `json:"faults"`
	Events         eventsReport     `json:"events"`
	Recovery       []recoveryReport `json:"recovery,omitempty"`
	Hub            hubReport        `json:"hub"`
	// FirstUnexpected details the first UNEXPECTED outcomes (-show).
	FirstUnexpected []unexpectedEntry `json:"first_unexpected"`
	TotalSeconds    float64           `json:"total_seconds"`
}

type settings struct {
	Duration      string `json:"duration"`
	Workers       int    `json:"workers"`
	ServerTimeout string `json:"server_timeout"`
	Margin        string `json:"margin"`
	Lookback      string `json:"lookback"`
	FaultEvery    string `json:"fault_every"`
	NProc         int    `json:"nproc"`
	Go            string `json:"go"`
}

func buildReport(o options, runID string, began time.Time, bins string, interrupted bool, loadSecs float64,
	st *stats, faults *faultLog, events eventsReport, recovery []recoveryReport,
) *report {
	r := &report{
		Started: began, RunID: runID, Seed: o.seed, Binaries: bins, Interrupted: interrupted, LoadSeconds: loadSecs,
		Settings: settings{
			Duration: o.duration.String(), Workers: o.workers, ServerTimeout: o.serverTimeout.String(),
			Margin: o.margin.String(), Lookback: o.lookback.String(), FaultEvery: o.faultMin.String() + "–" + o.faultMax.String(),
			NProc: runtime.NumCPU(), Go: runtime.Version(),
		},
		Endpoints: st.endpoints(loadSecs), Events: events, Recovery: recovery,
		RequestsByKind: map[string]int{}, FaultsInjected: faults.injected(),
	}
	for _, k := range endpointKinds {
		r.RequestsByKind[k] = 0
	}
	for _, ep := range r.Endpoints {
		r.Requests += ep.Requests
		r.OK += ep.OK
		r.Injected += ep.Injected
		r.RequestsByKind[ep.Kind] += ep.Requests
	}
	r.RequestsByKind[kindEvents] = events.Connections
	if loadSecs > 0 {
		r.RequestsPerSec = float64(r.Requests) / loadSecs
	}
	st.mu.Lock()
	r.Unexpected = st.nUnexp
	r.ByKind = maps.Clone(st.byKind)
	r.FirstUnexpected = slices.Clone(st.unexpected)
	attributed := maps.Clone(st.attributed)
	st.mu.Unlock()
	if r.FirstUnexpected == nil {
		r.FirstUnexpected = []unexpectedEntry{}
	}
	r.Faults = faults.summary(began.Add(time.Duration(loadSecs*float64(time.Second))), attributed)
	return r
}

func writeJSON(w io.Writer, r *report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeSummary prints r for people.
func writeSummary(w io.Writer, r *report) error {
	var b strings.Builder
	s := r.Settings
	fmt.Fprintf(&b, "mcphub-soak, %s (run %s, seed %d)\n", r.Started.UTC().Format(time.RFC3339), r.RunID, r.Seed)
	fmt.Fprintf(&b, "%.1f s of load, %d workers, server timeout %s (+%s margin), a fault switch every %s; nproc %d, %s\n",
		r.LoadSeconds, s.Workers, s.ServerTimeout, s.Margin, s.FaultEvery, s.NProc, s.Go)
	if r.Interrupted {
		fmt.Fprintln(&b, "INTERRUPTED: the load ended early; recovery and event checks skipped")
	}
	fmt.Fprintf(&b, "binaries: %s\n\n", r.Binaries)
	fmt.Fprintf(&b, "requests: %d (%.0f/s held): ok %d, injected-fault errors %d, UNEXPECTED %d\n\n",
		r.Requests, r.RequestsPerSec, r.OK, r.Injected, r.Unexpected)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "endpoint                                          \trequests\t/s\tok\tinjected\tUNEXP\tp50 ms\tp99 ms\tmax ms\t")
	for _, e := range r.Endpoints {
		fmt.Fprintf(tw, "%-50s\t%d\t%.1f\t%d\t%d\t%d\t%.1f\t%.1f\t%.1f\t\n",
			e.Endpoint, e.Requests, e.PerSec, e.OK, e.Injected, e.Unexpected, e.P50ms, e.P99ms, e.MaxMs)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	ev := r.Events
	fmt.Fprintf(&b, "\nevents: %d received (%.0f/s) over %d connections, %d resumed with Last-Event-ID (%d cut by the tool, %d ended by the hub); "+
		"%d gaps; longest silence %.2f s; %d/%d decided approvals seen\n",
		ev.Received, ev.PerSec, ev.Connections, ev.Resumed, ev.CutByTool, ev.CutByHub, ev.Gaps, ev.MaxSilenceMs/1e3,
		ev.ApprovalsChecked-ev.ApprovalsMissing, ev.ApprovalsChecked)
	fmt.Fprintf(&b, "        by type: %s\n", joinCounts(ev.ByType))

	fmt.Fprintf(&b, "\nfaults injected: %d\n", r.FaultsInjected)
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "  server\tfault            \ttimes\ts in force\terrors\t")
	faults := slices.Clone(r.Faults)
	slices.SortFunc(faults, func(a, b faultStats) int { return strings.Compare(a.Server+a.Kind, b.Server+b.Kind) })
	for _, f := range faults {
		note := ""
		if f.Note != "" {
			note = "  (" + f.Note + ")"
		}
		fmt.Fprintf(tw, "  %-6s\t%-17s\t%d\t%.1f\t%d\t%s\n", f.Server, f.Kind, f.Injected, f.Seconds, f.Errors, note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(&b, "\noutcomes by kind:")
	for _, k := range slices.Sorted(maps.Keys(r.ByKind)) {
		fmt.Fprintf(&b, "  %7d  %s\n", r.ByKind[k], k)
	}

	if len(r.Recovery) > 0 {
		fmt.Fprint(&b, "\nonce the faults ended:")
		for _, rc := range r.Recovery {
			state := "work answered"
			if !rc.WorkOK {
				state = "NOT RECOVERED: " + rc.Error
			}
			fmt.Fprintf(&b, " %s healthy after %.2f s, %s;", rc.Server, rc.HealthySeconds, state)
		}
		fmt.Fprintln(&b)
	}
	h := r.Hub
	fmt.Fprintf(&b, "hub (pid %d): RSS start %.1f MiB, peak %.1f MiB (bound %d MiB), end %.1f MiB; threads %d/%d/%d, open files %d/%d/%d (start/peak/end; %d samples)\n",
		h.PID, kib(h.RSSStartKB), kib(h.RSSPeakKB), h.RSSBoundKB>>10, kib(h.RSSEndKB),
		h.ThreadsStart, h.ThreadsPeak, h.ThreadsEnd, h.FDsStart, h.FDsPeak, h.FDsEnd, h.Samples)
	fmt.Fprintf(&b, "     children after the load %d; log: %d ERROR, %d WARN lines; shutdown: %s\n", h.ChildrenEnd, h.LogErrors, h.LogWarnings, h.Exit)
	if len(h.ErrorsByMsg) > 0 {
		fmt.Fprintf(&b, "     ERROR lines by message: %s\n", joinCounts(h.ErrorsByMsg))
	}

	if r.Unexpected == 0 {
		fmt.Fprintln(&b, "\nUNEXPECTED: none")
	} else {
		fmt.Fprintf(&b, "\nUNEXPECTED: %d; the first %d:\n", r.Unexpected, len(r.FirstUnexpected))
		for _, u := range r.FirstUnexpected {
			fmt.Fprintf(&b, "  at %.2fs %s: %s", u.AtSeconds, orDash(u.Endpoint), u.Class)
			if u.Status != 0 || u.TookMs != 0 {
				fmt.Fprintf(&b, " (status %d after %.0f ms)", u.Status, u.TookMs)
			}
			fmt.Fprintf(&b, "\n      %s\n", u.Detail)
			if u.Faults != "" {
				fmt.Fprintf(&b, "      faults in force: %s\n", u.Faults)
			}
		}
	}
	fmt.Fprintf(&b, "total runtime: %.1f s\n", r.TotalSeconds)
	_, err := io.WriteString(w, b.String())
	return err
}

func kib(kb int64) float64 { return float64(kb) / 1024 }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func joinCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
