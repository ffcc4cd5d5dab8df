package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/procset/procsettest"
	"github.com/mcphub/mcphub/pkg/config"
)

func TestMain(m *testing.M) { procsettest.Main(m) }

// binaryFlags are -mcphub, -example, -floor and -proxy-floor for the
// binaries of this tree.
func binaryFlags(t *testing.T) []string {
	t.Helper()
	bins := procsettest.Binaries(t, "mcphub", "example-server", "dep-floor", "proxy-floor")
	return []string{"-mcphub", bins[0], "-example", bins[1], "-floor", bins[2], "-proxy-floor", bins[3]}
}

// buildStandin builds testdata/mcpproxy-standin, which serves what the
// bench configures TBXark/mcp-proxy for the way mcp-proxy does, and
// returns its path.
func buildStandin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcp-proxy")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./testdata/mcpproxy-standin").CombinedOutput()
	if err != nil {
		t.Fatalf("go build the mcp-proxy stand-in: %v\n%s", err, out)
	}
	return bin
}

// TestRunJSON runs the tool with tiny settings on a subset of the
// scenarios and a small scale phase, and checks its figures and that
// nothing it started survives.
func TestRunJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and puts load on them")
	}
	const scaleServers, scaleTools = 40, 25
	scenarios := "rest-http,rest-stdio,mcp-stdio,floor-http,floor-post,floor-stdio,mcpproxy-http"
	// The Node hub is a test peer: there with make test, perhaps not with
	// a bare go test.
	_, nodeErr := exec.LookPath("node")
	nodeHubThere := defaultNodeHub() != "" && nodeErr == nil
	switch {
	case nodeHubThere:
		scenarios += ",nodehub-rest,nodehub-mcp"
	case os.Getenv("MCPHUB_REQUIRE_PEERS") == "1":
		t.Fatal("MCPHUB_REQUIRE_PEERS=1 but mcp-hub is not installed (./scripts/install-test-peers.sh) or node is not on PATH")
	default:
		t.Log("mcp-hub not installed: its scenarios are not run")
	}
	profiles := t.TempDir()
	args := append(binaryFlags(t), "-mcp-proxy", buildStandin(t), "-json", "-d", "300ms", "-warmup", "100ms", "-n", "1", "-c", "2",
		"-tools-requests", "100", "-scenarios", scenarios, "-pprof", profiles,
		"-scale-servers", strconv.Itoa(scaleServers), "-scale-tools", strconv.Itoa(scaleTools),
		"-scale-list-delay", "30ms", "-scale-tools-requests", "20")
	procs := newProcSet()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr, procs); err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	procsettest.NothingLeft(t, procs)

	var rep report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("output is not one JSON object: %v\n%s", err, stdout.String())
	}
	if rep.RunID != procs.RunID() || rep.Machine.NProc < 1 || rep.Machine.Kernel == "" || rep.Machine.ClkTck < 1 {
		t.Errorf("run id / machine: %q %+v", rep.RunID, rep.Machine)
	}
	if rep.Startup.MedianMs <= 0 || len(rep.Startup.RunsMs) != 1 || rep.ToolsGET.Requests != 100 || rep.ToolsGET.P50us <= 0 ||
		rep.HubRSSIdleKB <= 0 || rep.HubRSSAnonIdleKB <= 0 || rep.TotalSeconds <= 0 {
		t.Errorf("startup %+v, tools %+v, idle RSS %d kB, total %v s", rep.Startup, rep.ToolsGET, rep.HubRSSIdleKB, rep.TotalSeconds)
	}
	// The floor was measured, and is below the hub: the hub links the same
	// libraries and more.
	if rep.FloorRSSIdleKB <= 0 || rep.FloorRSSAnonIdleKB <= 0 || rep.FloorRSSFileIdleKB <= 0 ||
		rep.FloorRSSIdleKB > rep.HubRSSIdleKB {
		t.Errorf("floor RSS %d kB (anonymous %d, files %d), hub %d kB", rep.FloorRSSIdleKB, rep.FloorRSSAnonIdleKB, rep.FloorRSSFileIdleKB, rep.HubRSSIdleKB)
	}
	// The default configuration: 10 HTTP servers and the stdio one, all up.
	if rep.HubHTTPServers != 10 || rep.HubStdioServers != 1 || rep.HubServersUp != 11 {
		t.Errorf("hub servers: %d HTTP + %d stdio, %d up; want 10 + 1, all up", rep.HubHTTPServers, rep.HubStdioServers, rep.HubServersUp)
	}
	checkScale(t, rep.Scale, scaleServers, scaleTools, 30*time.Millisecond)
	// The baselines of the chosen scenarios are added; mcp-http is not.
	// Through a gateway (the hub, or proxy-floor) a run has its figures.
	want := map[string]bool{"direct-http": false, "direct-post": false, "rest-http": true, "direct-stdio": false, "direct-pipe": false, "rest-stdio": true, "mcp-stdio": true,
		"floor-http": true, "floor-post": true, "floor-stdio": true, "mcpproxy-http": true}
	if !strings.HasPrefix(rep.MCPProxy, "github.com/mcphub/mcphub ") || !strings.Contains(rep.MCPProxy, ", mcp-go v1.") {
		t.Errorf("mcp-proxy (the stand-in) reported as %q", rep.MCPProxy)
	}
	if nodeHubThere {
		want["nodehub-rest"], want["nodehub-mcp"] = true, true
		if !strings.HasPrefix(rep.NodeHub, "mcp-hub 4.") {
			t.Errorf("node hub reported as %q", rep.NodeHub)
		}
	}
	got := map[string]int{}
	for _, r := range rep.Results {
		viaGateway, ok := want[r.Scenario]
		if !ok {
			t.Errorf("unexpected scenario %q", r.Scenario)
			continue
		}
		got[r.Scenario]++
		name := r.Scenario + " " + r.Mode
		// A REST call is read against the direct call made with its own
		// kind of client: the mcp-go client's cost is not the hub's.
		if wantBase := map[string]string{"rest-http": "direct-post", "nodehub-rest": "direct-post", "rest-stdio": "direct-pipe",
			"floor-http": "direct-http", "floor-post": "direct-post", "floor-stdio": "direct-pipe", "mcp-stdio": "direct-stdio"}[r.Scenario]; wantBase != "" && r.Baseline != wantBase {
			t.Errorf("%s: baseline %s, want %s", name, r.Baseline, wantBase)
		}
		// ... and against an MCP client's direct call too.
		wantMCP := map[string]string{"rest-http": "direct-http", "nodehub-rest": "direct-http", "rest-stdio": "direct-stdio"}[r.Scenario]
		if r.MCPBaseline != wantMCP || (wantMCP != "") != (r.RatioMCPDirect != nil) {
			t.Errorf("%s: ratio against %q %v, want against %q", name, r.MCPBaseline, r.RatioMCPDirect, wantMCP)
		}
		if r.Mode != "seq" && r.Mode != "c2" || r.Clients != map[string]int{"seq": 1, "c2": 2}[r.Mode] {
			t.Errorf("%s: mode %q with %d clients", name, r.Mode, r.Clients)
		}
		if r.CallsPerSec <= 0 || r.Calls <= 0 || r.Ratio <= 0 || r.P50us <= 0 || r.P50us > r.P99us || len(r.Runs) != 1 {
			t.Errorf("%s: %+v", name, r)
		}
		if !viaGateway && r.Ratio != 1 {
			t.Errorf("%s: a baseline's ratio is %v", name, r.Ratio)
		}
		// The floor proxy is a small program: its RSS is below the hub's.
		minRSS, maxRSS := rep.HubRSSIdleKB/2, int64(1<<40)
		switch r.Scenario {
		case "floor-http", "floor-post", "floor-stdio":
			minRSS, maxRSS = 1, rep.HubRSSIdleKB
		case "nodehub-rest", "nodehub-mcp", "mcpproxy-http":
			minRSS = 1
		}
		if figures := r.HubCPUusPerCall != nil && r.HubRSSPeakKB != nil && r.HubAddedP50us != nil; figures != viaGateway {
			t.Errorf("%s: gateway figures present = %v, want %v", name, figures, viaGateway)
		} else if viaGateway && (*r.HubCPUusPerCall < 0 || *r.HubRSSPeakKB < minRSS || *r.HubRSSPeakKB > maxRSS) {
			t.Errorf("%s: gateway CPU %v µs/call, RSS peak %d kB (hub idle %d kB)", name, *r.HubCPUusPerCall, *r.HubRSSPeakKB, rep.HubRSSIdleKB)
		}
	}
	for _, r := range rep.Results {
		// -paired is on by default: one paired window per run, in the
		// sequential result of a scenario through a gateway only.
		name := r.Scenario + " " + r.Mode
		if wantPaired := want[r.Scenario] && r.Mode == "seq"; (r.Paired != nil) != wantPaired {
			t.Errorf("%s: paired figures present = %v, want %v", name, r.Paired != nil, wantPaired)
		} else if wantPaired {
			p := r.Paired
			if p.Pairs <= 0 || p.BaseP50us <= 0 || p.ViaP50us <= 0 || p.AddedP50us != p.ViaP50us-p.BaseP50us || len(r.PairedRuns) != 1 {
				t.Errorf("%s: paired %+v, %d runs", name, *p, len(r.PairedRuns))
			}
		}
	}
	// -pprof: one CPU profile per window through the hub, none for the others.
	var wantProfiles []string
	for _, r := range rep.Results {
		if r.Gateway == "mcphub" {
			wantProfiles = append(wantProfiles, r.Scenario+"-"+r.Mode+"-run1.pprof")
		}
	}
	entries, err := os.ReadDir(profiles)
	if err != nil {
		t.Fatal(err)
	}
	var gotProfiles []string
	for _, e := range entries {
		gotProfiles = append(gotProfiles, e.Name())
		if b, err := os.ReadFile(filepath.Join(profiles, e.Name())); err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("profile %s is not gzipped: %v", e.Name(), err)
		}
	}
	slices.Sort(wantProfiles)
	if rep.Profiles != profiles || len(wantProfiles) != 6 || !slices.Equal(gotProfiles, wantProfiles) {
		t.Errorf("profiles in %q: %q, want %q", rep.Profiles, gotProfiles, wantProfiles)
	}
	for s := range want {
		if got[s] != 2 {
			t.Errorf("scenario %s: %d results, want 2 (seq and c2)", s, got[s])
		}
	}
}

