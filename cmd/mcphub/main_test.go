package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestVersion(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runToExit(t, t.TempDir(), childEnv(), "--version")
	// "mcphub v9.9.9-cmdtest", with " (commit)" when built in a git checkout.
	if code != 0 || !regexp.MustCompile(`^mcphub `+regexp.QuoteMeta(testVersion)+`( \([0-9a-f]{12}\))?\n$`).MatchString(stdout) {
		t.Errorf("--version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"--nope"}, 2, "unknown flag: --nope"},
		{[]string{"-c"}, 2, "flag needs an argument"},
		{[]string{"--log-level", "LOUD"}, 2, "--log-level"},
		{[]string{"mcp_servers.yaml"}, 2, "unexpected argument"},
		{[]string{"--help"}, 0, "--config"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runToExit(t, t.TempDir(), childEnv(), tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr:\n%s", code, tc.code, stderr)
			}
		})
	}
}

// TestConfigMerge: -c twice merges in order; the second file adds a server
// and overrides listen.
func TestConfigMerge(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := writeFile(t, dir, "a.yaml", "listen: 127.0.0.1:1\nservers:\n"+exampleServer("one"))
	b := writeFile(t, dir, "b.json", `{"listen": "127.0.0.1:0", "mcpServers": {"two": {"command": "`+exampleBin+`", "args": ["--extra-tools", "2"]}}}`)
	p := runHub(t, t.TempDir(), childEnv(), "-c", a, "-c", b)
	if addr := p.addr(); !strings.HasPrefix(addr, "127.0.0.1:") || addr == "127.0.0.1:1" {
		t.Errorf("listening on %s; the second file's listen (127.0.0.1:0) should win", addr)
	}
	p.waitLog(`msg="configuration loaded" files=` + a + "," + b + " servers=2")
	got := p.waitServers("both servers ready", func(s []server) bool {
		return len(s) == 2 && s[0].Healthy && s[1].Healthy
	})
	if !slices.Equal(names(got), []string{"one", "two"}) || got[1].Tools != got[0].Tools+2 {
		t.Errorf("servers: %+v", got)
	}
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cfgDir := t.TempDir()
	a := writeFile(t, cfgDir, "a.yaml", "servers:\n  - name: from-env\n    url: http://127.0.0.1:1/mcp\n    enabled: false\n")
	b := writeFile(t, cfgDir, "b.yaml", "servers:\n  - name: from-env-too\n    url: http://127.0.0.1:1/mcp\n    enabled: false\n")
	flag := writeFile(t, cfgDir, "flag.yaml", "servers:\n  - name: from-flag\n    url: http://127.0.0.1:1/mcp\n    enabled: false\n")
	for _, tc := range []struct {
		name string
		env  string
		args []string
		want []string
	}{
		{"one file", a, nil, []string{"from-env"}},
		{"path list", a + string(os.PathListSeparator) + b, nil, []string{"from-env", "from-env-too"}},
		{"-c wins", a, []string{"-c", flag}, []string{"from-flag"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Run elsewhere, next to a file the search would find: the env wins over the search.
			dir := t.TempDir()
			writeFile(t, dir, "mcp_servers.yaml", "servers: []\n")
			p := runHub(t, dir, childEnv("MCP_CONFIG_FILE="+tc.env), append(tc.args, "--listen", "127.0.0.1:0")...)
			p.addr()
			if got := names(p.servers()); !slices.Equal(got, tc.want) {
				t.Errorf("servers %v, want %v", got, tc.want)
			}
		})
	}

	code, _, stderr := runToExit(t, t.TempDir(), childEnv("MCP_CONFIG_FILE="+filepath.Join(cfgDir, "missing.yaml")))
	if code != 1 || !strings.Contains(stderr, "MCP_CONFIG_FILE") || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("MCP_CONFIG_FILE naming a missing file: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestConfigSearch runs the hub without -c or MCP_CONFIG_FILE in directories
// holding different candidate files.
func TestConfigSearch(t *testing.T) {
	t.Parallel()
	entry := func(name string) string {
		return `{"mcpServers": {"` + name + `": {"url": "http://127.0.0.1:1/mcp", "disabled": true}}}`
	}
	yamlEntry := func(name string) string {
		return "servers:\n  - name: " + name + "\n    url: http://127.0.0.1:1/mcp\n    enabled: false\n"
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string // the server, and so the file, that was loaded
		file  string
	}{
		{"json only", map[string]string{"mcp_servers.json": entry("json")}, "json", "mcp_servers.json"},
		{"config dir only", map[string]string{"config/mcp_servers.yaml": yamlEntry("confdir")}, "confdir", "config/mcp_servers.yaml"},
		{"config dir json", map[string]string{"config/mcp_servers.json": entry("confjson")}, "confjson", "config/mcp_servers.json"},
		{"yaml before json", map[string]string{
			"mcp_servers.yaml": yamlEntry("yaml"), "mcp_servers.json": entry("json"),
		}, "yaml", "mcp_servers.yaml"},
		{"top level before config dir", map[string]string{
			"mcp_servers.json": entry("json"), "config/mcp_servers.yaml": yamlEntry("confdir"),
		}, "json", "mcp_servers.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, content := range tc.files {
				writeFile(t, dir, name, content)
			}
			p := runHub(t, dir, childEnv(), "--listen", "127.0.0.1:0")
			p.addr()
			p.waitLog(`msg="configuration loaded" files=` + filepath.Join(dir, tc.file) + " ")
			if got := names(p.servers()); !slices.Equal(got, []string{tc.want}) {
				t.Errorf("servers %v, want [%s]", got, tc.want)
			}
		})
	}
}

