package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/hub"
)

// Source is what the state metrics read from the hub at scrape time.
type Source interface {
	Servers() []hub.ServerInfo
	Approvals(ctx context.Context, f approval.Filter) ([]approval.Request, error)
	Events() *events.Bus
}

var _ Source = (*hub.Hub)(nil)

// listTimeout bounds reading the pending approvals during a scrape. The
// memory store answers at once; a remote store must not hold a scrape for
// longer than Prometheus waits for it (10 s by default).
const listTimeout = 5 * time.Second

// stateCollector reports the hub's state as it is at each scrape.
type stateCollector struct {
	src Source

	up, reconnects, failures             *prometheus.Desc
	tools, resources, templates, prompts *prometheus.Desc
	pending, subscribers                 *prometheus.Desc
}

func newStateCollector(src Source) *stateCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	return &stateCollector{
		src: src,
		up: desc("server_up", "1 when the server is connected and ready for calls, 0 when it is down (connecting, backing off); enabled servers only.",
			"server"),
		reconnects: desc("server_reconnects_total", "Sessions with the server that were lost after it had connected (a crash loop shows here). Restarts from 0 when a reload replaces the connection.",
			"server"),
		failures: desc("server_connect_failures", "Consecutive failed connection attempts to the server; 0 once it connects.",
			"server"),
		tools:     desc("catalog_tools", "Tools the server offers through the hub.", "server"),
		resources: desc("catalog_resources", "Resources the server offers through the hub.", "server"),
		templates: desc("catalog_resource_templates", "Resource templates the server offers through the hub.", "server"),
		prompts:   desc("catalog_prompts", "Prompts the server offers through the hub.", "server"),
		pending:   desc("approvals_pending", "Calls waiting for a person's approval."),
		subscribers: desc("events_subscribers",
			"Live subscriptions to the hub's event bus: clients of /mcp_hub/events, plus one for the MCP endpoint's change notifications while it runs."),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.reconnects, c.failures, c.tools, c.resources, c.templates, c.prompts, c.pending, c.subscribers} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.Servers() {
		if !s.Enabled {
			continue // not down: switched off, and alerts on server_up == 0 must not fire
		}
		up := 0.0
		if s.Healthy {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, s.Name)
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(s.Reconnects), s.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.GaugeValue, float64(s.Failures), s.Name)
		ch <- prometheus.MustNewConstMetric(c.tools, prometheus.GaugeValue, float64(s.Tools), s.Name)
		ch <- prometheus.MustNewConstMetric(c.resources, prometheus.GaugeValue, float64(s.Resources), s.Name)
		ch <- prometheus.MustNewConstMetric(c.templates, prometheus.GaugeValue, float64(s.ResourceTemplates), s.Name)
		ch <- prometheus.MustNewConstMetric(c.prompts, prometheus.GaugeValue, float64(s.Prompts), s.Name)
	}
	// Collect has no context of its own: the scrape's request is not passed
	// down by the client library, so the wait is bounded here.
	ctx, cancel := context.WithTimeout(context.Background(), listTimeout)
	defer cancel()
	pending, err := c.src.Approvals(ctx, approval.Filter{State: approval.StatePending})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pending, fmt.Errorf("listing pending approvals: %w", err))
	} else {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(len(pending)))
	}
	ch <- prometheus.MustNewConstMetric(c.subscribers, prometheus.GaugeValue, float64(c.src.Events().Subscribers()))
}
