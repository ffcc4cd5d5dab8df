package hub_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
)

// Issue 6: after many crash/reconnect cycles the hub holds no extra
// goroutines, file descriptors, processes or memory.
const (
	// defaultCrashCycles is how many times TestCrashReconnectCycles kills
	// its stdio server (MCPHUB_CRASH_CYCLES overrides it; -short runs 50).
	defaultCrashCycles = 500
	// defaultHTTPCycles is how many times each TestHTTPReconnectCycles case
	// restarts its server (MCPHUB_HTTP_CYCLES overrides it; -short runs 20).
	defaultHTTPCycles = 100

	goroutineSlack = 3       // goroutines that may come and go between samples
	fdSlack        = 3       // descriptors likewise (e.g. a keep-alive connection)
	httpFDSlack    = 8       // descriptors right after an HTTP cycle (connections still closing)
	heapGrowth     = 8 << 20 // HeapInuse growth allowed from the early checkpoint to the end
	settleTimeout  = 5 * time.Second
	gcEvery        = 25 // cycles between collections while the collector is paused
)

// cycleCount is def, or the count in the environment variable env, or a
// tenth of def (at least 20) under -short.
func cycleCount(t *testing.T, env string, def int) int {
	t.Helper()
	if s := os.Getenv(env); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of cycles", env, s)
		}
		return n
	}
	if testing.Short() {
		return max(def/10, 20)
	}
	return def
}

// usage is what a leak would make grow.
type usage struct {
	goroutines int    // the hub's side only: see hubGoroutines
	fds        int    // open descriptors of the test process
	heapInuse  uint64 // after a GC
}

func (u usage) String() string {
	return fmt.Sprintf("goroutines=%d fds=%d heap_inuse=%.1fMiB", u.goroutines, u.fds, float64(u.heapInuse)/(1<<20))
}

func measure(t *testing.T) usage {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return usage{goroutines: hubGoroutines(), fds: countFDs(t), heapInuse: ms.HeapInuse}
}

// fixtureFrames mark goroutines of the test's own HTTP servers (the
// httptest listener, its connections, mcp-go's server side, whose session
// pumps can outlive the session: see exampletest's fixturePump). They are
// not the hub's.
var fixtureFrames = []string{
	"net/http.(*conn).serve",
	"net/http/httptest.(*Server)",
	"net/http.(*Server).Serve",
	"github.com/mark3labs/mcp-go/server.",
}

// goroutineStacks returns every goroutine's stack, one string each.
func goroutineStacks() []string {
	buf := make([]byte, 64<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Split(strings.TrimSpace(string(buf[:n])), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}

func isFixture(stack string) bool {
	return slices.ContainsFunc(fixtureFrames, func(f string) bool { return strings.Contains(stack, f) })
}

// hubGoroutines counts the goroutines that are not the test servers'. Test
// functions run one at a time here (none of these is parallel, and parallel
// tests wait until every sequential one is done), so the count is the hub's
// plus a constant.
func hubGoroutines() int {
	n := 0
	for _, s := range goroutineStacks() {
		if !isFixture(s) {
			n++
		}
	}
	return n
}

// goroutineDump is the grouped goroutine profile, for failure messages.
func goroutineDump() string {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
	return b.String()
}

func countFDs(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("reading /proc/self/fd: %v", err)
	}
	return len(entries)
}

// fdTargets lists the open descriptors and what they point at, for failure
// messages.
func fdTargets() string {
	entries, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"→"+target)
	}
	return strings.Join(out, " ")
}

// pauseGC turns the collector off until the test ends: a descriptor the
// hub drops without closing then stays open until the test's next
// runtime.GC (every gcEvery cycles, after checking descriptors), instead of
// being closed by the *os.File or socket finalizer at some collection
// in between, which would hide the leak.
func pauseGC(t *testing.T) {
	old := debug.SetGCPercent(-1)
	t.Cleanup(func() { debug.SetGCPercent(old) })
}

// checkFDs fails the test if more descriptors are open than at the start
// plus slack, and returns the count; every gcEvery cycles it collects.
func checkFDs(t *testing.T, cycle int, start usage, slack int) int {
	t.Helper()
	n := countFDs(t)
	if n > start.fds+slack {
		t.Fatalf("cycle %d: %d open descriptors, %d at the start: %s", cycle, n, start.fds, fdTargets())
	}
	if cycle%gcEvery == 0 {
		runtime.GC()
	}
	return n
}

