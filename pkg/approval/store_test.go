package approval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// newReq returns a pending request for server/tool created at created,
// expiring a minute later.
func newReq(t testing.TB, server, tool string, created time.Time) Request {
	t.Helper()
	r, err := NewRequest(Call{Server: server, Tool: tool, Name: server + "__" + tool,
		Arguments: json.RawMessage(`{"n":1}`)}, created, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustCreate(t testing.TB, s Store, r Request) Request {
	t.Helper()
	if err := s.Create(context.Background(), r); err != nil {
		t.Fatalf("Create: %v", err)
	}
	return r
}

func TestCreateGet(t *testing.T) {
	ctx := t.Context()
	s := NewMemoryStore(10, time.Hour)
	r := newReq(t, "s", "t", t0)
	args := r.Arguments
	mustCreate(t, s, r)
	args[0] = 'X' // the store keeps its own copy
	got, err := s.Get(ctx, r.ID)
	if err != nil || got.ID != r.ID || string(got.Arguments) != `{"n":1}` || got.State(t0) != StatePending {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, "appr_nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(unknown) = %v", err)
	}
	decided := newReq(t, "s", "t", t0)
	decided.Decision = Approved
	backwards := newReq(t, "s", "t", t0)
	backwards.ExpiresAt = backwards.CreatedAt
	for name, bad := range map[string]Request{
		"duplicate id": r, "no id": {CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)},
		"decided": decided, "expires before created": backwards,
	} {
		if err := s.Create(ctx, bad); err == nil {
			t.Errorf("Create accepted a request: %s", name)
		}
	}
}

