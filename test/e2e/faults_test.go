package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bystanderYAML is a healthy stdio server that must keep working while
// another server fails.
func bystanderYAML(example string) string {
	return fmt.Sprintf(`
  - name: bystander
    command: %q
    timeout: 10
`, example)
}

func checkBystander(t *testing.T, h *hubUnderTest) {
	t.Helper()
	if out := h.mustCall("bystander__echo", map[string]any{"message": "still here"}); out.Content != "still here" {
		t.Errorf("bystander echo: %+v", out)
	}
	if s := h.servers()["bystander"]; !s.Healthy {
		t.Errorf("bystander: %v", s)
	}
}

// TestStdioServerKilled kills a stdio downstream under the hub twice: once it
// comes straight back, once it stays down for a while.
func TestStdioServerKilled(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	dir := t.TempDir()
	flag := filepath.Join(dir, "down")
	id := fmt.Sprintf("victim-%d-%d", os.Getpid(), time.Now().UnixNano())
	// The wrapper refuses to start while the flag file exists, and otherwise
	// becomes the example server (exec keeps the pid and environment).
	wrapper := filepath.Join(dir, "victim.sh")
	script := "#!/bin/sh\n" +
		"if [ -e \"$MCPHUB_E2E_DOWN\" ]; then echo \"victim: refusing to start: maintenance\" >&2; exit 7; fi\n" +
		"exec \"$MCPHUB_E2E_BIN\" \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	checkReaped(t, "MCPHUB_E2E_ID", id)
	h := startHub(t, fmt.Sprintf(`
backoff: {initial: 100ms, max: 300ms}
servers:
  - name: victim
    command: %q
    env:
      MCPHUB_E2E_ID: %q
      MCPHUB_E2E_DOWN: %q
      MCPHUB_E2E_BIN: %q
    timeout: 10
`, wrapper, id, flag, bins.example)+bystanderYAML(bins.example))
	h.waitReady("victim", 20*time.Second)
	h.waitReady("bystander", 20*time.Second)
	h.mustCall("victim__echo", map[string]any{"message": "before"})

	victimPID := func() int {
		t.Helper()
		var pids []int
		waitFor(t, 10*time.Second, "exactly one victim process", func() (bool, string) {
			pids = pidsWithEnv("MCPHUB_E2E_ID", id)
			return len(pids) == 1, fmt.Sprint(pids)
		})
		return pids[0]
	}

	// 1. Killed: the hub notices, reconnects at once, and says what happened.
	first := victimPID()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// A new child first, then the status: read the other way round, a stale
	// "ready" from before the kill could pass for the new connection.
	waitFor(t, 20*time.Second, "victim reconnected after SIGKILL", func() (bool, string) {
		pids := pidsWithEnv("MCPHUB_E2E_ID", id)
		if len(pids) != 1 || pids[0] == first {
			return false, fmt.Sprintf("victim pids %v (killed %d)", pids, first)
		}
		s := h.servers()["victim"]
		// last_error keeps why the previous connection ended.
		return s.Healthy && strings.Contains(s.LastError, "signal: killed"), s.String()
	})
	if out := h.mustCall("victim__echo", map[string]any{"message": "after"}); out.Content != "after" {
		t.Errorf("victim echo after reconnect: %+v", out)
	}
	checkBystander(t, h)

	// 2. Killed and unable to restart: /mcp_hub/servers shows why, calls get
	// 503, the rest of the hub works; once it can start, it is back.
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(victimPID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s := h.waitServer("victim", 20*time.Second, "down with the wrapper's stderr", func(s serverInfo) bool {
		return !s.Healthy && s.Failures >= 2 && strings.Contains(s.LastError, "refusing to start: maintenance")
	})
	if !strings.Contains(s.LastError, "exit status 7") || s.Status != "backoff" && s.Status != "connecting" {
		t.Errorf("down server: %v", s)
	}
	code, out := h.call("victim__echo", map[string]any{"message": "while down"})
	if code != http.StatusServiceUnavailable || out.Error == "" || out.Success {
		t.Errorf("call while down: status %d %+v, want 503 with an error", code, out)
	}
	var health struct {
		Status  string          `json:"status"`
		Servers map[string]bool `json:"servers"`
	}
	if code := h.do("GET", "/mcp_hub/health", nil, &health); code != http.StatusOK ||
		health.Status != "degraded" || health.Servers["victim"] || !health.Servers["bystander"] {
		t.Errorf("health while down: %d %+v", code, health)
	}
	checkBystander(t, h)

	if err := os.Remove(flag); err != nil {
		t.Fatal(err)
	}
	h.waitServer("victim", 20*time.Second, "back after the flag is gone", func(s serverInfo) bool { return s.Healthy })
	if out := h.mustCall("victim__echo", map[string]any{"message": "back"}); out.Content != "back" {
		t.Errorf("victim echo when back: %+v", out)
	}
}

// TestServerUpLater starts the hub while an HTTP server is down; once the
// server is up, POST /mcp_hub/refresh connects it at once and says so.
func TestServerUpLater(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	// A long backoff: only the refresh can bring the server in during the test.
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: late
    url: %q
    timeout: 10
    backoff: {initial: 60s, max: 120s}
`, url)+bystanderYAML(bins.example))
	h.waitReady("bystander", 20*time.Second)
	s := h.waitServer("late", 20*time.Second, "down with an error", func(s serverInfo) bool {
		return !s.Healthy && s.LastError != "" && s.Status == "backoff"
	})
	if !strings.Contains(s.LastError, "refused") {
		t.Errorf("late server before start: %v (want a connection refused error)", s)
	}
	if code, _ := h.call("late__echo", map[string]any{"message": "x"}); code != http.StatusNotFound {
		t.Errorf("call to a never-connected server's tool: status %d, want 404", code)
	}
	checkBystander(t, h)

	srv := startProc(t, "", nil, bins.example, "--http", fmt.Sprintf("127.0.0.1:%d", port))
	waitHTTP(t, url, srv)

	var rr refreshResponse
	if code := h.do("POST", "/mcp_hub/refresh", nil, &rr); code != http.StatusOK {
		t.Fatalf("refresh: status %d", code)
	}
	if !rr.Refreshed || !slices.Contains(rr.Changed, "late") || slices.Contains(rr.Changed, "bystander") {
		t.Errorf("refresh response: %+v; want changed = [late]", rr)
	}
	for _, sr := range rr.Servers {
		switch sr.Name {
		case "late":
			if !sr.Healthy || !sr.Changed || sr.Error != "" {
				t.Errorf("refresh: late: %+v", sr)
			}
		case "bystander":
			if !sr.Healthy || sr.Changed {
				t.Errorf("refresh: bystander: %+v", sr)
			}
		}
	}
	if s := h.servers()["late"]; !s.Healthy || s.Tools == 0 {
		t.Errorf("after refresh: %v", s)
	}
	if out := h.mustCall("late__echo", map[string]any{"message": "on time"}); out.Content != "on time" {
		t.Errorf("late echo: %+v", out)
	}
	checkBystander(t, h)

	// A second refresh with nothing new changes nothing.
	rr = refreshResponse{}
	h.do("POST", "/mcp_hub/refresh", nil, &rr)
	if len(rr.Changed) != 0 {
		t.Errorf("second refresh: changed %v, want none", rr.Changed)
	}
}

// TestServerExitsAtOnce configures a stdio server that dies before the
// handshake: /mcp_hub/servers shows its stderr.
func TestServerExitsAtOnce(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	h := startHub(t, `
servers:
  - name: broken
    command: sh
    args: ["-c", "echo 'starting up' >&2; echo 'fatal: EXAMPLE_TOKEN is not set' >&2; exit 3"]
    timeout: 10
    backoff: {initial: 100ms, max: 500ms}
`+bystanderYAML(bins.example))
	h.waitReady("bystander", 20*time.Second)
	s := h.waitServer("broken", 20*time.Second, "reported with its stderr", func(s serverInfo) bool {
		return strings.Contains(s.LastError, "fatal: EXAMPLE_TOKEN is not set")
	})
	if s.Healthy || !strings.Contains(s.LastError, "exit status 3") || s.Failures < 1 || s.Tools != 0 {
		t.Errorf("broken server: %v", s)
	}
	// It keeps being retried (the capped backoff), and keeps failing the same way.
	h.waitServer("broken", 10*time.Second, "retried", func(s serverInfo) bool { return s.Failures >= 3 })
	checkBystander(t, h)

	// Fix the config file: a refresh re-reads it and restarts the server.
	fixed := fmt.Sprintf("servers:\n  - name: broken\n    command: %q\n", bins.example) + bystanderYAML(bins.example)
	if err := os.WriteFile(h.cfgFile, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	var rr refreshResponse
	if code := h.do("POST", "/mcp_hub/refresh", nil, &rr); code != http.StatusOK || rr.Config == nil ||
		!rr.Config.Reloaded || !slices.Equal(rr.Config.Restarted, []string{"broken"}) || len(rr.Config.Added)+len(rr.Config.Removed) != 0 {
		t.Fatalf("refresh after fixing the config: %d %+v %+v", code, rr, rr.Config)
	}
	h.waitReady("broken", 20*time.Second)
	h.mustCall("broken__echo", map[string]any{"message": "fixed"})
	checkBystander(t, h)
}

// TestConfigMistakes runs the mcphub binary on configs with every kind of
// mistake: it must exit non-zero, start nothing, and name each problem.
func TestConfigMistakes(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	everything := write("everything.yaml", `listen: "9000"
refresh_interval: -5
tool_name_separator: "::"
backoff:
  initial: 10s
  max: 1s
  jitter: 0.5
colour: blue
servers:
  - name: "bad name!"
    command: ./x
  - name: dup
    command: ./x
  - name: dup
    command: ./y
  - name: nothing
  - name: both
    command: ./x
    url: http://localhost:1/mcp
  - name: ftp
    url: ftp://example.com/mcp
  - name: pigeon
    transport: carrier-pigeon
    url: http://localhost:1/mcp
  - name: secret
    url: http://localhost:1/mcp
    headers:
      Authorization: "Bearer ${MCPHUB_E2E_UNSET_TOKEN}"
  - name: slow
    command: ./x
    timeout: soon
  - name: typo
    command: ./x
    argz: [a]
  - name: envlist
    command: ./x
    env: "FOO=bar"
`)
	for _, tc := range []struct {
		name string
		args []string
		want []string // substrings of stderr, each naming one problem
	}{
		{"every kind", []string{"-c", everything}, []string{
			"invalid config: ",
			`listen: "9000" is not host:port`,
			"refresh_interval: must be positive",
			`tool_name_separator: "::" may only contain`,
			"backoff.max: 1s is less than backoff.initial (10s)",
			everything + ":7: backoff.jitter: unknown key",
			everything + ":8: colour: unknown key",
			everything + `:10: servers[0].name: server name "bad name!" may only contain`,
			everything + `:14: servers[2].name: duplicate server name "dup" (also defined at servers[1] (line 12))`,
			everything + ":16: servers[3].endpoint: required",
			everything + ":19: servers[4].url: not used by a stdio server",
			everything + ":21: servers[5].url: must be an absolute http:// or https:// URL",
			everything + `:23: servers[6].transport: unknown transport "carrier-pigeon"`,
			everything + ":28: servers[7].headers.Authorization: ${MCPHUB_E2E_UNSET_TOKEN}: environment variable MCPHUB_E2E_UNSET_TOKEN is not set",
			everything + `:31: servers[8].timeout: "soon": want seconds`,
			everything + `:34: servers[9].argz: unknown key (did you mean "args"?)`,
			everything + ":37: servers[10].env: must be a mapping",
		}},
		{"yaml syntax", []string{"-c", write("syntax.yaml", "servers:\n  - name: a\n    command: [unclosed\n")}, []string{
			"syntax.yaml:", "invalid YAML",
		}},
		{"json syntax", []string{"-c", write("syntax.json", "{\n  \"mcpServers\": {\n    \"a\": {\"command\": \"x\",}\n  }\n}\n")}, []string{
			"syntax.json:3", "invalid JSON",
		}},
		{"missing file", []string{"-c", filepath.Join(dir, "nope.yaml")}, []string{"nope.yaml", "no such file"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProc(t, dir, nil, bins.mcphub, append(tc.args, "--listen", "127.0.0.1:0")...)
			code := p.wait(t, 15*time.Second)
			out := p.output.String()
			if code == 0 {
				t.Errorf("exit code 0 for a broken config")
			}
			if strings.Contains(out, "mcphub listening") {
				t.Errorf("the hub started with a broken config")
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not mention %q", w)
				}
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// TestHTTPServerRestarted restarts a Streamable HTTP server on the same
// port: at once (it forgot the hub's session, and the next call must just
// work), and after being down a while (calls get 503, then work again).
func TestHTTPServerRestarted(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	port := freePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	url := "http://" + addr + "/mcp"
	srv := startProc(t, "", nil, bins.example, "--http", addr)
	waitHTTP(t, url, srv)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: web
    url: %q
    timeout: 10
    backoff: {initial: 100ms, max: 500ms}
`, url)+bystanderYAML(bins.example))
	h.waitReady("web", 20*time.Second)
	h.waitReady("bystander", 20*time.Second)
	h.mustCall("web__echo", map[string]any{"message": "one"})

	// Quick restart: the first call after it gets a 404 for its session, and
	// the hub re-initializes and retries it.
	srv.kill(t)
	srv = startProc(t, "", nil, bins.example, "--http", addr)
	waitHTTP(t, url, srv)
	if out := h.mustCall("web__echo", map[string]any{"message": "two"}); out.Content != "two" {
		t.Errorf("first call after a quick restart: %+v", out)
	}

	// Down a while: 503 meanwhile, back after. The failed call is what makes
	// the hub notice: nothing watches an idle Streamable HTTP session (mcp-go
	// retries its GET stream silently), so without calls a dead server reads
	// as ready until the next refresh pass.
	srv.kill(t)
	if code, out := h.call("web__echo", map[string]any{"message": "while down"}); code != http.StatusServiceUnavailable || out.Error == "" {
		t.Errorf("call while the server is down: status %d %+v, want 503", code, out)
	}
	h.waitServer("web", 20*time.Second, "down", func(s serverInfo) bool {
		return !s.Healthy && strings.Contains(s.LastError, "refused")
	})
	checkBystander(t, h)
	srv = startProc(t, "", nil, bins.example, "--http", addr)
	waitHTTP(t, url, srv)
	h.waitServer("web", 20*time.Second, "back", func(s serverInfo) bool { return s.Healthy })
	if out := h.mustCall("web__echo", map[string]any{"message": "three"}); out.Content != "three" {
		t.Errorf("call after the server came back: %+v", out)
	}
}

// TestCallTimeout: a call that outlives the server's timeout answers 504 in
// time, and the connection stays up for the next call.
func TestCallTimeout(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: slow
    command: %q
    timeout: 1
`, bins.example))
	h.waitReady("slow", 20*time.Second)
	start := time.Now()
	code, out := h.call("slow__slow_count", map[string]any{"count": 20, "delay_ms": 250})
	took := time.Since(start)
	if code != http.StatusGatewayTimeout || out.Error == "" || took > 4*time.Second {
		t.Errorf("call longer than the timeout: status %d after %v, %+v; want 504 after about 1s", code, took, out)
	}
	if s := h.servers()["slow"]; !s.Healthy {
		t.Errorf("a timed-out call broke the connection: %v", s)
	}
	if out := h.mustCall("slow__echo", map[string]any{"message": "next"}); out.Content != "next" {
		t.Errorf("call after a timeout: %+v", out)
	}
}
