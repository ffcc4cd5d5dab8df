package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/procset"
)

// exampleBuiltinTools is how many tools the example server has of its own
// (echo, add, ...); the scale phase adds tools up to -scale-tools, and
// checks the total with tools/list.
const exampleBuiltinTools = 8

// scaleOptions are the flags of the scale phase.
type scaleOptions struct {
	on            bool
	servers       int
	tools         int // per server, the example server's own included
	listDelay     time.Duration
	toolsRequests int
	timeout       time.Duration
	runs          int // hub starts (-n)
}

func (o scaleOptions) validate() error {
	switch {
	case !o.on:
		return nil
	case o.servers < 1 || o.servers > 999:
		return errors.New("-scale-servers must be from 1 to 999")
	case o.tools < exampleBuiltinTools:
		return fmt.Errorf("-scale-tools must be at least %d, the example server's own tools", exampleBuiltinTools)
	case o.listDelay < 0:
		return errors.New("-scale-list-delay must not be negative")
	case o.toolsRequests < 1:
		return errors.New("-scale-tools-requests must be at least 1")
	case o.timeout <= 0:
		return errors.New("-scale-timeout must be positive")
	}
	return nil
}

// plan describes the phase for the opening log line.
func (o scaleOptions) plan() string {
	if !o.on {
		return "; no scale phase"
	}
	return fmt.Sprintf("; then the scale phase (%d servers × %d tools, at most %v)", o.servers, o.tools, o.timeout)
}

// scaleServerName is the name of the i-th (from 0) server of the scale
// phase's hub: s001, s002 ...
func scaleServerName(i int) string { return fmt.Sprintf("s%03d", i+1) }

// scaleConfig is the scale phase's hub configuration: n Streamable HTTP
// servers s001 … all at url.
func scaleConfig(url string, n int) string {
	var b strings.Builder
	b.WriteString("# written by mcphub-bench (scale phase)\nservers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: %s\n    endpoint: %q\n    timeout: 30\n", scaleServerName(i), url)
	}
	return b.String()
}

// scaleReport is what the scale phase measured: one example server with
// many tools, slow to list them, configured in the hub many times over.
type scaleReport struct {
	Servers        int    `json:"servers"`
	ToolsPerServer int    `json:"tools_per_server"`
	ListDelay      string `json:"list_delay"` // the example server's wait before each tools/list
	// The example server alone, over an mcp-go client (protocol
	// 2025-11-25): DirectSession is a fresh session's initialize and
	// tools/list, once per run, what one server costs a discovery ("the
	// slowest server", all being alike); DirectList is tools/list on an
	// open session.
	DirectSession startup `json:"direct_session"`
	DirectList    startup `json:"direct_list"`
	// DirectAll is Servers fresh sessions opened at once from the bench's
	// one process (initialize and tools/list each), until the last list,
	// once per run: a concurrent discovery without the hub, on the same
	// cores; DirectAllOverSlowestMs its median minus DirectSession's.
	DirectAll              startup `json:"direct_all"`
	DirectAllOverSlowestMs float64 `json:"direct_all_over_slowest_ms"`
	// Startup is hub process start → first 200 of GET /mcp_hub/tools
	// listing all Servers × ToolsPerServer tools, once per run; HubCPUMs
	// the hub's CPU time (user+sys) by then, median.
	Startup  startup `json:"startup"`
	HubCPUMs float64 `json:"hub_cpu_ms"`
	// ExampleCPUMs is the example server's CPU time over Startup, median:
	// on a small machine the two share the cores.
	ExampleCPUMs float64 `json:"example_cpu_ms"`
	// Ready is hub process start → GET /mcp_hub/servers showing every
	// server ready, once per run (polled every 5 ms after Startup): the
	// hub lists a server's tools a little before it marks it ready.
	Ready startup `json:"ready"`
	// OverSlowestMs is Startup's median minus DirectSession's (the
	// target: at most 100 ms); SumMs is Servers × DirectSession's median,
	// what discovering the servers one after the other would take at least.
	OverSlowestMs float64 `json:"over_slowest_ms"`
	SumMs         float64 `json:"sum_ms"`
	// ToolsListed is how many tools the last hub's GET /mcp_hub/tools
	// listed, every one with the expected name; ServersUp how many
	// servers /mcp_hub/servers showed ready (all, or the run fails).
	ToolsListed int `json:"tools_listed"`
	ServersUp   int `json:"servers_up"`
	// ToolsGET is the latency of GET /mcp_hub/tools with all those tools.
	ToolsGET toolsGET `json:"tools_get"`
	// QuietMs is the last hub's process start → the start of its first
	// 250 ms with under 10% of a core of CPU (after every server is
	// ready); HubCPUQuietMs its CPU time by then.
	QuietMs       float64 `json:"quiet_ms"`
	HubCPUQuietMs float64 `json:"hub_cpu_quiet_ms"`
	// The last hub's RSS once quiet, before ToolsGET.
	HubRSSIdleKB     int64 `json:"hub_rss_idle_kb"`
	HubRSSAnonIdleKB int64 `json:"hub_rss_anon_idle_kb"`
	HubRSSFileIdleKB int64 `json:"hub_rss_file_idle_kb"`
}