// checkScale checks the scale phase's report: every tool of every server
// listed, every server up, and figures that can be computed.
func checkScale(t *testing.T, s *scaleReport, servers, tools int, listDelay time.Duration) {
	t.Helper()
	if s == nil {
		t.Fatal("no scale phase in the report")
	}
	if s.Servers != servers || s.ToolsPerServer != tools || s.ListDelay != listDelay.String() {
		t.Errorf("scale settings: %d servers × %d tools, delay %s", s.Servers, s.ToolsPerServer, s.ListDelay)
	}
	if s.ToolsListed != servers*tools || s.ServersUp != servers {
		t.Errorf("the hub listed %d tools with %d servers up, want %d with %d", s.ToolsListed, s.ServersUp, servers*tools, servers)
	}
	// Causal bounds, not timings: nothing lists tools before the example
	// server has waited out its delay.
	delayMs := float64(listDelay.Milliseconds())
	if s.DirectList.MedianMs < delayMs || len(s.DirectList.RunsMs) != 5 ||
		s.DirectSession.MedianMs < delayMs || len(s.DirectSession.RunsMs) != 1 ||
		s.DirectAll.MedianMs < delayMs || len(s.DirectAll.RunsMs) != 1 ||
		s.Startup.MedianMs < delayMs || len(s.Startup.RunsMs) != 1 || s.Ready.MedianMs < s.Startup.MedianMs ||
		s.QuietMs <= 0 || s.HubCPUMs < 0 || s.HubCPUQuietMs < s.HubCPUMs {
		t.Errorf("scale times: direct %+v %+v %+v, startup %+v, ready %+v, quiet %v ms, CPU %v/%v ms",
			s.DirectSession, s.DirectList, s.DirectAll, s.Startup, s.Ready, s.QuietMs, s.HubCPUMs, s.HubCPUQuietMs)
	}
	if got := s.OverSlowestMs; got != s.Startup.MedianMs-s.DirectSession.MedianMs {
		t.Errorf("over the slowest server: %v ms", got)
	}
	if got := s.DirectAllOverSlowestMs; got != s.DirectAll.MedianMs-s.DirectSession.MedianMs {
		t.Errorf("all at once without the hub, over the slowest server: %v ms", got)
	}
	if s.ToolsGET.Requests != 20 || s.ToolsGET.P50us <= 0 || s.ToolsGET.Bytes < servers*tools*100 ||
		s.HubRSSIdleKB <= 0 || s.HubRSSAnonIdleKB <= 0 {
		t.Errorf("scale tools GET %+v, idle RSS %d kB", s.ToolsGET, s.HubRSSIdleKB)
	}
}

