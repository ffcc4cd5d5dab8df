package metrics_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/exampleserver/exampletest"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/metrics"
)

// exampleBin is cmd/example-server, built once for the stdio servers.
var exampleBin string

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) { exampletest.Main(m, &exampleBin) }

func server(name string, tr config.Transport) config.Server {
	return config.Server{
		Name: name, Transport: tr, Enabled: true,
		Timeout:         10 * time.Second,
		ProtocolVersion: config.DefaultProtocolVersion,
		Backoff:         config.Backoff{Initial: 50 * time.Millisecond, Max: 500 * time.Millisecond},
	}
}

// downServer is an HTTP server nobody listens for, kept in backoff.
func downServer(t *testing.T, name string) config.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := server(name, config.TransportStreamableHTTP)
	s.Endpoint = "http://" + addr + "/mcp"
	s.Backoff = config.Backoff{Initial: time.Minute, Max: time.Minute}
	return s
}

// slowServer is the example server over Streamable HTTP with a timeout
// short enough for slow_count to exceed it. Call it before the hub starts,
// so that the hub stops first.
func slowServer(t *testing.T, name string) config.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/mcp", exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	ts := httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	s := server(name, config.TransportStreamableHTTP)
	s.Endpoint = ts.URL + "/mcp"
	s.Timeout = 500 * time.Millisecond
	return s
}

