package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcphub/mcphub/pkg/faultserver"
)

// signature is one error the hub may answer while a fault is in force: its
// HTTP status and a text the error must contain. The mapping is the one
// test/e2e/faultinjection_test.go observes for each fault; the texts are
// the hub's kinds ("server not connected" is downstream.ErrNotConnected,
// which every transport failure and every call on a server that is down
// reports, with the cause after it).
type signature struct {
	status int
	says   string
}

var (
	sigDown      = signature{http.StatusServiceUnavailable, "server not connected"}
	sigTimeout   = signature{http.StatusGatewayTimeout, "timed out after"}
	sigSizeLimit = signature{http.StatusBadGateway, "size limit"}
	sigNotObject = signature{http.StatusBadGateway, "not an object"}
	// sigCutSSE is an SSE answer cut short.
	sigCutSSE = signature{http.StatusServiceUnavailable, "event stream answering"}
)

// faultDef is one fault the injector may put in force on a server.
type faultDef struct {
	kind string // what the report calls it
	spec string // the faultserver.Spec; "" is none. %d is replaced by a fresh token.
	// conn marks a fault that ends the hub's connection (the process
	// exits, the listener closes): its errors, the server being down, may
	// be seen until the hub has reconnected, i.e. up to -lookback after
	// the fault ended. Other faults are per call: only a call that was
	// running while the fault was in force may fail of it.
	conn bool
	sigs []signature
	// Why some answers differ from the ideal: known deviations, documented
	// in test/e2e/faultinjection_test.go.
	note string
}

// Known deviations from the ideal answer (see faultinjection_test.go).
const (
	noteStdioDropped = "504 where 502 is ideal: the hub's stdio reader skips the line"
)

// hugeBytes is the size of a huge answer: over the hub's 16 MiB bound on
// one downstream message (downstream.DefaultMaxMessageBytes), without
// making every huge answer cost 50 MB of loopback traffic.
const hugeBytes = 17 << 20

// stdioFaults and httpFaults are the faults of each kind of fault server.
var (
	stdioFaults = []*faultDef{
		{kind: "crash", spec: "crash", conn: true, sigs: []signature{sigDown}},
		{kind: "hang", spec: "hang", sigs: []signature{sigTimeout}},
		{kind: "stall", spec: "stall", sigs: []signature{sigTimeout}},
		// The hub's stdio reader (pkg/downstream/lines.go) skips a line it
		// cannot route, so these time out (504) instead of failing at once
		// (502). Should the hub learn
		// to answer 502, these come out UNEXPECTED: update them then.
		{kind: "not-json", spec: "not-json", sigs: []signature{sigTimeout}, note: noteStdioDropped},
		{kind: "no-id", spec: "no-id", sigs: []signature{sigTimeout}, note: noteStdioDropped},
		{kind: "wrong-id", spec: "wrong-id", sigs: []signature{sigTimeout}, note: noteStdioDropped},
		{kind: "result-not-object", spec: "result-not-object", sigs: []signature{sigNotObject}},
		// One line over the limit ends the session: the call gets 502, the
		// calls running beside it and those until the restart 503.
		{kind: "huge", spec: fmt.Sprintf("huge=%d", hugeBytes), conn: true, sigs: []signature{sigSizeLimit, sigDown}},
		// Both need a restart to show: the next work call crashes the
		// process, and every restart then exits at once / starts slower
		// than the 2 s timeout, until the fault ends.
		{kind: "exit-on-start", spec: "exit-on-start crash", conn: true, sigs: []signature{sigDown}},
		{kind: "slow-start", spec: "slow-start=4s crash", conn: true, sigs: []signature{sigDown}},
	}
	httpFaults = []*faultDef{
		{kind: "crash", spec: "crash", sigs: []signature{{http.StatusServiceUnavailable, "unexpected EOF"}, sigDown}},
		{kind: "crash-sse", spec: "crash-sse", sigs: []signature{sigCutSSE, sigDown}},
		{kind: "hang", spec: "hang", sigs: []signature{sigTimeout}},
		{kind: "stall", spec: "stall", sigs: []signature{sigTimeout}},
		{kind: "not-json", spec: "not-json", sigs: []signature{{http.StatusBadGateway, "is not a JSON object"}}},
		{kind: "no-id", spec: "no-id", sigs: []signature{{http.StatusBadGateway, "has no JSON-RPC id"}}},
		{kind: "wrong-id", spec: "wrong-id", sigs: []signature{{http.StatusBadGateway, "answered with id"}}},
		{kind: "result-not-object", spec: "result-not-object", sigs: []signature{sigNotObject}},
		{kind: "huge", spec: fmt.Sprintf("huge=%d", hugeBytes), sigs: []signature{sigSizeLimit}},
		{kind: "huge-sse", spec: fmt.Sprintf("huge-sse=%d", hugeBytes), sigs: []signature{sigSizeLimit}},
		// Closing the connections cuts answers mid-stream too.
		{kind: "refuse", spec: "refuse", conn: true, sigs: []signature{sigDown, sigCutSSE}},
		// A restart forgets the sessions (404): the hub initializes again
		// and retries; with a slow start that re-initialization fails, or
		// the call's timeout passes while it waits for it.
		{kind: "restart", spec: "restart=%d", conn: true},
		{kind: "slow-start", spec: "slow-start=4s restart=%d", conn: true, sigs: []signature{sigDown, sigTimeout}},
	}
	noFault = &faultDef{kind: "none"}
)