// runScale is the scale phase: it starts the example server with
// o.tools tools and o.listDelay, times it alone, then starts a hub
// configured with o.servers copies of it o.runs times, and measures the
// last one. It stops what it started before it returns.
func runScale(ctx context.Context, procs *procset.Set, bins binaries, tmp string, o scaleOptions, hz int64,
	logf func(string, ...any)) (_ *scaleReport, err error) {
	ctx, cancel := context.WithTimeoutCause(ctx, o.timeout, fmt.Errorf("-scale-timeout %v reached", o.timeout))
	defer cancel()
	rep := &scaleReport{Servers: o.servers, ToolsPerServer: o.tools, ListDelay: o.listDelay.String()}
	var started []*procset.Proc
	defer func() {
		for _, p := range started {
			if serr := procs.Stop(p, 10*time.Second); serr != nil {
				err = errors.Join(err, serr)
			}
		}
	}()
	logf("scale: one example server with %d tools (tools/list delayed %v), a hub with %d servers of it",
		o.tools, o.listDelay, o.servers)

	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, err
	}
	ex, err := procs.Start("example-server (scale)", tmp, nil, bins.example, append([]string{"--http", addr,
		"--scale-tools", strconv.Itoa(o.tools - exampleBuiltinTools), "--list-delay", o.listDelay.String()}, exampleArgs...)...)
	if err != nil {
		return nil, err
	}
	started = append(started, ex)
	if err := waitTCP(ctx, addr, ex); err != nil {
		return nil, err
	}
	url := "http://" + addr + "/mcp"
	if rep.DirectSession, rep.DirectList, err = directList(ctx, url, o.tools, o.runs); err != nil {
		return nil, err
	}
	logf("scale: example server alone: initialize + tools/list %.1f ms, tools/list %.1f ms",
		rep.DirectSession.MedianMs, rep.DirectList.MedianMs)
	for range o.runs {
		took, err := directAll(ctx, url, o.servers, o.tools)
		if err != nil {
			return nil, err
		}
		rep.DirectAll.RunsMs = append(rep.DirectAll.RunsMs, millis(took))
	}
	rep.DirectAll.MedianMs = median(rep.DirectAll.RunsMs)
	rep.DirectAllOverSlowestMs = rep.DirectAll.MedianMs - rep.DirectSession.MedianMs
	logf("scale: %d sessions at once without the hub: %.1f ms", o.servers, rep.DirectAll.MedianMs)

	cfg := filepath.Join(tmp, "mcp_servers_scale.yaml")
	if err := os.WriteFile(cfg, []byte(scaleConfig(url, o.servers)), 0o644); err != nil {
		return nil, err
	}
	total := o.servers * o.tools
	all := listed{what: fmt.Sprintf("listing %d tools", total), ok: func(body []byte) bool {
		// Counted, not decoded: this runs every 2 ms on up to megabytes.
		return bytes.Count(body, []byte(`{"type":"function"`)) == total
	}}
	var cpus, exCPUs []float64
	var hub hubStart
	for i := range o.runs {
		exStat0, err := procset.ReadStat(ex.PID())
		if err != nil {
			return nil, err
		}
		if hub, err = startHub(ctx, procs, bins, tmp, cfg, all, 2*time.Millisecond, o.timeout, hz); err != nil {
			return nil, err
		}
		exStat1, err := procset.ReadStat(ex.PID())
		if err != nil {
			return nil, err
		}
		exCPUs = append(exCPUs, millis(time.Duration(exStat1.CPUTicks-exStat0.CPUTicks)*time.Second/time.Duration(hz)))
		if rep.ServersUp, err = waitServersReady(ctx, hub.base, o.servers, 5*time.Millisecond, o.timeout); err != nil {
			return nil, err
		}
		ready := time.Since(hub.started)
		rep.Startup.RunsMs = append(rep.Startup.RunsMs, millis(hub.took))
		rep.Ready.RunsMs = append(rep.Ready.RunsMs, millis(ready))
		cpus = append(cpus, millis(hub.cpu))
		logf("scale: run %d/%d: hub startup to %d tools listed %.1f ms (hub CPU %.0f ms), all servers ready %.1f ms",
			i+1, o.runs, total, millis(hub.took), millis(hub.cpu), millis(ready))
		if i < o.runs-1 {
			if err := procs.Stop(hub.p, 10*time.Second); err != nil {
				return nil, err
			}
		}
	}
	started = append([]*procset.Proc{hub.p}, started...) // the hub stops first
	rep.Startup.MedianMs, rep.Ready.MedianMs = median(rep.Startup.RunsMs), median(rep.Ready.RunsMs)
	rep.HubCPUMs, rep.ExampleCPUMs = median(cpus), median(exCPUs)
	rep.OverSlowestMs = rep.Startup.MedianMs - rep.DirectSession.MedianMs
	rep.SumMs = float64(o.servers) * rep.DirectSession.MedianMs

	quiet, cpu, err := waitQuiet(ctx, hub.p, hz, o.timeout)
	if err != nil {
		return nil, err
	}
	rep.QuietMs, rep.HubCPUQuietMs = millis(quiet.Sub(hub.started)), millis(cpu)
	logf("scale: the hub went quiet %.0f ms after its start, having used %.0f ms of CPU", rep.QuietMs, rep.HubCPUQuietMs)
	mem, err := procset.ReadStatus(hub.p.PID(), "VmRSS", "RssAnon", "RssFile")
	if err != nil {
		return nil, err
	}
	rep.HubRSSIdleKB, rep.HubRSSAnonIdleKB, rep.HubRSSFileIdleKB = mem["VmRSS"], mem["RssAnon"], mem["RssFile"]
	if rep.ToolsListed, err = checkScaleTools(ctx, hub.base, o.servers, o.tools); err != nil {
		return nil, err
	}
	if rep.ToolsGET, err = toolsLatency(ctx, hub.base, o.toolsRequests); err != nil {
		return nil, err
	}
	logf("scale: GET /mcp_hub/tools with %d tools p50 %.0f µs; hub RSS idle with %d servers %.1f MB",
		rep.ToolsListed, rep.ToolsGET.P50us, rep.ServersUp, float64(rep.HubRSSIdleKB)/1024)
	return rep, nil
}