// TestNoConfig: with no file anywhere the hub still starts, with the default
// server "local", and says why it is unhealthy.
func TestNoConfig(t *testing.T) {
	t.Parallel()
	p := runHub(t, t.TempDir(), childEnv(), "--listen", "127.0.0.1:0")
	p.addr()
	p.waitLog(`level=WARN msg="no config file found`)
	p.waitLog("server=local endpoint=http://localhost:8000/mcp")
	got := p.servers()
	if len(got) != 1 || got[0].Name != "local" || got[0].Endpoint != "http://localhost:8000/mcp" || got[0].Transport != "streamable-http" {
		t.Fatalf("servers: %+v", got)
	}
	if c, err := net.DialTimeout("tcp", "localhost:8000", time.Second); err == nil {
		c.Close()
		t.Skip("something listens on localhost:8000; cannot check the default server is reported down")
	}
	p.waitServers("local reported down with a reason", func(s []server) bool {
		return len(s) == 1 && !s[0].Healthy && s[0].Status == "backoff" && strings.Contains(s[0].LastError, "refused")
	})
}

func TestInvalidConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "mcp_servers.yaml", `listen: nope
servers:
  - name: a
    transport: stdio
  - name: b
    url: http://localhost:1/mcp
    timeot: 5
`)
	code, _, stderr := runToExit(t, dir, childEnv(), "--listen", "127.0.0.1:0")
	for _, want := range []string{
		"invalid configuration",
		`listen: "nope" is not host:port`,
		path + ":3: servers[0].command: required for a stdio server",
		path + `:7: servers[1].timeot: unknown key (did you mean "timeout"?)`,
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %q", want)
		}
	}
	if code != 1 || strings.Contains(stderr, "mcphub listening") || t.Failed() {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestListenFails: an address in use is an error at start, not a hang.
func TestListenFails(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	code, _, stderr := runToExit(t, t.TempDir(), childEnv(), "--listen", ln.Addr().String())
	if code != 1 || !strings.Contains(stderr, "listen on "+ln.Addr().String()) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}

// TestSIGHUP edits the config and sends SIGHUP: the added server appears; a
// broken edit is rejected and the running config kept.
func TestSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "mcp_servers.yaml", "servers:\n"+exampleServer("first"))
	p := runHub(t, dir, childEnv(), "--listen", "127.0.0.1:0")
	p.addr()
	p.waitServers("first ready", func(s []server) bool { return len(s) == 1 && s[0].Healthy })

	writeFile(t, dir, "mcp_servers.yaml", "servers:\n"+exampleServer("first")+exampleServer("second"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitServers("second added and ready", func(s []server) bool {
		return slices.Equal(names(s), []string{"first", "second"}) && s[0].Healthy && s[1].Healthy
	})
	p.waitLog(`msg="SIGHUP: reload" error="" added=[second] removed=[] restarted=[]`)

	writeFile(t, dir, "mcp_servers.yaml", "servers:\n  - name: first\n    comand: typo\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog(path + `:3: servers[0].comand: unknown key`)
	if got := p.servers(); !slices.Equal(names(got), []string{"first", "second"}) || !got[0].Healthy || !got[1].Healthy {
		t.Errorf("after a rejected reload: %+v", got)
	}
}

// TestStopSignals: SIGTERM and SIGINT stop the hub with exit 0 within
// seconds, and its stdio children go with it.
func TestStopSignals(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("pgrep not installed")
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			// A per-test path for the child, so pgrep finds only this test's.
			child := filepath.Join(dir, "example-server-"+strings.ReplaceAll(sig.String(), " ", "-"))
			if err := os.Symlink(exampleBin, child); err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "mcp_servers.yaml", "servers:\n  - name: child\n    command: "+child+"\n  - name: child2\n    command: "+child+"\n")
			p := runHub(t, dir, childEnv(), "--listen", "127.0.0.1:0")
			p.addr()
			p.waitServers("children ready", func(s []server) bool { return len(s) == 2 && s[0].Healthy && s[1].Healthy })
			if pids := pgrep(t, child); len(pids) != 2 {
				t.Fatalf("pgrep -f %s: %v, want two children", child, pids)
			}

			start := time.Now()
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.wait(5 * time.Second); code != 0 {
				t.Errorf("exit code %d after %v", code, sig)
			}
			t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
			if pids := pgrep(t, child); len(pids) != 0 {
				t.Errorf("children still running after the hub exited: %v", pids)
				for _, pid := range pids {
					if n, err := strconv.Atoi(pid); err == nil {
						_ = syscall.Kill(n, syscall.SIGKILL)
					}
				}
			}
		})
	}
}

