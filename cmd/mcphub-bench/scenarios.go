package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/internal/procset"
	"github.com/mcphub/mcphub/internal/tail"
)

// message is what every call echoes.
const message = "bench"

// exampleArgs is what every example server the bench starts is given
// (besides --http and the scale phase's own), as the hub's stdio config
// gives it.
var exampleArgs = []string{"--log-level", "WARN"}

// target is what the scenarios call: the processes of one run.
type target struct {
	procs      *procset.Set
	bins       binaries
	exampleURL string // the example server's Streamable HTTP endpoint
	proxyURL   string // cmd/proxy-floor in front of exampleURL (floor-http, floor-post)
	// stdioFloorURL is cmd/proxy-floor in front of an example server
	// child (floor-stdio only).
	stdioFloorURL string
	// mcpProxyURL is mcp-proxy's endpoint for exampleURL (mcpproxy-http only).
	mcpProxyURL string
	// nodeHubBase is http://127.0.0.1:port of mcp-hub (nodehub-* only).
	nodeHubBase string
	hubBase     string // http://127.0.0.1:port of the hub
	// rest is the keep-alive client every REST caller shares.
	rest *http.Client
}

// via is the gateway between a scenario's client and the example server:
// the process whose CPU and RSS a run takes.
type via int

const (
	viaNone       via = iota // a baseline: the direct call
	viaHub                   // the hub
	viaProxyFloor            // cmd/proxy-floor, the net/http floor
	viaStdioFloor            // cmd/proxy-floor in front of a stdio child, the floor of rest-stdio
	viaNodeHub               // mcp-hub, the Node hub measured side by side (nodehub.go)
	viaMCPProxy              // TBXark/mcp-proxy, the Go gateway measured side by side (mcpproxy.go)
)

// scenario is one way of calling echo.
type scenario struct {
	name string
	// baseline is the direct scenario this one is compared with (its own
	// name for a baseline): the direct call made with the same kind of
	// client, so that a client's cost is not counted for the gateway.
	baseline string
	// mcpBaseline, for a scenario whose client is not an MCP client (a
	// REST call), is the direct call from an MCP client too: the baseline
	// issue 7 states its targets against (RatioMCPDirect).
	mcpBaseline string
	via         via
	what        string
	// setup makes n callers (the concurrent mode uses them all, the
	// sequential one the first) and the functions that release them, one
	// per client.
	setup func(ctx context.Context, t *target, n int) ([]caller, []func(), error)
}

