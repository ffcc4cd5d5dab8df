// Package metrics exposes the hub's Prometheus metrics. What happens (calls,
// approval decisions, refresh passes, HTTP requests) is pushed into
// counters and histograms as it happens, through hub.Observer and the
// router's request hook; what is state (servers up, pending approvals,
// event subscribers, catalog sizes) is read from the hub at scrape time, so
// it can never drift from what /mcp_hub/servers says.
//
// Every Metrics has its own registry: nothing is registered globally, so
// tests (and one process) can run many hubs.
package metrics

import (
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mcphub/mcphub/pkg/hub"
)

// namespace prefixes every metric of the hub's own.
const namespace = "mcphub"

// Buckets of the histograms, in seconds. Tool calls range from a
// millisecond to minutes; what the hub adds should stay well under a
// millisecond, so its buckets start at 10µs.
var (
	callBuckets     = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
	overheadBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1}
	refreshBuckets  = []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	httpBuckets     = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
)

// Options configure Metrics.
type Options struct {
	// Logger receives errors met while serving a scrape.
	Logger *slog.Logger
}

// Metrics is the hub's metrics registry. It is a hub.Observer (give it to
// hub.New), reads the hub's state once Watch is called, records HTTP
// requests (RequestDone) and serves the exposition format (ServeHTTP). Its
// methods are safe for concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	calls        *prometheus.CounterVec
	callDuration *prometheus.HistogramVec
	callOverhead prometheus.Histogram
	decisions    *prometheus.CounterVec
	refresh      prometheus.Histogram
	refreshErrs  *prometheus.CounterVec
	requests     *prometheus.CounterVec
	reqDuration  *prometheus.HistogramVec
}

var _ hub.Observer = (*Metrics)(nil)

// New builds the registry with the Go runtime and process collectors and
// the hub's event metrics. Call Watch to add the hub's state.
func New(opts Options) *Metrics {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	reg := prometheus.NewRegistry()
	m := &Metrics{
		reg: reg,
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "calls_total",
			Help: "Tool calls by server, tool and outcome. A call held for approval counts as pending, and once more with its result when an approval runs it.",
		}, []string{"server", "tool", "outcome"}),
		callDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "call_duration_seconds",
			Help:    "Time tool calls spent waiting for their downstream server, by server.",
			Buckets: callBuckets,
		}, []string{"server"}),
		callOverhead: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "call_hub_overhead_seconds",
			Help:    "Time the hub added to tool calls that reached their server: lookup, argument checks, result decoding.",
			Buckets: overheadBuckets,
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "approval_decisions_total",
			Help: "Approval requests decided: approved, rejected, expired (at their TTL) or reopened (approved, but the call never reached its server).",
		}, []string{"decision"}),
		refresh: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "refresh_duration_seconds",
			Help:    "Duration of refresh passes (ping, re-discover, reconnect every server), periodic or asked for.",
			Buckets: refreshBuckets,
		}),
		refreshErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "refresh_errors_total",
			Help: "Servers that failed a refresh pass (ping, re-discovery or reconnect), by server.",
		}, []string{"server"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: `HTTP requests by route (the route's pattern, or "unmatched"), method and status code.`,
		}, []string{"route", "method", "code"}),
		reqDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "http_request_duration_seconds",
			Help:    "HTTP request durations by route; event streams and calls waiting for approval count for as long as they stay open.",
			Buckets: httpBuckets,
		}, []string{"route"}),
	}
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.calls, m.callDuration, m.callOverhead, m.decisions, m.refresh, m.refreshErrs, m.requests, m.reqDuration,
	)
	// Seeded so that they are exported (as 0) before the first decision:
	// rate() and alerts then work from the start.
	for _, d := range []string{"approved", "rejected", "expired", "reopened"} {
		m.decisions.WithLabelValues(d)
	}
	m.handler = promhttp.InstrumentMetricHandler(reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ErrorHandling: promhttp.ContinueOnError, // a failing collector must not hide the others
		Registry:      reg,
	}))
	return m
}

// Watch adds what src reports at scrape time: servers up, reconnects,
// catalog sizes, pending approvals and event subscribers. Call it once,
// with the hub the Metrics observes.
func (m *Metrics) Watch(src Source) error {
	if err := m.reg.Register(newStateCollector(src)); err != nil {
		return fmt.Errorf("registering the hub's state metrics: %w", err)
	}
	return nil
}

// ServeHTTP serves the metrics in the Prometheus exposition formats.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) { m.handler.ServeHTTP(w, r) }

// CallDone counts a call and, when it reached its server, observes its
// latency: the server's part by server, the hub's part overall (per tool
// histograms would multiply the series by every tool of every server).
func (m *Metrics) CallDone(s hub.CallStats) {
	m.calls.WithLabelValues(s.Server, s.Tool, s.Outcome).Inc()
	if s.Ran {
		m.callDuration.WithLabelValues(s.Server).Observe(s.Downstream.Seconds())
		m.callOverhead.Observe(max(s.Total-s.Downstream, 0).Seconds())
	}
}

// ApprovalDecided counts an approval decision.
func (m *Metrics) ApprovalDecided(decision string) {
	m.decisions.WithLabelValues(decision).Inc()
}

// RefreshDone observes a refresh pass and counts the servers it failed.
func (m *Metrics) RefreshDone(r hub.RefreshReport) {
	m.refresh.Observe(r.Duration.Seconds())
	for _, s := range r.Servers {
		if s.Error != "" {
			m.refreshErrs.WithLabelValues(s.Server).Inc()
		}
	}
}

// RequestDone counts an HTTP request. route must be bounded (a route
// pattern, never the raw path); a method other than the standard ones is
// counted as "other", since clients may send any token.
func (m *Metrics) RequestDone(route, method string, status int, took time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), codeLabel(status)).Inc()
	m.reqDuration.WithLabelValues(route).Observe(took.Seconds())
}

func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// codes holds the labels of the status codes, so that counting a request
// does not format one.
var codes = func() [600]string {
	var c [600]string
	for i := range c {
		c[i] = strconv.Itoa(i)
	}
	return c
}()

func codeLabel(status int) string {
	if status < 100 || status >= len(codes) {
		return "other"
	}
	return codes[status]
}
