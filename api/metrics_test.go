package api_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/metrics"
)

// startMetricsHub is startHubConfig with metrics: a pkg/metrics registry
// observes the hub and the router serves it at /metrics.
func startMetricsHub(t *testing.T, edit func(*config.Config), servers ...config.Server) *env {
	t.Helper()
	cfg := config.Default()
	cfg.Servers = servers
	if edit != nil {
		edit(cfg)
	}
	m := metrics.New(metrics.Options{Logger: quiet})
	h, err := hub.New(cfg, hub.Options{Logger: quiet, Observer: m})
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	if err := m.Watch(h); err != nil {
		t.Fatalf("Watch: %v", err)
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
	waitSettled(t, h)
	ts := httptest.NewServer(api.NewRouter(h, api.Options{Logger: quiet, Metrics: m}))
	t.Cleanup(ts.Close)
	return &env{hub: h, url: ts.URL}
}

// families is one parsed scrape.
type families map[string]*dto.MetricFamily

// scrape GETs /metrics over the socket (with header, if any) and parses it
// with the Prometheus client library's text parser.
func (e *env) scrape(t testing.TB, header http.Header) families {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", resp.StatusCode)
	}
	if f := expfmt.ResponseFormat(resp.Header); f.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("GET /metrics: Content-Type %q, want the text format", resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics does not parse: %v", err)
	}
	return fams
}

// get returns the value of the counter or gauge name with exactly labels,
// 0 when there is none (a labelled series appears at its first count), or
// the sample count of a histogram.
func (f families) get(name string, labels map[string]string) float64 {
	fam, ok := f[name]
	if !ok {
		return 0
	}
next:
	for _, m := range fam.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// sample is one series and how much it should have moved.
type sample struct {
	name   string
	labels map[string]string
	delta  float64
}

// moved reports the samples that did not move by their delta between
// before and after.
func moved(before, after families, want []sample) []string {
	var wrong []string
	for _, s := range want {
		if d := after.get(s.name, s.labels) - before.get(s.name, s.labels); d != s.delta {
			wrong = append(wrong, s.name+labelString(s.labels)+": moved by "+ftoa(d)+", want "+ftoa(s.delta))
		}
	}
	return wrong
}

func labelString(l map[string]string) string {
	s := "{"
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if len(s) > 1 {
			s += ","
		}
		s += k + "=" + quote(l[k])
	}
	return s + "}"
}

func ftoa(f float64) string { return model.SampleValue(f).String() }