// pgrep lists the pids whose command line matches pattern.
func pgrep(t *testing.T, pattern string) []string {
	t.Helper()
	out, err := exec.Command("pgrep", "-f", pattern).Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) { // 1: none matched
		t.Fatalf("pgrep: %v", err)
	}
	return strings.Fields(string(out))
}

// TestRefusesOpenListenWithoutAuth: every interface without tokens is
// refused unless --insecure-no-auth says so; a token (here from
// MCPHUB_API_TOKEN) makes it fine.
func TestRefusesOpenListenWithoutAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "mcp_servers.yaml", "servers: []\n")
	code, _, stderr := runToExit(t, dir, childEnv(), "--listen", "0.0.0.0:0")
	if code != 1 || !strings.Contains(stderr, "refusing to listen on 0.0.0.0:0 without authentication") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		warn bool
	}{
		{"insecure flag", childEnv(), []string{"--insecure-no-auth"}, true},
		{"token from the environment", childEnv("MCPHUB_API_TOKEN=env-token-0123456789abcdef"), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := runHub(t, dir, tc.env, append([]string{"--listen", "0.0.0.0:0"}, tc.args...)...)
			p.addr()
			if got := strings.Contains(p.stderr.String(), "without authentication"); got != tc.warn {
				t.Errorf("warning logged: %v, want %v\n%s", got, tc.warn, p.stderr.String())
			}
		})
	}
}

// TestPprofFlag: --pprof serves Go's profiles on a loopback address of
// its own, and refuses any other.
func TestPprofFlag(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "mcp_servers.yaml", "servers: []\n")
	code, _, stderr := runToExit(t, dir, childEnv(), "--listen", "127.0.0.1:0", "--pprof", "0.0.0.0:0")
	if code != 1 || !strings.Contains(stderr, "refusing to serve profiles on 0.0.0.0:0") {
		t.Errorf("--pprof 0.0.0.0:0: exit %d, stderr:\n%s", code, stderr)
	}
	p := runHub(t, dir, childEnv(), "--listen", "127.0.0.1:0", "--pprof", "127.0.0.1:0")
	p.addr()
	p.waitLog(`msg="pprof listening"`)
	m := regexp.MustCompile(`msg="pprof listening" addr=(\S+)`).FindStringSubmatch(p.stderr.String())
	resp, err := p.client.Get("http://" + m[1] + "/debug/pprof/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "--pprof") {
		t.Errorf("GET /debug/pprof/cmdline: %d %q", resp.StatusCode, body)
	}
}

