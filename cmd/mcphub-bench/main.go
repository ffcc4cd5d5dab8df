// Command mcphub-bench is mcphub's load tool (issue 7). It starts, as real
// processes on loopback, the example server over Streamable HTTP and the hub
// (./bin/mcphub) configured with that HTTP example server ten times over
// ("http", "http2" … "http10": each a session, a connection pool and a GET
// stream of its own in the hub; -http-servers) and the example server as a
// stdio child ("stdio"), and measures the echo tool called up to fourteen ways,
// each with one client and with -c concurrent clients:
//
//	direct-http   mcp-go client → example server (Streamable HTTP)
//	direct-post   tools/call POSTed by hand → example server (the REST client)
//	rest-http     POST /mcp_hub/call http__echo
//	mcp-http      mcp-go client → hub /mcp, http__echo
//	floor-http    mcp-go client → cmd/proxy-floor → example server
//	floor-post    direct-post's calls → cmd/proxy-floor → example server
//	mcpproxy-http mcp-go client → TBXark/mcp-proxy → example server
//	nodehub-rest  POST /api/servers/tools of mcp-hub (Node), server http, echo
//	nodehub-mcp   mcp-go SSE client → mcp-hub /mcp, http__echo
//	direct-stdio  mcp-go stdio client → example server child
//	direct-pipe   tools/call lines written by hand → example server child
//	rest-stdio    POST /mcp_hub/call stdio__echo
//	mcp-stdio     mcp-go client → hub /mcp, stdio__echo
//	floor-stdio   direct-post's calls → cmd/proxy-floor → example server child
//
// Every figure of a hub scenario is also given as a ratio to its direct
// baseline measured in the same run, since absolute figures on a shared
// machine are noisy. A REST call's baseline is direct-post, the direct call
// made with the same plain HTTP client, and rest-stdio's direct-pipe, a
// hand-written stdio client (mcp-go's clients cost more per call, and that
// is not the hub's); their ratios to direct-http and direct-stdio are
// given too.
// floor-http, floor-post and floor-stdio are the net/http reference:
// cmd/proxy-floor passes requests through with the standard library alone
// (to the HTTP example server, or as lines to a stdio child), and its CPU
// per call and added latency are taken as the hub's are, read against the
// direct call with each client (floor-post and floor-stdio are the
// references of the REST calls). The nodehub scenarios
// measure mcp-hub, the most popular Node MCP hub (an npm test peer; left
// out when it is not installed), and mcpproxy-http TBXark/mcp-proxy, the
// Go proxy built on mcp-go (when -mcp-proxy names its binary), side by side
// with the hub in the same run.
// It also measures the hub's startup (process start → first GET
// /mcp_hub/tools listing http__echo), GET /mcp_hub/tools latency,
// the hub's RSS once all its servers are up and it is quiet, and its CPU
// time per call and RSS under load.
//
// Then the scale phase (-scale=false skips it; scale.go): one example server
// with 50 tools that waits 100 ms before answering tools/list, timed alone,
// and a hub configured with it 100 times over (s001 … s100): startup to a
// GET /mcp_hub/tools listing all 5000 tools against that one server's own
// time, GET /mcp_hub/tools latency with 5000 tools, and the hub's RSS.
//
//	go run ./cmd/mcphub-bench              # or: make bench
//	go run ./cmd/mcphub-bench -json -d 1s -n 1 -scenarios rest-http -scale=false
//
// Every process it starts is in a process group of its own and carries
// MCPHUB_BENCH_RUN=<run id> in its environment; all of them are stopped at
// the end, on errors and on Ctrl-C (a second Ctrl-C kills them at once).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/procset"
)