// listTools lists c's tools, which must be want on one page.
func listTools(ctx context.Context, c *client.Client, want int) error {
	res, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	if len(res.Tools) != want || res.NextCursor != "" {
		return fmt.Errorf("tools/list: %d tools (next cursor %q), want %d on one page", len(res.Tools), res.NextCursor, want)
	}
	return nil
}

// directAll opens n fresh sessions to the example server at url at once,
// each listing its want tools, and returns how long until the last list;
// then it closes them.
func directAll(ctx context.Context, url string, n, want int) (time.Duration, error) {
	closers := make([]func(), n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() {
			c, closeFn, err := newHTTPClient(ctx, url, streamable)
			if err != nil {
				errs[i] = err
				return
			}
			closers[i] = closeFn
			errs[i] = listTools(ctx, c, want)
		})
	}
	wg.Wait()
	took := time.Since(t0)
	closers = slices.DeleteFunc(closers, func(f func()) bool { return f == nil })
	cerr := closeConcurrently(closers)
	errs = slices.DeleteFunc(errs, func(err error) bool { return err == nil })
	if len(errs) > 0 { // one says why; a hundred alike would not say more
		return 0, errors.Join(fmt.Errorf("%d of %d sessions at once to %s failed, one of them: %w", len(errs), n, url, errs[0]), cerr)
	}
	return took, cerr
}

// directList times the example server at url alone: runs fresh sessions'
// initialize and tools/list, then 5 tools/list on the last session. Each
// list must hold want tools.
func directList(ctx context.Context, url string, want, runs int) (session, list startup, err error) {
	for i := range runs {
		t0 := time.Now()
		c, closeFn, err := newHTTPClient(ctx, url, streamable)
		if err != nil {
			return session, list, err
		}
		err = listTools(ctx, c, want)
		session.RunsMs = append(session.RunsMs, millis(time.Since(t0)))
		if err == nil && i == runs-1 {
			for range 5 {
				t1 := time.Now()
				if err = listTools(ctx, c, want); err != nil {
					break
				}
				list.RunsMs = append(list.RunsMs, millis(time.Since(t1)))
			}
		}
		closeFn()
		if err != nil {
			return session, list, fmt.Errorf("%s: %w", url, err)
		}
	}
	session.MedianMs, list.MedianMs = median(session.RunsMs), median(list.RunsMs)
	return session, list, nil
}

// checkScaleTools checks that GET /mcp_hub/tools lists exactly the tools
// of servers × tools (s001__echo ... s100__tool_042) and returns their number.
func checkScaleTools(ctx context.Context, base string, servers, tools int) (int, error) {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	body, code, err := get(ctx, hc, base+"/mcp_hub/tools")
	if err != nil {
		return 0, err
	}
	if code != http.StatusOK {
		return 0, fmt.Errorf("GET /mcp_hub/tools: %d %.2000s", code, body)
	}
	names, err := toolNames(body)
	if err != nil {
		return 0, err
	}
	perServer := map[string]int{}
	for _, n := range names {
		server, tool, ok := strings.Cut(n, "__")
		if !ok || tool == "" {
			return 0, fmt.Errorf("GET /mcp_hub/tools: unexpected name %q", n)
		}
		perServer[server]++
	}
	for i := range servers {
		if s := scaleServerName(i); perServer[s] != tools {
			return 0, fmt.Errorf("GET /mcp_hub/tools lists %d tools of %s, want %d", perServer[s], s, tools)
		}
	}
	if len(perServer) != servers || len(names) != servers*tools {
		return 0, fmt.Errorf("GET /mcp_hub/tools lists %d tools of %d servers, want %d of %d", len(names), len(perServer), servers*tools, servers)
	}
	return len(names), nil
}