// startHub runs a real hub observed by a fresh Metrics, with the example
// server as a stdio child ("example", its delete tool gated by approval)
// a server that is down ("down") and one whose calls time out ("slow"); it
// serves the metrics on a real
// socket and returns their URL.
func startHub(t *testing.T) (*hub.Hub, string) {
	t.Helper()
	ex := server("example", config.TransportStdio)
	ex.Command = exampleBin
	ex.RequireApproval = []string{"delete_*"}
	cfg := config.Default()
	cfg.Servers = []config.Server{ex, downServer(t, "down"), slowServer(t, "slow")}
	m := metrics.New(metrics.Options{Logger: quiet})
	h, err := hub.New(cfg, hub.Options{Logger: quiet, Observer: m})
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	if err := m.Watch(h); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := m.Watch(h); err == nil {
		t.Error("a second Watch succeeded; want an error (the state would be reported twice)")
	}
	h.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := h.Stop(ctx); err != nil {
			t.Errorf("hub.Stop: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.WaitFirstAttempt(ctx); err != nil {
		t.Fatalf("servers did not try to connect: %v", err)
	}
	waitFor(t, "servers settled", func() bool {
		for _, s := range h.Servers() {
			if s.Status != "ready" && s.Status != "backoff" {
				return false
			}
		}
		return true
	})
	ts := httptest.NewServer(m)
	t.Cleanup(ts.Close)
	return h, ts.URL
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetricsFollowTheHub(t *testing.T) {
	h, url := startHub(t)
	ctx := context.Background()
	before := scrape(t, url)

	// Families that exist before any traffic, with their types.
	for name, typ := range map[string]dto.MetricType{
		"mcphub_server_up":                  dto.MetricType_GAUGE,
		"mcphub_server_reconnects_total":    dto.MetricType_COUNTER,
		"mcphub_server_connect_failures":    dto.MetricType_GAUGE,
		"mcphub_catalog_tools":              dto.MetricType_GAUGE,
		"mcphub_catalog_resources":          dto.MetricType_GAUGE,
		"mcphub_catalog_resource_templates": dto.MetricType_GAUGE,
		"mcphub_catalog_prompts":            dto.MetricType_GAUGE,
		"mcphub_approvals_pending":          dto.MetricType_GAUGE,
		"mcphub_events_subscribers":         dto.MetricType_GAUGE,
		"mcphub_approval_decisions_total":   dto.MetricType_COUNTER,
		"mcphub_call_hub_overhead_seconds":  dto.MetricType_HISTOGRAM,
		"mcphub_refresh_duration_seconds":   dto.MetricType_HISTOGRAM,
		"go_goroutines":                     dto.MetricType_GAUGE,
		"process_resident_memory_bytes":     dto.MetricType_GAUGE,
	} {
		f, ok := before[name]
		if !ok {
			t.Errorf("family %s missing", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
		}
	}
	for _, want := range []struct {
		name   string
		labels map[string]string
		value  float64
	}{
		{"mcphub_server_up", map[string]string{"server": "example"}, 1},
		{"mcphub_server_up", map[string]string{"server": "down"}, 0},
		{"mcphub_server_reconnects_total", map[string]string{"server": "example"}, 0},
		{"mcphub_catalog_tools", map[string]string{"server": "example"}, 8},
		{"mcphub_catalog_tools", map[string]string{"server": "down"}, 0},
		{"mcphub_catalog_resources", map[string]string{"server": "example"}, 1},
		{"mcphub_catalog_resource_templates", map[string]string{"server": "example"}, 1},
		{"mcphub_catalog_prompts", map[string]string{"server": "example"}, 1},
		{"mcphub_approvals_pending", nil, 0},
		{"mcphub_events_subscribers", nil, 0},
		{"mcphub_approval_decisions_total", map[string]string{"decision": "approved"}, 0},
	} {
		if got := value(t, before, want.name, want.labels); got != want.value {
			t.Errorf("%s%v = %v, want %v", want.name, want.labels, got, want.value)
		}
	}
	if got := value(t, before, "mcphub_server_connect_failures", map[string]string{"server": "down"}); got < 1 {
		t.Errorf("down's connect failures = %v, want at least 1", got)
	}

	call := func(name, args string) (*hub.CallResult, error) {
		return h.Call(ctx, hub.CallRequest{Name: name, Arguments: json.RawMessage(args)})
	}
	if res, err := call("example__echo", `{"message":"hi"}`); err != nil || res.IsError {
		t.Fatalf("echo: %v, %v", res, err)
	}
	if _, err := call("example__create_note", `{"id":"n1","text":"x"}`); err != nil {
		t.Fatal(err)
	}
	if res, err := call("example__fail", `{}`); err != nil || !res.IsError {
		t.Fatalf("fail: %v, %v; want a tool error", res, err)
	}
	if _, err := call("example__nope", `{}`); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("unknown tool: %v", err)
	}
	if _, err := call("example__echo", `[1]`); !errors.Is(err, hub.ErrInvalidInput) {
		t.Fatalf("array arguments: %v", err)
	}
	if _, err := call("slow__slow_count", `{"count":1,"delay_ms":5000}`); !errors.Is(err, hub.ErrTimeout) {
		t.Fatalf("slow call: %v, want a timeout", err)
	}
	_, err := call("example__delete_note", `{"id":"n1"}`)
	var pending *hub.PendingError
	if !errors.As(err, &pending) {
		t.Fatalf("gated call: %v, want pending", err)
	}
	_, err = call("example__delete_note", `{"id":"other"}`)
	var other *hub.PendingError
	if !errors.As(err, &other) {
		t.Fatalf("second gated call: %v, want pending", err)
	}
	mid := scrape(t, url)
	if got := value(t, mid, "mcphub_approvals_pending", nil); got != 2 {
		t.Errorf("approvals pending = %v, want 2", got)
	}
	if res, err := h.Approve(ctx, hub.ApproveRequest{ID: pending.Request.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"n1"}`)}); err != nil || res.IsError {
		t.Fatalf("approve: %v, %v", res, err)
	}
	if _, err := h.Reject(ctx, other.Request.ID, "", "no"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	sub := h.Events().Subscribe(0, 0)
	after := scrape(t, url)
	sub.Close()

	type series struct {
		name   string
		labels map[string]string
	}
	calls := func(server, tool, outcome string) series {
		return series{"mcphub_calls_total", map[string]string{"server": server, "tool": tool, "outcome": outcome}}
	}
	for _, d := range []struct {
		s    series
		want float64
	}{
		{calls("example", "echo", "ok"), 1},
		{calls("example", "create_note", "ok"), 1},
		{calls("example", "fail", "tool_error"), 1},
		{calls("", "", "not_found"), 1}, // the caller's name is not a label
		{calls("example", "echo", "invalid"), 1},
		{calls("example", "delete_note", "pending"), 2},
		{calls("example", "delete_note", "ok"), 1}, // the approved run
		{calls("slow", "slow_count", "timeout"), 1},
		{series{"mcphub_approval_decisions_total", map[string]string{"decision": "approved"}}, 1},
		{series{"mcphub_approval_decisions_total", map[string]string{"decision": "rejected"}}, 1},
		{series{"mcphub_approval_decisions_total", map[string]string{"decision": "expired"}}, 0},
		{series{"mcphub_refresh_errors_total", map[string]string{"server": "down"}}, 1},
		{series{"mcphub_approvals_pending", nil}, 0},
		{series{"mcphub_events_subscribers", nil}, 1},
	} {
		got := value(t, after, d.s.name, d.s.labels) - valueOr0(before, d.s.name, d.s.labels)
		if got != d.want {
			t.Errorf("%s%v moved by %v, want %v", d.s.name, d.s.labels, got, d.want)
		}
	}
	for _, up := range []string{"example", "slow"} {
		if _, ok := find(after, "mcphub_refresh_errors_total", map[string]string{"server": up}); ok {
			t.Errorf("refresh errors reported for %s, which is up", up)
		}
	}
	// A call that timed out reached its server, and took the timeout.
	if got := histCount(t, after, "mcphub_call_duration_seconds", map[string]string{"server": "slow"}); got != 1 {
		t.Errorf("slow's call durations: %d, want 1", got)
	}
	if m, _ := find(after, "mcphub_call_duration_seconds", map[string]string{"server": "slow"}); m.GetHistogram().GetSampleSum() < 0.5 {
		t.Errorf("slow's call took %v s, want at least its 0.5 s timeout", m.GetHistogram().GetSampleSum())
	}
	// Four calls reached example: echo, create_note, fail and the approved
	// delete_note, and one reached slow; the others ended in the hub.
	for _, h := range []struct {
		series
		want uint64
	}{
		{series{"mcphub_call_duration_seconds", map[string]string{"server": "example"}}, 4},
		{series{"mcphub_call_hub_overhead_seconds", nil}, 5},
	} {
		if got := histCount(t, after, h.name, h.labels) - histCountOr0(before, h.name, h.labels); got != h.want {
			t.Errorf("%s%v count moved by %d, want %d", h.name, h.labels, got, h.want)
		}
	}
	if got := histCount(t, after, "mcphub_refresh_duration_seconds", nil); got != 1 {
		t.Errorf("refresh passes = %d, want 1", got)
	}
	if _, ok := after["mcphub_call_duration_seconds"]; !ok {
		t.Fatal("no call durations")
	}
	if m, _ := find(after, "mcphub_call_duration_seconds", map[string]string{"server": "example"}); m.GetHistogram().GetSampleSum() <= 0 {
		t.Errorf("example's downstream time sums to %v s, want more than 0", m.GetHistogram().GetSampleSum())
	}
}

// TestScrapeDuringTraffic scrapes while calls are counted, for the race
// detector.
func TestScrapeDuringTraffic(t *testing.T) {
	m := metrics.New(metrics.Options{Logger: quiet})
	ts := httptest.NewServer(m)
	defer ts.Close()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 200 {
				m.CallDone(hub.CallStats{Server: "s", Tool: string(rune('a' + i)), Outcome: hub.Outcomes[j%len(hub.Outcomes)],
					Ran: true, Total: time.Millisecond, Downstream: time.Microsecond})
				m.RequestDone("/mcp_hub/call", "POST", 200, time.Millisecond)
			}
		})
	}
	for range 5 {
		scrape(t, ts.URL)
	}
	wg.Wait()
	fams := scrape(t, ts.URL)
	var total float64
	for _, s := range fams["mcphub_calls_total"].GetMetric() {
		total += s.GetCounter().GetValue()
	}
	if total != 800 {
		t.Errorf("calls total %v, want 800", total)
	}
	if got := histCount(t, fams, "mcphub_call_hub_overhead_seconds", nil); got != 800 {
		t.Errorf("overhead count %d, want 800", got)
	}
}

// TestRequestLabels keeps the HTTP labels bounded: a method nobody
// standardised and a status out of range are not labels of their own.
func TestRequestLabels(t *testing.T) {
	m := metrics.New(metrics.Options{Logger: quiet})
	ts := httptest.NewServer(m)
	defer ts.Close()
	m.RequestDone("unmatched", "BREW", 418, time.Millisecond)
	m.RequestDone("unmatched", "GET", 1000, time.Millisecond)
	m.RequestDone("/mcp_hub/tools", "GET", 200, time.Millisecond)
	fams := scrape(t, ts.URL)
	for _, l := range []map[string]string{
		{"route": "unmatched", "method": "other", "code": "418"},
		{"route": "unmatched", "method": "GET", "code": "other"},
		{"route": "/mcp_hub/tools", "method": "GET", "code": "200"},
	} {
		if got := value(t, fams, "mcphub_http_requests_total", l); got != 1 {
			t.Errorf("http_requests_total%v = %v, want 1", l, got)
		}
	}
	if got := histCount(t, fams, "mcphub_http_request_duration_seconds", map[string]string{"route": "unmatched"}); got != 2 {
		t.Errorf("unmatched durations = %d, want 2", got)
	}
}

// TestObserverAllocs: counting a call or a request on a series seen before
// allocates nothing, so the call path pays only for a few atomic adds.
func TestObserverAllocs(t *testing.T) {
	m := metrics.New(metrics.Options{Logger: quiet})
	s := hub.CallStats{Server: "example", Tool: "echo", Outcome: hub.OutcomeOK, Ran: true, Total: 3 * time.Millisecond, Downstream: 2 * time.Millisecond}
	m.CallDone(s)
	if n := testing.AllocsPerRun(1000, func() { m.CallDone(s) }); n != 0 {
		t.Errorf("CallDone allocates %v times per call, want 0", n)
	}
	m.RequestDone("/mcp_hub/call", http.MethodPost, http.StatusOK, time.Millisecond)
	if n := testing.AllocsPerRun(1000, func() { m.RequestDone("/mcp_hub/call", http.MethodPost, http.StatusOK, time.Millisecond) }); n != 0 {
		t.Errorf("RequestDone allocates %v times per request, want 0", n)
	}
}

func BenchmarkCallDone(b *testing.B) {
	m := metrics.New(metrics.Options{Logger: quiet})
	s := hub.CallStats{Server: "example", Tool: "echo", Outcome: hub.OutcomeOK, Ran: true, Total: 3 * time.Millisecond, Downstream: 2 * time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.CallDone(s)
		}
	})
}

// scrape GETs url over a real socket and parses the text format with the
// client library's parser.
func scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("scrape: Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation) // every name must suit every Prometheus
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("scrape does not parse: %v", err)
	}
	return fams
}

// find returns the sample of family name whose labels include labels.
func find(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (*dto.Metric, bool) {
	f, ok := fams[name]
	if !ok {
		return nil, false
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		if len(got) != len(labels) {
			continue
		}
		return m, true
	}
	return nil, false
}

func value(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := find(fams, name, labels)
	if !ok {
		t.Fatalf("no sample %s%v", name, labels)
	}
	return sampleValue(m)
}

func valueOr0(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m, ok := find(fams, name, labels)
	if !ok {
		return 0
	}
	return sampleValue(m)
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

func histCount(t testing.TB, fams map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	t.Helper()
	m, ok := find(fams, name, labels)
	if !ok || m.Histogram == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	return m.GetHistogram().GetSampleCount()
}

func histCountOr0(fams map[string]*dto.MetricFamily, name string, labels map[string]string) uint64 {
	m, ok := find(fams, name, labels)
	if !ok {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// A call that waits for its approval and is rejected counts twice: pending,
// then rejected (as an approved one counts pending, then its result).
func TestWaitedRejectionCounts(t *testing.T) {
	h, url := startHub(t)
	ctx := t.Context()
	before := scrape(t, url)
	ids := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		_, err := h.Call(ctx, hub.CallRequest{Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"w"}`),
			Wait: 10 * time.Second, OnPending: func(r approval.Request) { ids <- r.ID }})
		errc <- err
	}()
	if _, err := h.Reject(ctx, <-ids, "", "no"); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, hub.ErrRejected) {
		t.Fatalf("waited call: %v, want rejected", err)
	}
	after := scrape(t, url)
	for outcome, want := range map[string]float64{"pending": 1, "rejected": 1} {
		l := map[string]string{"server": "example", "tool": "delete_note", "outcome": outcome}
		if got := value(t, after, "mcphub_calls_total", l) - valueOr0(before, "mcphub_calls_total", l); got != want {
			t.Errorf("calls_total%v moved by %v, want %v", l, got, want)
		}
	}
}
