// Package browser tests what a person sees: the real hub (pkg/app) on a real
// socket with the example server as a stdio child, and Debian's Chromium,
// headless, driven over the DevTools protocol by chromedp (through a pipe,
// not a port). TestSwaggerUI opens the Swagger UI, checks that it lists
// every operation of docs/swagger.json, runs "Try it out" on
// GET /mcp_hub/tools and saves a full-page screenshot.
//
// Chromium comes from ./scripts/install-test-peers.sh (Debian's chromium
// package, /usr/bin/chromium). Without it the tests skip, unless
// MCPHUB_REQUIRE_PEERS=1 (make test) makes that a failure.
//
// The screenshot goes to $MCPHUB_ARTIFACTS when set, else to
// test/browser/artifacts/ (ignored by git); the test logs its path.
package browser

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/app"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver/exampletest"
	"github.com/mcphub/mcphub/pkg/hub"
)

// exampleBin is cmd/example-server, built once by TestMain.
var exampleBin string

// TestMain builds the example server and, after the tests, fails the run on
// leaked goroutines (chromedp's included).
func TestMain(m *testing.M) { exampletest.Main(m, &exampleBin) }

// chromiumPath returns Debian's Chromium: /usr/bin/chromium, else chromium
// on PATH. Without it the test is skipped, unless MCPHUB_REQUIRE_PEERS=1.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/usr/bin/chromium"); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	missing := "Chromium is not installed (no /usr/bin/chromium, no chromium on PATH); run ./scripts/install-test-peers.sh"
	if os.Getenv("MCPHUB_REQUIRE_PEERS") == "1" {
		t.Fatalf("MCPHUB_REQUIRE_PEERS=1 but %s", missing)
	}
	t.Skip("browser test peer missing: " + missing)
	return ""
}

// syncBuffer is an io.Writer safe for concurrent use (logs, browser output).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// dumpOnFailure prints what a process or logger wrote when the test failed,
// less the lines that contain any of skip.
func dumpOnFailure(t testing.TB, what string, b *syncBuffer, skip ...string) {
	t.Cleanup(func() {
		if t.Failed() {
			out := b.String()
			if len(skip) > 0 {
				var kept []string
				dropped := 0
				for line := range strings.Lines(out) {
					if slices.ContainsFunc(skip, func(s string) bool { return strings.Contains(line, s) }) {
						dropped++
						continue
					}
					kept = append(kept, line)
				}
				out = strings.Join(kept, "")
				if dropped > 0 {
					out += fmt.Sprintf("(%d lines containing %q left out)\n", dropped, skip)
				}
			}
			if len(out) > 20000 {
				out = "…" + out[len(out)-20000:]
			}
			t.Logf("--- %s ---\n%s", what, out)
		}
	})
}

// startHub runs the hub on 127.0.0.1:0 with the example server as a stdio
// child until the test ends, waits until that server is ready, and returns
// the base URL (http://127.0.0.1:port).
func startHub(t *testing.T) string {
	t.Helper()
	id := fmt.Sprintf("browser-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_BROWSER_ID", id) // before the hub: runs after it stops
	cfgYAML := fmt.Sprintf(`
servers:
  - name: example
    command: %q
    env: {MCPHUB_BROWSER_ID: %q}
    timeout: 30
`, exampleBin, id)
	path := filepath.Join(t.TempDir(), "mcp_servers.yaml")
	if err := os.WriteFile(path, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	files := []string{path}
	cfg, err := config.Load(files)
	if err != nil {
		t.Fatalf("config.Load:\n%v\n--- config ---\n%s", err, cfgYAML)
	}
	logs := &syncBuffer{}
	dumpOnFailure(t, "hub log", logs)
	a, err := app.New(cfg, app.Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Load:   func(ctx context.Context) (*config.Config, error) { return config.LoadContext(ctx, files) },
		Listen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("app.Stop: %v", err)
		}
	})
	waitReady(t, a.Hub(), "example", 30*time.Second)
	return "http://" + a.Addr()
}

// waitReady polls the hub until the named server is ready with tools.
func waitReady(t *testing.T, h *hub.Hub, name string, timeout time.Duration) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		for _, s := range h.Servers() {
			if s.Name == name && s.Healthy && s.Status == "ready" && s.Tools > 0 {
				return
			}
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("server %q not ready with tools after %v: %+v", name, timeout, h.Servers())
		}
	}
}

// checkReaped fails the test if processes marked key=value (the hub's stdio
// children) outlive it: register it before the hub, so it runs after the hub
// has stopped.
func checkReaped(t *testing.T, key, value string) {
	want := []byte(key + "=" + value)
	t.Cleanup(func() {
		pids := findProcs(func(pid string) bool {
			env, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
			return err == nil && hasField(env, want)
		})
		if len(pids) > 0 {
			t.Errorf("stdio children still running after the hub stopped: %v", pids)
			killAll(pids)
		}
	})
}

// browserProcs lists the live processes of this test's Chromium: those that
// run with its user data directory (Chromium passes --user-data-dir to every
// child: zygotes, renderers, GPU and network services) or that inherited the
// marker variable (also the crash handlers, which Chromium starts without the
// flag and leaves to init).
func browserProcs(profile, marker string) []int {
	flag := []byte("--user-data-dir=" + profile)
	env := []byte(marker)
	return findProcs(func(pid string) bool {
		cmdline, err := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		if err == nil && hasField(cmdline, flag) {
			return true
		}
		environ, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
		return err == nil && hasField(environ, env)
	})
}

// waitBrowserGone waits until no process of the browser is left (see
// browserProcs); whatever outlives timeout fails the test and is killed.
func waitBrowserGone(t *testing.T, profile, marker string, timeout time.Duration) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		pids := browserProcs(profile, marker)
		if len(pids) == 0 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Errorf("Chromium processes still running %v after the browser was closed: %v", timeout, describe(pids))
			killAll(pids)
			return
		}
	}
}

// findProcs returns the live (not zombie) processes for which match holds.
func findProcs(match func(pid string) bool) []int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || !match(e.Name()) || isZombie(pid) {
			continue
		}
		pids = append(pids, pid)
	}
	return pids
}

// hasField reports whether the NUL-separated list b holds want.
func hasField(b, want []byte) bool {
	for f := range bytes.SplitSeq(b, []byte{0}) {
		if bytes.Equal(f, want) {
			return true
		}
	}
	return false
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone
	}
	// "pid (comm) S ...": the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

func describe(pids []int) string {
	var b strings.Builder
	for _, pid := range pids {
		comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm"))
		fmt.Fprintf(&b, " %d(%s)", pid, strings.TrimSpace(string(comm)))
	}
	return strings.TrimSpace(b.String())
}

func killAll(pids []int) {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