// TestRunInterrupted cancels a run during its load, as Ctrl-C does, and
// checks that it ends promptly with nothing left running.
func TestRunInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and puts load on them")
	}
	args := append(binaryFlags(t), "-d", "2s", "-warmup", "0s", "-n", "2", "-c", "2", "-scenarios", "rest-stdio", "-http-servers", "2")
	procs := newProcSet()
	interrupted := errors.New("interrupted by the test")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	// Cancel once the first window has been measured: the hub, the HTTP
	// server, the stdio clients and children are all running then.
	stderr := &procsettest.Watch{Match: "run 1/2", OnMatch: func() { cancel(interrupted) }}
	start := time.Now()
	err := run(ctx, args, &bytes.Buffer{}, stderr, procs)
	if !errors.Is(err, interrupted) || strings.Contains(err.Error(), "cleanup") {
		t.Fatalf("run: %v, want %v\nstderr:\n%s", err, interrupted, stderr.String())
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("run took %v to stop", took)
	}
	procsettest.NothingLeft(t, procs)
}

// TestRunScaleInterrupted cancels a run during its scale phase and checks
// that it ends promptly with nothing left running.
func TestRunScaleInterrupted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	args := append(binaryFlags(t), "-d", "200ms", "-warmup", "0s", "-n", "1", "-c", "1", "-scenarios", "rest-http",
		"-http-servers", "1", "-scale-servers", "20", "-scale-tools", "10", "-scale-list-delay", "0s")
	procs := newProcSet()
	interrupted := errors.New("interrupted by the test")
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	// Cancelled once the scale phase's hub listed every tool: it, its
	// example server and the call scenarios' processes are all running.
	stderr := &procsettest.Watch{Match: "scale: run 1/1", OnMatch: func() { cancel(interrupted) }}
	start := time.Now()
	err := run(ctx, args, &bytes.Buffer{}, stderr, procs)
	if !errors.Is(err, interrupted) || strings.Contains(err.Error(), "cleanup") {
		t.Fatalf("run: %v, want %v\nstderr:\n%s", err, interrupted, stderr.String())
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("run took %v to stop", took)
	}
	procsettest.NothingLeft(t, procs)
}

