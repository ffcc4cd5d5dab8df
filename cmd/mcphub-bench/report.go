package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mcphub/mcphub/internal/procset"
)

// report is everything one run measured; -json prints it as is.
type report struct {
	Started  time.Time `json:"started"`
	RunID    string    `json:"run_id"` // the MCPHUB_BENCH_RUN value of every process started
	Machine  machine   `json:"machine"`
	Settings settings  `json:"settings"`
	Binaries string    `json:"binaries"`
	// Startup is hub process start → first 200 of GET /mcp_hub/tools
	// listing http__echo, once per run (-n).
	Startup startup `json:"startup"`
	// ToolsGET is the latency of GET /mcp_hub/tools, sequential.
	ToolsGET toolsGET `json:"tools_get"`
	// The hub's configuration: HubHTTPServers Streamable HTTP servers
	// (http, http2 ..., all the one example server) and HubStdioServers
	// stdio ones; HubServersUp is how many GET /mcp_hub/servers showed
	// ready at the idle reading (all, or the run fails).
	HubHTTPServers  int `json:"hub_http_servers"`
	HubStdioServers int `json:"hub_stdio_servers"`
	HubServersUp    int `json:"hub_servers_up"`
	// HubRSSIdleKB is the hub's VmRSS once all its servers are up, before
	// any load, and its two parts: anonymous memory (heap, stacks) and
	// mapped files (mostly the binary's own pages).
	HubRSSIdleKB     int64 `json:"hub_rss_idle_kb"`
	HubRSSAnonIdleKB int64 `json:"hub_rss_anon_idle_kb"`
	HubRSSFileIdleKB int64 `json:"hub_rss_file_idle_kb"`
	// FloorRSS* is cmd/dep-floor's idle VmRSS and its parts: the libraries
	// the hub is built on (gin, gin-swagger with swag, mcp-go, viper,
	// r3labs/sse, the Prometheus client) linked and serving, without the
	// hub, after a few requests.
	FloorRSSIdleKB     int64 `json:"floor_rss_idle_kb"`
	FloorRSSAnonIdleKB int64 `json:"floor_rss_anon_idle_kb"`
	FloorRSSFileIdleKB int64 `json:"floor_rss_file_idle_kb"`
	// NodeHub is the mcp-hub and node the nodehub scenarios ran ("mcp-hub
	// 4.2.1 on node v20.20.2"), when they ran.
	NodeHub string `json:"node_hub,omitempty"`
	// MCPProxy is the TBXark/mcp-proxy build mcpproxy-http ran, from its
	// build information ("github.com/TBXark/mcp-proxy v0.43.2, mcp-go v0.41.1").
	MCPProxy string `json:"mcp_proxy,omitempty"`
	// Profiles is the folder of the hub's CPU profiles (-pprof), if taken.
	Profiles string   `json:"profiles,omitempty"`
	Results  []result `json:"results"`
	// Scale is the scale phase (nil with -scale=false).
	Scale        *scaleReport `json:"scale,omitempty"`
	TotalSeconds float64      `json:"total_seconds"`
}

type machine struct {
	NProc        int    `json:"nproc"`
	CPU          string `json:"cpu,omitempty"`
	Kernel       string `json:"kernel"`
	OS           string `json:"os"`
	Go           string `json:"go"`
	ClkTck       int64  `json:"clk_tck"`
	ClkTckSource string `json:"clk_tck_source"`
}

type settings struct {
	Duration    string   `json:"duration"`
	Warmup      string   `json:"warmup"`
	Runs        int      `json:"runs"`
	Concurrency int      `json:"concurrency"`
	Scenarios   []string `json:"scenarios"`
}

// startup is a time measured once per run: the median and every run.
type startup struct {
	MedianMs float64   `json:"median_ms"`
	RunsMs   []float64 `json:"runs_ms"`
}

type toolsGET struct {
	Requests int     `json:"requests"`
	Bytes    int     `json:"bytes"`
	P50us    float64 `json:"p50_us"`
	P90us    float64 `json:"p90_us"`
	P99us    float64 `json:"p99_us"`
}