// scrapeUntil scrapes until want holds against before. The router counts a
// request after its answer is written, so a client can read the answer
// before the count lands; the call counters are exact at once.
func (e *env) scrapeUntil(t *testing.T, header http.Header, before families, want []sample) families {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		after := e.scrape(t, header)
		wrong := moved(before, after, want)
		if len(wrong) == 0 {
			return after
		}
		if time.Now().After(deadline) {
			for _, w := range wrong {
				t.Error(w)
			}
			t.FailNow()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsMoveWithTraffic(t *testing.T) {
	e := startMetricsHub(t, nil, approvalServer(), downServer(t, "down"))
	before := e.scrape(t, nil)
	for _, name := range []string{
		"mcphub_server_up", "mcphub_server_reconnects_total", "mcphub_catalog_tools", "mcphub_approvals_pending",
		"mcphub_events_subscribers", "mcphub_approval_decisions_total", "mcphub_call_hub_overhead_seconds",
		"mcphub_refresh_duration_seconds", "go_goroutines", "process_open_fds",
	} {
		if _, ok := before[name]; !ok {
			t.Errorf("family %s missing from the first scrape", name)
		}
	}
	for _, s := range []sample{
		{"mcphub_server_up", map[string]string{"server": "example"}, 1},
		{"mcphub_server_up", map[string]string{"server": "down"}, 0},
		{"mcphub_catalog_tools", map[string]string{"server": "example"}, float64(len(exampleTools))},
		{"mcphub_events_subscribers", nil, 0},
	} {
		if got := before.get(s.name, s.labels); got != s.delta {
			t.Errorf("%s%s = %v, want %v", s.name, labelString(s.labels), got, s.delta)
		}
	}
	if _, ok := before["mcphub_server_up"]; ok && len(before["mcphub_server_up"].GetMetric()) != 2 {
		t.Errorf("server_up has %d series, want 2", len(before["mcphub_server_up"].GetMetric()))
	}

	wantSuccess(t, e.call(t, callJSON("example__echo", `{"message":"hi"}`), http.StatusOK), "example__echo", "hi")
	wantSuccess(t, e.call(t, callJSON("example__create_note", `{"id":"m1","text":"x"}`), http.StatusOK), "example__create_note", "created note m1")
	if m := e.call(t, callJSON("example__fail", `{}`), http.StatusOK); m["success"] != false {
		t.Errorf("fail: %v, want success false", m)
	}
	wantError(t, e.call(t, callJSON("no_such_tool", `{}`), http.StatusNotFound), "no_such_tool")
	id := wantPending(t, e.call(t, callJSON("example__delete_note", `{"id":"m1"}`), http.StatusAccepted), "example__delete_note")
	pendingNow := e.scrape(t, nil)
	if got := pendingNow.get("mcphub_approvals_pending", nil); got != 1 {
		t.Errorf("approvals pending = %v, want 1", got)
	}
	e.approve(t, approveJSON(id, "example__delete_note", `{"id":"m1"}`), http.StatusOK)
	if r := e.do(t, http.MethodGet, "/no/such/path", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /no/such/path: %d", r.status)
	}

	call := func(server, tool, outcome string) map[string]string {
		return map[string]string{"server": server, "tool": tool, "outcome": outcome}
	}
	req := func(route, method, code string) map[string]string {
		return map[string]string{"route": route, "method": method, "code": code}
	}
	after := e.scrapeUntil(t, nil, before, []sample{
		{"mcphub_calls_total", call("example", "echo", "ok"), 1},
		{"mcphub_calls_total", call("example", "create_note", "ok"), 1},
		{"mcphub_calls_total", call("example", "fail", "tool_error"), 1},
		{"mcphub_calls_total", call("", "", "not_found"), 1},
		{"mcphub_calls_total", call("example", "delete_note", "pending"), 1},
		{"mcphub_calls_total", call("example", "delete_note", "ok"), 1}, // run by the approval
		{"mcphub_approval_decisions_total", map[string]string{"decision": "approved"}, 1},
		{"mcphub_approvals_pending", nil, 0},
		// Four calls reached the server.
		{"mcphub_call_duration_seconds", map[string]string{"server": "example"}, 4},
		{"mcphub_call_hub_overhead_seconds", nil, 4},
		// The unknown tool is a 404 of the call route, not an unmatched one.
		{"mcphub_http_requests_total", req("/mcp_hub/call", "POST", "200"), 3},
		{"mcphub_http_requests_total", req("/mcp_hub/call", "POST", "404"), 1},
		{"mcphub_http_requests_total", req("/mcp_hub/call", "POST", "202"), 1},
		{"mcphub_http_requests_total", req("/mcp_hub/approve", "POST", "200"), 1},
		{"mcphub_http_requests_total", req("unmatched", "GET", "404"), 1},
		{"mcphub_http_request_duration_seconds", map[string]string{"route": "/mcp_hub/call"}, 5},
	})
	// Scrapes count too (not exactly: scrapeUntil may have scraped more
	// than once).
	if d := after.get("mcphub_http_requests_total", req("/metrics", "GET", "200")) - before.get("mcphub_http_requests_total", req("/metrics", "GET", "200")); d < 2 {
		t.Errorf("scrapes counted %v times, want at least 2", d)
	}
	for _, m := range after["mcphub_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && l.GetValue() == "/no/such/path" {
				t.Error("a raw path became a route label")
			}
		}
	}

	// An event stream is a subscriber while it is open.
	stream, _ := e.events(t, "", nil)
	open := e.scrape(t, nil)
	if got := open.get("mcphub_events_subscribers", nil); got != 1 {
		t.Errorf("events subscribers with one stream open = %v, want 1", got)
	}
	stream.s.close()
	deadline := time.Now().Add(10 * time.Second)
	for e.scrape(t, nil).get("mcphub_events_subscribers", nil) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("events subscribers did not drop to 0 after the stream closed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A refresh pass is timed, and the server that is down counts an error.
	var rep map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/refresh", "", http.StatusOK, &rep)
	refreshed := e.scrape(t, nil)
	for _, w := range moved(after, refreshed, []sample{
		{"mcphub_refresh_duration_seconds", nil, 1},
		{"mcphub_refresh_errors_total", map[string]string{"server": "down"}, 1},
		{"mcphub_refresh_errors_total", map[string]string{"server": "example"}, 0},
	}) {
		t.Error(w)
	}
}

// TestMetricsAuth: with tokens configured /metrics needs one, like every
// route but the health check, and an auth rule can keep it to a scrape
// token.
func TestMetricsAuth(t *testing.T) {
	const promToken, appToken = "prometheus-scrape-token-0123", "application-token-0123456"
	e := startMetricsHub(t, func(c *config.Config) {
		c.Auth.Tokens = []config.Token{{Name: "prometheus", Token: promToken}, {Name: "app", Token: appToken}}
		c.Auth.Rules = []config.AuthRule{{Prefix: "/metrics", Tokens: []string{"prometheus"}}}
	}, stdioExample("example"))
	bearer := func(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no token", nil, http.StatusUnauthorized},
		{"wrong token", bearer("not-a-token-of-this-hub"), http.StatusUnauthorized},
		{"token the rule does not allow", bearer(appToken), http.StatusForbidden},
		{"scrape token", bearer(promToken), http.StatusOK},
		{"scrape token as X-API-Key", http.Header{"X-Api-Key": {promToken}}, http.StatusOK},
	} {
		req, err := http.NewRequest(http.MethodGet, e.url+"/metrics", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = tc.header
		if req.Header == nil {
			req.Header = http.Header{}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: GET /metrics answered %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
	if r := e.do(t, http.MethodGet, "/mcp_hub/health", nil); r.status != http.StatusOK {
		t.Errorf("GET /mcp_hub/health without a token: %d, want 200 (it stays open)", r.status)
	}
	e.scrapeUntil(t, bearer(promToken), families{}, []sample{
		{"mcphub_http_requests_total", map[string]string{"route": "/metrics", "method": "GET", "code": "401"}, 2},
		{"mcphub_http_requests_total", map[string]string{"route": "/metrics", "method": "GET", "code": "403"}, 1},
	})
}