// TestConfigs loads the hub configurations the tool writes with the hub's
// own loader.
func TestConfigs(t *testing.T) {
	dir := t.TempDir()
	load := func(name, text string) *config.Config {
		t.Helper()
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load([]string{f})
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, text)
		}
		return cfg
	}
	const url = "http://127.0.0.1:1/mcp"
	cfg := load("calls.yaml", hubConfig(url, "/bin/example-server", 10))
	var got []string
	for _, s := range cfg.Servers {
		got = append(got, s.Name+" "+string(s.Transport))
		if s.Transport == config.TransportStreamableHTTP && s.Endpoint != url {
			t.Errorf("%s: endpoint %q", s.Name, s.Endpoint)
		}
		if s.Transport == config.TransportStdio && !slices.Equal(s.Args, exampleArgs) {
			t.Errorf("%s: args %q, want the bench's other example servers' %q", s.Name, s.Args, exampleArgs)
		}
	}
	want := []string{"http streamable-http"}
	for i := 2; i <= 10; i++ {
		want = append(want, "http"+strconv.Itoa(i)+" streamable-http")
	}
	if want = append(want, "stdio stdio"); !slices.Equal(got, want) {
		t.Errorf("call scenarios' servers: %q, want %q", got, want)
	}

	cfg = load("scale.yaml", scaleConfig(url, 100))
	if n := len(cfg.Servers); n != 100 || cfg.Servers[0].Name != "s001" || cfg.Servers[99].Name != "s100" {
		t.Fatalf("scale servers: %d, %+v", n, cfg.Servers)
	}
	for _, s := range cfg.Servers {
		if s.Transport != config.TransportStreamableHTTP || s.Endpoint != url {
			t.Errorf("%s: %s %q", s.Name, s.Transport, s.Endpoint)
		}
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.httpServers != 10 || !o.scale.on || o.scale.servers != 100 || o.scale.tools != 50 ||
		o.scale.listDelay != 100*time.Millisecond || o.scale.runs != o.runs {
		t.Errorf("defaults: %+v", o)
	}
	if _, err := parseFlags([]string{"-scale=false", "-scale-tools", "1"}, io.Discard); err != nil {
		t.Errorf("-scale=false checks no scale flag: %v", err)
	}
	for _, args := range [][]string{
		{"-http-servers", "0"},
		{"-scale-servers", "0"},
		{"-scale-servers", "1000"},
		{"-scale-tools", "7"},
		{"-scale-list-delay", "-1ms"},
		{"-scale-tools-requests", "0"},
		{"-scale-timeout", "0s"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// TestTable checks the lines the table prints for the servers and the
// scale phase.
func TestTable(t *testing.T) {
	rep := &report{Started: time.Unix(0, 0), HubHTTPServers: 10, HubStdioServers: 1, HubServersUp: 11,
		HubRSSIdleKB: 30 << 10, Scale: &scaleReport{
			Servers: 100, ToolsPerServer: 50, ListDelay: "100ms", ToolsListed: 5000, ServersUp: 100,
			DirectSession: startup{MedianMs: 104, RunsMs: []float64{104}}, DirectList: startup{MedianMs: 102, RunsMs: []float64{102}},
			DirectAll: startup{MedianMs: 250, RunsMs: []float64{250}}, DirectAllOverSlowestMs: 146,
			Startup: startup{MedianMs: 900, RunsMs: []float64{900}}, OverSlowestMs: 796, SumMs: 10400,
			ToolsGET: toolsGET{Requests: 300, Bytes: 1935011, P50us: 600}, HubRSSIdleKB: 110 << 10,
		}}
	added, cpu, peak, vsMCP := 180.0, 150.0, int64(33<<10), 0.6
	rep.Results = []result{
		{Scenario: "direct-http", Mode: "seq", Ratio: 1, window: window{CallsPerSec: 3000, P50us: 300, P90us: 400, P99us: 900}},
		{Scenario: "rest-http", Mode: "seq", Ratio: 0.6, HubAddedP50us: &added, MCPBaseline: "direct-http", RatioMCPDirect: &vsMCP, Paired: &paired{Pairs: 900, BaseP50us: 310, ViaP50us: 452, AddedP50us: 142},
			window: window{CallsPerSec: 1800, P50us: 480, P90us: 600, P99us: 1500, HubCPUusPerCall: &cpu, HubRSSPeakKB: &peak}},
	}
	var out bytes.Buffer
	if err := writeTable(&out, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"hub with 10 Streamable HTTP servers (http, http2 …: one example server) and 1 stdio:",
		"hub RSS idle (quiet), 10 HTTP + 1 stdio servers up (11 ready), before load: 30.0 MB",
		"scale: hub with 100 Streamable HTTP servers (s001 …: one example server) × 50 tools, tools/list delayed 100ms:",
		"initialize + tools/list 104.0 ms",
		"the same 100 sessions at once without the hub (mcp-go clients in one process): 250.0 ms (median of 250.0) = slowest server +146.0 ms",
		"hub startup → first GET /mcp_hub/tools with all 5000 tools: 900.0 ms",
		"= slowest server +796.0 ms (servers one after the other: ≥ 10400 ms)",
		"GET /mcp_hub/tools with 5000 tools, 300 sequential (1935011 bytes): p50 600 µs",
		"hub RSS idle, 100 servers up (of 100): 110.0 MB",
		"gateway +p50 µs  paired +p50 µs  gateway CPU µs/call",
		"  rest-http     seq      1800     480     600    1500     0.60×             +180            +142                  150                 33.0",
		"  direct-http   seq      3000     300     400     900     1.00×                -               -                    -                    -",
		"rest-http seq against direct-http (the direct call from an MCP client, issue 7's baseline): 0.60×",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
	rep.Scale = nil
	out.Reset()
	if err := writeTable(&out, rep); err != nil || strings.Contains(out.String(), "scale:") {
		t.Errorf("without a scale phase: %v\n%s", err, out.String())
	}
}

// TestNodeHubOff checks that without mcp-hub "all" leaves its scenarios
// out and naming one is an error.
func TestNodeHubOff(t *testing.T) {
	all, err := selectScenarios("all")
	if err != nil {
		t.Fatal(err)
	}
	got, js, err := withNodeHub(all, options{scenarios: "all", nodeHub: "off"}, t.Logf)
	if err != nil || js != "" || len(got) != len(all)-2 || uses(got, viaNodeHub) || !uses(all, viaNodeHub) {
		t.Errorf("all, -node-hub off: %v, %q, %v", scenarioList(got), js, err)
	}
	named, err := selectScenarios("nodehub-mcp")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := withNodeHub(named, options{scenarios: "rest-http, nodehub-mcp", nodeHub: "off"}, t.Logf); err == nil {
		t.Error("nodehub-mcp named with -node-hub off: no error")
	}
	if _, _, err := withNodeHub(all, options{scenarios: "all", nodeHub: filepath.Join(t.TempDir(), "missing.js")}, t.Logf); err == nil {
		t.Error("-node-hub naming a missing file: no error")
	}
	// A relative path is made absolute: node runs in the run's directory.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cli.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if _, err := exec.LookPath("node"); err == nil {
		_, js, err := withNodeHub(all, options{scenarios: "all", nodeHub: "cli.js"}, t.Logf)
		if err != nil || js != filepath.Join(dir, "cli.js") {
			t.Errorf("-node-hub cli.js: %q, %v", js, err)
		}
	}
}

// TestMCPProxyOff checks that without -mcp-proxy "all" leaves
// mcpproxy-http out, naming it is an error, and a binary given is made
// absolute (it runs in the run's directory).
func TestMCPProxyOff(t *testing.T) {
	all, err := selectScenarios("all")
	if err != nil {
		t.Fatal(err)
	}
	got, bin, err := withMCPProxy(all, options{scenarios: "all"}, t.Logf)
	if err != nil || bin != "" || len(got) != len(all)-1 || uses(got, viaMCPProxy) || !uses(all, viaMCPProxy) {
		t.Errorf("all without -mcp-proxy: %v, %q, %v", scenarioList(got), bin, err)
	}
	named, err := selectScenarios("mcpproxy-http")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := withMCPProxy(named, options{scenarios: "mcpproxy-http"}, t.Logf); err == nil {
		t.Error("mcpproxy-http named without -mcp-proxy: no error")
	}
	if _, _, err := withMCPProxy(all, options{scenarios: "all", mcpProxy: filepath.Join(t.TempDir(), "missing")}, t.Logf); err == nil {
		t.Error("-mcp-proxy naming a missing file: no error")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mcp-proxy"), nil, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if _, bin, err := withMCPProxy(all, options{scenarios: "all", mcpProxy: "mcp-proxy"}, t.Logf); err != nil || bin != filepath.Join(dir, "mcp-proxy") {
		t.Errorf("-mcp-proxy mcp-proxy: %q, %v", bin, err)
	}
}

// TestMCPProxyVersion checks that a Go binary is named from its build
// information, with the mcp-go it links: this test's own binary links it.
func TestMCPProxyVersion(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if got := mcpProxyVersion(exe); !strings.HasPrefix(got, "github.com/mcphub/mcphub ") || !strings.Contains(got, ", mcp-go v1.") {
		t.Errorf("mcpProxyVersion(test binary) = %q", got)
	}
	if got := mcpProxyVersion(filepath.Join(t.TempDir(), "mcp-proxy")); got != "mcp-proxy" {
		t.Errorf("mcpProxyVersion(missing) = %q", got)
	}
}

// TestSelectScenariosBaselines checks that a scenario brings its baseline,
// and a REST one the baseline too (for its ratio against it).
func TestSelectScenariosBaselines(t *testing.T) {
	for list, want := range map[string]string{
		"rest-http":             "direct-http,direct-post,rest-http",
		"mcp-http":              "direct-http,mcp-http",
		"rest-stdio":            "direct-stdio,direct-pipe,rest-stdio",
		"mcp-stdio,floor-stdio": "direct-stdio,direct-pipe,mcp-stdio,floor-stdio",
		"direct-post":           "direct-post",
		"mcp-http,rest-http":    "direct-http,direct-post,rest-http,mcp-http",
	} {
		got, err := selectScenarios(list)
		if err != nil {
			t.Fatalf("%s: %v", list, err)
		}
		if names := scenarioList(got); strings.Join(names, ",") != want {
			t.Errorf("-scenarios %s: %v, want %s", list, names, want)
		}
	}
}

// TestPost checks that post wants the status and the text it is told to.
func TestPost(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test") != "yes" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"ok":true}`)
	}))
	defer ts.Close()
	hc := ts.Client()
	header := http.Header{"X-Test": {"yes"}}
	if _, err := post(t.Context(), hc, ts.URL, []byte(`{}`), header, http.StatusOK, `"ok":true`); err != nil {
		t.Errorf("the expected answer: %v", err)
	}
	if _, err := post(t.Context(), hc, ts.URL, []byte(`{}`), header, http.StatusAccepted, `"ok":true`); err == nil {
		t.Error("another status: no error")
	}
	if _, err := post(t.Context(), hc, ts.URL, []byte(`{}`), header, http.StatusOK, `"ok":false`); err == nil {
		t.Error("another body: no error")
	}
	if _, err := post(t.Context(), hc, ts.URL, []byte(`{}`), nil, http.StatusOK, `"ok":true`); err == nil {
		t.Error("without the header: no error")
	}
}

