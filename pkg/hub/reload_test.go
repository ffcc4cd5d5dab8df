package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/hub"
)

func TestReload(t *testing.T) {
	t.Parallel()
	cmdA, cmdB, cmdC, cmdD := exampleCmd(t, "a"), exampleCmd(t, "b"), exampleCmd(t, "c"), exampleCmd(t, "d")
	exE := newHTTPExample(t)
	a, b, c := stdioServer("a", cmdA), stdioServer("b", cmdB), stdioServer("c", cmdC)
	e := httpServer("e", exE.URL)
	h := startHub(t, hubConfig(a, b, c, e))
	pidA, pidB, pidC := onePID(t, cmdA), onePID(t, cmdB), onePID(t, cmdC)
	sinceA := serverInfo(t, h, "a").Since
	if exE.initializes.Load() != 1 {
		t.Fatalf("e initialized %d times", exE.initializes.Load())
	}

	a2 := a
	a2.Origin = config.Origin{File: "/elsewhere/mcp.yaml", Path: "servers[3]", Line: 12} // moved, not changed
	b2 := b
	b2.Args = []string{"--page-size", "3"}
	next := hubConfig(e, a2, stdioServer("d", cmdD), b2)
	rep, err := h.Reload(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Reloaded || !slices.Equal(rep.Added, []string{"d"}) || !slices.Equal(rep.Removed, []string{"c"}) ||
		!slices.Equal(rep.Restarted, []string{"b"}) || rep.Error != "" {
		t.Errorf("report %+v: want d added, c removed, b restarted", rep)
	}
	if h.Config() != next {
		t.Errorf("Config() is not the applied config")
	}

	// b changed: it took over once ready, so it answers at once, from a new
	// process with the new arguments; the old one is gone.
	echo(t, h, "b__echo")
	if pids := pidsOf(t, cmdB); len(pids) != 1 || pids[0] == pidB {
		t.Errorf("b: processes %v, want one new one (old %d)", pids, pidB)
	}
	// c removed: its child is reaped by the time Reload returns, and every
	// trace of it is gone.
	if pids := pidsOf(t, cmdC); len(pids) != 0 {
		t.Errorf("c: processes %v still running (was %d)", pids, pidC)
	}
	if _, err := h.LookupTool("c__echo"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("c__echo: %v", err)
	}
	if _, err := h.ToolsJSON("c"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("ToolsJSON(c): %v", err)
	}
	if _, ok := h.Health().Servers["c"]; ok {
		t.Errorf("health still lists c: %+v", h.Health())
	}
	// a unchanged: the same process and connection.
	if got := onePID(t, cmdA); got != pidA {
		t.Errorf("a restarted: pid %d → %d", pidA, got)
	}
	if got := serverInfo(t, h, "a").Since; !got.Equal(sinceA) {
		t.Errorf("a's state changed at %v (was %v)", got, sinceA)
	}
	echo(t, h, "a__echo")
	// e unchanged: no new session.
	if n := exE.initializes.Load(); n != 1 {
		t.Errorf("e initialized %d times, want 1", n)
	}
	// d added.
	waitHealthy(t, h, "d")
	echo(t, h, "d__echo")
	onePID(t, cmdD)

	var order []string
	for _, s := range h.Servers() {
		order = append(order, s.Name)
	}
	if !slices.Equal(order, []string{"e", "a", "d", "b"}) {
		t.Errorf("Servers() order %v, want the new config's", order)
	}
	body, _ := h.ToolsJSON("")
	if n := len(toolsList(t, body)); n != 4*len(exampleToolNames) {
		t.Errorf("%d tools after reload, want %d", n, 4*len(exampleToolNames))
	}
}

func TestReloadInvalidConfigChangesNothing(t *testing.T) {
	t.Parallel()
	cmdA, cmdZ := exampleCmd(t, "a"), exampleCmd(t, "z")
	a := stdioServer("a", cmdA)
	cfg := hubConfig(a)
	h := startHub(t, cfg)
	pid := onePID(t, cmdA)

	noCommand := stdioServer("z", "")
	cases := map[string]*config.Config{
		"duplicate name":        hubConfig(stdioServer("z", cmdZ), a, stdioServer("a", cmdZ)),
		"stdio without command": hubConfig(stdioServer("z", cmdZ), noCommand),
		"zero refresh interval": func() *config.Config {
			c := hubConfig(stdioServer("z", cmdZ))
			c.RefreshInterval = 0
			return c
		}(),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			rep, err := h.Reload(t.Context(), bad)
			wantErr(t, err, hub.ErrInvalidInput)
			var ve *config.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) == 0 {
				t.Errorf("error %v does not carry the problems", err)
			}
			if rep.Reloaded {
				t.Errorf("report %+v says reloaded", rep)
			}
			if h.Config() != cfg {
				t.Errorf("config replaced by an invalid one")
			}
			if pids := pidsOf(t, cmdZ); len(pids) != 0 {
				t.Errorf("server z of an invalid config was started: %v", pids)
			}
			if got := onePID(t, cmdA); got != pid {
				t.Errorf("a restarted: %d → %d", pid, got)
			}
			echo(t, h, "a__echo")
		})
	}
}

