package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/server"
)

type replayed struct {
	id  string
	msg string
}

func store(t *testing.T, s *eventStore, session, stream, msg string) string {
	t.Helper()
	id, err := s.StoreEvent(context.Background(), session, stream, json.RawMessage(msg))
	if err != nil {
		t.Fatalf("StoreEvent: %v", err)
	}
	return id
}

func replay(s *eventStore, session, after string) (string, []replayed, error) {
	var got []replayed
	stream, err := s.ReplayEventsAfter(context.Background(), session, after, func(id string, m json.RawMessage) error {
		got = append(got, replayed{id, string(m)})
		return nil
	})
	return stream, got, err
}

func msgs(rs []replayed) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.msg
	}
	return out
}

func TestEventStoreReplaysOneStream(t *testing.T) {
	s := newEventStore(100)
	a1 := store(t, s, "s1", "A", `"a1"`)
	b1 := store(t, s, "s1", "B", `"b1"`)
	store(t, s, "s1", "A", `"a2"`)
	store(t, s, "s1", "B", `"b2"`)
	a3 := store(t, s, "s1", "A", `"a3"`)
	store(t, s, "s2", "A", `"other session"`)

	stream, got, err := replay(s, "s1", a1)
	if err != nil || stream != "A" || !slices.Equal(msgs(got), []string{`"a2"`, `"a3"`}) {
		t.Errorf("after a1: stream %q, %v, %v; want A [a2 a3]", stream, got, err)
	}
	if got[len(got)-1].id != a3 {
		t.Errorf("replayed ids %v, want the ids StoreEvent returned (a3=%s)", got, a3)
	}
	stream, got, err = replay(s, "s1", b1)
	if err != nil || stream != "B" || !slices.Equal(msgs(got), []string{`"b2"`}) {
		t.Errorf("after b1: stream %q, %v, %v; want B [b2]", stream, got, err)
	}
	stream, got, err = replay(s, "s1", a3)
	if err != nil || stream != "A" || len(got) != 0 {
		t.Errorf("after the last event: stream %q, %v, %v; want A and nothing", stream, got, err)
	}
	// Ids are unique across sessions and increasing.
	ids := []string{a1, b1, a3}
	for i := 1; i < len(ids); i++ {
		x, _ := strconv.ParseInt(ids[i-1], 10, 64)
		y, _ := strconv.ParseInt(ids[i], 10, 64)
		if y <= x {
			t.Errorf("ids not increasing: %v", ids)
		}
	}
}

func TestEventStoreUnknownIDs(t *testing.T) {
	s := newEventStore(100)
	id := store(t, s, "s1", "A", `1`)
	for _, tc := range []struct{ session, id string }{
		{"s1", "not-a-number"},
		{"s1", ""},
		{"s1", "999"},   // never issued
		{"s2", id},      // another session's event
		{"nobody", "1"}, // no such session
	} {
		stream, got, err := replay(s, tc.session, tc.id)
		if !errors.Is(err, server.ErrUnknownEventID) || stream != "" || len(got) != 0 {
			t.Errorf("replay(%q, %q): %q %v %v, want ErrUnknownEventID", tc.session, tc.id, stream, got, err)
		}
	}
}

func TestEventStoreBoundedPerSession(t *testing.T) {
	const limit = 3
	s := newEventStore(limit)
	var ids []string
	for i := range 5 {
		ids = append(ids, store(t, s, "s1", "A", strconv.Itoa(i)))
	}
	// Another session's events do not push s1's out.
	for i := range 10 {
		store(t, s, "s2", "A", strconv.Itoa(100+i))
	}
	s.mu.Lock()
	n1, n2 := len(s.sessions["s1"].events), len(s.sessions["s2"].events)
	s.mu.Unlock()
	if n1 != limit || n2 != limit {
		t.Fatalf("sessions keep %d and %d events, want %d each", n1, n2, limit)
	}
	for _, evicted := range ids[:2] {
		if _, _, err := replay(s, "s1", evicted); !errors.Is(err, server.ErrUnknownEventID) {
			t.Errorf("replay after evicted %s: %v, want ErrUnknownEventID", evicted, err)
		}
	}
	_, got, err := replay(s, "s1", ids[2])
	if err != nil || !slices.Equal(msgs(got), []string{"3", "4"}) {
		t.Errorf("replay after the oldest kept: %v %v, want [3 4]", got, err)
	}
	// A store of size zero still keeps the latest event.
	z := newEventStore(0)
	id := store(t, z, "s", "A", `1`)
	if _, _, err := replay(z, "s", id); err != nil {
		t.Errorf("newEventStore(0): %v", err)
	}
}

func TestEventStorePurgeSession(t *testing.T) {
	s := newEventStore(10)
	id1 := store(t, s, "s1", "A", `1`)
	store(t, s, "s1", "A", `2`)
	id2 := store(t, s, "s2", "A", `3`)
	store(t, s, "s2", "A", `4`)
	if err := s.PurgeSession(context.Background(), "s1"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := replay(s, "s1", id1); !errors.Is(err, server.ErrUnknownEventID) {
		t.Errorf("replay in a purged session: %v", err)
	}
	if _, got, err := replay(s, "s2", id2); err != nil || !slices.Equal(msgs(got), []string{"4"}) {
		t.Errorf("the other session after a purge: %v %v", got, err)
	}
	if err := s.PurgeSession(context.Background(), "never"); err != nil {
		t.Errorf("purging an unknown session: %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions["s1"]; ok {
		t.Error("a purged session is still held")
	}
}

func TestEventStoreCopiesMessages(t *testing.T) {
	s := newEventStore(10)
	buf := []byte(`"first"`)
	id := store(t, s, "s", "A", `"zero"`)
	if _, err := s.StoreEvent(context.Background(), "s", "A", buf); err != nil {
		t.Fatal(err)
	}
	copy(buf, `"XXXXX"`)
	_, got, err := replay(s, "s", id)
	if err != nil || !slices.Equal(msgs(got), []string{`"first"`}) {
		t.Errorf("after the caller reused its buffer: %v %v", got, err)
	}
}

func TestEventStoreSendError(t *testing.T) {
	s := newEventStore(10)
	id := store(t, s, "s", "A", `1`)
	store(t, s, "s", "A", `2`)
	store(t, s, "s", "A", `3`)
	boom := errors.New("client gone")
	calls := 0
	_, err := s.ReplayEventsAfter(context.Background(), "s", id, func(string, json.RawMessage) error {
		calls++
		return boom
	})
	if !errors.Is(err, boom) || calls != 1 {
		t.Errorf("send failing: %v after %d sends, want the error after 1", err, calls)
	}
}

func TestEventStoreConcurrent(t *testing.T) {
	s := newEventStore(50)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			session := fmt.Sprintf("s%d", w%3)
			for i := range 200 {
				id, err := s.StoreEvent(context.Background(), session, "A", json.RawMessage(strconv.Itoa(i)))
				if err != nil {
					t.Error(err)
					return
				}
				if i%10 == 0 {
					_, _, _ = replay(s, session, id)
				}
				if i%50 == 0 {
					_ = s.PurgeSession(context.Background(), session)
				}
			}
		})
	}
	wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, log := range s.sessions {
		if len(log.events) > 50 {
			t.Errorf("session %s holds %d events", name, len(log.events))
		}
	}
}
