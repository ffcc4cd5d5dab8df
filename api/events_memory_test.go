//go:build linux

package api_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"

	"github.com/mcphub/mcphub/internal/memsample"
)

// Issue 7: memory is O(1) per idle SSE subscriber. These hold idle
// GET /mcp_hub/events streams of the real router over loopback and measure
// what each costs the hub: live heap, goroutine stacks and goroutines.
//
// The client side is raw sockets with blocking system calls (sseClients):
// no Go heap and no goroutine per stream, so when the test process holds
// them its figures are the hub's alone. For 10,000 streams the clients run
// in a child process (the test binary again, TestSSEClientProcess): both
// ends in one process would need 20,000 descriptors, the machine's limit.

// sseRequest opens the stream and nothing else: the client then stays idle.
const sseRequest = "GET /mcp_hub/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"

// sseClients are idle event streams held open by raw socket descriptors.
type sseClients struct{ fds []int }

// openSSEClients opens n streams to the hub at base (an http:// URL) and
// returns once every one has read its stream_start event: from then on the
// hub's side of each stream is idle, waiting for events. Sockets are
// connected in batches, below the listen backlog.
func openSSEClients(base string, n int) (*sseClients, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(u.Host)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("hub address %q: want an IPv4 address and port (%v)", u.Host, err)
	}
	sa := &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	c := &sseClients{fds: make([]int, 0, n)}
	buf := make([]byte, 0, 4096)
	const batch = 256
	for len(c.fds) < n {
		first := len(c.fds)
		for range min(batch, n-first) {
			fd, err := dialRaw(sa)
			if err != nil {
				c.close()
				return nil, fmt.Errorf("stream %d: %w", len(c.fds), err)
			}
			c.fds = append(c.fds, fd)
		}
		for i, fd := range c.fds[first:] {
			if buf, err = readStreamStart(fd, buf[:0]); err != nil {
				c.close()
				return nil, fmt.Errorf("stream %d: %w", first+i, err)
			}
		}
	}
	return c, nil
}

// dialRaw connects a blocking socket, sends the request and arms a read
// timeout.
func dialRaw(sa *syscall.SockaddrInet4) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	tv := syscall.NsecToTimeval((10 * time.Second).Nanoseconds())
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("SO_RCVTIMEO: %w", err)
	}
	for {
		err = syscall.Connect(fd, sa)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	if _, err := syscall.Write(fd, []byte(sseRequest)); err != nil {
		syscall.Close(fd)
		return -1, fmt.Errorf("write: %w", err)
	}
	return fd, nil
}

// readStreamStart reads the response head and the stream_start event.
func readStreamStart(fd int, buf []byte) ([]byte, error) {
	var chunk [2048]byte
	for !bytes.Contains(buf, []byte("event: stream_start\n\n")) {
		n, err := syscall.Read(fd, chunk[:])
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EAGAIN):
			return buf, fmt.Errorf("no stream_start within 10s; read %q", buf)
		case err != nil:
			return buf, fmt.Errorf("read: %w; read %q", err, buf)
		case n == 0:
			return buf, fmt.Errorf("the hub closed the stream; read %q", buf)
		}
		buf = append(buf, chunk[:n]...)
	}
	if !bytes.HasPrefix(buf, []byte("HTTP/1.1 200 ")) {
		return buf, fmt.Errorf("not a 200 stream: %q", buf)
	}
	return buf, nil
}

// close resets every connection (SO_LINGER 0: no TIME_WAIT left to hold
// ports for the next run) and closes the descriptors.
func (c *sseClients) close() {
	for _, fd := range c.fds {
		_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 0})
		_ = syscall.Close(fd)
	}
	c.fds = c.fds[:0]
}

// perStream is what one idle stream costs the hub.
type perStream memsample.PerItem

func (p perStream) String() string {
	return fmt.Sprintf("%.0f B heap + %.0f B stacks, %.2f goroutines per stream", p.Heap, p.Stacks, p.Goroutines)
}

func costPer(before, after memsample.Sample, n int) perStream { return perStream(after.Per(before, n)) }