// scenarios in the order they run and are reported: each baseline before
// the scenarios compared with it.
var scenarios = []scenario{
	{name: "direct-http", baseline: "direct-http", via: viaNone,
		what:  "mcp-go client → example server over Streamable HTTP (one session per client)",
		setup: mcpScenario(func(t *target) string { return t.exampleURL }, "echo", streamable)},
	{name: "direct-post", baseline: "direct-post", via: viaNone,
		what:  "tools/call written out as JSON-RPC, POSTed to the example server on the REST scenarios' keep-alive http.Client (one session)",
		setup: postSessionScenario(func(t *target) string { return t.exampleURL }, true)},
	{name: "rest-http", baseline: "direct-post", mcpBaseline: "direct-http", via: viaHub,
		what:  "POST /mcp_hub/call http__echo (one keep-alive http.Client)",
		setup: restScenario("http__echo")},
	{name: "mcp-http", baseline: "direct-http", via: viaHub,
		what:  "mcp-go client → hub /mcp tools/call http__echo (one session per client)",
		setup: mcpScenario(func(t *target) string { return t.hubBase + "/mcp" }, "http__echo", streamable)},
	{name: "floor-http", baseline: "direct-http", via: viaProxyFloor,
		what:  "mcp-go client → cmd/proxy-floor (net/http server and Transport, passing through) → example server",
		setup: mcpScenario(func(t *target) string { return t.proxyURL }, "echo", streamable)},
	{name: "floor-post", baseline: "direct-post", via: viaProxyFloor,
		what:  "direct-post's calls → cmd/proxy-floor → example server (the REST scenarios' client through the reference)",
		setup: postSessionScenario(func(t *target) string { return t.proxyURL }, true)},
	{name: "mcpproxy-http", baseline: "direct-http", via: viaMCPProxy,
		what:  "mcp-go client → TBXark/mcp-proxy (Go: mcp-go's server, each tool handled by mcp-go's client) → example server",
		setup: mcpScenario(func(t *target) string { return t.mcpProxyURL }, "echo", streamable)},
	{name: "nodehub-rest", baseline: "direct-post", mcpBaseline: "direct-http", via: viaNodeHub,
		what:  "POST /api/servers/tools of mcp-hub (Node) → example server (one keep-alive http.Client)",
		setup: nodeHubRESTScenario},
	{name: "nodehub-mcp", baseline: "direct-http", via: viaNodeHub,
		what:  "mcp-go SSE client → mcp-hub /mcp (legacy SSE, its only MCP endpoint) http__echo (one session per client)",
		setup: mcpScenario(func(t *target) string { return t.nodeHubBase + "/mcp" }, "http__echo", legacySSE)},
	{name: "direct-stdio", baseline: "direct-stdio", via: viaNone,
		what:  "mcp-go stdio client → example server child (all calls on one child)",
		setup: stdioScenario},
	{name: "direct-pipe", baseline: "direct-pipe", via: viaNone,
		what:  "tools/call written out as JSON-RPC lines to an example server child's stdin, answers matched by id (all calls on one child)",
		setup: pipeScenario},
	{name: "rest-stdio", baseline: "direct-pipe", mcpBaseline: "direct-stdio", via: viaHub,
		what:  "POST /mcp_hub/call stdio__echo (all calls on the hub's one child)",
		setup: restScenario("stdio__echo")},
	{name: "mcp-stdio", baseline: "direct-stdio", via: viaHub,
		what:  "mcp-go client → hub /mcp tools/call stdio__echo (one session per client; all calls on the hub's one child)",
		setup: mcpScenario(func(t *target) string { return t.hubBase + "/mcp" }, "stdio__echo", streamable)},
	{name: "floor-stdio", baseline: "direct-pipe", via: viaStdioFloor,
		what:  "direct-post's calls → cmd/proxy-floor writing each as a line to its one example server child (the REST scenarios' client through the reference)",
		setup: postSessionScenario(func(t *target) string { return t.stdioFloorURL }, false)},
}

// String names the gateway for the report.
func (v via) String() string {
	switch v {
	case viaHub:
		return "mcphub"
	case viaProxyFloor, viaStdioFloor:
		return "proxy-floor"
	case viaNodeHub:
		return "mcp-hub"
	case viaMCPProxy:
		return "mcp-proxy"
	}
	return ""
}

// uses says whether any of chosen goes through v.
func uses(chosen []scenario, v via) bool {
	return slices.ContainsFunc(chosen, func(s scenario) bool { return s.via == v })
}

// gatewayScenarios counts the scenarios of chosen that go through a gateway.
func gatewayScenarios(chosen []scenario) int {
	n := 0
	for _, s := range chosen {
		if s.via != viaNone {
			n++
		}
	}
	return n
}

// scenarioNamed is the scenario called name.
func scenarioNamed(name string) (scenario, bool) {
	for _, s := range scenarios {
		if s.name == name {
			return s, true
		}
	}
	return scenario{}, false
}

func scenarioNames() []string {
	names := make([]string, len(scenarios))
	for i, s := range scenarios {
		names[i] = s.name
	}
	return names
}