func TestCreateFull(t *testing.T) {
	ctx := t.Context()
	s := NewMemoryStore(2, time.Hour)
	a := mustCreate(t, s, newReq(t, "s", "a", t0))
	mustCreate(t, s, newReq(t, "s", "b", t0.Add(time.Second)))
	if err := s.Create(ctx, newReq(t, "s", "c", t0.Add(2*time.Second))); !errors.Is(err, ErrFull) {
		t.Fatalf("third Create = %v, want ErrFull", err)
	}
	// A decision frees a slot; decided requests do not count.
	if _, err := s.Decide(ctx, a.ID, Decision{Verdict: Rejected}, t0.Add(3*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, newReq(t, "s", "c", t0.Add(4*time.Second)))
	// Requests past their expiry do not count either, and Sweep still
	// reports them.
	late := t0.Add(time.Minute + 2*time.Second)
	mustCreate(t, s, newReq(t, "s", "d", late))
	expired, _ := s.Sweep(ctx, late)
	if len(expired) != 1 || expired[0].Tool != "b" {
		t.Errorf("Sweep after a full Create = %+v, want b", expired)
	}
}

func TestDecide(t *testing.T) {
	errCheck := errors.New("check says no")
	matches := func(r Request) error { return r.Matches("s", "t", r.Digest) }
	tests := []struct {
		name  string
		setup func(s *MemoryStore, id string) // runs before the Decide under test
		id    string                          // "" means the request's id
		d     Decision
		now   time.Time
		check func(Request) error
		want  error
		state State // at the Decide's now, after it
	}{
		{name: "approve", d: Decision{Approved, "bob", "ok"}, now: t0.Add(time.Second), check: matches, state: StateApproved},
		{name: "reject", d: Decision{Verdict: Rejected, Reason: "no"}, now: t0, state: StateRejected},
		{name: "unknown id", id: "appr_unknown", d: Decision{Verdict: Approved}, now: t0, want: ErrNotFound},
		{name: "at ExpiresAt", d: Decision{Verdict: Approved}, now: t0.Add(time.Minute), want: ErrExpired, state: StateExpired},
		{name: "after expiry", d: Decision{Verdict: Rejected}, now: t0.Add(time.Hour), want: ErrExpired, state: StateExpired},
		{name: "swept then decided with an earlier clock", d: Decision{Verdict: Approved}, now: t0.Add(time.Second),
			setup: func(s *MemoryStore, _ string) { _, _ = s.Sweep(context.Background(), t0.Add(time.Minute)) },
			want:  ErrExpired, state: StateExpired},
		{name: "approved twice", d: Decision{Verdict: Approved}, now: t0.Add(2 * time.Second),
			setup: func(s *MemoryStore, id string) {
				_, _ = s.Decide(context.Background(), id, Decision{Verdict: Approved}, t0.Add(time.Second), nil)
			},
			want: ErrAlreadyDecided, state: StateApproved},
		{name: "rejected, then approved after expiry", d: Decision{Verdict: Approved}, now: t0.Add(time.Hour),
			setup: func(s *MemoryStore, id string) {
				_, _ = s.Decide(context.Background(), id, Decision{Verdict: Rejected}, t0.Add(time.Second), nil)
			},
			want: ErrAlreadyDecided, state: StateRejected},
		{name: "check fails", d: Decision{Verdict: Approved}, now: t0.Add(time.Second),
			check: func(Request) error { return errCheck }, want: errCheck, state: StatePending},
		{name: "mismatch", d: Decision{Verdict: Approved}, now: t0.Add(time.Second),
			check: func(r Request) error { return r.Matches("s", "t", "other digest") }, want: ErrMismatch, state: StatePending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := NewMemoryStore(10, time.Hour)
			r := mustCreate(t, s, newReq(t, "s", "t", t0))
			if tt.setup != nil {
				tt.setup(s, r.ID)
			}
			id := cmpOr(tt.id, r.ID)
			got, err := s.Decide(ctx, id, tt.d, tt.now, tt.check)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decide = %v, want %v", err, tt.want)
			}
			if tt.want == ErrNotFound {
				return
			}
			stored, _ := s.Get(ctx, r.ID)
			if got.ID != r.ID || stored.State(tt.now) != tt.state && !(tt.state == StateExpired && errors.Is(err, ErrExpired)) {
				t.Errorf("after Decide: returned %+v, stored state %s, want %s", got, stored.State(tt.now), tt.state)
			}
			if tt.want == nil && (stored.Decision != tt.d.Verdict || stored.DecidedBy != tt.d.By ||
				stored.Reason != tt.d.Reason || !stored.DecidedAt.Equal(tt.now)) {
				t.Errorf("decision not recorded: %+v", stored)
			}
			if tt.want == errCheck || tt.want == ErrMismatch {
				// Nothing was recorded: the right call can still be approved.
				if _, err := s.Decide(ctx, id, Decision{Verdict: Approved}, tt.now, matches); err != nil {
					t.Errorf("Decide after a failed check: %v", err)
				}
			}
		})
	}
	s := NewMemoryStore(1, time.Hour)
	r := mustCreate(t, s, newReq(t, "s", "t", t0))
	if _, err := s.Decide(t.Context(), r.ID, Decision{Verdict: "maybe"}, t0, nil); err == nil {
		t.Error("unknown verdict accepted")
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestDecideConcurrent: of 100 concurrent approvals of one request exactly
// one wins; the rest see ErrAlreadyDecided.
func TestDecideConcurrent(t *testing.T) {
	s := NewMemoryStore(10, time.Hour)
	r := mustCreate(t, s, newReq(t, "s", "t", t0))
	var wins, already atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 100 {
		wg.Go(func() {
			<-start
			_, err := s.Decide(context.Background(), r.ID, Decision{Verdict: Approved, By: fmt.Sprint(i)}, t0.Add(time.Second),
				func(got Request) error { return got.Matches("s", "t", r.Digest) })
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, ErrAlreadyDecided):
				already.Add(1)
			default:
				t.Errorf("Decide: %v", err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || already.Load() != 99 {
		t.Errorf("%d wins, %d already decided; want 1 and 99", wins.Load(), already.Load())
	}
}

// TestDecideVersusExpiry races an approval a nanosecond before expiry
// against a Sweep at expiry: either the approval wins and Sweep never
// reports the request, or Sweep reports it and the approval fails.
func TestDecideVersusExpiry(t *testing.T) {
	var approvedFirst, expiredFirst int
	for range 200 {
		s := NewMemoryStore(10, time.Hour)
		r := mustCreate(t, s, newReq(t, "s", "t", t0))
		var (
			wg       sync.WaitGroup
			decided  error
			reported []Request
		)
		wg.Go(func() {
			_, decided = s.Decide(context.Background(), r.ID, Decision{Verdict: Approved}, r.ExpiresAt.Add(-1), nil)
		})
		wg.Go(func() { reported, _ = s.Sweep(context.Background(), r.ExpiresAt) })
		wg.Wait()
		again, _ := s.Sweep(context.Background(), r.ExpiresAt.Add(time.Second))
		got, _ := s.Get(context.Background(), r.ID)
		switch {
		case decided == nil && len(reported)+len(again) == 0 && got.State(r.ExpiresAt) == StateApproved:
			approvedFirst++
		case errors.Is(decided, ErrExpired) && len(reported) == 1 && len(again) == 0 && got.Decision == "":
			expiredFirst++
		default:
			t.Fatalf("inconsistent: Decide %v, Sweep %d then %d, stored %+v", decided, len(reported), len(again), got)
		}
	}
	t.Logf("approved first %d times, expired first %d times", approvedFirst, expiredFirst)
}

func TestSweep(t *testing.T) {
	ctx := t.Context()
	s := NewMemoryStore(10, time.Hour)
	a := mustCreate(t, s, newReq(t, "s", "a", t0))
	b := mustCreate(t, s, newReq(t, "s", "b", t0.Add(time.Second)))
	c := mustCreate(t, s, newReq(t, "s", "c", t0.Add(2*time.Second)))
	if _, err := s.Decide(ctx, c.ID, Decision{Verdict: Approved}, t0.Add(3*time.Second), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Sweep(ctx, t0.Add(30*time.Second)); len(got) != 0 {
		t.Errorf("nothing has expired yet, Sweep = %+v", got)
	}
	at := b.ExpiresAt
	got, _ := s.Sweep(ctx, at)
	if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID || got[0].State(at) != StateExpired {
		t.Fatalf("Sweep = %+v, want a and b, oldest first", got)
	}
	for _, later := range []time.Time{at, at.Add(time.Minute)} {
		if again, _ := s.Sweep(ctx, later); len(again) != 0 {
			t.Errorf("Sweep reported again: %+v", again)
		}
	}
	// Finished requests stay for the retention after they finished, then go.
	decidedC := t0.Add(3 * time.Second)
	for _, tc := range []struct {
		at           time.Time
		cGone, aGone bool
	}{
		{decidedC.Add(time.Hour - 1), false, false},
		{decidedC.Add(time.Hour), true, false},
		{a.ExpiresAt.Add(time.Hour), true, true},
	} {
		if _, err := s.Sweep(ctx, tc.at); err != nil {
			t.Fatal(err)
		}
		_, errC := s.Get(ctx, c.ID)
		_, errA := s.Get(ctx, a.ID)
		if errors.Is(errC, ErrNotFound) != tc.cGone || errors.Is(errA, ErrNotFound) != tc.aGone {
			t.Errorf("at %v: c %v, a %v; want gone %v, %v", tc.at.Sub(t0), errC, errA, tc.cGone, tc.aGone)
		}
	}
	if _, err := s.Sweep(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := len(s.byID) + len(s.pending) + len(s.finished) + len(s.unreported); n != 0 {
		t.Errorf("%d references left after everything's retention", n)
	}
}

// TestSweepBoundsFinished: no more than maxPending finished requests stay,
// however short the time they finished in.
func TestSweepBoundsFinished(t *testing.T) {
	ctx := t.Context()
	s := NewMemoryStore(5, time.Hour)
	var ids []string
	for i := range 20 {
		r := mustCreate(t, s, newReq(t, "s", "t", t0))
		if _, err := s.Decide(ctx, r.ID, Decision{Verdict: Rejected}, t0.Add(time.Duration(i)), nil); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := s.Sweep(ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	list, _ := s.List(ctx, Filter{Now: t0})
	if len(list) != 5 || len(s.finished) != 5 {
		t.Fatalf("%d requests kept, want 5", len(list))
	}
	if _, err := s.Get(ctx, ids[19]); err != nil {
		t.Errorf("the newest decision is gone: %v", err)
	}
}

func TestList(t *testing.T) {
	ctx := t.Context()
	s := NewMemoryStore(10, time.Hour)
	var rs []Request
	for i, server := range []string{"a", "b", "a", "a", "b"} {
		rs = append(rs, mustCreate(t, s, newReq(t, server, "t", t0.Add(time.Duration(i)*time.Second))))
	}
	decide := func(r Request, v Verdict) {
		if _, err := s.Decide(ctx, r.ID, Decision{Verdict: v}, t0.Add(10*time.Second), nil); err != nil {
			t.Fatal(err)
		}
	}
	decide(rs[1], Approved)
	decide(rs[2], Rejected)
	// rs[0] expires at t0+60s; the rest are pending until later.
	at := t0.Add(60 * time.Second)
	ids := func(idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, rs[i].ID)
		}
		return out
	}
	tests := []struct {
		name string
		f    Filter
		want []string
	}{
		{"all, newest first", Filter{Now: at}, ids(4, 3, 2, 1, 0)},
		{"pending", Filter{State: StatePending, Now: at}, ids(4, 3)},
		{"pending before expiry", Filter{State: StatePending, Now: at.Add(-1)}, ids(4, 3, 0)},
		{"expired", Filter{State: StateExpired, Now: at}, ids(0)},
		{"approved", Filter{State: StateApproved, Now: at}, ids(1)},
		{"rejected", Filter{State: StateRejected, Now: at}, ids(2)},
		{"server", Filter{Server: "a", Now: at}, ids(3, 2, 0)},
		{"server and state", Filter{Server: "b", State: StatePending, Now: at}, ids(4)},
		{"limit", Filter{Limit: 2, Now: at}, ids(4, 3)},
		{"nothing", Filter{Server: "c"}, nil},
	}
	for _, tt := range tests {
		got, err := s.List(ctx, tt.f)
		var gotIDs []string
		for _, r := range got {
			gotIDs = append(gotIDs, r.ID)
		}
		if err != nil || fmt.Sprint(gotIDs) != fmt.Sprint(tt.want) {
			t.Errorf("%s: List = %v, %v; want %v", tt.name, gotIDs, err, tt.want)
		}
	}
}

func TestWait(t *testing.T) {
	t.Run("wakes on decide", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := NewMemoryStore(10, time.Hour)
			r := mustCreate(t, s, newReq(t, "s", "t", time.Now()))
			go func() {
				time.Sleep(10 * time.Second)
				_, _ = s.Decide(context.Background(), r.ID, Decision{Verdict: Approved, By: "bob"}, time.Now(), nil)
			}()
			got, err := s.Wait(t.Context(), r.ID)
			if err != nil || got.Decision != Approved || got.DecidedBy != "bob" || time.Since(r.CreatedAt) != 10*time.Second {
				t.Errorf("Wait = %+v, %v after %v", got, err, time.Since(r.CreatedAt))
			}
		})
	})
	t.Run("wakes on expiry, for good", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := NewMemoryStore(10, time.Hour)
			r := mustCreate(t, s, newReq(t, "s", "t", time.Now()))
			got, err := s.Wait(t.Context(), r.ID)
			if err != nil || got.State(time.Now()) != StateExpired || !time.Now().Equal(r.ExpiresAt) {
				t.Errorf("Wait = %+v, %v at %v", got, err, time.Now())
			}
			// What the waiter saw stands, even for a clock that lags.
			if _, err := s.Decide(t.Context(), r.ID, Decision{Verdict: Approved}, r.ExpiresAt.Add(-time.Second), nil); !errors.Is(err, ErrExpired) {
				t.Errorf("Decide after Wait saw expiry = %v", err)
			}
			if swept, _ := s.Sweep(t.Context(), r.ExpiresAt.Add(-time.Second)); len(swept) != 1 || swept[0].ID != r.ID {
				t.Errorf("Sweep = %+v, want the request Wait expired", swept)
			}
		})
	})
	t.Run("returns on ctx", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := NewMemoryStore(10, time.Hour)
			r := mustCreate(t, s, newReq(t, "s", "t", time.Now()))
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			got, err := s.Wait(ctx, r.ID)
			if !errors.Is(err, context.DeadlineExceeded) || got.ID != r.ID || got.State(time.Now()) != StatePending {
				t.Errorf("Wait = %+v, %v", got, err)
			}
		})
	})
	t.Run("finished or unknown", func(t *testing.T) {
		s := NewMemoryStore(10, time.Hour)
		r := mustCreate(t, s, newReq(t, "s", "t", time.Now()))
		if _, err := s.Decide(t.Context(), r.ID, Decision{Verdict: Rejected}, time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Wait(t.Context(), r.ID); err != nil || got.Decision != Rejected {
			t.Errorf("Wait(decided) = %+v, %v", got, err)
		}
		past := mustCreate(t, s, newReq(t, "s", "t", time.Now().Add(-time.Hour)))
		if got, err := s.Wait(t.Context(), past.ID); err != nil || got.State(time.Now()) != StateExpired {
			t.Errorf("Wait(expired) = %+v, %v", got, err)
		}
		if _, err := s.Wait(t.Context(), "appr_nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Wait(unknown) = %v", err)
		}
	})
	t.Run("many waiters", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			s := NewMemoryStore(10, time.Hour)
			r := mustCreate(t, s, newReq(t, "s", "t", time.Now()))
			var woke atomic.Int32
			for range 50 {
				go func() {
					if got, err := s.Wait(context.Background(), r.ID); err == nil && got.Decision == Approved {
						woke.Add(1)
					}
				}()
			}
			synctest.Wait() // all waiting
			if _, err := s.Decide(t.Context(), r.ID, Decision{Verdict: Approved}, time.Now(), nil); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if woke.Load() != 50 {
				t.Errorf("%d of 50 waiters woke", woke.Load())
			}
		})
	})
}

