package main

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// The kinds of endpoint the traffic covers; every one must see traffic.
const (
	kindCall     = "call"
	kindStream   = "call_stream"
	kindTools    = "tools"
	kindServers  = "servers"
	kindApproval = "approval"
	kindEvents   = "events"
)

var endpointKinds = []string{kindCall, kindStream, kindTools, kindServers, kindApproval, kindEvents}

// outcome is one request and what came of it.
type outcome struct {
	endpoint string // "POST /mcp_hub/call fstdio__work"
	kind     string // one of endpointKinds
	server   string // the downstream server it went to, if any
	fault    bool   // that server is a fault server
	start    time.Time
	took     time.Duration
	want     int    // the status that means success (200 unless set)
	status   int    // the HTTP status (a stream's error event's status)
	errMsg   string // the hub's error text
	// problem is set when a check of the tool failed: a wrong answer, no
	// answer, a broken connection. It makes the outcome unexpected.
	problem *problem
	aborted bool // cut short by Ctrl-C: not counted
}

// problem is an unexpected outcome's class (counted) and details.
type problem struct{ class, detail string }

func newProblem(class, format string, a ...any) *problem {
	return &problem{class: class, detail: fmt.Sprintf(format, a...)}
}

// unexpectedEntry is one unexpected outcome in the report.
type unexpectedEntry struct {
	AtSeconds float64 `json:"at_s"` // since the load started
	Endpoint  string  `json:"endpoint"`
	Class     string  `json:"class"`
	Status    int     `json:"status,omitempty"`
	TookMs    float64 `json:"took_ms,omitempty"`
	Detail    string  `json:"detail"`
	// Faults are the target server's faults in force around it.
	Faults string `json:"faults,omitempty"`
}

// epStats is one endpoint's tally.
type epStats struct {
	kind                          string
	requests, ok, injected, unexp int
	aborted                       int
	lat                           []time.Duration
}

// stats collects every outcome of a run.
type stats struct {
	mu         sync.Mutex
	t0         time.Time
	timeout    time.Duration // the servers' timeout
	lookback   time.Duration
	maxShown   int
	faults     *faultLog
	eps        map[string]*epStats
	byKind     map[string]int // "ok", "injected fhttp/hang 504", "unexpected: wrong answer"
	attributed map[string]int // "server/fault kind" → errors
	unexpected []unexpectedEntry
	nUnexp     int
}

func newStats(faults *faultLog, timeout, lookback time.Duration, maxShown int) *stats {
	return &stats{
		t0: time.Now(), timeout: timeout, lookback: lookback, maxShown: maxShown, faults: faults,
		eps: map[string]*epStats{}, byKind: map[string]int{}, attributed: map[string]int{},
	}
}

// record classifies o and counts it.
func (s *stats) record(o outcome) {
	if o.want == 0 {
		o.want = http.StatusOK
	}
	p, fault := o.problem, ""
	if p == nil && o.status != o.want {
		p, fault = s.classifyError(o)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ep := s.eps[o.endpoint]
	if ep == nil {
		ep = &epStats{kind: o.kind}
		s.eps[o.endpoint] = ep
	}
	if o.aborted {
		ep.aborted++
		return
	}
	ep.requests++
	ep.lat = append(ep.lat, o.took)
	switch {
	case p != nil:
		ep.unexp++
		s.unexpectedLocked(o, p)
	case fault != "":
		ep.injected++
		s.attributed[fault]++
		s.byKind[fmt.Sprintf("injected %s %d", fault, o.status)]++
	default:
		ep.ok++
		s.byKind["ok"]++
	}
}

// classifyError explains an error answer: by a fault in force on the
// server it went to (returning "server/kind"), or as a problem.
func (s *stats) classifyError(o outcome) (*problem, string) {
	msg := truncate(o.errMsg, 400)
	switch {
	case o.status == http.StatusInternalServerError:
		return newProblem("hub 500", "%s", msg), ""
	case !o.fault:
		return newProblem(fmt.Sprintf("error from a healthy server or the hub (%d)", o.status), "%s", msg), ""
	}
	rec := s.faults.attribute(o.server, o.start, o.start.Add(o.took), o.status, o.errMsg, s.lookback)
	switch {
	case rec == nil:
		return newProblem(fmt.Sprintf("fault-server error no fault in force explains (%d)", o.status), "%s", msg), ""
	case !strings.Contains(o.errMsg, "server "+o.server):
		return newProblem("error does not name the server", "%s", msg), ""
	case o.status == http.StatusGatewayTimeout && o.took < s.timeout-200*time.Millisecond:
		return newProblem("504 before the server's timeout", "after %v (timeout %v): %s", o.took.Round(time.Millisecond), s.timeout, msg), ""
	}
	return nil, o.server + "/" + rec.def.kind
}

// unexpected records a problem found outside a request (the hub died, its
// memory grew, the event stream broke).
func (s *stats) unexpectedEvent(endpoint, kind string, p *problem) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if endpoint != "" {
		ep := s.eps[endpoint]
		if ep == nil {
			ep = &epStats{kind: kind}
			s.eps[endpoint] = ep
		}
		ep.unexp++
	}
	s.unexpectedLocked(outcome{endpoint: endpoint, start: time.Now()}, p)
}

func (s *stats) unexpectedLocked(o outcome, p *problem) {
	s.nUnexp++
	s.byKind["UNEXPECTED: "+p.class]++
	if len(s.unexpected) >= s.maxShown {
		return
	}
	e := unexpectedEntry{
		AtSeconds: o.start.Sub(s.t0).Seconds(), Endpoint: o.endpoint, Class: p.class,
		Status: o.status, TookMs: float64(o.took.Microseconds()) / 1e3, Detail: p.detail,
	}
	if o.fault {
		e.Faults = s.faults.around(o.server, o.start, o.start.Add(o.took), s.t0, s.lookback)
	}
	s.unexpected = append(s.unexpected, e)
}

// endpointReport is one endpoint's figures.
type endpointReport struct {
	Endpoint   string  `json:"endpoint"`
	Kind       string  `json:"kind"`
	Requests   int     `json:"requests"`
	OK         int     `json:"ok"`
	Injected   int     `json:"injected_errors"`
	Unexpected int     `json:"unexpected"`
	Aborted    int     `json:"aborted,omitempty"`
	PerSec     float64 `json:"per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
}

// endpoints summarizes every endpoint over a load of secs seconds.
func (s *stats) endpoints(secs float64) []endpointReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []endpointReport
	for name, ep := range s.eps {
		lat := slices.Clone(ep.lat)
		slices.Sort(lat)
		r := endpointReport{
			Endpoint: name, Kind: ep.kind, Requests: ep.requests, OK: ep.ok, Injected: ep.injected,
			Unexpected: ep.unexp, Aborted: ep.aborted,
		}
		if secs > 0 {
			r.PerSec = float64(ep.requests) / secs
		}
		if len(lat) > 0 {
			r.P50ms, r.P99ms, r.MaxMs = ms(percentile(lat, 0.50)), ms(percentile(lat, 0.99)), ms(lat[len(lat)-1])
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		ki, kj := slices.Index(endpointKinds, out[i].Kind), slices.Index(endpointKinds, out[j].Kind)
		if ki != kj {
			return ki < kj
		}
		return out[i].Endpoint < out[j].Endpoint
	})
	return out
}

// percentile is the nearest-rank q-quantile of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1e3 }