// selectScenarios parses -scenarios ("all" or a comma-separated list) and
// adds the baseline of every scenario chosen: ratios need it.
func selectScenarios(list string) ([]scenario, error) {
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "all":
			for _, s := range scenarios {
				want[s.name] = true
			}
		case name == "":
		default:
			s, ok := scenarioNamed(name)
			if !ok {
				return nil, fmt.Errorf("-scenarios: unknown scenario %q (known: all, %s)", name, strings.Join(scenarioNames(), ", "))
			}
			want[s.name], want[s.baseline] = true, true
			if s.mcpBaseline != "" { // for RatioMCPDirect
				want[s.mcpBaseline] = true
			}
		}
	}
	var out []scenario
	for _, s := range scenarios {
		if want[s.name] {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-scenarios: no scenario selected")
	}
	return out, nil
}

// leaveOut drops the scenarios through v from chosen because of missing
// (what the gateway lacks), with a note; it is an error when -scenarios
// (list) names one of them.
func leaveOut(chosen []scenario, v via, list, missing string, logf func(string, ...any)) ([]scenario, error) {
	for name := range strings.SplitSeq(list, ",") {
		if s, ok := scenarioNamed(strings.TrimSpace(name)); ok && s.via == v {
			return nil, fmt.Errorf("-scenarios names %s, but %s", s.name, missing)
		}
	}
	logf("the %s scenarios are left out: %s", v, missing)
	return slices.DeleteFunc(slices.Clone(chosen), func(s scenario) bool { return s.via == v }), nil
}

// mcpScenario is n mcp-go clients over the transport over makes, each with its own session
// and HTTP transport, calling tool.
func mcpScenario(url func(*target) string, tool string, over mcpTransport) func(context.Context, *target, int) ([]caller, []func(), error) {
	return func(ctx context.Context, t *target, n int) ([]caller, []func(), error) {
		var closers []func()
		callers := make([]caller, n)
		for i := range callers {
			c, closeFn, err := newHTTPClient(ctx, url(t), over)
			if err != nil {
				return nil, nil, errors.Join(err, closeConcurrently(closers))
			}
			closers = append(closers, closeFn)
			callers[i] = mcpCaller(c, tool)
		}
		return callers, closers, nil
	}
}

// stdioScenario is one mcp-go stdio client running the example server
// binary, shared by the n callers: the direct counterpart of the hub's one
// multiplexed child.
func stdioScenario(ctx context.Context, t *target, n int) ([]caller, []func(), error) {
	var started *exec.Cmd
	var out *tail.Buffer
	tr := transport.NewStdioWithOptions(t.bins.example, nil, exampleArgs,
		transport.WithCommandFunc(func(_ context.Context, command string, _ []string, args []string) (*exec.Cmd, error) {
			// Not CommandContext: the tool ends its processes itself.
			cmd, output := t.procs.Command(command, args...)
			cmd.Stdout = nil // the transport's pipe
			started, out = cmd, output
			return cmd, nil
		}))
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20251125))
	if err := c.Start(ctx); err != nil {
		return nil, nil, fmt.Errorf("starting the example server over stdio: %w", err)
	}
	p := t.procs.Adopt("example-server (direct stdio)", started, out)
	closeFn := func() {
		_ = c.Close() // closes stdin, then waits for (and reaps) the child
		t.procs.Forget(p)
	}
	if err := initialize(ctx, c); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("example server over stdio: %w; its output:\n%s", err, out.String())
	}
	return same(mcpCaller(c, "echo"), n), []func(){closeFn}, nil
}

// mcpTransport makes an mcp-go client transport to url over hc.
type mcpTransport func(url string, hc *http.Client) (transport.Interface, error)

// streamable is the Streamable HTTP transport, the one the hub's sessions speak.
func streamable(url string, hc *http.Client) (transport.Interface, error) {
	return transport.NewStreamableHTTP(url, transport.WithHTTPBasicClient(hc))
}

// legacySSE is the legacy SSE transport, the only one mcp-hub's /mcp serves.
func legacySSE(url string, hc *http.Client) (transport.Interface, error) {
	return transport.NewSSE(url, transport.WithHTTPClient(hc))
}

