package events

import (
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultHistory = 1024
	defaultBuffer  = 256
)

// Options configures a Bus.
type Options struct {
	History int          // events kept for Last-Event-ID replay (default 1024)
	Logger  *slog.Logger // default slog.Default()
}

// Bus fans hub events out to subscribers and keeps a bounded history for
// replay. Publish never waits for a subscriber (see the package doc).
type Bus struct {
	log     *slog.Logger
	started time.Time
	closing atomic.Bool // lets Publish skip marshalling after Close

	mu     sync.Mutex
	closed bool
	lastID uint64
	ring   []*Event // fixed length History; the oldest event is at head
	head   int
	n      int             // events in ring
	subs   []*Subscription // live subscriptions, unordered (swap-remove)
}

// NewBus returns an open bus. It starts no goroutines.
func NewBus(opts Options) *Bus {
	if opts.History <= 0 {
		opts.History = defaultHistory
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Bus{
		log:     opts.Logger,
		started: time.Now().UTC(),
		ring:    make([]*Event, opts.History),
	}
}

// Publish marshals data (any JSON-marshalable value; a marshal error is
// logged and the event dropped), assigns the next ID and the time, appends
// it to the history and offers it to every subscriber without blocking.
// Safe for concurrent use; after Close it does nothing. Returns the event
// (zero Event if dropped).
//
// t must be non-empty and must not contain a line break (it becomes the SSE
// `event:` field); otherwise the event is dropped and logged.
func (b *Bus) Publish(t Type, data any) Event {
	if b.closing.Load() {
		return Event{}
	}
	if t == "" || strings.ContainsAny(string(t), "\r\n") {
		b.log.Error("events: dropping event with an invalid type", "type", t)
		return Event{}
	}
	// Encode outside the lock: marshalling arbitrary values can be slow.
	d, err := json.Marshal(data)
	if err != nil {
		b.log.Error("events: dropping event: cannot marshal its data", "type", t, "err", err)
		return Event{}
	}
	typeJSON, err := json.Marshal(string(t))
	if err != nil { // cannot happen for a string; kept so the error is not swallowed
		b.log.Error("events: dropping event: cannot marshal its type", "type", t, "err", err)
		return Event{}
	}

	lagged := 0
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return Event{}
	}
	b.lastID++
	// One event shared, read-only, by the history and every queue: a
	// queue holds pointers, so an idle subscriber's 256 slots take 2 KB,
	// not 20.
	ev := new(Event)
	*ev = newEvent(b.lastID, t, typeJSON, time.Now().UTC(), d)
	b.push(ev)
	// The sends happen under the lock so every subscriber sees IDs in order;
	// they are non-blocking, so the lock is held only for this loop.
	for i := 0; i < len(b.subs); {
		s := b.subs[i]
		select {
		case s.ch <- ev:
			i++
		default:
			s.lagged.Store(true)
			b.removeLocked(s) // moves the last subscription into slot i
			close(s.ch)
			lagged++
		}
	}
	b.mu.Unlock()

	if lagged > 0 {
		b.log.Info("events: ended lagging subscribers; they can resume from their last event",
			"count", lagged, "id", ev.ID)
	}
	return *ev
}

// push appends ev to the ring, evicting the oldest event when it is full.
func (b *Bus) push(ev *Event) {
	if b.n < len(b.ring) {
		b.ring[(b.head+b.n)%len(b.ring)] = ev
		b.n++
		return
	}
	b.ring[b.head] = ev
	b.head = (b.head + 1) % len(b.ring)
}

// at returns the i-th oldest event in the ring.
func (b *Bus) at(i int) *Event {
	return b.ring[(b.head+i)%len(b.ring)]
}

// Subscribe returns a subscription that first yields the history events with
// ID > after (after == 0: none, only live events), then every live event, in
// ID order, with no gaps unless it lagged. buffer bounds its queue (default
// 256 if <= 0); the queue also holds the replayed events.
//
// If after is older than the history, the subscription yields what the
// history has and Missed reports the gap. Subscribing to a closed bus returns
// an ended subscription.
func (b *Bus) Subscribe(after uint64, buffer int) *Subscription {
	return b.subscribe(after, after > 0, buffer)
}

