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

// sweepTime is the least time, of tries, that one Sweep expiring n
// requests took.
func sweepTime(t *testing.T, n, tries int) time.Duration {
	t.Helper()
	best := time.Duration(1<<63 - 1)
	for range tries {
		s, past := sweepFill(t, n)
		start := time.Now()
		expired, err := s.Sweep(context.Background(), past)
		took := time.Since(start)
		if err != nil || len(expired) != n {
			t.Fatalf("Sweep expired %d (%v), want %d", len(expired), err, n)
		}
		for i := 1; i < len(expired); i++ {
			if expired[i].ExpiresAt.Before(expired[i-1].ExpiresAt) {
				t.Fatalf("expired out of order at %d", i)
			}
		}
		best = min(best, took)
	}
	return best
}

// TestSweepLinear: a Sweep that expires many requests at once (the hub
// sweeps every second, under the store's lock) costs about the same per
// request with 20,000 as with 2,000. Expiring them in map order made it
// quadratic: 10× per request at 20,000 (600 ms for that one Sweep).
func TestSweepLinear(t *testing.T) {
	small := sweepTime(t, 2000, 3)
	large := sweepTime(t, 20000, 3)
	ratio := (float64(large) / 20000) / (float64(small) / 2000)
	t.Logf("Sweep expiring 2,000: %v; 20,000: %v; per request ×%.1f", small, large, ratio)
	if ratio > 4 {
		t.Errorf("per-request Sweep cost is %.1f× higher at 20,000 than at 2,000 (%v vs %v), want at most 4×: quadratic?", ratio, large, small)
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
