package e2e

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/faultserver"
)

// The fault servers' timeout, and how much later than it a caller may hear
// of a failure (the hub's own work, -race, two CPUs).
const (
	faultTimeout = 2 * time.Second
	faultMargin  = 2 * time.Second
)

var (
	faultBuildOnce sync.Once
	faultBinPath   string
	faultBuildErr  error
)

// buildFaultServer builds ./bin/fault-server once (make build does not).
func buildFaultServer(t testing.TB) string {
	t.Helper()
	faultBuildOnce.Do(func() {
		root := repoRoot(t)
		bin := filepath.Join(root, "bin", "fault-server")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/fault-server")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			faultBuildErr = fmt.Errorf("go build ./cmd/fault-server: %v\n%s", err, out)
			return
		}
		faultBinPath = bin
	})
	if faultBuildErr != nil {
		t.Fatal(faultBuildErr)
	}
	return faultBinPath
}

// faultTarget is one fault server under the hub: a stdio child steered by
// its control file, or an in-process HTTP server steered directly.
type faultTarget struct {
	name    string
	control string                  // stdio
	http    *faultserver.HTTPServer // HTTP
}

func newFaultTarget(t *testing.T, name string, http bool, dir string) *faultTarget {
	t.Helper()
	ft := &faultTarget{name: name}
	if !http {
		ft.control = filepath.Join(dir, name+".faults")
		return ft
	}
	ft.http = faultserver.NewHTTP(faultserver.HTTPOptions{})
	if err := ft.http.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	// Registered before the hub: closed after the hub has stopped.
	t.Cleanup(func() {
		if err := ft.http.Close(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	})
	return ft
}

// yaml is the target's entry in the hub's config.
func (ft *faultTarget) yaml(bin, id string) string {
	if ft.http != nil {
		return fmt.Sprintf("  - name: %s\n    url: %q\n    timeout: %v\n", ft.name, ft.http.URL(), faultTimeout.Seconds())
	}
	return fmt.Sprintf("  - name: %s\n    command: %q\n    env: {MCPHUB_E2E_ID: %q, %s: %q}\n    timeout: %v\n",
		ft.name, bin, id, faultserver.ControlEnv, ft.control, faultTimeout.Seconds())
}

// set puts the faults in spec in force ("" for none).
func (ft *faultTarget) set(t *testing.T, spec string) {
	t.Helper()
	s, err := faultserver.ParseSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	if ft.http != nil {
		err = ft.http.Set(s)
	} else {
		err = faultserver.WriteControl(ft.control, s)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// faultCase is one fault and what the hub makes of it.
type faultCase struct {
	name string // also the server's name in the hub
	http bool
	on   string                // the faults put in force
	act  func(ft *faultTarget) // then, e.g. a restart
	// The first call after that: its status, substrings of its error (or
	// the content of a 200), and whether it ends at the timeout (hang)
	// rather than at once.
	want    int
	wantErr []string
	content string
	slow    bool
	reinit  bool     // the hub had to initialize again (HTTP)
	lastErr []string // /mcp_hub/servers then shows why the connection ended
	down    bool     // and the server stays down while the fault lasts
	stream  bool     // /call_stream: the progress sent, then an error event
	off     string   // the faults once this one ended ("": none)
	// ideal, when set, is the status the hub should answer instead of
	// want, and note says why it does not: the test asserts what the hub
	// does, and logs the difference, so that a fix shows up here.
	ideal int
	note  string
}

// Why some answers differ from the ideal (see the report in the PR).
const (
	noteStdioDropped = "the hub's stdio reader (pkg/downstream/lines.go) skips a line that is not JSON or answers no " +
		"pending request id, as mcp-go's did, so the call waits for the timeout instead of failing at once"
)

var faultCases = []faultCase{
	// 1. Crash mid-call.
	{name: "stdio-crash", on: "crash", want: http.StatusServiceUnavailable,
		wantErr: []string{"process exited: exit status 2", "crashing in the middle of a call"},
		lastErr: []string{"crashing in the middle of a call"}},
	{name: "http-crash", http: true, on: "crash", want: http.StatusServiceUnavailable,
		wantErr: []string{"unexpected EOF"}},
	{name: "http-crash-sse", http: true, on: "crash-sse", want: http.StatusServiceUnavailable,
		wantErr: []string{"the event stream answering tools/call broke", "unexpected EOF"}},
	// 2. Hang forever.
	{name: "stdio-hang", on: "hang", want: http.StatusGatewayTimeout, wantErr: []string{"timed out after 2s"}, slow: true},
	{name: "http-hang", http: true, on: "hang", want: http.StatusGatewayTimeout, wantErr: []string{"timed out after 2s"}, slow: true},
	// 3. Malformed JSON-RPC.
	{name: "stdio-not-json", on: "not-json", want: http.StatusGatewayTimeout, wantErr: []string{"timed out after 2s"}, slow: true,
		ideal: http.StatusBadGateway, note: noteStdioDropped},
	{name: "stdio-no-id", on: "no-id", want: http.StatusGatewayTimeout, wantErr: []string{"timed out after 2s"}, slow: true,
		ideal: http.StatusBadGateway, note: noteStdioDropped},
	{name: "stdio-wrong-id", on: "wrong-id", want: http.StatusGatewayTimeout, wantErr: []string{"timed out after 2s"}, slow: true,
		ideal: http.StatusBadGateway, note: noteStdioDropped},
	{name: "stdio-result-not-object", on: "result-not-object", want: http.StatusBadGateway, wantErr: []string{"not an object"}},
	{name: "stdio-result-null", on: "result-null", want: http.StatusBadGateway, wantErr: []string{"not an object"}},
	{name: "http-not-json", http: true, on: "not-json", want: http.StatusBadGateway, wantErr: []string{"is not a JSON object"}},
	{name: "http-no-id", http: true, on: "no-id", want: http.StatusBadGateway, wantErr: []string{"has no JSON-RPC id"}},
	{name: "http-wrong-id", http: true, on: "wrong-id", want: http.StatusBadGateway, wantErr: []string{"answered with id"}},
	{name: "http-result-not-object", http: true, on: "result-not-object", want: http.StatusBadGateway, wantErr: []string{"not an object"}},
	{name: "http-result-null", http: true, on: "result-null", want: http.StatusBadGateway, wantErr: []string{"not an object"}},
	// 4. 50 MB answers: TestFaultOversizedAnswer.
	// 5. Exit on start: crash, then every restart exits at once.
	{name: "stdio-exit-on-start", on: "exit-on-start crash", want: http.StatusServiceUnavailable,
		wantErr: []string{"crashing in the middle of a call"},
		lastErr: []string{"exit status 3", "refusing to start: fault exit-on-start is set"}, down: true},
	// 6. Start slowly: longer than the timeout, then shorter. Over HTTP,
	// a restart makes the hub initialize again within the call.
	{name: "stdio-slow-start", on: "slow-start=30s crash", want: http.StatusServiceUnavailable,
		wantErr: []string{"crashing in the middle of a call"},
		lastErr: []string{"timed out after 2s"}, down: true, off: "slow-start=300ms"},
	{name: "http-slow-start", http: true, on: "slow-start=30s", act: (*faultTarget).restart,
		want: http.StatusServiceUnavailable, wantErr: []string{"re-initialize failed"}, slow: true,
		lastErr: []string{"timed out after 2s"}, down: true, off: "slow-start=300ms"},
	// 7. Restart with a new session: the hub initializes again and retries.
	{name: "http-restart", http: true, act: (*faultTarget).restart, want: http.StatusOK, reinit: true},
	// 8. Refuse connections, then listen again on the same port.
	{name: "http-refuse", http: true, on: "refuse", want: http.StatusServiceUnavailable,
		wantErr: []string{"connection refused"}, lastErr: []string{"connection refused"}, down: true},
	// 9. Progress stops mid-call.
	{name: "stdio-stall", on: "stall", want: http.StatusGatewayTimeout, wantErr: []string{"timed out after 2s"}, slow: true, stream: true},
	{name: "http-stall", http: true, on: "stall", want: http.StatusGatewayTimeout, wantErr: []string{"timed out after 2s"}, slow: true, stream: true},
}

func (ft *faultTarget) restart() { ft.http.Restart() }

// TestFaultInjection runs one hub with a fault server per case and a healthy
// bystander, and injects every fault at once: each case's neighbours are
// bystanders too.
func TestFaultInjection(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	bin := buildFaultServer(t)
	dir := t.TempDir()
	id := fmt.Sprintf("faultinj-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_E2E_ID", id)
	targets := map[string]*faultTarget{}
	var cfg strings.Builder
	cfg.WriteString("backoff: {initial: 100ms, max: 500ms}\nservers:\n")
	for _, tc := range faultCases {
		ft := newFaultTarget(t, tc.name, tc.http, dir)
		targets[tc.name] = ft
		cfg.WriteString(ft.yaml(bin, id))
	}
	cfg.WriteString(bystanderYAML(bins.example))
	h := startHub(t, cfg.String())
	h.waitReady("bystander", 20*time.Second)
	runConcurrently(len(faultCases), func(i int) {
		tc := faultCases[i]
		t.Run(tc.name, func(t *testing.T) {
			runFaultCase(t, h.forTest(t), targets[tc.name], tc)
		})
	})
}

// runConcurrently runs fn(0) … fn(n-1) at once and waits for them. Cases
// that mostly wait are run this way rather than as parallel subtests, which
// -parallel (GOMAXPROCS: 2 here) would run two at a time.
func runConcurrently(n int, fn func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// forTest is h for a subtest: failures end the subtest, not its parent.
func (h *hubUnderTest) forTest(t testing.TB) *hubUnderTest {
	c := *h
	c.t = t
	return &c
}

func runFaultCase(t *testing.T, h *hubUnderTest, ft *faultTarget, tc faultCase) {
	tool := tc.name + "__work"
	h.waitReady(tc.name, 20*time.Second)
	if out := h.mustCall(tool, map[string]any{"label": "before"}); out.Content != "worked: before" {
		t.Fatalf("before the fault: %+v", out)
	}
	var inits int64
	if ft.http != nil {
		inits = ft.http.Initializes()
	}
	ft.set(t, tc.on)
	if tc.act != nil {
		tc.act(ft)
	}

	// The failing call: a clear error, in time.
	start := time.Now()
	code, out := h.call(tool, map[string]any{"label": "during"})
	took := time.Since(start)
	t.Logf("%s: status %d after %v: %.300s", tc.on, code, took.Round(time.Millisecond), out.Error)
	if tc.ideal != 0 {
		t.Logf("DEVIATION: the hub answers %d where %d is wanted: %s", tc.want, tc.ideal, tc.note)
		if code == tc.ideal {
			t.Errorf("the hub now answers %d as wanted: update this case (drop ideal and note)", code)
		}
	}
	checkCallError(t, tc.name, code, out, tc.want, tc.wantErr...)
	if content := cmp.Or(tc.content, "worked: during"); tc.want == http.StatusOK && out.Content != content {
		t.Errorf("call: content %q, want %q", out.Content, content)
	}
	switch {
	case took > faultTimeout+faultMargin:
		t.Errorf("the call took %v; the server's timeout is %v", took, faultTimeout)
	case tc.slow && took < faultTimeout-100*time.Millisecond:
		t.Errorf("the call ended after %v, before the timeout (%v)", took, faultTimeout)
	case !tc.slow && took >= faultTimeout:
		t.Errorf("the call took %v: it waited for the timeout (%v) instead of failing at once", took, faultTimeout)
	}
	if tc.reinit && ft.http.Initializes() <= inits {
		t.Errorf("the server saw no new initialize (%d before, %d after)", inits, ft.http.Initializes())
	}
	checkHubHealth(t, h)
	checkBystander(t, h)

	if tc.stream {
		checkStalledStream(t, h, tc.name)
	}
	if len(tc.lastErr) > 0 {
		h.waitServer(tc.name, 20*time.Second, "reporting why it failed", func(s serverInfo) bool {
			return containsAll(s.LastError, tc.lastErr) && (!tc.down || !s.Healthy)
		})
	}
	if tc.down {
		code, out := h.call(tool, map[string]any{"label": "while down"})
		checkCallError(t, tc.name, code, out, http.StatusServiceUnavailable, tc.lastErr...)
		checkHubHealth(t, h)
		checkBystander(t, h)
	}

	// The fault ends: the server is back by itself.
	ft.set(t, tc.off)
	ended := time.Now()
	h.waitServer(tc.name, 15*time.Second, "healthy again", func(s serverInfo) bool { return s.Healthy })
	if out := h.mustCall(tool, map[string]any{"label": "after"}); out.Content != "worked: after" {
		t.Errorf("after the fault: %+v", out)
	}
	t.Logf("back %v after the fault ended", time.Since(ended).Round(time.Millisecond))
	checkBystander(t, h)
}

// checkCallError checks a call's status, and, for an error, that the JSON
// body names the server and says what went wrong.
func checkCallError(t *testing.T, server string, code int, out callResponse, want int, wantErr ...string) {
	t.Helper()
	if code != want {
		t.Errorf("status %d, want %d (%+v)", code, want, out)
	}
	if want == http.StatusOK {
		if !out.Success {
			t.Errorf("call failed: %+v", out)
		}
		return
	}
	if out.Success || !strings.Contains(out.Error, "server "+server) {
		t.Errorf("error %.300q does not name server %s", out.Error, server)
	}
	if len(out.Error) > maxErrorLen {
		t.Errorf("the error message is %d bytes long: %.300q…", len(out.Error), out.Error)
	}
	for _, w := range wantErr {
		if !strings.Contains(out.Error, w) {
			t.Errorf("error %.300q does not say %q", out.Error, w)
		}
	}
}

// maxErrorLen bounds a clear error message.
const maxErrorLen = 2048

func checkHubHealth(t *testing.T, h *hubUnderTest) {
	t.Helper()
	var health struct {
		Status  string          `json:"status"`
		Servers map[string]bool `json:"servers"`
	}
	if code := h.do("GET", "/mcp_hub/health", nil, &health); code != http.StatusOK || !health.Servers["bystander"] {
		t.Errorf("GET /mcp_hub/health: %d %+v", code, health)
	}
}

// checkStalledStream streams a call whose progress stalls: the progress
// sent arrives, then an error event at the timeout.
func checkStalledStream(t *testing.T, h *hubUnderTest, server string) {
	t.Helper()
	start := time.Now()
	events := h.callStream(t, server+"__work", map[string]any{"label": "stream"})
	progress := 0
	for {
		ev := nextSSE(t, events)
		if ev.name == "progress" {
			progress++
			continue
		}
		took := time.Since(start)
		var e struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
		}
		if ev.name != "error" || json.Unmarshal(ev.data, &e) != nil {
			t.Fatalf("stream: event %q %s, want progress or error", ev.name, ev.data)
		}
		t.Logf("stream: %d progress events, then error %d after %v: %s", progress, e.Status, took.Round(time.Millisecond), e.Error)
		if progress != 2 || e.Status != http.StatusGatewayTimeout || !strings.Contains(e.Error, "server "+server) {
			t.Errorf("stream: %d progress events then %+v; want 2, then 504 naming the server", progress, e)
		}
		if took < faultTimeout-100*time.Millisecond || took > faultTimeout+faultMargin {
			t.Errorf("stream: error after %v, want about %v", took, faultTimeout)
		}
		return
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// messageCap is the hub's default bound on one downstream message
// (downstream.DefaultMaxMessageBytes), and rssSlack what a process's peak
// RSS may add to the heap the test bounds (runtime metadata, stacks).
const (
	messageCap = 16 << 20
	rssSlack   = 4 << 20
)

// oversizedCase is one answer too big for the hub.
type oversizedCase struct {
	name    string // also the server's name in the hub
	http    bool
	on      string // the fault
	wantErr string
	lastErr string // the connection ends: /mcp_hub/servers says so
}

var oversizedCases = []oversizedCase{
	{name: "stdio-huge", on: "huge", wantErr: "size limit", lastErr: "size limit"}, // one 50 MB line
	{name: "http-huge", http: true, on: "huge", wantErr: "size limit"},             // a 50 MB chunked JSON body
	{name: "http-huge-sse", http: true, on: "huge-sse", wantErr: "size limit"},     // one 50 MB SSE event
	// 15 MB without an id, under the cap: refused with a short error (mcp-go
	// would quote all of it in its own, on the paths it still has).
	{name: "http-huge-no-id", http: true, on: "huge-no-id", wantErr: "has no JSON-RPC id"},
}

// TestFaultOversizedAnswer makes a server answer a call with a 50 MB
// message, under the mcphub binary (one per case, so that each has its own
// peak RSS): the answer must be refused, with an error that says why, and
// the hub's peak RSS must not grow by more than twice the message cap.
func TestFaultOversizedAnswer(t *testing.T) {
	t.Parallel()
	runConcurrently(len(oversizedCases), func(i int) {
		tc := oversizedCases[i]
		t.Run(tc.name, func(t *testing.T) { runOversizedCase(t, tc) })
	})
}

func runOversizedCase(t *testing.T, tc oversizedCase) {
	bins := buildRepo(t)
	dir := t.TempDir()
	id := fmt.Sprintf("faultbig-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_E2E_ID", id)
	ft := newFaultTarget(t, tc.name, tc.http, dir)
	h, hub := startHubProcess(t, dir, "backoff: {initial: 100ms, max: 500ms}\nservers:\n"+
		ft.yaml(buildFaultServer(t), id)+bystanderYAML(bins.example))
	h.waitReady(tc.name, 20*time.Second)
	h.waitReady("bystander", 20*time.Second)
	tool := tc.name + "__work"
	h.mustCall(tool, map[string]any{"label": "before"})

	pid := hub.cmd.Process.Pid
	resetPeakRSS(t, pid)
	before := procStatusKB(t, pid, "VmRSS")
	ft.set(t, tc.on)
	start := time.Now()
	code, out := h.call(tool, map[string]any{"label": "huge"})
	took := time.Since(start)
	peak := procStatusKB(t, pid, "VmHWM")
	growth := (peak - before) << 10
	t.Logf("status %d after %v, %d bytes of error: %.300s", code, took.Round(time.Millisecond), len(out.Error), out.Error)
	t.Logf("hub RSS %d MiB before, peak %d MiB during: grew %.1f MiB (cap %d MiB)",
		before>>10, peak>>10, float64(growth)/(1<<20), messageCap>>20)
	checkCallError(t, tc.name, code, out, http.StatusBadGateway, tc.wantErr)
	if took > faultTimeout+faultMargin {
		t.Errorf("the call took %v; the server's timeout is %v", took, faultTimeout)
	}
	if growth > 2*messageCap+rssSlack {
		t.Errorf("the hub's peak RSS grew by %.1f MiB for one answer: more than twice the %d MiB cap (+%d MiB slack)",
			float64(growth)/(1<<20), messageCap>>20, rssSlack>>20)
	}
	checkHubHealth(t, h)
	checkBystander(t, h)
	if tc.on == "huge-sse" {
		// The cause is the call's own: the next call on the same connection,
		// dropped for another reason, is not "over the size limit".
		ft.set(t, "crash-sse")
		code, out := h.call(tool, map[string]any{"label": "after"})
		checkCallError(t, tc.name, code, out, http.StatusServiceUnavailable, "event stream", "broke")
	}

	if tc.lastErr != "" {
		h.waitServer(tc.name, 20*time.Second, "reporting why it failed", func(s serverInfo) bool {
			return strings.Contains(s.LastError, tc.lastErr)
		})
	}
	ft.set(t, "")
	h.waitServer(tc.name, 15*time.Second, "healthy again", func(s serverInfo) bool { return s.Healthy })
	if out := h.mustCall(tool, map[string]any{"label": "after"}); out.Content != "worked: after" {
		t.Errorf("after the fault: %+v", out)
	}
}

// startHubProcess runs ./bin/mcphub on cfgYAML and stops it with SIGTERM
// (so that it reaps its children) when the test ends.
func startHubProcess(t *testing.T, dir, cfgYAML string) (*hubUnderTest, *proc) {
	t.Helper()
	bins := buildRepo(t)
	cfg := filepath.Join(dir, "mcp_servers.yaml")
	if err := os.WriteFile(cfg, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProc(t, dir, nil, bins.mcphub, "-c", cfg, "--listen", "127.0.0.1:0")
	t.Cleanup(func() { // before startProc's kill
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			t.Errorf("mcphub still running 20s after SIGTERM")
		}
	})
	var addr string
	waitFor(t, 20*time.Second, "the listening log line", func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("mcphub exited: %v", p.err)
		default:
		}
		m := listeningRE.FindStringSubmatch(p.output.String())
		if m == nil {
			return false, "no line yet"
		}
		addr = m[1]
		return true, ""
	})
	h := &hubUnderTest{t: t, base: "http://" + addr, client: &http.Client{Transport: &http.Transport{}, Timeout: 60 * time.Second}, cfgFile: cfg}
	t.Cleanup(h.client.CloseIdleConnections)
	return h, p
}

// resetPeakRSS resets the process's VmHWM to its current RSS.
func resetPeakRSS(t *testing.T, pid int) {
	t.Helper()
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
}

// procStatusKB reads one "<key>: <n> kB" line of /proc/<pid>/status.
func procStatusKB(t *testing.T, pid int, key string) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %v", pid, key, err)
			}
			return n
		}
	}
	t.Fatalf("/proc/%d/status has no %s", pid, key)
	return 0
}
