package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var listeningRE = regexp.MustCompile(`msg="mcphub listening" addr=(\S+)`)

// TestMakeRun does what `make run` does (make build, then ./bin/mcphub -c
// mcp_servers.yaml from the repository root), on a free port, and checks the
// example server's tools are served.
func TestMakeRun(t *testing.T) {
	t.Parallel()
	bins := buildRepo(t)
	// make stamps the version from git (or "dev" outside a checkout).
	v := startProc(t, "", nil, bins.mcphub, "--version")
	if code := v.wait(t, 10*time.Second); code != 0 || !strings.HasPrefix(v.output.String(), "mcphub ") {
		t.Errorf("./bin/mcphub --version: exit %d, %q", code, v.output.String())
	}
	p := startProc(t, repoRoot(t), nil, bins.mcphub, "-c", "mcp_servers.yaml", "--listen", "127.0.0.1:0")
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
	h := &hubUnderTest{t: t, base: "http://" + addr, client: &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}}
	t.Cleanup(h.client.CloseIdleConnections)
	h.waitReady("example", 20*time.Second)

	names := map[string]bool{}
	for _, tool := range h.tools("") {
		names[tool.Function.Name] = true
	}
	for _, want := range []string{"example__echo", "example__add", "example__slow_count"} {
		if !names[want] {
			t.Errorf("/mcp_hub/tools lacks %s; has %v", want, names)
		}
	}
	if out := h.mustCall("example__add", `{"a": 1, "b": 2}`); !strings.Contains(out.Content, "3") {
		t.Errorf("example__add: %+v", out)
	}

	// SIGTERM ends it cleanly.
	if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	if out := p.output.String(); !strings.Contains(out, `msg="shutting down" signal=terminated`) {
		t.Errorf("no shutdown log line:\n%s", out)
	}
}