func main() {
	procs := newProcSet()
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "\nmcphub-bench: %v: stopping everything it started (again to kill at once)\n", sig)
		cancel(fmt.Errorf("interrupted (%v)", sig))
		<-sigs
		fmt.Fprintln(os.Stderr, "mcphub-bench: killing every process it started")
		procs.KillAll()
		os.Exit(130)
	}()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, procs)
	interrupted := context.Cause(ctx) != nil
	cancel(nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "mcphub-bench:", err)
		if interrupted {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

type options struct {
	duration, warmup time.Duration
	runs             int
	concurrency      int
	scenarios        string
	json             bool
	paired           bool
	pprofDir         string
	hubBin           string
	exampleBin       string
	floorBin         string
	proxyFloorBin    string
	nodeHub          string
	mcpProxy         string
	toolsRequests    int
	httpServers      int
	timeout          time.Duration
	scale            scaleOptions
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("mcphub-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mcphub-bench [flags]\n\nScenarios: %s\n\nFlags:\n", strings.Join(scenarioNames(), ", "))
		fs.PrintDefaults()
	}
	// 3 s, not 5: with the defaults (13 scenarios × 2 modes and 9 paired
	// windows, × 3 runs) a 5 s window would make 560 s of load alone; 3 s
	// keeps a run near 6 minutes (6.5 with mcpproxy-http), inside the
	// default -timeout of 8.
	fs.DurationVar(&o.duration, "d", 3*time.Second, "measured `duration` of each run of each scenario and mode")
	fs.DurationVar(&o.warmup, "warmup", 300*time.Millisecond, "warm-up before each measured run (not counted)")
	fs.IntVar(&o.runs, "n", 3, "runs of each scenario and mode; the median run (by calls/s) is reported")
	fs.IntVar(&o.concurrency, "c", 16, "concurrent clients of the concurrent mode (1: sequential only)")
	fs.StringVar(&o.scenarios, "scenarios", "all", "comma-separated `list` of scenarios to run (their baselines are added)")
	fs.BoolVar(&o.json, "json", false, "print one JSON object instead of the table")
	fs.BoolVar(&o.paired, "paired", true, "after both modes of each run of a scenario through a gateway, one more window in which one client alternates its call with its baseline's (reported with the sequential mode): the gateway-added p50 within one spell of the machine")
	fs.StringVar(&o.pprofDir, "pprof", "", "write a CPU profile of the hub over each measured window (not the paired ones) of a scenario through it to `DIR`/<scenario>-<mode>-run<N>.pprof (the hub's --pprof listener; each profile lasts -d rounded up to whole seconds, plus one; read with go tool pprof)")
	fs.StringVar(&o.hubBin, "mcphub", "", "mcphub `binary` (default: ./bin/mcphub if fresh, else a fresh go build)")
	fs.StringVar(&o.exampleBin, "example", "", "example-server `binary` (default: ./bin/example-server if fresh, else a fresh go build)")
	fs.StringVar(&o.floorBin, "floor", "", "dep-floor `binary`, the libraries the hub is built on alone, for the RSS floor (default: ./bin/dep-floor if fresh, else a fresh go build)")
	fs.StringVar(&o.proxyFloorBin, "proxy-floor", "", "proxy-floor `binary`, a bare net/http pass-through for the floor-* scenarios (default: ./bin/proxy-floor if fresh, else a fresh go build)")
	fs.StringVar(&o.nodeHub, "node-hub", "", "mcp-hub's `cli.js`, the Node hub measured side by side (scenarios nodehub-rest, nodehub-mcp; default: test/peers' when installed by scripts/install-test-peers.sh and node is on PATH; \"off\": leave them out)")
	fs.StringVar(&o.mcpProxy, "mcp-proxy", "", "TBXark/mcp-proxy's `binary`, the Go gateway measured side by side (scenario mcpproxy-http; left out when not set; go install github.com/TBXark/mcp-proxy@latest)")
	fs.IntVar(&o.toolsRequests, "tools-requests", 1000, "sequential GET /mcp_hub/tools requests for its latency")
	fs.IntVar(&o.httpServers, "http-servers", 10, "Streamable HTTP servers in the hub's configuration (`N`: http, http2 … httpN, all the one example server)")
	fs.BoolVar(&o.scale.on, "scale", true, "run the scale phase (false: skip it)")
	fs.IntVar(&o.scale.servers, "scale-servers", 100, "scale phase: `N` HTTP servers in the hub's configuration (s001 …, all one example server)")
	fs.IntVar(&o.scale.tools, "scale-tools", 50, "scale phase: tools per server (`N`, at least the example server's 8)")
	fs.DurationVar(&o.scale.listDelay, "scale-list-delay", 100*time.Millisecond, "scale phase: the example server waits `D` before answering each tools/list")
	fs.IntVar(&o.scale.toolsRequests, "scale-tools-requests", 300, "scale phase: sequential GET /mcp_hub/tools requests for its latency")
	fs.DurationVar(&o.scale.timeout, "scale-timeout", time.Minute, "scale phase: abort the run if the phase takes longer")
	fs.DurationVar(&o.timeout, "timeout", 8*time.Minute, "abort the whole run after this long (0: no limit)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.duration <= 0:
		return o, errors.New("-d must be positive")
	case o.warmup < 0:
		return o, errors.New("-warmup must not be negative")
	case o.runs < 1:
		return o, errors.New("-n must be at least 1")
	case o.concurrency < 1:
		return o, errors.New("-c must be at least 1")
	case o.toolsRequests < 1:
		return o, errors.New("-tools-requests must be at least 1")
	case o.httpServers < 1:
		return o, errors.New("-http-servers must be at least 1")
	case o.timeout < 0:
		return o, errors.New("-timeout must not be negative")
	}
	o.scale.runs = o.runs
	if err := o.scale.validate(); err != nil {
		return o, err
	}
	return o, nil
}

