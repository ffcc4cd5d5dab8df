package approval

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Store keeps approval requests. Implementations are safe for concurrent
// use. Times are passed in (now) so that every decision about expiry is
// made against one clock the caller controls; Wait alone uses the real
// clock, because it sleeps.
type Store interface {
	// Create adds a pending request (see NewRequest). It returns ErrFull
	// when the store already holds its maximum of pending requests, and an
	// error if r is not a well-formed pending request or its id is taken.
	Create(ctx context.Context, r Request) error
	// Get returns the request with id, or ErrNotFound.
	Get(ctx context.Context, id string) (Request, error)
	// Decide records d on the request with id, atomically: ErrNotFound if
	// there is none; ErrAlreadyDecided if it was decided before (whether or
	// not it has expired since); ErrExpired if now is not before its
	// ExpiresAt or it was already reported expired; else check's error if
	// check (which may be nil) returns one. Only then is the decision
	// recorded, with DecidedAt now, and the decided request returned. On
	// ErrAlreadyDecided, ErrExpired and check's error the request is
	// returned too, unchanged. Of concurrent Decide calls on one id at most
	// one succeeds.
	//
	// check runs while the store is locked: it must be quick and must not
	// call the store.
	Decide(ctx context.Context, id string, d Decision, now time.Time, check func(Request) error) (Request, error)
	// List returns the requests that pass f, newest (CreatedAt) first.
	List(ctx context.Context, f Filter) ([]Request, error)
	// Sweep reports the requests that expired undecided since the last
	// Sweep (each exactly once, oldest expiry first), and forgets finished
	// requests older than the store's retention. Call it periodically.
	Sweep(ctx context.Context, now time.Time) (expired []Request, err error)
	// Wait blocks until the request with id is decided or expires (by the
	// real clock), then returns it; it returns at once for a finished
	// request. When ctx ends first it returns the request as it stands and
	// ctx's error, so a caller can send heartbeats by waiting in slices:
	//
	//	for {
	//		wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	//		r, err := store.Wait(wctx, id)
	//		cancel()
	//		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
	//			heartbeat()
	//			continue
	//		}
	//		...
	//	}
	Wait(ctx context.Context, id string) (Request, error)
	// Reopen undoes an approval whose call certainly never reached its
	// server, so the request can be approved again (or expire). It is
	// ErrNotFound for an unknown id and ErrAlreadyDecided for a request
	// that is not approved.
	Reopen(ctx context.Context, id string, now time.Time) (Request, error)
}

// Filter selects requests for List. Zero fields select everything.
type Filter struct {
	// State keeps requests in this state at Now.
	State State
	// Server keeps requests for this server.
	Server string
	// Limit is the most requests returned (the newest); 0 means no limit.
	Limit int
	// Now is the instant State is computed at; zero means time.Now().
	Now time.Time
}

// MemoryStore is a Store in memory. It holds at most maxPending pending
// requests; after each Sweep it also holds at most maxPending finished ones
// (decided or expired), none older than the retention, so its memory is
// bounded. Per request it keeps the request, a channel and a few words.
//
// A request becomes expired for good the first time the store sees it
// past its ExpiresAt (in Sweep, Decide, Wait or a full Create); from then
// on no Decide can succeed, whatever its now, and the next Sweep reports it.
type MemoryStore struct {
	maxPending int
	retention  time.Duration

	mu      sync.Mutex
	byID    map[string]*entry
	pending map[string]*entry // undecided and not known expired
	// finished holds decided and expired entries by finishedAt, oldest
	// first, for garbage collection; unreported the expired ones Sweep has
	// not returned yet.
	finished   []*entry
	unreported []*entry
}