// newHTTPClient is an initialized mcp-go client over the transport
// newTransport makes, pinned to protocol 2025-11-25, with an HTTP transport
// of its own.
func newHTTPClient(ctx context.Context, url string, newTransport mcpTransport) (*client.Client, func(), error) {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	tr, err := newTransport(url, hc)
	if err != nil {
		return nil, nil, err
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20251125))
	closeFn := func() {
		_ = c.Close()
		hc.CloseIdleConnections()
	}
	// The context of Start is the session's lifetime: the run's.
	if err := c.Start(ctx); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("%s: %w", url, err)
	}
	if err := initialize(ctx, c); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("%s: %w", url, err)
	}
	return c, closeFn, nil
}

func initialize(ctx context.Context, c *client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	req.Params.ClientInfo = mcp.Implementation{Name: "mcphub-bench", Version: "0"}
	if _, err := c.Initialize(ctx, req); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	return nil
}

// mcpCaller calls tool on c and checks that it echoed message.
func mcpCaller(c *client.Client, tool string) caller {
	req := mcp.CallToolRequest{}
	req.Params.Name = tool
	req.Params.Arguments = map[string]any{"message": message}
	return func(ctx context.Context) error {
		res, err := c.CallTool(ctx, req)
		if err != nil {
			return fmt.Errorf("tools/call %s: %w", tool, err)
		}
		if res.IsError || len(res.Content) != 1 {
			return fmt.Errorf("tools/call %s: unexpected result %+v", tool, res)
		}
		if tc, ok := res.Content[0].(mcp.TextContent); !ok || tc.Text != message {
			return fmt.Errorf("tools/call %s: unexpected content %+v", tool, res.Content)
		}
		return nil
	}
}

// restScenario is n callers of POST /mcp_hub/call on the shared keep-alive
// client.
func restScenario(tool string) func(context.Context, *target, int) ([]caller, []func(), error) {
	body := map[string]any{
		"id": "call_bench", "type": "function",
		"function": map[string]any{"name": tool, "arguments": map[string]any{"message": message}},
	}
	return postScenario(func(t *target) string { return t.hubBase + "/mcp_hub/call" }, body, `"success":true`)
}

// postScenario is n callers that POST body as JSON to url on the shared
// keep-alive client and expect a 200 whose body holds want.
func postScenario(url func(*target) string, body any, want string) func(context.Context, *target, int) ([]caller, []func(), error) {
	return func(_ context.Context, t *target, n int) ([]caller, []func(), error) {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		call := func(ctx context.Context) error {
			_, err := post(ctx, t.rest, url(t), b, nil, http.StatusOK, want)
			return err
		}
		return same(call, n), []func(){t.rest.CloseIdleConnections}, nil
	}
}

// same is n callers sharing call (and the one client behind it).
func same(call caller, n int) []caller {
	callers := make([]caller, n)
	for i := range callers {
		callers[i] = call
	}
	return callers
}

// post POSTs body as JSON to u on hc, with header's fields besides, and
// returns the answer's header when its status is status and its body holds
// want.
func post(ctx context.Context, hc *http.Client, u string, body []byte, header http.Header, status int, want string) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("POST %s: %w", u, err)
	}
	if resp.StatusCode != status || !bytes.Contains(got, []byte(want)) {
		return nil, fmt.Errorf("POST %s: %d %.500s", u, resp.StatusCode, got)
	}
	return resp.Header, nil
}

// The JSON-RPC the bench writes by hand: direct-post, direct-pipe, and the
// initialize that tells dep-floor and mcp-proxy serve MCP.
const (
	initializeRequest = `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"` +
		mcp.ProtocolVersion20251125 + `","capabilities":{},"clientInfo":{"name":"mcphub-bench","version":"0"}}}`
	initializedNotification = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	// negotiated is in the answer to initializeRequest of a server that
	// took the pinned protocol.
	negotiated = `"protocolVersion":"` + mcp.ProtocolVersion20251125 + `"`
	// echoed is in the answer to echoCall.
	echoed = `"text":"` + message + `"`
)