// mode is sequential (one client) or concurrent.
type mode struct {
	name    string
	clients int
}

// run is main without the process: it measures, stops everything it
// started, and prints the report. procs owns the processes (main kills them
// on a second signal).
func run(ctx context.Context, args []string, stdout, stderr io.Writer, procs *procset.Set) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	chosen, err := selectScenarios(o.scenarios)
	if err != nil {
		return err
	}
	began := time.Now()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "mcphub-bench: "+format+"\n", a...) }
	chosen, nodeHubJS, err := withNodeHub(chosen, o, logf)
	if err != nil {
		return err
	}
	chosen, mcpProxyBin, err := withMCPProxy(chosen, o, logf)
	if err != nil {
		return err
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.timeout, fmt.Errorf("-timeout %v reached", o.timeout))
		defer cancel()
	}
	modes := []mode{{"seq", 1}}
	if o.concurrency > 1 {
		modes = append(modes, mode{fmt.Sprintf("c%d", o.concurrency), o.concurrency})
	}

	tmp, err := os.MkdirTemp("", "mcphub-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// cleanup closes the clients, then stops the processes; it runs before
	// the report is printed (so its time counts) and, on errors, on return.
	var closers []func()
	var cleanupOnce sync.Once
	var cleanupErr error
	cleanup := func() error {
		cleanupOnce.Do(func() {
			cleanupErr = errors.Join(closeConcurrently(closers), procs.StopAll(10*time.Second))
		})
		return cleanupErr
	}
	defer func() {
		if cerr := cleanup(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup: %w", cerr))
		}
	}()
	// explain says why a step failed: the interruption, or a process
	// that died, with its output.
	explain := func(err error) error {
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		for _, p := range procs.Procs() {
			if p.Exited() && !strings.Contains(err.Error(), fmt.Sprintf("(pid %d) exited", p.PID())) {
				err = errors.Join(err, p.ExitError())
			}
		}
		return err
	}

	rep := &report{Started: began, RunID: procs.RunID(), Machine: machineInfo(), Settings: settings{
		Duration: o.duration.String(), Warmup: o.warmup.String(), Runs: o.runs, Concurrency: o.concurrency,
		Scenarios: scenarioList(chosen),
	}, HubHTTPServers: o.httpServers, HubStdioServers: 1}
	if o.pprofDir != "" {
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return fmt.Errorf("-pprof: %w", err)
		}
		rep.Profiles = o.pprofDir
	}
	hz := rep.Machine.ClkTck
	windows := len(chosen) * len(modes)
	if o.paired {
		windows += gatewayScenarios(chosen)
	}
	load := time.Duration(o.runs*windows) * (o.duration + o.warmup)
	logf("run %s: %d scenarios × %d modes × %d runs of %v (+%v warm-up): about %.0f s of load%s",
		procs.RunID(), len(chosen), len(modes), o.runs, o.duration, o.warmup, load.Seconds(), o.scale.plan())

	bins, err := findBinaries(ctx, binaries{hub: o.hubBin, example: o.exampleBin, floor: o.floorBin, proxyFloor: o.proxyFloorBin},
		uses(chosen, viaProxyFloor) || uses(chosen, viaStdioFloor), tmp, logf)
	if err != nil {
		return explain(err)
	}
	rep.Binaries = bins.how
	t := &target{procs: procs, bins: bins}

	exAddr, err := loopback.FreeAddr()
	if err != nil {
		return err
	}
	ex, err := procs.Start("example-server (http)", tmp, nil, bins.example, append([]string{"--http", exAddr}, exampleArgs...)...)
	if err != nil {
		return err
	}
	if err := waitTCP(ctx, exAddr, ex); err != nil {
		return explain(err)
	}
	t.exampleURL = "http://" + exAddr + "/mcp"
	cfg := filepath.Join(tmp, "mcp_servers.yaml")
	if err := os.WriteFile(cfg, []byte(hubConfig(t.exampleURL, bins.example, o.httpServers)), 0o644); err != nil {
		return err
	}

	// Startup, once per run: every hub but the last is stopped again.
	var hub *procset.Proc
	var pprofAddr string
	for i := range o.runs {
		var extra []string
		if o.pprofDir != "" {
			if pprofAddr, err = loopback.FreeAddr(); err != nil {
				return err
			}
			extra = []string{"--pprof", pprofAddr}
		}
		hs, err := startHub(ctx, procs, bins, tmp, cfg, listing(`"http__echo"`), time.Millisecond, 30*time.Second, hz, extra...)
		if err != nil {
			return explain(err)
		}
		hub, t.hubBase = hs.p, hs.base
		rep.Startup.RunsMs = append(rep.Startup.RunsMs, millis(hs.took))
		if i < o.runs-1 {
			if err := procs.Stop(hub, 10*time.Second); err != nil {
				return err
			}
		}
	}
	var prof *profiler // the last hub's, which the load goes through
	if pprofAddr != "" {
		prof = &profiler{dir: o.pprofDir, base: "http://" + pprofAddr, hc: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}}
	}
	rep.Startup.MedianMs = median(rep.Startup.RunsMs)
	logf("hub startup to a served GET /mcp_hub/tools: %.1f ms (median of %s)", rep.Startup.MedianMs, joinFloats(rep.Startup.RunsMs, 1))
	names := []string{`"stdio__echo"`}
	for i := range o.httpServers {
		names = append(names, `"`+httpServerName(i)+`__echo"`)
	}
	if err := waitTools(ctx, t.hubBase, names...); err != nil {
		return explain(err)
	}
	if rep.HubServersUp, err = waitServersReady(ctx, t.hubBase, o.httpServers+1, 10*time.Millisecond, 30*time.Second); err != nil {
		return explain(err)
	}
	if _, _, err := waitQuiet(ctx, hub, hz, 30*time.Second); err != nil { // idle means idle
		return explain(err)
	}
	mem, err := procset.ReadStatus(hub.PID(), "VmRSS", "RssAnon", "RssFile")
	if err != nil {
		return explain(err)
	}
	rep.HubRSSIdleKB, rep.HubRSSAnonIdleKB, rep.HubRSSFileIdleKB = mem["VmRSS"], mem["RssAnon"], mem["RssFile"]
	if rep.ToolsGET, err = toolsLatency(ctx, t.hubBase, o.toolsRequests); err != nil {
		return explain(err)
	}
	logf("GET /mcp_hub/tools p50 %.0f µs; hub RSS idle with %d servers up (%d HTTP, 1 stdio) %.1f MB",
		rep.ToolsGET.P50us, rep.HubServersUp, o.httpServers, float64(rep.HubRSSIdleKB)/1024)
	if err := measureFloor(ctx, procs, bins.floor, tmp, hz, rep, logf); err != nil {
		return explain(err)
	}

	// The process whose CPU and RSS a scenario's runs take, by the gateway
	// it goes through. The others than the hub run only through the load:
	// not beside the hub's startups, its idle reading or the scale phase.
	gateway := map[via]*procset.Proc{viaHub: hub}
	if uses(chosen, viaProxyFloor) {
		if gateway[viaProxyFloor], t.proxyURL, err = startProxyFloor(ctx, procs, bins.proxyFloor, tmp, "--upstream", t.exampleURL); err != nil {
			return explain(err)
		}
	}
	if uses(chosen, viaStdioFloor) { // the example server as the hub runs its stdio server
		if gateway[viaStdioFloor], t.stdioFloorURL, err = startProxyFloor(ctx, procs, bins.proxyFloor, tmp, append([]string{"--", bins.example}, exampleArgs...)...); err != nil {
			return explain(err)
		}
	}
	if uses(chosen, viaNodeHub) {
		rep.NodeHub = nodeHubVersion(ctx, nodeHubJS)
		if gateway[viaNodeHub], t.nodeHubBase, err = startNodeHub(ctx, procs, nodeHubJS, tmp, t.exampleURL); err != nil {
			return explain(err)
		}
		logf("%s serving at %s", rep.NodeHub, t.nodeHubBase)
	}
	if uses(chosen, viaMCPProxy) {
		rep.MCPProxy = mcpProxyVersion(mcpProxyBin)
		if gateway[viaMCPProxy], t.mcpProxyURL, err = startMCPProxy(ctx, procs, mcpProxyBin, tmp, t.exampleURL); err != nil {
			return explain(err)
		}
		logf("%s serving at %s", rep.MCPProxy, t.mcpProxyURL)
	}

	t.rest = &http.Client{Transport: &http.Transport{
		MaxIdleConns: 4 * o.concurrency, MaxIdleConnsPerHost: 4 * o.concurrency, IdleConnTimeout: time.Minute,
	}}
	callers := make([][]caller, len(chosen))
	for i, s := range chosen {
		cs, closeFns, err := s.setup(ctx, t, o.concurrency)
		if err != nil {
			return explain(fmt.Errorf("%s: %w", s.name, err))
		}
		closers = append(closers, closeFns...)
		callers[i] = cs
	}

	// Runs are interleaved (run 1 of every scenario, then run 2, ...) so
	// that a slow spell of the shared machine hits every scenario alike.
	runs := map[string][]window{}
	pairs := map[string][]paired{}
	for r := range o.runs {
		for i, s := range chosen {
			for _, m := range modes {
				w, err := measure(ctx, callers[i][:m.clients], o.warmup, o.duration, gateway[s.via], hz,
					profileHub(ctx, prof, s, fmt.Sprintf("%s-%s-run%d", s.name, m.name, r+1)))
				if err != nil {
					return explain(fmt.Errorf("%s %s, run %d: %w", s.name, m.name, r+1, err))
				}
				runs[s.name+"/"+m.name] = append(runs[s.name+"/"+m.name], w)
				logf("run %d/%d  %-13s %-4s %8.0f calls/s  p50 %6.0f µs", r+1, o.runs, s.name, m.name, w.CallsPerSec, w.P50us)
			}
			if !o.paired || s.via == viaNone {
				continue
			}
			base := slices.IndexFunc(chosen, func(b scenario) bool { return b.name == s.baseline })
			p, err := measurePaired(ctx, callers[base][0], callers[i][0], o.warmup, o.duration)
			if err != nil {
				return explain(fmt.Errorf("%s paired with %s, run %d: %w", s.name, s.baseline, r+1, err))
			}
			pairs[s.name] = append(pairs[s.name], p)
			logf("run %d/%d  %-13s pair %5d pairs      p50 %6.0f µs, %s %.0f µs: %+.0f µs",
				r+1, o.runs, s.name, p.Pairs, p.ViaP50us, s.baseline, p.BaseP50us, p.AddedP50us)
		}
	}
	rep.Results = summarize(chosen, modes, runs, pairs)
	// The clients end, then the other gateways: the scale phase runs without them.
	cerr := closeConcurrently(closers)
	closers = nil
	for v, p := range gateway {
		if v != viaHub { // a gateway that failed to start ended the run above
			cerr = errors.Join(cerr, procs.Stop(p, 10*time.Second))
		}
	}
	if cerr != nil {
		return explain(cerr)
	}

	// The scale phase has a hub and an example server of its own; the
	// call scenarios' hub and example server stay up, idle, until the
	// cleanup.
	if o.scale.on {
		if rep.Scale, err = runScale(ctx, procs, bins, tmp, o.scale, hz, logf); err != nil {
			return explain(fmt.Errorf("scale phase: %w", err))
		}
	}

	if err := cleanup(); err != nil {
		return fmt.Errorf("cleanup: %w", err)
	}
	rep.TotalSeconds = time.Since(began).Seconds()
	if o.json {
		return writeJSON(stdout, rep)
	}
	return writeTable(stdout, rep)
}