// settle waits until the hub's goroutines and the process's descriptors are
// back within slack of want, and fails the test (with a dump) if they are
// not by settleTimeout.
func settle(t *testing.T, what string, want usage) usage {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		got := usage{goroutines: hubGoroutines(), fds: countFDs(t)}
		okG := got.goroutines <= want.goroutines+goroutineSlack
		okF := got.fds <= want.fds+fdSlack
		if okG && okF {
			return got
		}
		if time.Now().After(deadline) {
			if !okG {
				t.Errorf("%s: %d goroutines, want at most %d+%d (leak?)\n%s", what, got.goroutines, want.goroutines, goroutineSlack, goroutineDump())
			}
			if !okF {
				t.Errorf("%s: %d open descriptors, want at most %d+%d (leak?): %s", what, got.fds, want.fds, fdSlack, fdTargets())
			}
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// procStat is the part of /proc/<pid>/stat these tests need.
type procStat struct {
	pid, ppid, pgrp int
	state           byte
	comm            string
}

func procStats(t *testing.T) []procStat {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("reading /proc: %v", err)
	}
	var out []procStat
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// "pid (comm) state ppid pgrp ...": comm may hold spaces and parens.
		s := string(b)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		f := strings.Fields(s[closing+1:])
		if len(f) < 3 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		pgrp, _ := strconv.Atoi(f[2])
		out = append(out, procStat{pid: pid, ppid: ppid, pgrp: pgrp, state: f[0][0], comm: s[open+1 : closing]})
	}
	return out
}

// zombieChildren lists children of the test process that died and were
// never reaped.
func zombieChildren(t *testing.T) []procStat {
	t.Helper()
	me := os.Getpid()
	var out []procStat
	for _, p := range procStats(t) {
		if p.state == 'Z' && p.ppid == me {
			out = append(out, p)
		}
	}
	return out
}

// groupMembers lists the processes in any of the process groups pgids.
func groupMembers(t *testing.T, pgids map[int]bool) []procStat {
	t.Helper()
	var out []procStat
	for _, p := range procStats(t) {
		if pgids[p.pgrp] {
			out = append(out, p)
		}
	}
	return out
}

// checkProcesses checks that the only process left of the stdio server is
// live (none if live is 0): nothing else runs its command, nothing is left
// in any group it ever had, and no child of the test is a zombie.
func checkProcesses(t *testing.T, cmd string, live int, pgids map[int]bool) {
	t.Helper()
	want := []int{}
	if live != 0 {
		want = []int{live}
	}
	if got := pidsOf(t, cmd); !slices.Equal(got, want) {
		t.Errorf("processes running the server: %v, want %v", got, want)
	}
	for _, p := range groupMembers(t, pgids) {
		if p.pid != live {
			t.Errorf("orphan in the server's old process group %d: %+v", p.pgrp, p)
		}
	}
	if z := zombieChildren(t); len(z) != 0 {
		t.Errorf("unreaped children (zombies): %+v", z)
	}
}

// durations summarises recovery times.
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	q := func(p float64) time.Duration {
		return s[min(len(s)-1, int(p*float64(len(s))))].Round(100 * time.Microsecond)
	}
	return fmt.Sprintf("p50=%s p90=%s p99=%s max=%s", q(0.5), q(0.9), q(0.99), s[len(s)-1].Round(100*time.Microsecond))
}

var fastBackoff = config.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond}

// waitReadyAgain waits until server name is ready in a state entered after
// since, and returns that status plus the longest backoff delay it saw
// scheduled meanwhile.
func waitReadyAgain(t *testing.T, h *hub.Hub, name string, since time.Time, cycle int) (hub.ServerInfo, time.Duration) {
	t.Helper()
	var longest time.Duration
	deadline := time.Now().Add(15 * time.Second)
	for {
		info := serverInfo(t, h, name)
		if info.Status == "backoff" && !info.NextRetry.IsZero() {
			longest = max(longest, info.NextRetry.Sub(info.Since))
		}
		if info.Healthy && info.Since.After(since) {
			return info, longest
		}
		if time.Now().After(deadline) {
			t.Fatalf("cycle %d: %s not ready again after 15s: %+v", cycle, name, info)
		}
		time.Sleep(500 * time.Microsecond)
	}
}

