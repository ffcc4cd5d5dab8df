package metrics_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/app"
	"github.com/mcphub/mcphub/pkg/config"
)

// TestAppServesMetrics checks the wiring in pkg/app: the hub it builds is
// observed, its state is watched, and its router serves /metrics.
func TestAppServesMetrics(t *testing.T) {
	ex := server("example", config.TransportStdio)
	ex.Command = exampleBin
	cfg := config.Default()
	cfg.Servers = []config.Server{ex}
	a, err := app.New(cfg, app.Options{Logger: quiet, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	client := &http.Client{Transport: &http.Transport{}, Timeout: 20 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("app.Stop: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Hub().WaitFirstAttempt(ctx); err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addr()
	waitFor(t, "example ready", func() bool {
		return valueOr0(scrape(t, base+"/metrics"), "mcphub_server_up", map[string]string{"server": "example"}) == 1
	})

	resp, err := client.Post(base+"/mcp_hub/call", "application/json",
		strings.NewReader(`{"function":{"name":"example__echo","arguments":{"message":"hi"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("call: %d %s", resp.StatusCode, body)
	}
	fams := scrape(t, base+"/metrics")
	if got := value(t, fams, "mcphub_calls_total", map[string]string{"server": "example", "tool": "echo", "outcome": "ok"}); got != 1 {
		t.Errorf("calls_total = %v, want 1", got)
	}
	// The app's MCP endpoint follows the event bus for its change
	// notifications: one subscription with no client connected.
	if got := value(t, fams, "mcphub_events_subscribers", nil); got != 1 {
		t.Errorf("events_subscribers = %v, want 1 (the MCP endpoint's)", got)
	}
	if _, ok := fams["mcphub_http_requests_total"]; !ok {
		t.Error("no HTTP request metrics")
	}
}