func BenchmarkCreateDecide(b *testing.B) {
	ctx := context.Background()
	s := NewMemoryStore(1000, time.Minute)
	args := json.RawMessage(`{"path": "/tmp/report.txt", "force": true, "depth": 3}`)
	now := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r, err := NewRequest(Call{Server: "files", Tool: "delete", Name: "files__delete", Arguments: args}, now, time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Decide(ctx, r.ID, Decision{Verdict: Approved}, now,
			func(got Request) error { return got.Matches("files", "delete", r.Digest) }); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			_, _ = s.Sweep(ctx, now)
		}
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	s := NewMemoryStore(10, time.Hour)
	approve := func(id string, at time.Time) error {
		_, err := s.Decide(ctx, id, Decision{Verdict: Approved, By: "a"}, at, nil)
		return err
	}
	now := time.Now() // Wait below runs on the real clock
	r := mustCreate(t, s, newReq(t, "s", "t", now))
	if _, err := s.Reopen(ctx, r.ID, now); !errors.Is(err, ErrAlreadyDecided) {
		t.Errorf("Reopen(pending) = %v, want ErrAlreadyDecided", err)
	}
	if err := approve(r.ID, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.Reopen(ctx, r.ID, now)
	if err != nil || got.State(now) != StatePending || got.DecidedBy != "" || !got.DecidedAt.IsZero() {
		t.Fatalf("Reopen = %+v, %v", got, err)
	}
	if list, _ := s.List(ctx, Filter{State: StatePending, Now: now}); len(list) != 1 {
		t.Errorf("pending after Reopen: %+v", list)
	}
	// A reopened request waits again, and can be approved again, once.
	waited := make(chan Request, 1)
	go func() {
		w, _ := s.Wait(ctx, r.ID)
		waited <- w
	}()
	if err := approve(r.ID, time.Now()); err != nil {
		t.Fatalf("approve after Reopen: %v", err)
	}
	if w := <-waited; w.Decision != Approved {
		t.Errorf("Wait after Reopen = %+v", w)
	}
	if err := approve(r.ID, time.Now()); !errors.Is(err, ErrAlreadyDecided) {
		t.Errorf("second approval = %v", err)
	}
	// Reopened after its expiry, a request is expired and reported once.
	late := mustCreate(t, s, newReq(t, "s", "t", t0))
	if err := approve(late.ID, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	after := t0.Add(2 * time.Minute)
	if got, err := s.Reopen(ctx, late.ID, after); err != nil || got.State(after) != StateExpired {
		t.Errorf("Reopen after expiry = %+v, %v", got, err)
	}
	if expired, _ := s.Sweep(ctx, after); len(expired) != 1 || expired[0].ID != late.ID {
		t.Errorf("Sweep = %+v", expired)
	}
	if _, err := s.Reopen(ctx, "appr_nope", t0); !errors.Is(err, ErrNotFound) {
		t.Errorf("Reopen(unknown) = %v", err)
	}
}