// TestCrashReconnectCycles kills a stdio server (its whole process group,
// SIGKILL) again and again: each time the hub must notice, reap it, start a
// new one and serve calls on it, and after all the cycles hold no more
// goroutines, descriptors, processes or memory than after the first.
func TestCrashReconnectCycles(t *testing.T) {
	cycles := cycleCount(t, "MCPHUB_CRASH_CYCLES", defaultCrashCycles)
	checkpoint := min(50, max(cycles/2, 1))
	cmd := exampleCmd(t, "crash")

	before := measure(t) // no hub yet
	srv := stdioServer("crash", cmd)
	srv.Backoff = fastBackoff
	srv.Timeout = 3 * time.Second
	h := startHub(t, hubConfig(srv))
	echo(t, h, "crash__echo")
	pid := onePID(t, cmd)
	pgids := map[int]bool{pid: true}
	start := measure(t)
	pauseGC(t)

	var atCheckpoint usage
	var recoveries []time.Duration
	var longestDelay time.Duration
	peak := start // the most goroutines and descriptors seen right after a cycle
	began := time.Now()
	for i := 1; i <= cycles; i++ {
		prev := serverInfo(t, h, "crash")
		if !prev.Healthy {
			t.Fatalf("cycle %d: not ready before the kill: %+v", i, prev)
		}
		killed := time.Now()
		if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
			t.Fatalf("cycle %d: kill group %d: %v", i, pid, err)
		}
		_, delay := waitReadyAgain(t, h, "crash", prev.Since, i)
		recoveries = append(recoveries, time.Since(killed))
		longestDelay = max(longestDelay, delay)

		// Ready means the new child is up; the killed one is gone from
		// the process table (a zombie has no cmdline and is not listed).
		pids := pidsOf(t, cmd)
		if len(pids) != 1 || pids[0] == pid {
			t.Fatalf("cycle %d: after killing %d, processes %v: want exactly one, new", i, pid, pids)
		}
		pid = pids[0]
		pgids[pid] = true
		echo(t, h, "crash__echo")
		peak.fds = max(peak.fds, checkFDs(t, i, start, fdSlack))
		peak.goroutines = max(peak.goroutines, hubGoroutines())
		if i == checkpoint {
			atCheckpoint = measure(t)
		}
	}
	elapsed := time.Since(began)
	// Descriptors first: measure's GC would close forgotten files.
	settled := settle(t, fmt.Sprintf("after %d cycles", cycles), start)
	end := measure(t)
	t.Logf("%d crash→reconnect cycles in %s (%s per cycle); kill→ready %s; longest backoff seen %s",
		cycles, elapsed.Round(time.Millisecond), (elapsed / time.Duration(cycles)).Round(10*time.Microsecond),
		durations(recoveries), longestDelay)
	t.Logf("before hub: %v", before)
	t.Logf("start:      %v", start)
	t.Logf("cycle %-4d  %v", checkpoint, atCheckpoint)
	t.Logf("cycle %-4d  %v", cycles, end)
	t.Logf("peak right after a cycle: goroutines=%d fds=%d; settled after the cycles: goroutines=%d fds=%d",
		peak.goroutines, peak.fds, settled.goroutines, settled.fds)

	// The backoff is capped: a server that never stays up 10 s keeps
	// growing it, but never past Max.
	if longestDelay > fastBackoff.Max {
		t.Errorf("a backoff delay of %s was scheduled, want at most %s", longestDelay, fastBackoff.Max)
	}

	// While the hub runs: back to where the first session left it
	// (goroutines and descriptors: settled above).
	if grew := int64(end.heapInuse) - int64(atCheckpoint.heapInuse); grew > heapGrowth {
		t.Errorf("HeapInuse grew by %.1f MiB from cycle %d to %d (limit %d MiB)", float64(grew)/(1<<20), checkpoint, cycles, heapGrowth>>20)
	}
	checkProcesses(t, cmd, pid, pgids)
	echo(t, h, "crash__echo")

	// After Stop: nothing left at all (TestMain's goleak check repeats the
	// goroutine part for the whole package).
	stopWithin(t, h, 5*time.Second)
	after := settle(t, "after Stop", before)
	t.Logf("after Stop: goroutines=%d fds=%d", after.goroutines, after.fds)
	checkProcesses(t, cmd, 0, pgids)
}