// echoCall is the tools/call of echo with message, as request id.
func echoCall(id int64) []byte {
	b := strconv.AppendInt(append(make([]byte, 0, 128), `{"jsonrpc":"2.0","id":`...), id, 10)
	return append(b, `,"method":"tools/call","params":{"name":"echo","arguments":{"message":"`+message+`"}}}`...)
}

// mcpAccept is the Accept header a Streamable HTTP client sends.
func mcpAccept() http.Header {
	return http.Header{"Accept": {"application/json, text/event-stream"}}
}

// postSessionScenario is n callers of the example server's tools/call
// written out as JSON-RPC and POSTed to url on the shared keep-alive
// client, all in one session opened at setup. At the example server's own
// URL it is direct-post, the direct call made with the REST scenarios' own
// client (the mcp-go client of direct-http costs some 50 µs more per call
// than this one; a REST call compared with it would be credited with that
// difference); through cmd/proxy-floor it is floor-post, the reference read
// against that same baseline, and floor-stdio in front of a stdio child,
// which has no sessions (sessions false; otherwise the server must give a
// session id).
func postSessionScenario(url func(*target) string, sessions bool) func(context.Context, *target, int) ([]caller, []func(), error) {
	return func(ctx context.Context, t *target, n int) ([]caller, []func(), error) {
		u := url(t)
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // the handshake, as mcp-go's clients bound theirs
		defer cancel()
		// Read-only once the session is open: the callers share it.
		header := mcpAccept()
		answered, err := post(ctx, t.rest, u, []byte(initializeRequest), header, http.StatusOK, negotiated)
		if err != nil {
			return nil, nil, fmt.Errorf("initialize: %w", err)
		}
		// Without sessions (the stdio floor): no id, and no session to end.
		sid := answered.Get(transport.HeaderKeySessionID)
		switch {
		case sessions && sid == "":
			return nil, nil, errors.New("initialize: no session id")
		case sid != "":
			header.Set(transport.HeaderKeySessionID, sid)
		}
		header.Set(mcp.HeaderProtocolVersion, mcp.ProtocolVersion20251125)
		end := func() { // the session's end, as an MCP client would say it
			defer t.rest.CloseIdleConnections()
			if sid == "" {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if req, err := http.NewRequestWithContext(ctx, http.MethodDelete, u, nil); err == nil {
				req.Header = header.Clone()
				if resp, err := t.rest.Do(req); err == nil {
					resp.Body.Close()
				}
			}
		}
		if _, err := post(ctx, t.rest, u, []byte(initializedNotification), header, http.StatusAccepted, ""); err != nil {
			end()
			return nil, nil, fmt.Errorf("notifications/initialized: %w", err)
		}
		// Each call has an id of its own, as MCP requires within a session.
		var ids atomic.Int64
		call := func(ctx context.Context) error {
			_, err := post(ctx, t.rest, u, echoCall(ids.Add(1)), header, http.StatusOK, echoed)
			return err
		}
		return same(call, n), []func(){end}, nil
	}
}

// closeWait bounds how long closeConcurrently waits for the clients.
const closeWait = 10 * time.Second

// closeConcurrently runs every client's close function at once and waits
// for them, at most closeWait: one hung server must not hold the cleanup.
// It says how many it left closing.
func closeConcurrently(fns []func()) error {
	var wg sync.WaitGroup
	var closing atomic.Int64
	closing.Store(int64(len(fns)))
	for _, f := range fns {
		wg.Go(func() {
			defer closing.Add(-1)
			f()
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(closeWait):
		return fmt.Errorf("%d of %d clients still closing after %v", closing.Load(), len(fns), closeWait)
	}
}
