package approval

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/memsample"
)

// Issue 7: memory is O(1) per pending approval. These measure what the
// store retains per pending request (the entry, its channel, the request's
// id, digest and canonical arguments, and its slots in the maps) at two
// sizes, and that deciding or expiring everything gives it back.

// pendingFill is a store holding n pending requests and what it cost.
type pendingFill struct {
	s          *MemoryStore
	ids        []string
	now        time.Time
	base, full memsample.Sample
	took       time.Duration // creating the requests
}

// perItem is the retained heap per pending request.
func (f *pendingFill) perItem() float64 {
	heap, _ := f.full.Over(f.base)
	return float64(heap) / float64(len(f.ids))
}

// fillPending creates n pending requests in a fresh store, each built as the
// hub builds them (NewRequest: a new id, canonical arguments, a digest),
// with distinct arguments of a realistic size, and samples the memory
// before and after.
func fillPending(tb testing.TB, n int) *pendingFill {
	tb.Helper()
	ctx := context.Background()
	f := &pendingFill{s: NewMemoryStore(n, time.Hour), ids: make([]string, n), now: time.Now()}
	f.base = memsample.Take()
	start := time.Now()
	for i := range f.ids {
		r := newPending(tb, i, f.now)
		if err := f.s.Create(ctx, r); err != nil {
			tb.Fatalf("request %d of %d: %v", i, n, err)
		}
		f.ids[i] = r.ID
	}
	f.took = time.Since(start)
	f.full = memsample.Take()
	return f
}

// refill creates len(f.ids) pending requests again, created now.
func (f *pendingFill) refill(tb testing.TB) {
	tb.Helper()
	f.now = time.Now()
	for i := range f.ids {
		r := newPending(tb, i, f.now)
		if err := f.s.Create(context.Background(), r); err != nil {
			tb.Fatalf("request %d of %d: %v", i, len(f.ids), err)
		}
		f.ids[i] = r.ID
	}
}