// TestPollUntil: done ends the wait with try's error; a wait that runs out
// is errNotYet with the last reason; an ended context ends it at once.
func TestPollUntil(t *testing.T) {
	ctx := context.Background()
	tries := 0
	err := pollUntil(ctx, nil, time.Minute, time.Millisecond, func() (bool, error) {
		tries++
		return tries == 3, nil
	})
	if err != nil || tries != 3 {
		t.Errorf("ready on the third try: %v after %d tries", err, tries)
	}
	boom := errors.New("boom")
	if err := pollUntil(ctx, nil, time.Minute, time.Millisecond, func() (bool, error) { return true, boom }); err != boom {
		t.Errorf("done with an error: %v", err)
	}
	why := errors.New("still starting")
	err = pollUntil(ctx, nil, 20*time.Millisecond, time.Millisecond, func() (bool, error) { return false, why })
	if !errors.Is(err, errNotYet) || !errors.Is(err, why) {
		t.Errorf("out of time: %v, want errNotYet wrapping the last reason", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	start := time.Now()
	err = pollUntil(cctx, nil, time.Minute, time.Second, func() (bool, error) { return false, nil })
	if !errors.Is(err, context.Canceled) || time.Since(start) > 500*time.Millisecond {
		t.Errorf("cancelled: %v after %v", err, time.Since(start))
	}
}
