package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// testVersion is stamped into the binary the tests build, the way the
// Makefile does it.
const testVersion = "v9.9.9-cmdtest"

var (
	hubBin     string // the mcphub binary under test
	exampleBin string // cmd/example-server, a stdio child for the hub
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcphub-cmd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hubBin = filepath.Join(dir, "mcphub")
	exampleBin = filepath.Join(dir, "example-server")
	for _, b := range [][]string{
		{"build", "-ldflags", "-X main.version=" + testVersion, "-o", hubBin, "."},
		{"build", "-o", exampleBin, "../example-server"},
	} {
		if out, err := exec.Command("go", b...).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go %s: %v\n%s", strings.Join(b, " "), err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// childEnv is the test's environment without anything that would choose a
// config for the hub, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MCP_CONFIG_FILE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// syncBuffer collects a process's output safely.
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

// hubProc is a running mcphub binary.
type hubProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
	client *http.Client
	base   string
}

// runHub starts the binary in dir and stops it (SIGTERM, then SIGKILL) when
// the test ends.
func runHub(t *testing.T, dir string, env []string, args ...string) *hubProc {
	t.Helper()
	p := &hubProc{
		t: t, cmd: exec.Command(hubBin, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{},
		done: make(chan struct{}), client: &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second},
	}
	p.cmd.Dir = dir
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.client.CloseIdleConnections()
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				t.Errorf("mcphub ignored SIGTERM for 10s")
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
		if t.Failed() {
			t.Logf("--- mcphub stderr ---\n%s", p.stderr.String())
		}
	})
	return p
}

// runToExit runs the binary to its end and returns its exit code and output.
func runToExit(t *testing.T, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	p := runHub(t, dir, env, args...)
	code = p.wait(15 * time.Second)
	return code, p.stdout.String(), p.stderr.String()
}

// wait waits for the process to exit and returns its exit code.
func (p *hubProc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("mcphub still running after %v; stderr:\n%s", timeout, p.stderr.String())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		p.t.Fatal(p.err)
	}
	return 0
}

var listeningRE = regexp.MustCompile(`msg="mcphub listening" addr=(\S+)`)

// addr waits for the "mcphub listening" log line and returns its address.
func (p *hubProc) addr() string {
	p.t.Helper()
	var addr string
	waitFor(p.t, 15*time.Second, "the listening log line", func() (bool, string) {
		select {
		case <-p.done:
			p.t.Fatalf("mcphub exited early: %v\n%s", p.err, p.stderr.String())
		default:
		}
		if m := listeningRE.FindStringSubmatch(p.stderr.String()); m != nil {
			addr = m[1]
			return true, ""
		}
		return false, "nothing yet"
	})
	p.base = "http://" + addr
	return addr
}

// waitLog waits until the log contains s.
func (p *hubProc) waitLog(s string) {
	p.t.Helper()
	waitFor(p.t, 15*time.Second, "log line "+s, func() (bool, string) {
		return strings.Contains(p.stderr.String(), s), "not yet"
	})
}

// server is one entry of GET /mcp_hub/servers.
type server struct {
	Name      string `json:"name"`
	Transport string `json:"transport"`
	Endpoint  string `json:"endpoint"`
	Command   string `json:"command"`
	Enabled   bool   `json:"enabled"`
	Healthy   bool   `json:"healthy"`
	Status    string `json:"status"`
	LastError string `json:"last_error"`
	Tools     int    `json:"tools"`
}

func (p *hubProc) servers() []server {
	p.t.Helper()
	if p.base == "" {
		p.addr()
	}
	resp, err := p.client.Get(p.base + "/mcp_hub/servers")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out []server
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil {
		p.t.Fatalf("GET /mcp_hub/servers: %d %s", resp.StatusCode, body)
	}
	return out
}

func names(servers []server) []string {
	var out []string
	for _, s := range servers {
		out = append(out, s.Name)
	}
	return out
}

// waitServers polls /mcp_hub/servers until cond holds.
func (p *hubProc) waitServers(what string, cond func([]server) bool) []server {
	p.t.Helper()
	var last []server
	waitFor(p.t, 20*time.Second, what, func() (bool, string) {
		last = p.servers()
		return cond(last), fmt.Sprintf("%+v", last)
	})
	return last
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
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

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// exampleServer is a config entry running the example server over stdio.
func exampleServer(name string, args ...string) string {
	a, _ := json.Marshal(args)
	if args == nil {
		a = []byte("[]")
	}
	return fmt.Sprintf("  - name: %s\n    command: %q\n    args: %s\n    timeout: 10\n", name, exampleBin, a)
}
