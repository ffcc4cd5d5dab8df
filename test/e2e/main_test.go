// Package e2e runs mcphub end to end: the hub in-process (pkg/app) or as the
// built binary, real downstream processes (the example server this
// repository builds, @modelcontextprotocol/server-everything from npm), and
// real HTTP in between.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
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

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// repoRoot is the module root (two levels up from test/e2e).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// everythingBin returns the installed mcp-server-everything. Without it the
// test is skipped, unless MCPHUB_REQUIRE_PEERS=1 (make test) makes that a failure.
func everythingBin(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "test", "peers", "node_modules", ".bin", "mcp-server-everything")
	missing := ""
	if _, err := os.Stat(bin); err != nil {
		missing = fmt.Sprintf("%s is not installed (%v); run ./scripts/install-test-peers.sh", bin, err)
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH (needed by mcp-server-everything)"
	}
	if missing != "" {
		if os.Getenv("MCPHUB_REQUIRE_PEERS") == "1" {
			t.Fatalf("MCPHUB_REQUIRE_PEERS=1 but %s", missing)
		}
		t.Skip("npm test peer missing: " + missing)
	}
	return bin
}

// binaries are ./bin/mcphub and ./bin/example-server, built once by `make
// build` for every test that needs them (building is the slow part).
type binaries struct{ mcphub, example string }

var (
	buildOnce sync.Once
	built     binaries
	buildErr  error
)

func buildRepo(t testing.TB) binaries {
	t.Helper()
	buildOnce.Do(func() {
		root := repoRoot(t)
		cmd := exec.Command("make", "build")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("make build: %v\n%s", err, out)
			return
		}
		built = binaries{
			mcphub:  filepath.Join(root, "bin", "mcphub"),
			example: filepath.Join(root, "bin", "example-server"),
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

// syncBuffer is an io.Writer safe for concurrent use (process output, logs).
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

// dumpOnFailure prints what a process or logger wrote when the test failed.
func dumpOnFailure(t testing.TB, what string, b *syncBuffer) {
	t.Cleanup(func() {
		if t.Failed() {
			out := b.String()
			if len(out) > 20000 {
				out = "…" + out[len(out)-20000:]
			}
			t.Logf("--- %s ---\n%s", what, out)
		}
	})
}

// waitFor polls cond until it holds or timeout passes; cond returns a
// description of what it saw, for the failure message.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, saw := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last saw: %s", timeout, what, saw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitHTTP waits until something answers HTTP at url.
func waitHTTP(t testing.TB, url string, p *proc) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{}, Timeout: time.Second}
	defer hc.CloseIdleConnections()
	waitFor(t, 20*time.Second, "HTTP at "+url, func() (bool, string) {
		select {
		case <-p.done:
			t.Fatalf("server exited: %v\n%s", p.err, p.output.String())
		default:
		}
		resp, err := hc.Get(url)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
}

// proc is a child process in its own process group, killed (group and all)
// when the test ends.
type proc struct {
	cmd    *exec.Cmd
	output *syncBuffer // stdout and stderr
	done   chan struct{}
	err    error // valid after done
}

func startProc(t testing.TB, dir string, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(name, args...), output: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	dumpOnFailure(t, filepath.Base(name)+" output", p.output)
	t.Cleanup(func() { p.kill(t) })
	return p
}

// kill ends the whole process group and waits for the leader.
func (p *proc) kill(t testing.TB) {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Errorf("process %d did not exit after SIGKILL", p.cmd.Process.Pid)
	}
}

// wait waits for the process to exit by itself and returns its exit code.
func (p *proc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s still running after %v", p.cmd.Path, timeout)
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("%s: %v", p.cmd.Path, p.err)
	}
	return 0
}

// pidsWithEnv lists the processes whose environment holds key=value: how a
// test finds the stdio children the hub started for it.
func pidsWithEnv(key, value string) []int {
	want := []byte(key + "=" + value)
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if bytes.Equal(kv, want) {
				if !isZombie(pid) {
					pids = append(pids, pid)
				}
				break
			}
		}
	}
	return pids
}

// checkReaped fails the test if processes marked key=value outlive it:
// register it before the hub, so it runs after the hub has stopped.
func checkReaped(t *testing.T, key, value string) {
	t.Cleanup(func() {
		if pids := pidsWithEnv(key, value); len(pids) > 0 {
			t.Errorf("stdio children still running after the hub stopped: %v", pids)
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
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