// selectFaults narrows defs to the kinds listed in only ("all": every one).
func selectFaults(defs []*faultDef, only map[string]bool) []*faultDef {
	if only == nil {
		return defs
	}
	var out []*faultDef
	for _, d := range defs {
		if only[d.kind] {
			out = append(out, d)
		}
	}
	return out
}

// faultTarget is one fault server under the hub: a stdio child steered by
// its control file, or an HTTP server in this process steered directly.
type faultTarget struct {
	name    string
	http    *faultserver.HTTPServer // HTTP
	control string                  // stdio
	defs    []*faultDef
	token   int // the last restart token
}

// specFor is def's spec, with a fresh restart token where it takes one.
func (ft *faultTarget) specFor(def *faultDef) string {
	if !strings.Contains(def.spec, "%d") {
		return def.spec
	}
	ft.token++
	return fmt.Sprintf(def.spec, ft.token)
}

// set puts spec in force.
func (ft *faultTarget) set(spec string) error {
	s, err := faultserver.ParseSpec(spec)
	if err != nil {
		return err
	}
	if ft.http != nil {
		return ft.http.Set(s)
	}
	return faultserver.WriteControl(ft.control, s)
}

// faultRecord is one fault the injector put in force, and when.
type faultRecord struct {
	server string
	def    *faultDef
	spec   string
	start  time.Time
	end    time.Time // zero while in force
}

// faultLog is every fault injected in a run, in order.
type faultLog struct {
	mu   sync.Mutex
	recs []*faultRecord
}

// begin records def as put in force on server now, ending the previous one.
func (l *faultLog) begin(server string, def *faultDef, spec string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(server, now)
	l.recs = append(l.recs, &faultRecord{server: server, def: def, spec: spec, start: now})
}

// end records that server's fault ended now.
func (l *faultLog) end(server string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked(server, now)
}

func (l *faultLog) endLocked(server string, now time.Time) {
	for i := len(l.recs) - 1; i >= 0; i-- {
		if r := l.recs[i]; r.server == server {
			if r.end.IsZero() {
				r.end = now
			}
			return
		}
	}
}

// callSlack is how long after a per-call fault ended a call may still
// meet it: the time between the hub sending a call and the server reading
// its faults.
const callSlack = 250 * time.Millisecond

