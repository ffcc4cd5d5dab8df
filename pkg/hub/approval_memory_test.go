package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"

	"github.com/mcphub/mcphub/internal/memsample"
)

// Issue 7: memory is O(1) per pending approval, measured through the hub:
// a gated call (hub.Call answering *PendingError) records the request in
// the store, announces it on the event bus and logs it. pkg/approval's
// memory_test.go measures the store alone.

// gatedHub is a running hub whose example server's echo needs approval,
// with a store of room for maxPending that the test can sweep.
type gatedHub struct {
	h     *hub.Hub
	store *approval.MemoryStore
}

func newGatedHub(tb testing.TB, maxPending int) *gatedHub {
	tb.Helper()
	ts := httptest.NewServer(exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	tb.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	srv := httpServer("ex", ts.URL)
	srv.RequireApproval = []string{"echo"}
	cfg := hubConfig(srv)
	cfg.Approval.MaxPending = maxPending
	g := &gatedHub{store: approval.NewMemoryStore(maxPending, time.Hour)}
	h, err := hub.New(cfg, hub.Options{Logger: quietLogger(), Approvals: g.store})
	if err != nil {
		tb.Fatalf("hub.New: %v", err)
	}
	g.h = h
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			tb.Errorf("Stop: %v", err)
		}
	})
	h.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := h.WaitFirstAttempt(ctx); err != nil {
		tb.Fatal(err)
	}
	if _, err := h.LookupTool("ex__echo"); err != nil {
		tb.Fatalf("ex__echo: %v (servers %+v)", err, h.Servers())
	}
	// Fill the event history with approval events, so that the events the
	// calls publish replace others of their size: the history is bounded
	// (1,024 events) and would otherwise count at 1,000 but not at 10,000.
	for i := range 1100 {
		r, err := approval.NewRequest(approval.Call{Server: "ex", Tool: "echo", Name: "ex__echo",
			Arguments: echoArgs(i)}, time.Now(), time.Hour)
		if err != nil {
			tb.Fatal(err)
		}
		h.Events().Publish(events.ApprovalPending, hub.ApprovalEvent{Request: r, State: approval.StatePending})
	}
	return g
}

func echoArgs(i int) json.RawMessage {
	return json.RawMessage(`{"message":"please approve request number ` + strconv.Itoa(i) + ` of the batch"}`)
}

// hold makes n gated calls; ids (of length n, allocated by the caller so
// that it is not counted) receives the pending requests' ids.
func (g *gatedHub) hold(tb testing.TB, ids []string) {
	tb.Helper()
	for i := range ids {
		_, err := g.h.Call(context.Background(), hub.CallRequest{Name: "ex__echo", Arguments: echoArgs(i)})
		var p *hub.PendingError
		if !errors.As(err, &p) {
			tb.Fatalf("call %d: %v, want a *hub.PendingError", i, err)
		}
		ids[i] = p.Request.ID
	}
}

// rejectAll rejects every request and sweeps the store past their
// retention, so that it forgets them.
func (g *gatedHub) rejectAll(tb testing.TB, ids []string) {
	tb.Helper()
	for _, id := range ids {
		if _, err := g.h.Reject(context.Background(), id, "ops", "no"); err != nil {
			tb.Fatalf("Reject %s: %v", id, err)
		}
	}
	if _, err := g.store.Sweep(context.Background(), time.Now().Add(2*time.Hour)); err != nil {
		tb.Fatal(err)
	}
	if left, _ := g.h.Approvals(context.Background(), approval.Filter{}); len(left) != 0 {
		tb.Fatalf("%d requests left after rejecting and sweeping all", len(left))
	}
}

// TestPendingCallMemoryIsConstant: through the hub, a pending call costs
// the same per call with 4,000 pending as with 400 (within 1.5×), holds no
// goroutine, and deciding them all and letting the store forget them gives
// the memory back.
func TestPendingCallMemoryIsConstant(t *testing.T) {
	const small, large = 400, 4000
	g := newGatedHub(t, large)
	per := map[int]float64{}
	for _, n := range []int{small, large} {
		ids := make([]string, n)
		base := memsample.Take()
		g.hold(t, ids)
		full := memsample.Take()
		grew := int64(full.Heap) - int64(base.Heap)
		per[n] = float64(grew) / float64(n)
		t.Logf("%5d pending calls: %.0f B/pending (heap %+d B, goroutines %+d)", n, per[n], grew, full.Goroutines-base.Goroutines)
		if per[n] <= 0 || per[n] > 4096 {
			t.Errorf("%d pending calls: %.0f B each, want (0, 4096]", n, per[n])
		}
		if d := full.Goroutines - base.Goroutines; d > 3 {
			t.Errorf("%d pending calls: %d more goroutines; a pending call must hold none", n, d)
		}
		g.rejectAll(t, ids)
		after := memsample.Take()
		left := int64(after.Heap) - int64(base.Heap)
		t.Logf("%5d pending calls: after rejecting and forgetting them, heap %+d B", n, left)
		// The store's maps keep their capacity (Go maps do not shrink).
		if left > grew/2 {
			t.Errorf("%d pending calls: %d B still held after all were decided and forgotten, want at most %d", n, left, grew/2)
		}
	}
	if per[large] > 1.5*per[small] {
		t.Errorf("per-call heap grows with the count: %.0f B at %d, %.0f B at %d (limit 1.5×)", per[large], large, per[small], small)
	}
}

// BenchmarkPendingCallMemory reports the heap retained per pending call
// made through the hub ("B/pending": the store's request, and the
// approval_pending event replacing an older one in the bounded history)
// with 1,000 and 10,000 pending, and the time per gated call ("ns/call";
// ns/op covers the whole batch of calls).
//
//	go test -run '^$' -bench PendingCallMemory -benchtime 3x ./pkg/hub
func BenchmarkPendingCallMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			var per, ns, goroutines float64
			iters := 0
			for b.Loop() {
				// A fresh hub each time: its store's maps grow as they
				// would, instead of reusing the capacity of the last round.
				b.StopTimer()
				g := newGatedHub(b, n)
				ids := make([]string, n)
				base := memsample.Take()
				b.StartTimer()
				start := time.Now()
				g.hold(b, ids)
				ns += float64(time.Since(start).Nanoseconds()) / float64(n)
				b.StopTimer()
				full := memsample.Take()
				per += float64(int64(full.Heap)-int64(base.Heap)) / float64(n)
				goroutines += float64(full.Goroutines-base.Goroutines) / float64(n)
				iters++
				g.rejectAll(b, ids)
				b.StartTimer()
			}
			b.ReportMetric(per/float64(iters), "B/pending")
			b.ReportMetric(goroutines/float64(iters), "goroutines/pending")
			b.ReportMetric(ns/float64(iters), "ns/call")
		})
	}
}
