package events

import (
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"
)

func newTestBus(t *testing.T, history int) *Bus {
	t.Helper()
	b := NewBus(Options{History: history, Logger: quietLogger()})
	t.Cleanup(b.Close)
	return b
}

// recv reads n events from s or fails after a generous deadline.
func recv(t *testing.T, s *Subscription, n int) []Event {
	t.Helper()
	out := make([]Event, 0, n)
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-s.C():
			if !ok {
				t.Fatalf("subscription ended after %d of %d events (lagged=%v)", len(out), n, s.Lagged())
			}
			out = append(out, *ev)
		case <-deadline:
			t.Fatalf("got %d of %d events before the deadline", len(out), n)
		}
	}
	return out
}

// wantIDs checks that evs have exactly the IDs from..to.
func wantIDs(t *testing.T, evs []Event, from, to uint64) {
	t.Helper()
	if len(evs) != int(to-from+1) {
		t.Fatalf("got %d events, want IDs %d..%d", len(evs), from, to)
	}
	for i, ev := range evs {
		if ev.ID != from+uint64(i) {
			t.Fatalf("event %d has ID %d, want %d", i, ev.ID, from+uint64(i))
		}
	}
}

// wantEnded checks that s's channel is closed with nothing left in it.
func wantEnded(t *testing.T, s *Subscription) {
	t.Helper()
	select {
	case ev, ok := <-s.C():
		if ok {
			t.Fatalf("subscription still yields event %d, want it ended", ev.ID)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription not ended")
	}
}

func TestPublishAssignsIDsTimeAndData(t *testing.T) {
	b := newTestBus(t, 0)
	s := b.Subscribe(0, 0)
	before := time.Now()
	first := b.Publish(ServerStatus, map[string]string{"server": "a", "status": "connected"})
	second := b.Publish(ToolsChanged, []int{1, 2})
	if first.ID != 1 || second.ID != 2 || b.LastID() != 2 {
		t.Fatalf("IDs %d, %d, LastID %d; want 1, 2, 2", first.ID, second.ID, b.LastID())
	}
	if first.Time.Before(before.Add(-time.Second)) || first.Time.After(time.Now()) {
		t.Fatalf("time %v not around now", first.Time)
	}
	got := recv(t, s, 2)
	if string(got[0].Data) != `{"server":"a","status":"connected"}` || got[0].Type != ServerStatus {
		t.Fatalf("first event = %s %s", got[0].Type, got[0].Data)
	}
	if string(got[1].Data) != `[1,2]` || got[1].Type != ToolsChanged {
		t.Fatalf("second event = %s %s", got[1].Type, got[1].Data)
	}
}

// The hand-built SSE line must be exactly json.Marshal(Event), on one line.
func TestWireLineMatchesJSONMarshal(t *testing.T) {
	b := newTestBus(t, 0)
	tests := []any{
		nil,
		"a \"quoted\" <html> & \n newline",
		map[string]any{"nested": []any{1.5, true, nil}},
		json.RawMessage("{\n  \"indented\": [1,\n 2]\n}"), // compacted by json.Marshal
	}
	for _, data := range tests {
		ev := b.Publish(Type("type\twith \"escapes\""), data)
		want, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		wire, err := ev.sse()
		if err != nil {
			t.Fatal(err)
		}
		if string(wire.Data) != string(want) {
			t.Errorf("wire line\n %s\nwant\n %s", wire.Data, want)
		}
		for _, c := range wire.Data {
			if c == '\n' || c == '\r' {
				t.Errorf("wire line has a line break: %q", wire.Data)
			}
		}
		var back Event
		if err := json.Unmarshal(wire.Data, &back); err != nil || back.ID != ev.ID || !back.Time.Equal(ev.Time) {
			t.Errorf("wire line %s does not round-trip: %v %+v", wire.Data, err, back)
		}
	}
}

func TestPublishDropsBadEvents(t *testing.T) {
	b := newTestBus(t, 0)
	s := b.Subscribe(0, 0)
	for _, tc := range []struct {
		name string
		typ  Type
		data any
	}{
		{"unmarshalable data", ToolsChanged, math.Inf(1)},
		{"channel data", ToolsChanged, make(chan int)},
		{"empty type", "", 1},
		{"line break in type", "a\nb", 1},
	} {
		if ev := b.Publish(tc.typ, tc.data); ev.ID != 0 {
			t.Errorf("%s: Publish returned ID %d, want a zero Event", tc.name, ev.ID)
		}
	}
	if b.LastID() != 0 || len(s.C()) != 0 {
		t.Fatalf("dropped events were counted: LastID %d, queued %d", b.LastID(), len(s.C()))
	}
	if ev := b.Publish(ToolsChanged, 1); ev.ID != 1 {
		t.Fatalf("next good event got ID %d, want 1", ev.ID)
	}
}

func TestSubscribeReplay(t *testing.T) {
	const history = 8
	tests := []struct {
		name       string
		published  int
		after      uint64
		wantFrom   uint64 // first replayed ID (0: none)
		wantTo     uint64
		wantMissed uint64
		wantReset  bool
	}{
		{"after 0 is live only", 5, 0, 0, 0, 0, false},
		{"replay after N", 5, 2, 3, 5, 0, false},
		{"after the last is nothing", 5, 5, 0, 0, 0, false},
		{"ring full, after still in it", 20, 14, 15, 20, 0, false},
		{"after just before the oldest", 20, 12, 13, 20, 0, false},
		{"after fell out of the ring", 20, 3, 13, 20, 9, false},
		{"after is newer than anything: another bus", 20, 100, 13, 20, 0, true},
		{"empty bus, stale after", 0, 7, 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBus(t, history)
			for i := 0; i < tc.published; i++ {
				b.Publish(Refresh, i)
			}
			s := b.Subscribe(tc.after, 4)
			var replay []Event
			if tc.wantFrom > 0 {
				replay = recv(t, s, int(tc.wantTo-tc.wantFrom+1))
				wantIDs(t, replay, tc.wantFrom, tc.wantTo)
			}
			if len(s.C()) != 0 {
				t.Fatalf("%d extra events queued", len(s.C()))
			}
			if n, reset := s.Missed(); n != tc.wantMissed || reset != tc.wantReset {
				t.Fatalf("Missed() = %d, %v; want %d, %v", n, reset, tc.wantMissed, tc.wantReset)
			}
			// Live events follow the replay without a gap, even though the
			// replay was larger than the buffer.
			next := b.Publish(Refresh, "live")
			if got := recv(t, s, 1); got[0].ID != next.ID {
				t.Fatalf("live event ID %d, want %d", got[0].ID, next.ID)
			}
		})
	}
}