// attribute finds a fault of server that explains an error (status, msg)
// of a call that ran from start to end: its signature matches and it was
// in force while the call ran (for a connection fault: up to lookback
// after it ended). It returns the latest such fault, or nil.
func (l *faultLog) attribute(server string, start, end time.Time, status int, msg string, lookback time.Duration) *faultRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := len(l.recs) - 1; i >= 0; i-- {
		r := l.recs[i]
		if r.server != server || r.start.After(end) {
			continue
		}
		until := r.end
		if until.IsZero() {
			until = end
		}
		if r.def.conn {
			until = until.Add(lookback)
		} else {
			until = until.Add(callSlack)
		}
		if start.After(until) {
			continue
		}
		for _, sig := range r.def.sigs {
			if status == sig.status && strings.Contains(msg, sig.says) {
				return r
			}
		}
	}
	return nil
}

// during reports whether a fault of kind was in force on server at some
// moment from start to end.
func (l *faultLog) during(server, kind string, start, end time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.recs {
		if r.server == server && r.def.kind == kind && !r.start.After(end) && (r.end.IsZero() || !r.end.Before(start)) {
			return true
		}
	}
	return false
}

// around describes server's faults in force from start-lookback to end,
// with times relative to t0, for the details of an unexpected outcome.
func (l *faultLog) around(server string, start, end, t0 time.Time, lookback time.Duration) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for _, r := range l.recs {
		if r.server != server || r.start.After(end) || (!r.end.IsZero() && r.end.Before(start.Add(-lookback))) {
			continue
		}
		until := "now"
		if !r.end.IsZero() {
			until = fmt.Sprintf("%.2fs", r.end.Sub(t0).Seconds())
		}
		spec := r.spec
		if spec == "" {
			spec = "none"
		}
		parts = append(parts, fmt.Sprintf("%s [%.2fs–%s]", spec, r.start.Sub(t0).Seconds(), until))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// faultStats is one fault kind of one server in the report.
type faultStats struct {
	Server   string  `json:"server"`
	Kind     string  `json:"kind"`
	Injected int     `json:"injected"`
	Seconds  float64 `json:"seconds_in_force"`
	Errors   int     `json:"errors_attributed"`
	Note     string  `json:"note,omitempty"`
}

// summary counts the injections by server and kind.
func (l *faultLog) summary(until time.Time, attributed map[string]int) []faultStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	idx := map[string]int{}
	var out []faultStats
	for _, r := range l.recs {
		key := r.server + "/" + r.def.kind
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, faultStats{Server: r.server, Kind: r.def.kind, Errors: attributed[key], Note: r.def.note})
		}
		end := r.end
		if end.IsZero() {
			end = until
		}
		out[i].Injected++
		out[i].Seconds += end.Sub(r.start).Seconds()
	}
	return out
}

// injected counts the faults (not "none") put in force.
func (l *faultLog) injected() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.recs {
		if r.def != noFault {
			n++
		}
	}
	return n
}

// inject switches ft's faults at random until ctx ends, every min to max:
// a fault, then another or (one time in three) none, so that the server
// also gets to recover. It ends with no fault in force.
func inject(ctx context.Context, ft *faultTarget, rng *rand.Rand, lo, hi time.Duration, log *faultLog, logf func(string, ...any)) error {
	defer log.end(ft.name, time.Now())
	prev := noFault
	for {
		def := noFault
		if prev == noFault || rng.IntN(3) > 0 {
			def = ft.defs[rng.IntN(len(ft.defs))]
		}
		spec := ft.specFor(def)
		log.begin(ft.name, def, spec, time.Now())
		if err := ft.set(spec); err != nil {
			return fmt.Errorf("injecting %q on %s: %w", spec, ft.name, err)
		}
		prev = def
		wait := lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
		select {
		case <-ctx.Done():
			now := time.Now()
			log.end(ft.name, now)
			if err := ft.set(""); err != nil {
				return fmt.Errorf("clearing the faults of %s: %w", ft.name, err)
			}
			logf("%s: faults cleared", ft.name)
			return nil
		case <-time.After(wait):
		}
	}
}
