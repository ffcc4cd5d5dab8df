package approval

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// sweepFill is a store holding n pending requests with n distinct expiries
// (one millisecond apart), all past at the returned instant.
func sweepFill(tb testing.TB, n int) (*MemoryStore, time.Time) {
	tb.Helper()
	s := NewMemoryStore(n, time.Hour)
	for i := range n {
		created := t0.Add(time.Duration(i) * time.Millisecond)
		r := Request{ID: "appr_" + strconv.Itoa(i), Server: "s", Tool: "t", Name: "s__t",
			CreatedAt: created, ExpiresAt: created.Add(time.Minute)}
		if err := s.Create(context.Background(), r); err != nil {
			tb.Fatal(err)
		}
	}
	return s, t0.Add(time.Minute + time.Duration(n)*time.Millisecond)
}

// TestSweepExpiresAll: one Sweep that expires many requests at once (the
// hub sweeps every second, under the store's lock) reports every one, in
// expiry order. Its cost per request is BenchmarkSweepExpired's: expiring
// them in map order made it quadratic (10x per request at 20,000, 600 ms
// for that one Sweep); sorted first, it is flat.
func TestSweepExpiresAll(t *testing.T) {
	for _, n := range []int{1, 2000} {
		s, past := sweepFill(t, n)
		expired, err := s.Sweep(context.Background(), past)
		if err != nil || len(expired) != n {
			t.Fatalf("Sweep expired %d (%v), want %d", len(expired), err, n)
		}
		for i := 1; i < len(expired); i++ {
			if expired[i].ExpiresAt.Before(expired[i-1].ExpiresAt) {
				t.Fatalf("expired out of order at %d", i)
			}
		}
		if again, _ := s.Sweep(context.Background(), past); len(again) != 0 {
			t.Errorf("a second Sweep expired %d more", len(again))
		}
	}
}

// BenchmarkSweepExpired is one Sweep expiring n requests with distinct
// expiries ("ns/expired").
//
//	go test -run '^$' -bench SweepExpired -benchtime 5x ./pkg/approval
func BenchmarkSweepExpired(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("expired=%d", n), func(b *testing.B) {
			var total time.Duration
			iters := 0
			for b.Loop() {
				b.StopTimer()
				s, past := sweepFill(b, n)
				b.StartTimer()
				start := time.Now()
				if _, err := s.Sweep(context.Background(), past); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				iters++
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(iters*n), "ns/expired")
		})
	}
}