func TestLaggingSubscriberEndsOthersContinue(t *testing.T) {
	b := newTestBus(t, 0)
	slow := b.Subscribe(0, 3)
	fast := b.Subscribe(0, 1000)
	const n = 50
	for i := 0; i < n; i++ {
		b.Publish(ToolsChanged, i)
	}
	// The slow one keeps the contiguous prefix it had room for, then ends.
	wantIDs(t, recv(t, slow, 3), 1, 3)
	wantEnded(t, slow)
	if !slow.Lagged() {
		t.Fatal("slow subscription ended but Lagged() is false")
	}
	wantIDs(t, recv(t, fast, n), 1, n)
	if fast.Lagged() {
		t.Fatal("fast subscription lagged")
	}
	if got := b.Subscribers(); got != 1 {
		t.Fatalf("Subscribers() = %d, want 1", got)
	}
	slow.Close() // idempotent after lag
	// Resuming from the last event it saw yields exactly the rest.
	again := b.Subscribe(3, 100)
	wantIDs(t, recv(t, again, n-3), 4, n)
}

func TestCloseEndsEverything(t *testing.T) {
	b := NewBus(Options{Logger: quietLogger()})
	subs := []*Subscription{b.Subscribe(0, 0), b.Subscribe(0, 0), b.Subscribe(0, 0)}
	b.Publish(Refresh, "x")
	b.Close()
	b.Close() // idempotent
	for _, s := range subs {
		wantIDs(t, recv(t, s, 1), 1, 1) // queued events stay readable
		wantEnded(t, s)
		if s.Lagged() {
			t.Fatal("closed subscription reports Lagged")
		}
		s.Close()
	}
	if got := b.Subscribers(); got != 0 {
		t.Fatalf("Subscribers() = %d after Close", got)
	}
	if ev := b.Publish(Refresh, "after close"); ev.ID != 0 {
		t.Fatalf("Publish after Close returned ID %d", ev.ID)
	}
	if b.LastID() != 1 {
		t.Fatalf("LastID() = %d after Close, want 1", b.LastID())
	}
	late := b.Subscribe(0, 0)
	wantEnded(t, late)
	late.Close()
}

func TestSubscriptionClose(t *testing.T) {
	b := newTestBus(t, 0)
	a, c := b.Subscribe(0, 0), b.Subscribe(0, 0)
	a.Close()
	a.Close()
	wantEnded(t, a)
	b.Publish(Refresh, 1)
	wantIDs(t, recv(t, c, 1), 1, 1)
	if b.Subscribers() != 1 {
		t.Fatalf("Subscribers() = %d, want 1", b.Subscribers())
	}
}

// Many publishers and subscribers at once: every subscriber sees a gap-free,
// strictly increasing sequence from where it joined to the end.
func TestConcurrentPublishSubscribe(t *testing.T) {
	const (
		publishers   = 4
		perPublisher = 500
		total        = publishers * perPublisher
		subscribers  = 8
	)
	b := newTestBus(t, total)
	var wg sync.WaitGroup
	errs := make(chan string, subscribers*2)

	for i := 0; i < subscribers; i++ {
		// Half join at the start, half mid-way resuming from some ID. Those
		// at the start subscribe here, before any publisher runs: live
		// only, one that joined after the last event would wait forever
		// (it did, once, on a busy machine).
		var start *Subscription
		if i%2 == 0 {
			start = b.Subscribe(0, total)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var after uint64
			s := start
			if i%2 == 1 {
				for b.LastID() < uint64(i*100) {
					time.Sleep(time.Millisecond)
				}
				after = uint64(i * 50)
				s = b.Subscribe(after, total)
			}
			defer s.Close()
			want := after + 1 // from event 1 for those that joined before any
			for ev := range s.C() {
				if ev.ID != want {
					errs <- "gap or reorder"
					return
				}
				want = ev.ID + 1
				if ev.ID == total {
					return
				}
			}
			errs <- "subscription ended early"
		}()
	}
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perPublisher; i++ {
				b.Publish(ToolsChanged, i)
				if i%50 == 0 {
					b.Subscribers() // contend on the lock from readers too
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if b.LastID() != total {
		t.Fatalf("LastID() = %d, want %d", b.LastID(), total)
	}
}

// Publish and Close racing: no panic (send on closed channel), no lost
// accounting.
func TestPublishCloseRace(t *testing.T) {
	b := NewBus(Options{Logger: quietLogger()})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := b.Subscribe(0, 1)
			defer s.Close()
			for j := 0; j < 200; j++ {
				b.Publish(Refresh, j)
			}
		}()
	}
	b.Close()
	wg.Wait()
	if b.Subscribers() != 0 {
		t.Fatalf("Subscribers() = %d", b.Subscribers())
	}
}