// subscribe is Subscribe with the replay decision explicit: the Handler
// replays even after 0 when the client sent "Last-Event-ID: 0" (it has seen
// nothing, so it wants every event still in the history).
func (b *Bus) subscribe(after uint64, replay bool, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = defaultBuffer
	}
	b.mu.Lock()
	defer b.mu.Unlock()

	s := &Subscription{bus: b, idx: -1, lastID: b.lastID, start: b.lastID}
	if b.closed {
		s.busClosed = true
		s.ch = make(chan *Event)
		close(s.ch)
		return s
	}

	first := b.n // index in the ring of the first event to replay
	if replay {
		oldest := b.lastID - uint64(b.n) + 1 // ID of b.at(0) when b.n > 0
		switch {
		case after > b.lastID:
			s.reset = true
			first = 0
		case b.n > 0 && after+1 < oldest:
			s.missed = oldest - 1 - after
			first = 0
		default:
			first = b.n - int(b.lastID-after)
		}
		if first < b.n {
			s.start = b.at(first).ID - 1
		}
	}

	s.replayed = b.n - first
	s.ch = make(chan *Event, buffer+s.replayed)
	for i := first; i < b.n; i++ {
		s.ch <- b.at(i) // cannot block: the channel has room for the replay
	}
	s.idx = len(b.subs)
	b.subs = append(b.subs, s)
	return s
}

// removeLocked takes s out of b.subs; b.mu must be held.
func (b *Bus) removeLocked(s *Subscription) {
	last := len(b.subs) - 1
	moved := b.subs[last]
	b.subs[s.idx] = moved
	moved.idx = s.idx
	b.subs[last] = nil
	b.subs = b.subs[:last]
	s.idx = -1
}

// Close ends every subscription; idempotent. Later Publish calls do nothing
// and later Subscribe calls return ended subscriptions.
func (b *Bus) Close() {
	b.closing.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for _, s := range b.subs {
		s.idx = -1
		close(s.ch)
	}
	b.subs = nil
}

// Subscribers returns the number of live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// LastID returns the ID of the newest published event (0 if none).
func (b *Bus) LastID() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastID
}

// Started returns when the bus was created; StreamStart carries it so
// clients can tell one bus's IDs from another's.
func (b *Bus) Started() time.Time { return b.started }

// Subscription is one subscriber's queue. Its fields other than lagged are
// fixed at creation or guarded by bus.mu.
type Subscription struct {
	bus    *Bus
	ch     chan *Event
	idx    int // position in bus.subs, -1 once ended; guarded by bus.mu
	lagged atomic.Bool

	replayed int    // history events queued at creation
	lastID   uint64 // bus.LastID() at creation
	start    uint64 // every event with a larger ID follows, except what Missed reports
	missed   uint64
	reset    bool
	// busClosed: the bus was closed before the subscription was made.
	busClosed bool
}

// C returns the events, shared with every other subscriber: read them,
// never change them. It is closed when the subscription ends (Close,
// Bus.Close, or lag), after the events already queued.
func (s *Subscription) C() <-chan *Event { return s.ch }

// Lagged reports whether the subscription ended because its queue overflowed.
func (s *Subscription) Lagged() bool { return s.lagged.Load() }

// Missed reports what the subscription asked for but will not get: n events
// after `after` had already dropped out of the history, or reset is true
// because `after` was newer than any event (it came from another bus).
// Either way the subscriber should re-read the state it tracks.
func (s *Subscription) Missed() (n uint64, reset bool) { return s.missed, s.reset }

// Close ends the subscription; idempotent. Events already queued stay
// readable from C.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.idx < 0 {
		return
	}
	b.removeLocked(s)
	close(s.ch)
}