func scenarioList(ss []scenario) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.name
	}
	return out
}

// hubConfig is the call scenarios' hub configuration: nHTTP Streamable
// HTTP servers (see httpServerName), all the one example server, each
// still a session, a connection pool and a GET stream of its own in the
// hub; and the example server as a stdio child.
func hubConfig(exampleURL, exampleBin string, nHTTP int) string {
	var b strings.Builder
	b.WriteString("# written by mcphub-bench\nservers:\n")
	for i := range nHTTP {
		fmt.Fprintf(&b, "  - name: %s\n    endpoint: %q\n    timeout: 30\n", httpServerName(i), exampleURL)
	}
	args, _ := json.Marshal(exampleArgs) // strings always marshal; a JSON array is a YAML flow sequence
	fmt.Fprintf(&b, "  - name: stdio\n    command: %q\n    args: %s\n    timeout: 30\n", exampleBin, args)
	return b.String()
}

// httpServerName is the name of the i-th (from 0) HTTP server of
// hubConfig: http (what the scenarios call), then http2, http3 ...
func httpServerName(i int) string {
	if i == 0 {
		return "http"
	}
	return "http" + strconv.Itoa(i+1)
}

// waitTCP waits until addr accepts connections (p listens).
func waitTCP(ctx context.Context, addr string, p *procset.Proc) error {
	err := pollUntil(ctx, p, 15*time.Second, 5*time.Millisecond, func() (bool, error) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return false, err
		}
		return true, c.Close()
	})
	if errors.Is(err, errNotYet) {
		return fmt.Errorf("%s: nothing listens on %s: %w; its output:\n%s", p.Name(), addr, err, p.Output())
	}
	return err
}

// errNotYet is pollUntil's error when its wait ran out.
var errNotYet = errors.New("not ready")

// pollUntil calls try every interval until it reports done, p (when not
// nil) exits, wait passes or ctx ends. An error try returns with done is
// the result; one it returns while not done is why it is not, quoted in
// the errNotYet pollUntil returns when wait runs out.
func pollUntil(ctx context.Context, p *procset.Proc, wait, interval time.Duration, try func() (done bool, err error)) error {
	deadline := time.Now().Add(wait)
	for {
		done, err := try()
		if done {
			return err
		}
		if p != nil && p.Exited() {
			return p.ExitError()
		}
		if time.Now().After(deadline) {
			if err == nil {
				return fmt.Errorf("%w after %v", errNotYet, wait)
			}
			return fmt.Errorf("%w after %v: %w", errNotYet, wait, err)
		}
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
