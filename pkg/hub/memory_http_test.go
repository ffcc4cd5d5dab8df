package hub_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/hub"

	"github.com/mcphub/mcphub/internal/memsample"
)

// Issue 7: idle RSS ≤ 15 MB with 10 Streamable HTTP servers. These measure
// what one configured HTTP server costs the hub once it is ready and idle:
// live heap, goroutines and their stacks, layer by layer: the downstream
// connections alone, the hub, and with -tags mcphub_memory the hub with its
// MCP endpoints (memory_mcpserver_test.go). The server is
// the example server as a separate process, so that none of its memory is
// counted.
//
// MCPHUB_MEM_SCALE_TOOLS=42 gives the server 42 more tools (50 in all, as
// in the bench's scale phase).
//
// MCPHUB_MEMPROFILE=path writes heap profiles of each layer with 50 servers
// (path.<layer>.base before they start, path.<layer> once they are idle;
// every allocation sampled), for
// `go tool pprof -sample_index=inuse_space -diff_base=path.hub.base path.hub`.

// perServer is the growth from a to b divided by n.
type perServer memsample.PerItem

func (p perServer) String() string {
	return fmt.Sprintf("heap %6.1f KB  stacks %5.1f KB  goroutines %4.1f", p.Heap/1024, p.Stacks/1024, p.Goroutines)
}

func growth(a, b memsample.Sample, n int) perServer { return perServer(b.Per(a, n)) }

// exampleHTTPProcess runs the example server binary over Streamable HTTP
// and returns its /mcp endpoint.
func exampleHTTPProcess(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	args := []string{"--http", addr, "--log-level", "ERROR"}
	if n := os.Getenv("MCPHUB_MEM_SCALE_TOOLS"); n != "" {
		args = append(args, "--scale-tools", n)
	}
	cmd := exec.Command(exampleBin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, "the example server to listen", 10*time.Second, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return "http://" + addr + "/mcp"
}

// memLayer starts n HTTP servers on endpoint at one layer and returns a
// function that stops them.
type memLayer struct {
	name  string
	start func(t *testing.T, endpoint string, n int) (stop func())
}

// file is the layer's name in profile file names.
func (l memLayer) file() string {
	return strings.NewReplacer(".", "", "+", "-").Replace(strings.ToLower(l.name))
}

var memLayers = []memLayer{
	{"downstream.Conn", startConns},
	{"hub", func(t *testing.T, endpoint string, n int) func() {
		_, stop := startMemHub(t, endpoint, n)
		return stop
	}},
}

func memServers(endpoint string, n int) []config.Server {
	srvs := make([]config.Server, n)
	for i := range srvs {
		srvs[i] = httpServer(fmt.Sprintf("http%03d", i), endpoint)
	}
	return srvs
}

func startConns(t *testing.T, endpoint string, n int) func() {
	ctx, cancel := context.WithCancel(context.Background())
	conns := make([]*downstream.Conn, n)
	for i, srv := range memServers(endpoint, n) {
		conns[i] = downstream.New(srv, downstream.Options{Logger: quietLogger()})
		conns[i].Start(ctx)
	}
	for _, c := range conns {
		waitFor(t, c.Config().Name+" ready", 15*time.Second, func() bool { return c.Status().Healthy() })
	}
	return func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		for _, c := range conns {
			if err := c.Stop(sctx); err != nil {
				t.Error(err)
			}
		}
		cancel()
	}
}

func startMemHub(t *testing.T, endpoint string, n int) (*hub.Hub, func()) {
	cfg := hubConfig(memServers(endpoint, n)...)
	h, err := hub.New(cfg, hub.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h.Start()
	for _, s := range cfg.Servers {
		waitFor(t, s.Name+" healthy", 15*time.Second, func() bool { return serverInfo(t, h, s.Name).Healthy })
	}
	return h, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Error(err)
		}
	}
}

