package events

import (
	"fmt"
	"testing"
	"time"

	"github.com/mcphub/mcphub/internal/memsample"
)

// Issue 7: memory is O(1) per idle SSE subscriber. These measure what the
// Bus retains per idle subscription (made as the Handler makes them: the
// default queue of defaultBuffer events, allocated up front) at two sizes,
// and that ending the subscriptions gives it back. The HTTP side (one
// r3labs server, goroutines and net/http buffers per stream) is measured
// through the real router in api (events_memory_test.go).

// subscribeIdle subscribes n idle subscribers to bus with the Handler's
// default queue and samples the memory before and after. subs must have
// length n; it is allocated by the caller so that it is not counted.
func subscribeIdle(bus *Bus, subs []*Subscription) (base, full memsample.Sample, took time.Duration) {
	base = memsample.Take()
	start := time.Now()
	for i := range subs {
		subs[i] = bus.Subscribe(0, defaultBuffer)
	}
	took = time.Since(start)
	full = memsample.Take()
	return base, full, took
}

// TestIdleSubscriberMemoryIsConstant: an idle subscription costs the same
// at 10,000 as at 1,000 (within 1.5×), holds no goroutine, and closing
// every subscription gives the memory back; the bus still serves new
// subscribers afterwards.
func TestIdleSubscriberMemoryIsConstant(t *testing.T) {
	bus := NewBus(Options{Logger: quietLogger()})
	defer bus.Close()
	for range 10 { // a full history would not change the figure; some does no harm
		bus.Publish(ServerStatus, benchData)
	}
	per := map[int]float64{}
	for _, n := range []int{1000, 10000} {
		subs := make([]*Subscription, n)
		base, full, _ := subscribeIdle(bus, subs)
		grew := heapOver(full, base)
		per[n] = float64(grew) / float64(n)
		t.Logf("%6d idle subscribers: %.0f B/subscriber (heap +%d B, goroutines %+d)", n, per[n], grew, full.Goroutines-base.Goroutines)
		if got := bus.Subscribers(); got != n {
			t.Fatalf("%d subscribers, want %d", got, n)
		}
		// The queue is defaultBuffer events of 80 B, allocated up front
		// (about 20 KiB); 64 KiB would mean something else per subscriber.
		if per[n] <= 0 || per[n] > 64<<10 {
			t.Errorf("%d subscribers: %.0f B each, want (0, 64 KiB]", n, per[n])
		}
		if d := full.Goroutines - base.Goroutines; d > 2 {
			t.Errorf("%d subscribers: %d more goroutines; a subscription must not start one", n, d)
		}
		for _, s := range subs {
			s.Close()
		}
		clear(subs)
		after := memsample.Take()
		left := heapOver(after, base)
		t.Logf("%6d idle subscribers: after closing them, heap %+d B", n, left)
		if limit := grew / 20; left > limit {
			t.Errorf("%d subscribers: %d B still held after every subscription closed, want at most %d", n, left, limit)
		}
		if bus.Subscribers() != 0 {
			t.Errorf("%d subscribers left after closing all", bus.Subscribers())
		}
	}
	if per[10000] > 1.5*per[1000] {
		t.Errorf("per-subscriber heap grows with the count: %.0f B at 10,000, %.0f B at 1,000 (limit 1.5×)", per[10000], per[1000])
	}
	// The bus still works.
	s := bus.Subscribe(0, 1)
	defer s.Close()
	ev := bus.Publish(ToolsChanged, benchData)
	select {
	case got := <-s.C():
		if got.ID != ev.ID {
			t.Errorf("got event %d, want %d", got.ID, ev.ID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event after the subscribers left")
	}
}

// BenchmarkIdleSubscriberMemory reports the heap retained per idle
// subscription ("B/subscriber", the Handler's default queue) with 1,000
// and 10,000 subscribers, and the time to subscribe one. Each iteration
// uses a fresh bus.
//
//	go test -run '^$' -bench IdleSubscriberMemory -benchtime 3x ./pkg/events
func BenchmarkIdleSubscriberMemory(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			var per, ns, goroutines float64
			iters := 0
			for b.Loop() {
				bus := NewBus(Options{Logger: quietLogger()})
				subs := make([]*Subscription, n)
				base, full, took := subscribeIdle(bus, subs)
				ns += float64(took.Nanoseconds()) / float64(n)
				per += float64(heapOver(full, base)) / float64(n)
				goroutines += float64(full.Goroutines-base.Goroutines) / float64(n)
				iters++
				bus.Close()
			}
			b.ReportMetric(per/float64(iters), "B/subscriber")
			b.ReportMetric(goroutines/float64(iters), "goroutines/subscriber")
			b.ReportMetric(ns/float64(iters), "ns/subscriber")
		})
	}
}

// heapOver is how much heap b holds over a.
func heapOver(b, a memsample.Sample) int64 { h, _ := b.Over(a); return h }