// waitStreamsGone waits until the hub has no event subscriber and the
// goroutines are back within slack of base.
func waitStreamsGone(tb testing.TB, e *env, base memsample.Sample, slack int) memsample.Sample {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		subs := e.hub.Events().Subscribers()
		g := runtime.NumGoroutine()
		if subs == 0 && g <= base.Goroutines+slack {
			return memsample.Take()
		}
		if time.Now().After(deadline) {
			tb.Fatalf("after the clients left: %d subscribers, %d goroutines (%d before the streams)", subs, g, base.Goroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestIdleSSEStreamMemoryIsConstant: an idle event stream costs the hub as
// much with 1,000 open as with 200 (within 1.5×, heap and stacks), a
// fixed handful of goroutines each, and everything comes back when the
// clients go.
func TestIdleSSEStreamMemoryIsConstant(t *testing.T) {
	e := startHub(t, api.Options{})
	got := map[int]perStream{}
	for _, n := range []int{200, 1000} {
		base := memsample.Take()
		clients, err := openSSEClients(e.url, n)
		if err != nil {
			t.Fatal(err)
		}
		full := memsample.Take()
		if subs := e.hub.Events().Subscribers(); subs != n {
			clients.close()
			t.Fatalf("%d subscribers on the bus, want %d", subs, n)
		}
		got[n] = costPer(base, full, n)
		t.Logf("%5d idle streams: %v", n, got[n])
		clients.close()
		after := waitStreamsGone(t, e, base, 5)
		left := int64(after.Heap) - int64(base.Heap)
		t.Logf("%5d idle streams: after the clients left, heap %+d B, goroutines %+d", n, left, after.Goroutines-base.Goroutines)

		// About 5 goroutines and 60 KiB of heap each (see the benchmark);
		// generous bounds, so that only a real change trips them.
		if g := got[n].Goroutines; g < 1 || g > 8 {
			t.Errorf("%d streams: %.2f goroutines per stream, want 1–8", n, g)
		}
		if h := got[n].Heap; h <= 0 || h > 256<<10 {
			t.Errorf("%d streams: %.0f B heap per stream, want (0, 256 KiB]", n, h)
		}
		// Maps keep their capacity (the server's connection set, the
		// bus's subscriber slice): a few dozen bytes per peak stream.
		if limit := int64(got[n].Heap*float64(n)) / 10; left > limit {
			t.Errorf("%d streams: %d B of heap still held after they ended, want at most %d", n, left, limit)
		}
	}
	if a, b := got[200], got[1000]; b.Heap > 1.5*a.Heap || b.Stacks+b.Heap > 1.5*(a.Stacks+a.Heap) {
		t.Errorf("per-stream cost grows with the count: %v at 1,000, %v at 200 (limit 1.5×)", b, a)
	}
}

// sseClientsEnv, when set ("URL N"), makes TestSSEClientProcess the client
// side of BenchmarkIdleSSESubscribers.
const sseClientsEnv = "MCPHUB_TEST_SSE_CLIENTS"

// TestSSEClientProcess is not a test: it is the client process of
// BenchmarkIdleSSESubscribers. It opens N idle streams to URL, prints
// "ready", and holds them until its standard input closes.
func TestSSEClientProcess(t *testing.T) {
	spec := os.Getenv(sseClientsEnv)
	if spec == "" {
		t.Skip("the client process of BenchmarkIdleSSESubscribers")
	}
	base, count, _ := strings.Cut(spec, " ")
	n, err := strconv.Atoi(count)
	if err != nil {
		t.Fatalf("%s=%q: %v", sseClientsEnv, spec, err)
	}
	clients, err := openSSEClients(base, n)
	if err != nil {
		t.Fatal(err)
	}
	defer clients.close()
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
}

// clientProcess runs n idle streams to e in a child process.
type clientProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

func startClientProcess(b *testing.B, e *env, n int) *clientProcess {
	b.Helper()
	p := &clientProcess{cmd: exec.Command(os.Args[0], "-test.run=^TestSSEClientProcess$", "-test.bench=^$", "-test.count=1")}
	p.cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d", sseClientsEnv, e.url, n))
	p.cmd.Stderr = &p.out
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "ready" {
			go func() { _, _ = io.Copy(&p.out, stdout) }() // -test.v lines and the like, until exit
			return p
		}
		p.out.WriteString(sc.Text() + "\n")
	}
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
	b.Fatalf("the client process did not open its %d streams:\n%s", n, p.out.String())
	return nil
}

// stop ends the client process, which resets its connections.
func (p *clientProcess) stop(b *testing.B) {
	b.Helper()
	_ = p.stdin.Close()
	if err := p.cmd.Wait(); err != nil {
		b.Errorf("client process: %v\n%s", err, p.out.String())
	}
}

// BenchmarkIdleSSESubscribers holds 1,000 and 10,000 idle
// GET /mcp_hub/events streams of the real router (clients in a child
// process, over loopback) and reports what each costs the hub process:
// "B/subscriber" (live heap), "stackB/subscriber" (goroutine stacks) and
// "goroutines/subscriber". ns/op is the time to open all the streams.
//
//	go test -run '^$' -bench IdleSSESubscribers -benchtime 1x ./api
func BenchmarkIdleSSESubscribers(b *testing.B) {
	e := startHub(b, api.Options{})
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			var sum perStream
			iters := 0
			for b.Loop() {
				base := memsample.Take()
				p := startClientProcess(b, e, n)
				b.StopTimer()
				full := memsample.Take()
				if subs := e.hub.Events().Subscribers(); subs != n {
					b.Errorf("%d subscribers on the bus, want %d", subs, n)
				}
				c := costPer(base, full, n)
				sum.Heap += c.Heap
				sum.Stacks += c.Stacks
				sum.Goroutines += c.Goroutines
				iters++
				p.stop(b)
				waitStreamsGone(b, e, base, 5)
				b.StartTimer()
			}
			b.ReportMetric(sum.Heap/float64(iters), "B/subscriber")
			b.ReportMetric(sum.Stacks/float64(iters), "stackB/subscriber")
			b.ReportMetric(sum.Goroutines/float64(iters), "goroutines/subscriber")
		})
	}
}