// goroutinesByEntry counts live goroutines by the function they started in.
func goroutinesByEntry() map[string]int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]int{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		lines := strings.Split(strings.TrimSpace(g), "\n")
		entry := ""
		for i := 1; i+1 < len(lines); i += 2 {
			if strings.HasPrefix(lines[i], "created by ") {
				break
			}
			entry = lines[i]
		}
		if j := strings.LastIndex(entry, "("); j > 0 {
			entry = entry[:j]
		}
		out[entry]++
	}
	return out
}

func goroutineGrowth(before, after map[string]int, n int) string {
	var rows []string
	for entry, c := range after {
		if d := c - before[entry]; d > 0 {
			rows = append(rows, fmt.Sprintf("    %5.2f  %s", float64(d)/float64(n), entry))
		}
	}
	slices.Sort(rows)
	slices.Reverse(rows)
	return strings.Join(rows, "\n")
}

// settleIdle waits for the GET streams and connections of newly ready
// servers to open and the supervisors to go quiet.
func settleIdle() { time.Sleep(300 * time.Millisecond) }

// Bounds on what one idle HTTP server with the example server's catalog
// may hold at each layer, with room above what it holds now (November 2026:
// downstream.Conn 47 KB of heap and 40 KB of stacks in 9 goroutines, the
// hub 66 KB and 38 KB, with its MCP endpoints 90 KB and 40 KB; 5 goroutines
// since the inline HTTP transport, 2 since the hub's own GET stream): they
// catch a goroutine or a buffer too many per server, not small drifts.
const (
	maxBytesPerHTTPServer      = 256 << 10 // heap and stacks
	maxGoroutinesPerHTTPServer = 3
)

// TestIdleMemoryPerHTTPServer reports the idle cost of one configured
// Streamable HTTP server at each layer, with 1, 10 and 50 servers, and the
// goroutines each one adds by the function they run; with 50 servers it
// checks the bounds above (only for the example server's own catalog).
func TestIdleMemoryPerHTTPServer(t *testing.T) {
	if testing.Short() {
		t.Skip("connects 61 servers per layer")
	}
	profile := os.Getenv("MCPHUB_MEMPROFILE")
	if profile != "" {
		old := runtime.MemProfileRate
		runtime.MemProfileRate = 1
		t.Cleanup(func() { runtime.MemProfileRate = old })
	}
	endpoint := exampleHTTPProcess(t)
	for _, l := range memLayers {
		t.Run(l.name, func(t *testing.T) {
			for _, n := range []int{1, 10, 50} {
				base := memsample.Take()
				gBase := goroutinesByEntry()
				if profile != "" && n == 50 {
					writeHeapProfile(t, profile+"."+l.file()+".base")
				}
				stop := l.start(t, endpoint, n)
				settleIdle()
				per := growth(base, memsample.Take(), n)
				t.Logf("%3d servers, per server: %s", n, per)
				if n == 50 {
					t.Logf("goroutines per server by entry:\n%s", goroutineGrowth(gBase, goroutinesByEntry(), n))
					if profile != "" {
						writeHeapProfile(t, profile+"."+l.file())
					}
					if os.Getenv("MCPHUB_MEM_SCALE_TOOLS") == "" {
						if b := per.Heap + per.Stacks; b > maxBytesPerHTTPServer {
							t.Errorf("%.0f KB of heap and stacks per idle HTTP server, want at most %d KB", b/1024, maxBytesPerHTTPServer>>10)
						}
						if per.Goroutines > maxGoroutinesPerHTTPServer {
							t.Errorf("%.1f goroutines per idle HTTP server, want at most %d", per.Goroutines, maxGoroutinesPerHTTPServer)
						}
					}
				}
				stop()
			}
		})
	}
}

func writeHeapProfile(t *testing.T, path string) {
	t.Helper()
	for range 3 { // the profile is as of the last completed cycle but one
		runtime.GC()
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}