// restartableHTTP is the example server over Streamable HTTP at a fixed
// address that can be closed (connections refused) and opened again, each
// time as a fresh server, or made to forget every session (404) while up.
type restartableHTTP struct {
	t           *testing.T
	addr        string
	inner       atomic.Pointer[server.StreamableHTTPServer]
	initializes atomic.Int64

	mu sync.Mutex
	ts *httptest.Server // nil while closed
}

func newRestartableHTTP(t *testing.T) *restartableHTTP {
	t.Helper()
	r := &restartableHTTP{t: t}
	r.open()
	r.addr = r.ts.Listener.Addr().String()
	t.Cleanup(r.close)
	return r
}

func (r *restartableHTTP) URL() string { return "http://" + r.addr }

// forget replaces the server with a fresh one that knows no session, and
// shuts the old one down.
func (r *restartableHTTP) forget() {
	// Stateful: an unknown session id is answered 404, as a restarted
	// server would (the default accepts any well-formed id).
	old := r.inner.Swap(exampleserver.NewStreamableHTTPServer(exampleserver.New(), server.WithStateful(true)))
	if old != nil {
		// Without this, mcp-go keeps the listening pump of each session
		// no client DELETEd (and with it the old server) forever: ~48 KiB
		// and a goroutine a cycle that would hide what the hub does.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := old.Shutdown(ctx); err != nil {
			r.t.Errorf("shutting the old server down: %v", err)
		}
	}
}

func (r *restartableHTTP) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method == http.MethodPost {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if bytes.Contains(body, []byte(`"method":"initialize"`)) {
			r.initializes.Add(1)
		}
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	r.inner.Load().ServeHTTP(w, req)
}

// open starts a fresh server, on the same address after the first time.
func (r *restartableHTTP) open() {
	r.t.Helper()
	r.forget()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(r.serveHTTP))
	if r.addr != "" {
		ts.Listener.Close()
		var err error
		for range 100 { // the port was ours a moment ago
			if ts.Listener, err = net.Listen("tcp", r.addr); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err != nil {
			r.t.Fatalf("listening again on %s: %v", r.addr, err)
		}
	}
	ts.Start()
	r.mu.Lock()
	r.ts = ts
	r.mu.Unlock()
}

// close shuts the server and every connection to it: connecting is refused.
func (r *restartableHTTP) close() {
	r.mu.Lock()
	ts := r.ts
	r.ts = nil
	r.mu.Unlock()
	if ts != nil {
		ts.CloseClientConnections()
		ts.Close()
	}
}