// TestReloadKeepsOpenListenAuthenticated: a reload is held to the start's
// rule, so an edit that drops every token cannot open a hub listening on
// every interface to anyone.
func TestReloadKeepsOpenListenAuthenticated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const token = "file-token-0123456789abcdef"
	writeFile(t, dir, "mcp_servers.yaml", "auth:\n  tokens:\n    - name: ci\n      token: "+token+"\nservers: []\n")
	p := runHub(t, dir, childEnv(), "--listen", "0.0.0.0:0")
	p.addr()
	status := func() int {
		resp, err := http.Get(p.base + "/mcp_hub/servers")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != http.StatusUnauthorized {
		t.Fatalf("without a token: %d, want 401", got)
	}
	writeFile(t, dir, "mcp_servers.yaml", "servers: []\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.waitLog("refusing to listen on 0.0.0.0:0 without authentication")
	if got := status(); got != http.StatusUnauthorized {
		t.Errorf("after a reload without tokens: %d, want 401", got)
	}
}

// TestShutdownAnswersInFlight: on SIGTERM a running call finishes and is
// answered, a call waiting for approval is answered 503 at once, and the
// hub exits 0.
func TestShutdownAnswersInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "mcp_servers.yaml", "servers:\n"+exampleServer("ex")+"    require_approval: [\"delete_*\"]\n")
	p := runHub(t, dir, childEnv(), "--listen", "127.0.0.1:0")
	p.addr()
	p.waitServers("ready", func(s []server) bool { return len(s) == 1 && s[0].Healthy })
	type answer struct {
		status int
		body   string
		err    error
	}
	post := func(path, name, args string) <-chan answer {
		out := make(chan answer, 1)
		go func() {
			body := `{"id":"c","type":"function","function":{"name":"` + name + `","arguments":` + args + `}}`
			resp, err := http.Post(p.base+path, "application/json", strings.NewReader(body))
			if err != nil {
				out <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			out <- answer{status: resp.StatusCode, body: string(b)}
		}()
		return out
	}
	running := post("/mcp_hub/call", "ex__slow_count", `{"count":4,"delay_ms":250}`)
	waiting := post("/mcp_hub/call?wait=60s", "ex__delete_note", `{"id":"todo"}`)
	p.waitLog("call waits for approval")
	time.Sleep(200 * time.Millisecond) // the slow call is under way (it takes 1 s)
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-waiting:
		if a.err != nil || a.status != http.StatusServiceUnavailable || !strings.Contains(a.body, "shutting down") {
			t.Errorf("waiting call: %d %s %v, want 503 saying the hub is shutting down", a.status, a.body, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the call waiting for approval was not answered within 5s of SIGTERM")
	}
	a := <-running
	if a.err != nil || a.status != http.StatusOK || !strings.Contains(a.body, "counted to 4") {
		t.Errorf("running call: %d %s %v, want it finished", a.status, a.body, a.err)
	}
	if code := p.wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
}

// jsonLines parses the complete lines of a JSON log; any line that is not
// a JSON object with time, level and msg fails the test.
func jsonLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for l := range strings.Lines(log) {
		if !strings.HasSuffix(l, "\n") {
			break // being written
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON (%v): %q", err, l)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if s, _ := m[k].(string); s == "" {
				t.Fatalf("log line without %s: %q", k, l)
			}
		}
		out = append(out, m)
	}
	return out
}

// TestLogFormat: --log-format json makes every line a JSON object; the
// lines of a request name its id (X-Request-ID, echoed); /readyz answers
// once the server tried to connect. An unknown format is a usage error.
func TestLogFormat(t *testing.T) {
	t.Parallel()
	t.Run("unknown", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := runToExit(t, t.TempDir(), childEnv(), "--log-format", "xml")
		if code != 2 || !strings.Contains(stderr, "--log-format") || !strings.Contains(stderr, `"xml"`) {
			t.Errorf("exit %d (want 2), stderr:\n%s", code, stderr)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeFile(t, dir, "mcp_servers.yaml", "servers:\n"+exampleServer("ex"))
		p := runHub(t, dir, childEnv(), "--listen", "127.0.0.1:0", "--log-format", "JSON", "--log-level", "debug")
		waitFor(t, 15*time.Second, "the listening line", func() (bool, string) {
			for _, l := range jsonLines(t, p.stderr.String()) {
				if addr, _ := l["addr"].(string); l["msg"] == "mcphub listening" && addr != "" {
					p.base = "http://" + addr
					return true, ""
				}
			}
			return false, p.stderr.String()
		})
		waitFor(t, 20*time.Second, "/readyz 200", func() (bool, string) {
			resp, err := p.client.Get(p.base + "/readyz")
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK && string(b) == `{"ready":true}`, string(b)
		})

		const id = "cmd-json-call-1"
		req, err := http.NewRequest(http.MethodPost, p.base+"/mcp_hub/call",
			strings.NewReader(`{"id":"c","type":"function","function":{"name":"ex__echo","arguments":{"message":"hi"}}}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", id)
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Request-ID") != id {
			t.Fatalf("call: %d, X-Request-ID %q", resp.StatusCode, resp.Header.Get("X-Request-ID"))
		}
		waitFor(t, 10*time.Second, "the call's lines", func() (bool, string) {
			msgs := map[string]bool{}
			for _, l := range jsonLines(t, p.stderr.String()) {
				if l["request_id"] == id {
					msgs[l["msg"].(string)] = true
				}
			}
			return msgs["http"] && msgs["tool call"] && msgs["downstream request"], fmt.Sprint(msgs)
		})
	})
}
