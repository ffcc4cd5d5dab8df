package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
)

func stopWithin(t *testing.T, h *hub.Hub, limit time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := h.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if took := time.Since(start); took > limit {
		t.Errorf("Stop took %s, want at most %s", took, limit)
	}
}

func TestStop(t *testing.T) {
	t.Parallel()
	cmdA, cmdB := exampleCmd(t, "a"), exampleCmd(t, "b")
	h := startHub(t, hubConfig(stdioServer("a", cmdA), stdioServer("b", cmdB), httpServer("web", newHTTPExample(t).URL)))

	inFlight := make(chan error, 1)
	go func() {
		_, err := h.Call(context.Background(), hub.CallRequest{Name: "a__slow_count", Arguments: json.RawMessage(`{"count":1,"delay_ms":30000}`)})
		inFlight <- err
	}()
	time.Sleep(100 * time.Millisecond)

	stopWithin(t, h, 5*time.Second)
	select {
	case err := <-inFlight:
		if !errors.Is(err, hub.ErrStopped) && !errors.Is(err, hub.ErrUnavailable) {
			t.Errorf("call in flight at Stop: %v, want stopped or unavailable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a call in flight outlived Stop")
	}
	for _, cmd := range []string{cmdA, cmdB} {
		if pids := pidsOf(t, cmd); len(pids) != 0 {
			t.Errorf("children left after Stop: %v", pids)
		}
	}

	// Idempotent and immediate the second time.
	stopWithin(t, h, 100*time.Millisecond)

	_, err := h.Call(t.Context(), hub.CallRequest{Name: "a__echo", Arguments: json.RawMessage(`{"message":"x"}`)})
	wantErr(t, err, hub.ErrStopped)
	_, err = h.Refresh(t.Context())
	wantErr(t, err, hub.ErrStopped)
	_, err = h.Reload(t.Context(), hubConfig(stdioServer("a", cmdA)))
	wantErr(t, err, hub.ErrStopped)
	for _, s := range h.Servers() {
		if s.Healthy || s.Status != "stopped" {
			t.Errorf("after Stop: %+v", s)
		}
	}

	// Start after Stop does nothing.
	h.Start()
	time.Sleep(200 * time.Millisecond)
	if n := len(pidsOf(t, cmdA)) + len(pidsOf(t, cmdB)); n != 0 {
		t.Errorf("Start after Stop started %d children", n)
	}
}

func TestStopBeforeStart(t *testing.T) {
	t.Parallel()
	cmd := exampleCmd(t, "a")
	h := newHub(t, hubConfig(stdioServer("a", cmd)), hub.Options{})
	if s := serverInfo(t, h, "a"); s.Status != "stopped" || s.Healthy {
		t.Errorf("before Start: %+v", s)
	}
	stopWithin(t, h, 100*time.Millisecond)
	h.Start()
	time.Sleep(200 * time.Millisecond)
	if pids := pidsOf(t, cmd); len(pids) != 0 {
		t.Errorf("Start after Stop started %v", pids)
	}
	_, err := h.Call(t.Context(), hub.CallRequest{Name: "a__echo"})
	wantErr(t, err, hub.ErrStopped)
	stopWithin(t, h, 100*time.Millisecond)
}

// Stop is bounded even while a Reload waits for a restarted server that
// does not answer.
func TestStopDuringReload(t *testing.T) {
	t.Parallel()
	cmd := exampleCmd(t, "a")
	srv := httpServer("s", newHTTPExample(t).URL)
	h := startHub(t, hubConfig(srv, stdioServer("a", cmd)))

	hung := srv
	hung.Endpoint = hangingServer(t).URL
	hung.Timeout = 8 * time.Second
	reloaded := make(chan error, 1)
	go func() {
		_, err := h.Reload(context.Background(), hubConfig(hung, stdioServer("a", cmd)))
		reloaded <- err
	}()
	time.Sleep(300 * time.Millisecond) // Reload is now waiting for s
	if len(reloaded) != 0 {
		t.Fatalf("Reload did not wait for the restarted server: %v", <-reloaded)
	}

	stopWithin(t, h, 3*time.Second)
	select {
	case <-reloaded:
	case <-time.After(3 * time.Second):
		t.Fatal("Reload still blocked after Stop")
	}
	if pids := pidsOf(t, cmd); len(pids) != 0 {
		t.Errorf("children left: %v", pids)
	}
}

func TestServersAndHealth(t *testing.T) {
	t.Parallel()
	cmdA := exampleCmd(t, "a")
	off := stdioServer("off", exampleCmd(t, "off"))
	off.Enabled = false
	ex := newHTTPExample(t)
	ex.down.Store(true)
	down := httpServer("down", ex.URL)
	down.Backoff = slowBackoff
	cfg := hubConfig(stdioServer("a", cmdA), off, down)
	h := newHub(t, cfg, hub.Options{})
	h.Start()
	waitHealthy(t, h, "a")
	waitFor(t, "down to fail", 10*time.Second, func() bool { return serverInfo(t, h, "down").Status == "backoff" })

	got := h.Servers()
	if len(got) != 3 || got[0].Name != "a" || got[1].Name != "off" || got[2].Name != "down" {
		t.Fatalf("Servers() = %+v: want every configured server in config order", got)
	}
	a, o, d := got[0], got[1], got[2]
	if !a.Enabled || !a.Healthy || a.Status != "ready" || a.LastError != "" ||
		a.Transport != config.TransportStdio || a.Command != cmdA || a.Endpoint != "" ||
		a.Tools != exampleTools || a.Resources != exampleResources ||
		a.ResourceTemplates != exampleTemplates || a.Prompts != examplePrompts ||
		a.ServerName != exampleserver.Name || a.ServerVersion != exampleserver.Version ||
		a.ProtocolVersion != config.DefaultProtocolVersion || a.Since.IsZero() || a.LastSeen.IsZero() {
		t.Errorf("a: %+v", a)
	}
	if o.Enabled || o.Healthy || o.Status != "disabled" || o.Tools+o.Resources+o.Prompts != 0 {
		t.Errorf("off: %+v", o)
	}
	if !d.Enabled || d.Healthy || d.Status != "backoff" || d.LastError == "" || d.Failures < 1 ||
		d.Endpoint != ex.URL || d.Command != "" || d.Transport != config.TransportStreamableHTTP ||
		!d.NextRetry.After(time.Now()) || d.Tools != 0 {
		t.Errorf("down: %+v", d)
	}

	hl := h.Health()
	if hl.Status != "degraded" || len(hl.Servers) != 2 || !hl.Servers["a"] || hl.Servers["down"] {
		t.Errorf("Health() = %+v: want degraded, a up, down down, off not listed", hl)
	}

	ex.down.Store(false)
	refresh(t, h)
	if hl := h.Health(); hl.Status != "ok" || !hl.Servers["down"] {
		t.Errorf("Health() after recovery = %+v", hl)
	}
	if d := serverInfo(t, h, "down"); d.Tools != exampleTools || d.Failures != 0 {
		t.Errorf("down after recovery: %+v", d)
	}
}
