package mcpserver_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// TestProgressEveryNotification checks that every progress step of a
// downstream call reaches the MCP client, in order, under the client's own
// token, before the result. mcp-go's Streamable HTTP server loses the last
// notification sent before a handler returns unless it has an event store,
// so the count is strict and the call repeated.
//
// One exception is by design: an mcp-go Streamable HTTP downstream splits a
// call's notifications between the call's POST stream and the GET stream the
// hub keeps open, so one can overtake another; the hub then drops the
// overtaken step rather than send progress backwards (the spec wants it to
// increase). Over that downstream each round must still be strictly
// increasing and end at the total, and nearly every step must arrive.
func TestProgressEveryNotification(t *testing.T) {
	const steps, rounds = 20, 5
	want := make([]int, steps)
	for i := range want {
		want[i] = i + 1
	}
	for _, ds := range downstreams {
		for _, listen := range []bool{false, true} {
			name := ds.name
			if listen {
				name += "+get" // a client with the standalone GET stream open
			}
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, hubConfig(ds.setup(t)))
				c := connect(t, e.url("/mcp"), clientOpts{listen: listen})
				delivered := 0
				for round := range rounds {
					token := fmt.Sprintf("tok-%s-%d", name, round)
					res, err := c.tryCall(ctxFor(t), "example__slow_count",
						map[string]any{"count": steps, "delay_ms": 5}, &mcp.Meta{ProgressToken: token})
					if err != nil {
						t.Fatalf("round %d: slow_count: %v", round, err)
					}
					if res.IsError || textOf(t, res) != fmt.Sprintf("counted to %d", steps) {
						t.Fatalf("round %d: slow_count: isError=%v %q", round, res.IsError, textOf(t, res))
					}
					// Progress rides on the call's own response stream,
					// ahead of the result: all of it is here now, but for
					// what mcp-go's server sent on the GET stream, which
					// may come after the result on the POST stream.
					got := c.rec.progress(t, token)
					if listen {
						c.rec.waitUntil(2*time.Second, func() bool {
							got = c.rec.progress(t, token)
							return progressDone(got, steps, ds.splitsProgress)
						})
					}
					if listen && !slices.Equal(got, want) {
						// mcp-go's server may deliver a notification on the
						// GET stream and the next on the POST stream: every
						// one arrives, not always in order (README, Known
						// limits). Count them; order is checked without it.
						t.Logf("round %d: progress arrived as %v", round, got)
						got = slices.Sorted(slices.Values(got))
					}
					if ds.splitsProgress {
						if len(got) < steps && strictlyIncreasing(got) && got[len(got)-1] == steps {
							t.Logf("round %d: %d overtaken step(s) dropped: %v", round, steps-len(got), got)
							delivered += len(got)
							continue
						}
					}
					if !slices.Equal(got, want) {
						t.Errorf("round %d: progress %v, want %v", round, got, want)
					}
					delivered += len(got)
				}
				// Every notification carried one of the client's tokens.
				n := c.rec.count(string(mcp.MethodNotificationProgress))
				if n != delivered {
					t.Errorf("%d progress notifications in all, %d under the calls' tokens", n, delivered)
				}
				// Overtaking is a rare race, never a pattern.
				if floor := steps*rounds - steps*rounds/10; !ds.splitsProgress && n != steps*rounds || n < floor {
					t.Errorf("%d progress notifications in all, want %d", n, steps*rounds)
				}
			})
		}
	}
}

// TestProgressDetails checks total and message are relayed, and that a
// call without a token gets no progress.
func TestProgressDetails(t *testing.T) {
	e := newEnv(t, hubConfig(stdioExample("example")))
	c := connect(t, e.url("/mcp"), clientOpts{})

	res, err := c.tryCall(ctxFor(t), "example__slow_count", map[string]any{"count": 3, "delay_ms": 1}, nil)
	if err != nil || res.IsError {
		t.Fatalf("slow_count without a token: %v %+v", err, res)
	}
	if n := c.rec.count(string(mcp.MethodNotificationProgress)); n != 0 {
		t.Errorf("%d progress notifications for a call without a token", n)
	}

	// A numeric token stays a number.
	if _, err := c.tryCall(ctxFor(t), "example__slow_count", map[string]any{"count": 2, "delay_ms": 1},
		&mcp.Meta{ProgressToken: 42}); err != nil {
		t.Fatal(err)
	}
	c.rec.mu.Lock()
	defer c.rec.mu.Unlock()
	if len(c.rec.got) != 2 {
		t.Fatalf("%d notifications, want 2: %+v", len(c.rec.got), c.rec.got)
	}
	for i, n := range c.rec.got {
		f := n.Params.AdditionalFields
		if f["progressToken"] != float64(42) || f["total"] != float64(2) || f["message"] != fmt.Sprintf("step %d of 2", i+1) {
			t.Errorf("notification %d: %+v", i, f)
		}
	}
}

// blockingServer is an mcp-go server whose tool "block" waits until its
// context ends, telling the test when it started and when it saw the
// cancellation.
type blockingServer struct {
	url       string
	started   chan struct{}
	cancelled chan struct{}
}

func newBlockingServer(t *testing.T) *blockingServer {
	t.Helper()
	b := &blockingServer{started: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
	release := make(chan struct{})
	s := server.NewMCPServer("blocking", "1")
	s.AddTool(mcp.NewTool("block", mcp.WithDescription("Block until cancelled.")),
		func(ctx context.Context, _ mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			b.started <- struct{}{}
			select {
			case <-ctx.Done():
				b.cancelled <- struct{}{}
				return nil, ctx.Err()
			case <-release:
				return mcp.NewToolResultText("released"), nil
			}
		})
	h := server.NewStreamableHTTPServer(s)
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		close(release)
		_ = h.Shutdown(context.Background())
		ts.CloseClientConnections()
		ts.Close()
	})
	b.url = ts.URL
	return b
}

func TestCancellationReachesDownstream(t *testing.T) {
	b := newBlockingServer(t)
	e := newEnv(t, hubConfig(httpServer("slow", b.url), stdioExample("example")))
	c := connect(t, e.url("/mcp"), clientOpts{})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := c.tryCall(ctx, "slow__block", nil, nil)
		errc <- err
	}()
	select {
	case <-b.started:
	case <-time.After(waitTimeout):
		t.Fatal("the downstream tool never started")
	}
	cancel()
	select {
	case <-b.cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the downstream did not see the cancellation within 5s")
	}
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled call returned %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the cancelled call did not return")
	}

	// The session and the hub still work.
	if res := c.call(t, "example__echo", map[string]any{"message": "still here"}); textOf(t, res) != "still here" {
		t.Errorf("echo after a cancellation: %q", textOf(t, res))
	}
}

// strictlyIncreasing reports whether every element is above the one before.
func strictlyIncreasing(s []int) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return len(s) > 0
}

// progressDone says a round's progress is all there: every step, or, from
// a downstream that splits its notifications (whose overtaken steps are
// dropped, never late), the last one.
func progressDone(got []int, steps int, splits bool) bool {
	return len(got) == steps || splits && slices.Contains(got, steps)
}