// TestHTTPReconnectCycles does to a Streamable HTTP server what
// TestCrashReconnectCycles does to a stdio one, two ways: "restart" closes
// the server (the hub loses the session, reconnects with backoff while
// connections are refused, and starts a new session once it is back);
// "forget" keeps it up but makes it forget every session (the next call
// gets 404, and the hub re-initializes on the same connection).
func TestHTTPReconnectCycles(t *testing.T) {
	cycles := cycleCount(t, "MCPHUB_HTTP_CYCLES", defaultHTTPCycles)
	checkpoint := min(10, max(cycles/2, 1))
	for _, mode := range []string{"restart", "forget"} {
		t.Run(mode, func(t *testing.T) {
			before := measure(t)
			ex := newRestartableHTTP(t)
			srv := httpServer("web", ex.URL())
			srv.Backoff = fastBackoff
			srv.Timeout = 3 * time.Second
			h := startHub(t, hubConfig(srv))
			echo(t, h, "web__echo")
			start := measure(t)
			pauseGC(t)

			var atCheckpoint usage
			peak := start
			var recoveries []time.Duration
			began := time.Now()
			for i := 1; i <= cycles; i++ {
				prev := serverInfo(t, h, "web")
				inits := ex.initializes.Load()
				t0 := time.Now()
				switch mode {
				case "restart":
					ex.close()
					// Streamable HTTP has no connection to lose: the hub
					// learns of it from the next call (or its heartbeat).
					ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
					_, err := h.Call(ctx, hub.CallRequest{Name: "web__echo", Arguments: []byte(`{"message":"x"}`)})
					cancel()
					if err == nil {
						t.Fatalf("cycle %d: a call to a closed server succeeded", i)
					}
					waitFor(t, "web to go down", 5*time.Second, func() bool { return !serverInfo(t, h, "web").Healthy })
					ex.open()
					waitReadyAgain(t, h, "web", prev.Since, i)
					echo(t, h, "web__echo")
				case "forget":
					ex.forget()
					echo(t, h, "web__echo") // 404, re-initialize, retry
					// The call asked for a re-discovery: let it finish, or
					// the next forget races it (see
					// TestHTTPForgottenSessionDuringRefresh).
					if _, err := h.Refresh(t.Context()); err != nil {
						t.Fatalf("cycle %d: Refresh: %v", i, err)
					}
					if info := serverInfo(t, h, "web"); !info.Healthy || !info.Since.Equal(prev.Since) {
						t.Fatalf("cycle %d: re-initializing changed the connection's state: %+v", i, info)
					}
				}
				recoveries = append(recoveries, time.Since(t0))
				// Both ends of every connection are ours, and they close
				// asynchronously: the exact check is after the cycles.
				peak.fds = max(peak.fds, checkFDs(t, i, start, httpFDSlack))
				peak.goroutines = max(peak.goroutines, hubGoroutines())
				if got := ex.initializes.Load(); got <= inits {
					t.Fatalf("cycle %d: no new initialize (%d before, %d now)", i, inits, got)
				}
				if i == checkpoint {
					atCheckpoint = measure(t)
				}
			}
			elapsed := time.Since(began)
			// Descriptors first: measure's GC would close forgotten files.
			settle(t, fmt.Sprintf("after %d cycles", cycles), start)
			end := measure(t)
			t.Logf("%d %s cycles in %s; per cycle %s", cycles, mode, elapsed.Round(time.Millisecond), durations(recoveries))
			t.Logf("before hub: %v", before)
			t.Logf("start:      %v", start)
			t.Logf("cycle %-4d  %v", checkpoint, atCheckpoint)
			t.Logf("cycle %-4d  %v", cycles, end)
			t.Logf("peak right after a cycle: goroutines=%d fds=%d", peak.goroutines, peak.fds)
			if grew := int64(end.heapInuse) - int64(atCheckpoint.heapInuse); grew > heapGrowth {
				t.Errorf("HeapInuse grew by %.1f MiB from cycle %d to %d (limit %d MiB)", float64(grew)/(1<<20), checkpoint, cycles, heapGrowth>>20)
			}
			echo(t, h, "web__echo")

			stopWithin(t, h, 5*time.Second)
			ex.close()
			after := settle(t, "after Stop", before)
			t.Logf("after Stop: goroutines=%d fds=%d", after.goroutines, after.fds)
		})
	}
}

// TestHTTPForgottenSessionDuringRefresh: a Streamable HTTP server restarts
// (forgets its sessions) and a call and a refresh pass reach it at about
// the same time. Both meet the 404; before session.request re-initialised
// for every caller, the supervisor took its 404 for a dead session and
// closed the transport under the call's re-initialization, and the call
// failed with ErrUnavailable although the server was up.
func TestHTTPForgottenSessionDuringRefresh(t *testing.T) {
	ex := newRestartableHTTP(t)
	srv := httpServer("web", ex.URL())
	srv.Backoff = fastBackoff
	h := startHub(t, hubConfig(srv))
	const rounds = 20
	failed := 0
	for i := range rounds {
		waitHealthy(t, h, "web")
		echo(t, h, "web__echo")
		ex.forget()
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = h.Refresh(context.Background())
		}()
		_, err := h.Call(t.Context(), hub.CallRequest{Name: "web__echo", Arguments: []byte(`{"message":"x"}`)})
		<-done
		if err != nil {
			failed++
			t.Logf("round %d: %v", i, err)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d calls failed after the server forgot the session, want none", failed, rounds)
	}
}