// result is one scenario in one mode: the figures of its median run (by
// calls/s), except HubRSSPeakKB, the peak over all its runs.
type result struct {
	Scenario string `json:"scenario"`
	Baseline string `json:"baseline"`
	Mode     string `json:"mode"` // "seq" or "c<N>"
	Clients  int    `json:"clients"`
	What     string `json:"what"`
	// Gateway is what the scenario calls through: "mcphub", "proxy-floor"
	// or "mcp-hub" ("" for a baseline); the hub_* figures are its.
	Gateway string `json:"gateway,omitempty"`
	window
	// Ratio is this scenario's calls/s over its baseline's, both medians
	// of the same mode (1 for a baseline).
	Ratio float64 `json:"ratio"`
	// HubAddedP50us is p50 minus the baseline's p50 (scenarios through a
	// gateway only; see Gateway).
	HubAddedP50us *float64 `json:"hub_added_p50_us,omitempty"`
	// MCPBaseline and RatioMCPDirect are, for a scenario whose client is
	// not an MCP client (a REST call), the direct call from an MCP client
	// and its calls/s over that call's: the baseline issue 7 states its
	// targets against.
	MCPBaseline    string   `json:"mcp_baseline,omitempty"`
	RatioMCPDirect *float64 `json:"ratio_mcp_direct,omitempty"`
	Runs           []window `json:"runs"`
	// Paired is the median (by AddedP50us) of the paired windows, in the
	// sequential mode of a scenario through a gateway (with -paired).
	Paired     *paired  `json:"paired,omitempty"`
	PairedRuns []paired `json:"paired_runs,omitempty"`
}