func TestReloadDisableAndEnable(t *testing.T) {
	t.Parallel()
	cmdA, cmdB := exampleCmd(t, "a"), exampleCmd(t, "b")
	a, b := stdioServer("a", cmdA), stdioServer("b", cmdB)
	h := startHub(t, hubConfig(a, b))
	pidB := onePID(t, cmdB)

	off := b
	off.Enabled = false
	rep, err := h.Reload(t.Context(), hubConfig(a, off))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Removed, []string{"b"}) || len(rep.Added)+len(rep.Restarted) != 0 {
		t.Errorf("disable: report %+v", rep)
	}
	if pids := pidsOf(t, cmdB); len(pids) != 0 {
		t.Errorf("disabled b still runs: %v", pids)
	}
	info := serverInfo(t, h, "b")
	if info.Enabled || info.Healthy || info.Status != "disabled" || info.Tools != 0 {
		t.Errorf("disabled b: %+v", info)
	}
	if _, err := h.LookupTool("b__echo"); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("b__echo of a disabled server: %v", err)
	}
	if body, err := h.ToolsJSON("b"); err != nil || len(toolsList(t, body)) != 0 {
		t.Errorf("ToolsJSON(b) of a disabled server: %s, %v", body, err)
	}
	if hl := h.Health(); hl.Status != "ok" || len(hl.Servers) != 1 {
		t.Errorf("health with b disabled: %+v", hl)
	}

	rep, err = h.Reload(t.Context(), hubConfig(a, b))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Added, []string{"b"}) {
		t.Errorf("enable: report %+v", rep)
	}
	waitHealthy(t, h, "b")
	echo(t, h, "b__echo")
	if got := onePID(t, cmdB); got == pidB {
		t.Errorf("re-enabled b runs in the old process %d", got)
	}
}

// Settings that only say what the hub asks before a call do not touch the
// connection.
func TestReloadApprovalOnlyKeepsConnection(t *testing.T) {
	t.Parallel()
	cmd := exampleCmd(t, "appr")
	a := stdioServer("a", cmd)
	h := startHub(t, hubConfig(a))
	pid := onePID(t, cmd)

	a2 := a
	a2.Approval = config.ApprovalAlways
	a2.RequireApproval = []string{"delete_*"}
	next := hubConfig(a2)
	rep, err := h.Reload(t.Context(), next)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Restarted)+len(rep.Added)+len(rep.Removed) != 0 {
		t.Errorf("report %+v: want no connection changes", rep)
	}
	if got := onePID(t, cmd); got != pid {
		t.Errorf("approval change restarted the server: %d → %d", pid, got)
	}
	if s, _ := h.Config().Server("a"); s.Approval != config.ApprovalAlways {
		t.Errorf("the new approval settings were not applied: %+v", s)
	}
}

func TestReloadBeforeStart(t *testing.T) {
	t.Parallel()
	cmdA, cmdB := exampleCmd(t, "a"), exampleCmd(t, "b")
	h := newHub(t, hubConfig(stdioServer("a", cmdA)), hub.Options{})
	if _, err := h.Reload(t.Context(), hubConfig(stdioServer("a", cmdA), stdioServer("b", cmdB))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(pidsOf(t, cmdA)) + len(pidsOf(t, cmdB)); n != 0 {
		t.Fatalf("%d servers started before Start", n)
	}
	h.Start()
	waitHealthy(t, h, "a", "b")
	echo(t, h, "b__echo")
}

// While a server is restarted again and again, its tools never leave the
// catalog, and calls fail at most as "unavailable" (a call in flight on the
// old connection), never as "not found".
func TestReloadRestartKeepsToolsListed(t *testing.T) {
	t.Parallel()
	cmd := exampleCmd(t, "flip")
	a := stdioServer("a", cmd)
	a2 := a
	a2.Args = []string{"--page-size", "2"}
	h := startHub(t, hubConfig(a))

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []error
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				if _, err := h.LookupTool("a__echo"); err != nil {
					mu.Lock()
					bad = append(bad, err)
					mu.Unlock()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := h.Call(ctx, hub.CallRequest{Name: "a__echo", Arguments: json.RawMessage(`{"message":"x"}`)})
				cancel()
				if err != nil && !errors.Is(err, hub.ErrUnavailable) {
					mu.Lock()
					bad = append(bad, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range 6 {
		cfg := hubConfig(a)
		if i%2 == 0 {
			cfg = hubConfig(a2)
		}
		rep, err := h.Reload(t.Context(), cfg)
		if err != nil || !slices.Equal(rep.Restarted, []string{"a"}) {
			t.Fatalf("reload %d: %+v, %v", i, rep, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	for _, err := range bad {
		t.Errorf("during restarts: %v", err)
	}
	echo(t, h, "a__echo")
	if pids := pidsOf(t, cmd); len(pids) != 1 {
		t.Errorf("processes after restarts: %v", pids)
	}
}