type entry struct {
	req Request
	// done is closed when the request is decided or found expired.
	done    chan struct{}
	expired bool
	// finishedAt is DecidedAt or ExpiresAt, from when retention counts.
	finishedAt time.Time
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store holding at most maxPending pending
// requests, and keeping finished ones for retention (both at least 1).
func NewMemoryStore(maxPending int, retention time.Duration) *MemoryStore {
	return &MemoryStore{
		maxPending: max(maxPending, 1),
		retention:  max(retention, 1),
		byID:       make(map[string]*entry),
		pending:    make(map[string]*entry),
	}
}

// SetMaxPending changes the bound on pending requests, for config reloads.
// Requests already pending stay, even beyond a lower bound.
func (s *MemoryStore) SetMaxPending(n int) {
	s.mu.Lock()
	s.maxPending = max(n, 1)
	s.mu.Unlock()
}

// Create implements Store. r.CreatedAt is the current time: requests
// pending past it do not count towards the limit.
func (s *MemoryStore) Create(_ context.Context, r Request) error {
	switch {
	case r.ID == "":
		return errors.New("approval: request without an id")
	case r.Decision != "" || !r.DecidedAt.IsZero():
		return fmt.Errorf("approval: request %s is already decided", r.ID)
	case !r.ExpiresAt.After(r.CreatedAt):
		return fmt.Errorf("approval: request %s expires before it is created", r.ID)
	}
	r.Arguments = bytes.Clone(r.Arguments) // the caller may reuse its buffer
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.byID[r.ID]; dup {
		return fmt.Errorf("approval: duplicate request id %s", r.ID)
	}
	if len(s.pending) >= s.maxPending {
		s.expirePending(r.CreatedAt)
		if len(s.pending) >= s.maxPending {
			return ErrFull
		}
	}
	e := &entry{req: r, done: make(chan struct{})}
	s.byID[r.ID] = e
	s.pending[r.ID] = e
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(_ context.Context, id string) (Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	if !ok {
		return Request{}, ErrNotFound
	}
	return e.req, nil
}

// Decide implements Store.
func (s *MemoryStore) Decide(_ context.Context, id string, d Decision, now time.Time, check func(Request) error) (Request, error) {
	if d.Verdict != Approved && d.Verdict != Rejected {
		return Request{}, fmt.Errorf("approval: unknown verdict %q", d.Verdict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	switch {
	case !ok:
		return Request{}, ErrNotFound
	case e.req.Decision != "":
		return e.req, ErrAlreadyDecided
	case e.expired:
		return e.req, ErrExpired
	case !now.Before(e.req.ExpiresAt):
		s.expire(e)
		return e.req, ErrExpired
	}
	if check != nil {
		if err := check(e.req); err != nil {
			return e.req, err
		}
	}
	e.req.Decision, e.req.DecidedBy, e.req.Reason, e.req.DecidedAt = d.Verdict, d.By, d.Reason, now
	s.finish(e, now)
	return e.req, nil
}

// List implements Store.
func (s *MemoryStore) List(_ context.Context, f Filter) ([]Request, error) {
	now := f.Now
	if now.IsZero() {
		now = time.Now()
	}
	s.mu.Lock()
	var out []Request
	for _, e := range s.byID {
		if f.Server != "" && e.req.Server != f.Server {
			continue
		}
		if f.State != "" && s.state(e, now) != f.State {
			continue
		}
		out = append(out, e.req)
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b Request) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = slices.Clip(out[:f.Limit])
	}
	return out, nil
}

// state is e's state at now, counting expiry the store has seen.
func (s *MemoryStore) state(e *entry, now time.Time) State {
	if e.expired {
		return StateExpired
	}
	return e.req.State(now)
}

// Sweep implements Store.
func (s *MemoryStore) Sweep(_ context.Context, now time.Time) ([]Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expirePending(now)
	var out []Request
	if len(s.unreported) > 0 {
		slices.SortFunc(s.unreported, func(a, b *entry) int {
			return cmp.Or(a.req.ExpiresAt.Compare(b.req.ExpiresAt), cmp.Compare(a.req.ID, b.req.ID))
		})
		out = make([]Request, len(s.unreported))
		for i, e := range s.unreported {
			out[i] = e.req
		}
		clear(s.unreported)
		s.unreported = s.unreported[:0]
	}
	// Oldest first: by age, then by count.
	for len(s.finished) > 0 {
		e := s.finished[0]
		if len(s.finished) <= s.maxPending && now.Sub(e.finishedAt) < s.retention {
			break
		}
		delete(s.byID, e.req.ID)
		s.finished[0] = nil
		s.finished = s.finished[1:]
	}
	return out, nil
}

// Wait implements Store.
func (s *MemoryStore) Wait(ctx context.Context, id string) (Request, error) {
	s.mu.Lock()
	e, ok := s.byID[id]
	if !ok {
		s.mu.Unlock()
		return Request{}, ErrNotFound
	}
	done, expiresAt := e.done, e.req.ExpiresAt
	s.mu.Unlock()

	timer := time.NewTimer(time.Until(expiresAt))
	defer timer.Stop()
	for {
		select {
		case <-done:
			return s.snapshot(e), nil
		case <-ctx.Done():
			return s.snapshot(e), ctx.Err()
		case <-timer.C:
			if d := time.Until(expiresAt); d > 0 { // the wall clock moved back
				timer.Reset(d)
				continue
			}
			s.mu.Lock()
			if e.req.Decision == "" && !e.expired {
				s.expire(e)
			}
			r := e.req
			s.mu.Unlock()
			return r, nil
		}
	}
}

// Reopen implements Store.
func (s *MemoryStore) Reopen(_ context.Context, id string, now time.Time) (Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byID[id]
	switch {
	case !ok:
		return Request{}, ErrNotFound
	case e.req.Decision != Approved:
		return e.req, ErrAlreadyDecided
	}
	if i := slices.Index(s.finished, e); i >= 0 {
		s.finished = slices.Delete(s.finished, i, i+1)
	}
	e.req.Decision, e.req.DecidedBy, e.req.Reason, e.req.DecidedAt = "", "", "", time.Time{}
	e.finishedAt = time.Time{}
	e.done = make(chan struct{}) // the old one told waiters of the approval
	if !now.Before(e.req.ExpiresAt) {
		s.expire(e)
	} else {
		s.pending[id] = e
	}
	return e.req, nil
}

func (s *MemoryStore) snapshot(e *entry) Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return e.req
}

// expirePending expires every pending request past its ExpiresAt at now,
// oldest expiry first. finish keeps s.finished in finishedAt order by
// scanning back from the end, so expiring in map order (random) would make
// each one scan and shift the others of the batch: quadratic, under the
// lock (10,000 at once took 120 ms, 20,000 600 ms).
func (s *MemoryStore) expirePending(now time.Time) {
	var due []*entry
	for _, e := range s.pending {
		if !now.Before(e.req.ExpiresAt) {
			due = append(due, e)
		}
	}
	slices.SortFunc(due, func(a, b *entry) int {
		return cmp.Or(a.req.ExpiresAt.Compare(b.req.ExpiresAt), cmp.Compare(a.req.ID, b.req.ID))
	})
	for _, e := range due {
		s.expire(e)
	}
}

// expire marks a pending e expired for good, for the next Sweep to report.
func (s *MemoryStore) expire(e *entry) {
	e.expired = true
	s.unreported = append(s.unreported, e)
	s.finish(e, e.req.ExpiresAt)
}

// finish moves e from pending to finished and wakes its waiters.
func (s *MemoryStore) finish(e *entry, at time.Time) {
	e.finishedAt = at
	delete(s.pending, e.req.ID)
	// Requests mostly finish in time order, so this is mostly an append.
	i := len(s.finished)
	for i > 0 && s.finished[i-1].finishedAt.After(at) {
		i--
	}
	s.finished = slices.Insert(s.finished, i, e)
	close(e.done)
}
