package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

const eventsEndpoint = "GET /mcp_hub/events"

// eventsReport is what the event subscriber saw.
type eventsReport struct {
	Received    int            `json:"received"`
	PerSec      float64        `json:"per_sec"`
	ByType      map[string]int `json:"by_type"`
	Connections int            `json:"connections"`
	// CutByTool counts the streams the tool ended on purpose (to resume
	// with Last-Event-ID); CutByHub those that ended otherwise.
	CutByTool    int     `json:"cut_by_tool"`
	CutByHub     int     `json:"cut_by_hub"`
	Resumed      int     `json:"resumed"` // streams that started with a Last-Event-ID the hub honoured (all of them)
	Gaps         int     `json:"gaps"`
	MaxSilenceMs float64 `json:"max_silence_ms"`
	// ApprovalsChecked are the decisions the workers made whose
	// approval_decided event the stream must have carried; Missing those
	// it did not.
	ApprovalsChecked int `json:"approvals_checked"`
	ApprovalsMissing int `json:"approvals_missing"`
}

// eventWatcher is the one long-lived GET /mcp_hub/events subscriber. It
// cuts its own stream every 1–4 s and resumes with Last-Event-ID (the
// first stream with Last-Event-ID 0: the whole history); it checks
// that ids follow each other without a gap, and remembers which approvals
// it saw decided. Only its goroutine touches it until run returns.
type eventWatcher struct {
	s      *soak
	rng    *rand.Rand
	rep    eventsReport
	lastID uint64
	haveID bool
	last   time.Time // the last hub event (not stream_start), or the start
	seen   map[string]bool
}

// newEventWatcher makes a watcher whose first stream resumes after event 0:
// it replays the hub's history from its start, so nothing published before
// it connected is missed.
func newEventWatcher(s *soak, rng *rand.Rand) *eventWatcher {
	return &eventWatcher{s: s, rng: rng, rep: eventsReport{ByType: map[string]int{}}, seen: map[string]bool{}, haveID: true}
}

// run subscribes until ctx ends.
func (w *eventWatcher) run(ctx context.Context) {
	w.last = time.Now()
	for ctx.Err() == nil {
		if err := w.stream(ctx); err != nil && ctx.Err() == nil {
			w.s.stats.unexpectedEvent(eventsEndpoint, kindEvents, newProblem("events: stream failed", "%v", err))
			select { // do not spin on a hub that is gone
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	w.silence(time.Now())
}

// stream reads one connection until the tool cuts it, the hub ends it, or
// ctx ends.
func (w *eventWatcher) stream(ctx context.Context) error {
	cut := 1*time.Second + time.Duration(w.rng.Int64N(int64(3*time.Second)))
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	errCut := errors.New("cut by the tool")
	timer := time.AfterFunc(cut, func() { cancel(errCut) })
	defer timer.Stop()

	req, err := http.NewRequestWithContext(sctx, http.MethodGet, w.s.base+"/mcp_hub/events", nil)
	if err != nil {
		return err
	}
	resumeFrom, resuming := w.lastID, w.haveID
	if resuming {
		req.Header.Set("Last-Event-ID", strconv.FormatUint(resumeFrom, 10))
	}
	resp, err := w.s.hc.Do(req)
	if err != nil {
		if errors.Is(context.Cause(sctx), errCut) {
			w.rep.CutByTool++
			return nil
		}
		return fmt.Errorf("connecting: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	w.rep.Connections++
	started := false
	var problem error
	err = readSSE(resp.Body, func(ev sseEvent) bool {
		id, perr := strconv.ParseUint(ev.id, 10, 64)
		if !ev.hasID || perr != nil {
			problem = fmt.Errorf("event %q without a numeric id: %.200s", ev.name, ev.data)
			return false
		}
		if !started {
			started = true
			if problem = w.start(ev, id, resuming, resumeFrom); problem != nil {
				return false
			}
			return true
		}
		w.event(ev, id)
		return true
	})
	switch {
	case problem != nil:
		return problem
	case errors.Is(context.Cause(sctx), errCut):
		w.rep.CutByTool++
		return nil
	case ctx.Err() != nil:
		return nil
	case !started:
		return fmt.Errorf("the stream ended before its stream_start event (%v)", err)
	default:
		w.rep.CutByHub++ // allowed: the stream resumes
		return nil
	}
}

// start checks a stream's first event, stream_start: a resumed stream
// continues exactly where the last one stopped, with nothing missed.
func (w *eventWatcher) start(ev sseEvent, id uint64, resuming bool, from uint64) error {
	var info struct {
		Resumed bool   `json:"resumed"`
		After   uint64 `json:"after"`
		Missed  uint64 `json:"missed"`
		Reset   bool   `json:"reset"`
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if ev.name != "stream_start" || json.Unmarshal(ev.data, &env) != nil || json.Unmarshal(env.Data, &info) != nil {
		return fmt.Errorf("first event %q %.200s, want stream_start", ev.name, ev.data)
	}
	if resuming {
		if !info.Resumed || info.After != from || id != from || info.Missed != 0 || info.Reset {
			return fmt.Errorf("resumed after %d: stream_start id %d %s", from, id, env.Data)
		}
		w.rep.Resumed++
	}
	w.lastID, w.haveID = id, true
	return nil
}

// event counts a hub event and checks that it follows the last one.
func (w *eventWatcher) event(ev sseEvent, id uint64) {
	if id != w.lastID+1 {
		w.rep.Gaps++
		w.s.stats.unexpectedEvent(eventsEndpoint, kindEvents,
			newProblem("events: ids not consecutive", "event %d (%s) after %d", id, ev.name, w.lastID))
	}
	w.lastID = id
	now := time.Now()
	w.silence(now)
	w.last = now
	w.rep.Received++
	w.rep.ByType[ev.name]++
	if ev.name == "approval_decided" {
		var env struct {
			Data struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if json.Unmarshal(ev.data, &env) == nil {
			w.seen[env.Data.ID] = true
		}
	}
}

func (w *eventWatcher) silence(now time.Time) {
	if d := ms(now.Sub(w.last)); d > w.rep.MaxSilenceMs {
		w.rep.MaxSilenceMs = d
	}
}

// finish checks, once run has returned, that the stream carried the
// decision of every approval in decided, and that it never went silent for
// longer than maxSilence; secs is the load's length.
func (w *eventWatcher) finish(decided []string, maxSilence time.Duration, secs float64) eventsReport {
	var missing []string
	for _, id := range decided {
		if !w.seen[id] {
			missing = append(missing, id)
		}
	}
	w.rep.ApprovalsChecked, w.rep.ApprovalsMissing = len(decided), len(missing)
	if len(missing) > 0 {
		w.s.stats.unexpectedEvent(eventsEndpoint, kindEvents, newProblem("events: approval_decided missing",
			"%d of %d decided approvals never appeared on the stream, e.g. %v", len(missing), len(decided), missing[:min(3, len(missing))]))
	}
	if w.rep.MaxSilenceMs > ms(maxSilence) {
		w.s.stats.unexpectedEvent(eventsEndpoint, kindEvents, newProblem("events: stream went silent",
			"no event for %.1f s (bound %v)", w.rep.MaxSilenceMs/1e3, maxSilence))
	}
	if secs > 0 {
		w.rep.PerSec = float64(w.rep.Received) / secs
	}
	return w.rep
}