func machineInfo() machine {
	hz, src := procset.ClockTicks()
	m := machine{
		NProc: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version(),
		ClkTck: hz, ClkTckSource: src,
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return m
}

// summarize turns the runs of every scenario and mode into results, with
// ratios to the baselines, and the paired windows of each scenario into its
// sequential result.
func summarize(chosen []scenario, modes []mode, runs map[string][]window, pairs map[string][]paired) []result {
	key := func(s string, m mode) string { return s + "/" + m.name }
	medians := map[string]window{}
	for _, s := range chosen {
		for _, m := range modes {
			ws := slices.Clone(runs[key(s.name, m)])
			if len(ws) == 0 {
				continue
			}
			slices.SortFunc(ws, func(a, b window) int { return cmpFloat(a.CallsPerSec, b.CallsPerSec) })
			med := ws[(len(ws)-1)/2]
			for _, w := range ws {
				if w.HubRSSPeakKB != nil && (med.HubRSSPeakKB == nil || *w.HubRSSPeakKB > *med.HubRSSPeakKB) {
					med.HubRSSPeakKB = w.HubRSSPeakKB
				}
			}
			medians[key(s.name, m)] = med
		}
	}
	var out []result
	for _, s := range chosen {
		for _, m := range modes {
			med, ok := medians[key(s.name, m)]
			if !ok {
				continue
			}
			r := result{Scenario: s.name, Baseline: s.baseline, Mode: m.name, Clients: m.clients, What: s.what,
				Gateway: s.via.String(), window: med, Runs: runs[key(s.name, m)]}
			if base, ok := medians[key(s.baseline, m)]; ok && base.CallsPerSec > 0 {
				r.Ratio = med.CallsPerSec / base.CallsPerSec
				if s.via != viaNone {
					added := med.P50us - base.P50us
					r.HubAddedP50us = &added
				}
			}
			if mcpBase, ok := medians[key(s.mcpBaseline, m)]; ok && s.mcpBaseline != "" && mcpBase.CallsPerSec > 0 {
				ratio := med.CallsPerSec / mcpBase.CallsPerSec
				r.MCPBaseline, r.RatioMCPDirect = s.mcpBaseline, &ratio
			}
			if ps := pairs[s.name]; len(ps) > 0 && m.clients == 1 {
				sorted := slices.Clone(ps)
				slices.SortFunc(sorted, func(a, b paired) int { return cmpFloat(a.AddedP50us, b.AddedP50us) })
				r.Paired, r.PairedRuns = &sorted[(len(sorted)-1)/2], ps
			}
			out = append(out, r)
		}
	}
	return out
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func writeJSON(w io.Writer, r *report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// writeTable prints r for people.
func writeTable(w io.Writer, r *report) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "mcphub-bench, %s (run %s)\n", r.Started.UTC().Format(time.RFC3339), r.RunID)
	fmt.Fprintf(&b, "machine: nproc %d, %s, Linux %s, %s %s; CLK_TCK %d (%s)\n",
		m.NProc, orUnknown(m.CPU), orUnknown(m.Kernel), m.Go, m.OS, m.ClkTck, m.ClkTckSource)
	fmt.Fprintf(&b, "binaries: %s\n", r.Binaries)
	if r.NodeHub != "" {
		fmt.Fprintf(&b, "side by side: %s (scenarios nodehub-*)\n", r.NodeHub)
	}
	if r.MCPProxy != "" {
		fmt.Fprintf(&b, "side by side: %s (scenario mcpproxy-http)\n", r.MCPProxy)
	}
	s := r.Settings
	fmt.Fprintf(&b, "method: each scenario %d× %s after a %s warm-up, runs interleaved across scenarios; median run (by calls/s) shown;\n"+
		"        sequential (1 client) and %d concurrent clients; ratios are calls/s over the direct baseline measured in the same run\n",
		s.Runs, s.Duration, s.Warmup, s.Concurrency)
	fmt.Fprintf(&b, "\nhub with %d Streamable HTTP servers (http, http2 …: one example server) and %d stdio:\n",
		r.HubHTTPServers, r.HubStdioServers)
	fmt.Fprintf(&b, "hub startup → first GET /mcp_hub/tools with http__echo: %.1f ms (median of %s ms)\n",
		r.Startup.MedianMs, joinFloats(r.Startup.RunsMs, 1))
	writeToolsGET(&b, "", r.ToolsGET)
	fmt.Fprintf(&b, "hub RSS idle (quiet), %d HTTP + %d stdio servers up (%d ready), before load: %s\n",
		r.HubHTTPServers, r.HubStdioServers, r.HubServersUp, rss(r.HubRSSIdleKB, r.HubRSSAnonIdleKB, r.HubRSSFileIdleKB))
	fmt.Fprintf(&b, "floor: the libraries the hub is built on alone (cmd/dep-floor: gin, gin-swagger+swag, mcp-go, viper, r3labs/sse, the Prometheus client), idle: %s\n",
		rss(r.FloorRSSIdleKB, r.FloorRSSAnonIdleKB, r.FloorRSSFileIdleKB))
	if r.Scale != nil {
		writeScale(&b, r.Scale)
	}
	b.WriteString("\n")

	// Numbers align right; the names are padded to one width, so that they
	// read as left-aligned.
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario    \tmode\tcalls/s\tp50 µs\tp90 µs\tp99 µs\t× direct\tgateway +p50 µs\tpaired +p50 µs\tgateway CPU µs/call\tgateway RSS peak MB\t")
	for _, x := range r.Results {
		added, pair, cpu, rss := "-", "-", "-", "-"
		if x.HubAddedP50us != nil {
			added = fmt.Sprintf("%+.0f", *x.HubAddedP50us)
		}
		if x.Paired != nil {
			pair = fmt.Sprintf("%+.0f", x.Paired.AddedP50us)
		}
		if x.HubCPUusPerCall != nil {
			cpu = fmt.Sprintf("%.0f", *x.HubCPUusPerCall)
		}
		if x.HubRSSPeakKB != nil {
			rss = fmt.Sprintf("%.1f", float64(*x.HubRSSPeakKB)/1024)
		}
		fmt.Fprintf(tw, "%-12s\t%-4s\t%.0f\t%.0f\t%.0f\t%.0f\t%.2f×\t%s\t%s\t%s\t%s\t\n",
			x.Scenario, x.Mode, x.CallsPerSec, x.P50us, x.P90us, x.P99us, x.Ratio, added, pair, cpu, rss)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, x := range r.Results {
		if x.RatioMCPDirect != nil {
			fmt.Fprintf(&b, "%s %s against %s (the direct call from an MCP client, issue 7's baseline): %.2f×\n",
				x.Scenario, x.Mode, x.MCPBaseline, *x.RatioMCPDirect)
		}
	}
	fmt.Fprintln(&b, "\nscenarios:")
	seen := map[string]bool{}
	for _, x := range r.Results {
		if !seen[x.Scenario] {
			seen[x.Scenario] = true
			fmt.Fprintf(&b, "  %-13s %s\n", x.Scenario, x.What)
		}
	}
	fmt.Fprintf(&b, "gateway: the hub, cmd/proxy-floor for floor-*, mcp-proxy for mcpproxy-http, mcp-hub for nodehub-*; CPU = user+sys of its process over the measured window ÷ calls;\n"+
		"RSS peak sampled every 100 ms, max over the runs; paired +p50: one client alternating the direct call and the call through the gateway\n"+
		"in one more window of each run, p50 through the gateway minus the direct p50 of that window (median over the runs)\n")
	if r.Profiles != "" {
		fmt.Fprintf(&b, "the hub's CPU profiles over its windows (taken while measuring: they cost the hub a little CPU): go tool pprof -top %s\n",
			filepath.Join(r.Profiles, "<scenario>-<mode>-run<N>.pprof"))
	}
	fmt.Fprintf(&b, "total runtime: %.1f s\n", r.TotalSeconds)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeToolsGET(b *strings.Builder, what string, g toolsGET) {
	fmt.Fprintf(b, "GET /mcp_hub/tools%s, %d sequential (%d bytes): p50 %.0f µs, p90 %.0f µs, p99 %.0f µs\n",
		what, g.Requests, g.Bytes, g.P50us, g.P90us, g.P99us)
}

func rss(total, anon, file int64) string {
	return fmt.Sprintf("%.1f MB (anonymous %.1f MB, files %.1f MB)", float64(total)/1024, float64(anon)/1024, float64(file)/1024)
}

// writeScale prints the scale phase.
func writeScale(b *strings.Builder, s *scaleReport) {
	fmt.Fprintf(b, "\nscale: hub with %d Streamable HTTP servers (s001 …: one example server) × %d tools, tools/list delayed %s:\n",
		s.Servers, s.ToolsPerServer, s.ListDelay)
	fmt.Fprintf(b, "example server alone (mcp-go client): initialize + tools/list %.1f ms (median of %s), tools/list %.1f ms (median of %d)\n",
		s.DirectSession.MedianMs, joinFloats(s.DirectSession.RunsMs, 1), s.DirectList.MedianMs, len(s.DirectList.RunsMs))
	fmt.Fprintf(b, "the same %d sessions at once without the hub (mcp-go clients in one process): %.1f ms (median of %s) = slowest server %+.1f ms\n",
		s.Servers, s.DirectAll.MedianMs, joinFloats(s.DirectAll.RunsMs, 1), s.DirectAllOverSlowestMs)
	fmt.Fprintf(b, "hub startup → first GET /mcp_hub/tools with all %d tools: %.1f ms (median of %s ms; CPU meanwhile: hub %.0f ms, example server %.0f ms)\n",
		s.Servers*s.ToolsPerServer, s.Startup.MedianMs, joinFloats(s.Startup.RunsMs, 1), s.HubCPUMs, s.ExampleCPUMs)
	fmt.Fprintf(b, "  = slowest server %+.1f ms (servers one after the other: ≥ %.0f ms); all servers ready: %.1f ms (median)\n",
		s.OverSlowestMs, s.SumMs, s.Ready.MedianMs)
	fmt.Fprintf(b, "hub busy until %.0f ms after its start (then < 10%% of a core over 250 ms), %.0f ms of CPU by then\n",
		s.QuietMs, s.HubCPUQuietMs)
	writeToolsGET(b, fmt.Sprintf(" with %d tools", s.ToolsListed), s.ToolsGET)
	fmt.Fprintf(b, "hub RSS idle, %d servers up (of %d): %s\n", s.ServersUp, s.Servers,
		rss(s.HubRSSIdleKB, s.HubRSSAnonIdleKB, s.HubRSSFileIdleKB))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func joinFloats(fs []float64, prec int) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%.*f", prec, f)
	}
	return strings.Join(parts, ", ")
}