// newPending is the i-th request of a fill, built as the hub builds them.
func newPending(tb testing.TB, i int, now time.Time) Request {
	tb.Helper()
	args := json.RawMessage(`{"path":"/srv/reports/2026/report-` + strconv.Itoa(i) + `.txt","force":true,"depth":3}`)
	r, err := NewRequest(Call{Server: "files", Tool: "delete", Name: "files__delete", Arguments: args}, now, 10*time.Minute)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// finishAll decides the first half of the requests (alternately approved
// and rejected) and lets the rest expire, then sweeps until the store has
// forgotten all of them.
func (f *pendingFill) finishAll(tb testing.TB) {
	tb.Helper()
	ctx := context.Background()
	half := len(f.ids) / 2
	for i, id := range f.ids[:half] {
		v := Approved
		if i%2 == 1 {
			v = Rejected
		}
		if _, err := f.s.Decide(ctx, id, Decision{Verdict: v, By: "ops"}, f.now.Add(time.Second), nil); err != nil {
			tb.Fatalf("Decide %s: %v", id, err)
		}
	}
	expired, err := f.s.Sweep(ctx, f.now.Add(11*time.Minute))
	if err != nil || len(expired) != len(f.ids)-half {
		tb.Fatalf("Sweep after expiry reported %d expired (%v), want %d", len(expired), err, len(f.ids)-half)
	}
	if _, err := f.s.Sweep(ctx, f.now.Add(11*time.Minute+2*time.Hour)); err != nil {
		tb.Fatal(err)
	}
	if left, _ := f.s.List(ctx, Filter{}); len(left) != 0 {
		tb.Fatalf("%d requests left after the retention", len(left))
	}
}

// TestPendingMemoryIsConstant: the heap a pending request costs does not
// grow with the number pending (10,000 cost at most 1.5× per request what
// 1,000 do), no goroutine or stack is held per request, and once every
// request is decided or expired and past its retention the store gives the
// memory back (all but its maps' high-water capacity: Go maps do not
// shrink).
func TestPendingMemoryIsConstant(t *testing.T) {
	per := map[int]float64{}
	for _, n := range []int{1000, 10000} {
		f := fillPending(t, n)
		per[n] = f.perItem()
		heap, stacks := f.full.Over(f.base)
		t.Logf("%6d pending: %.0f B/pending retained (heap +%d B, stacks %+d B, goroutines %+d)",
			n, per[n], heap, stacks, f.full.Goroutines-f.base.Goroutines)
		// A request costs well under 1 KiB (see the benchmark); 4 KiB
		// would mean something per request that should not be there.
		if per[n] <= 0 || per[n] > 4096 {
			t.Errorf("%d pending: %.0f B per request, want (0, 4096]", n, per[n])
		}
		if d := f.full.Goroutines - f.base.Goroutines; d > 2 {
			t.Errorf("%d pending: %d more goroutines; the store must start none per request", n, d)
		}
		if stacks > 256<<10 {
			t.Errorf("%d pending: goroutine stacks grew by %d B", n, stacks)
		}

		f.finishAll(t)
		after := memsample.Take()
		left, _ := after.Over(f.base)
		t.Logf("%6d pending: after deciding/expiring and sweeping, heap %+d B over the empty store (%.0f B per peak request)",
			n, left, float64(left)/float64(n))
		// What stays is the maps' and slices' capacity (Go maps do not
		// shrink): about 150 B per slot at the high-water mark, which
		// maxPending bounds. A leaked entry would keep most of its 700 B.
		if limit := heap / 2; left > limit {
			t.Errorf("%d pending: %d B still held after all were finished and forgotten, want at most %d (half the peak)", n, left, limit)
		}
		if d := after.Goroutines - f.base.Goroutines; d > 2 {
			t.Errorf("%d pending: %d more goroutines after finishing", n, d)
		}
		// A second round in the same store reuses that capacity: nothing
		// accumulates from one round to the next.
		f.refill(t)
		f.finishAll(t)
		again := memsample.Take()
		if grew, _ := again.Over(after); grew > heap/10 {
			t.Errorf("%d pending: a second fill-and-finish round left %d B more than the first (limit %d)", n, grew, heap/10)
		}
		runtime.KeepAlive(f.s)
	}
	if per[10000] > 1.5*per[1000] {
		t.Errorf("per-request heap grows with the count: %.0f B at 10,000, %.0f B at 1,000 (limit 1.5×)", per[10000], per[1000])
	}
}

// TestWaitersLeaveNothing: a caller waiting on a request (Store.Wait, as
// /call?wait= does) holds a timer and its goroutine only while it waits.
func TestWaitersLeaveNothing(t *testing.T) {
	const n = 200
	ctx := context.Background()
	s := NewMemoryStore(n, time.Hour)
	now := time.Now()
	ids := make([]string, n)
	for i := range ids {
		r, err := NewRequest(Call{Server: "s", Tool: "t", Name: "s__t", Arguments: json.RawMessage(`{"i":` + strconv.Itoa(i) + `}`)}, now, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids[i] = r.ID
	}
	base := memsample.Take()
	done := make(chan Request, n)
	for _, id := range ids {
		go func() {
			r, _ := s.Wait(ctx, id)
			done <- r
		}()
	}
	for _, id := range ids {
		if _, err := s.Decide(ctx, id, Decision{Verdict: Rejected}, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	for range ids {
		if r := <-done; r.Decision != Rejected {
			t.Fatalf("Wait returned %+v", r)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		after := memsample.Take()
		if after.Goroutines <= base.Goroutines+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after every waiter returned, %d before", after.Goroutines, base.Goroutines)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkPendingMemory reports the heap retained per pending request
// ("B/pending") with 1,000 and 10,000 pending, and the time to create one
// ("ns/pending", NewRequest and Create). Each iteration fills a fresh store.
//
//	go test -run '^$' -bench PendingMemory -benchtime 3x ./pkg/approval
func BenchmarkPendingMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("pending=%d", n), func(b *testing.B) {
			var per, ns, goroutines float64
			iters := 0
			for b.Loop() {
				f := fillPending(b, n)
				ns += float64(f.took.Nanoseconds()) / float64(n)
				per += f.perItem()
				goroutines += float64(f.full.Goroutines-f.base.Goroutines) / float64(n)
				iters++
				runtime.KeepAlive(f.s)
			}
			b.ReportMetric(per/float64(iters), "B/pending")
			b.ReportMetric(goroutines/float64(iters), "goroutines/pending")
			b.ReportMetric(ns/float64(iters), "ns/pending")
		})
	}
}
