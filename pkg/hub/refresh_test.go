package hub_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/hub"
)

// configFile is a YAML config file the test edits while the hub runs.
type configFile struct {
	t    *testing.T
	path string
	// duringLoad, when set, runs once inside the hub's Load, after the file
	// was read: an edit that lands while the hub is reloading.
	duringLoad atomic.Pointer[func()]
}

func newConfigFile(t *testing.T) *configFile {
	return &configFile{t: t, path: filepath.Join(t.TempDir(), "mcp.yaml")}
}

// write replaces the file with a config running one stdio server per name,
// each with the command in cmds.
func (f *configFile) write(cmds map[string]string, names ...string) {
	f.t.Helper()
	var b strings.Builder
	b.WriteString("refresh_interval: 1h\nbackoff: {initial: 50ms, max: 400ms}\nservers:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  - name: %s\n    command: %s\n    timeout: 10\n", n, cmds[n])
	}
	f.writeRaw(b.String())
}

func (f *configFile) writeRaw(content string) {
	f.t.Helper()
	if err := os.WriteFile(f.path, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *configFile) load(context.Context) (*config.Config, error) {
	cfg, err := config.Load([]string{f.path})
	if fn := f.duringLoad.Swap(nil); fn != nil {
		(*fn)()
	}
	return cfg, err
}

// startFileHub runs a hub on the file, reloading from it.
func startFileHub(t *testing.T, f *configFile) *hub.Hub {
	t.Helper()
	cfg, err := f.load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := newHub(t, cfg, hub.Options{Load: f.load})
	h.Start()
	for _, s := range cfg.Servers {
		waitHealthy(t, h, s.Name)
	}
	return h
}

func refresh(t *testing.T, h *hub.Hub) hub.RefreshReport {
	t.Helper()
	r, err := h.Refresh(t.Context())
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return r
}

func reportServers(r hub.RefreshReport) string {
	var parts []string
	for _, s := range r.Servers {
		parts = append(parts, fmt.Sprintf("%s healthy=%v changed=%v err=%q", s.Server, s.Healthy, s.Changed, s.Error))
	}
	return strings.Join(parts, "; ")
}

func TestRefreshReloadsEditedConfigFile(t *testing.T) {
	t.Parallel()
	cmds := map[string]string{"a": exampleCmd(t, "a"), "b": exampleCmd(t, "b")}
	f := newConfigFile(t)
	f.write(cmds, "a")
	h := startFileHub(t, f)
	pidA := onePID(t, cmds["a"])

	r := refresh(t, h)
	if r.Config != nil {
		t.Errorf("unchanged file reloaded: %+v", r.Config)
	}
	if len(r.Servers) != 1 || !r.Servers[0].Healthy || r.Servers[0].Server != "a" {
		t.Errorf("servers: %s", reportServers(r))
	}

	f.write(cmds, "a", "b")
	r = refresh(t, h)
	if r.Config == nil || !r.Config.Reloaded || !slices.Equal(r.Config.Added, []string{"b"}) || r.Config.Error != "" {
		t.Fatalf("after adding b: config report %+v", r.Config)
	}
	// The pass covers the server it just added.
	if len(r.Servers) != 2 || !r.Servers[0].Healthy || !r.Servers[1].Healthy {
		t.Errorf("servers: %s", reportServers(r))
	}
	echo(t, h, "b__echo")
	pidB := onePID(t, cmds["b"])

	cfg := h.Config()
	for name, content := range map[string]string{
		"syntax error":  "servers: [",
		"invalid value": "servers:\n  - name: a\n    command: x\n    timeout: -5\n",
	} {
		f.writeRaw(content)
		r = refresh(t, h)
		if r.Config == nil || r.Config.Error == "" || r.Config.Reloaded {
			t.Fatalf("%s: config report %+v", name, r.Config)
		}
		if h.Config() != cfg || onePID(t, cmds["a"]) != pidA || onePID(t, cmds["b"]) != pidB {
			t.Fatalf("%s changed what runs", name)
		}
		echo(t, h, "a__echo")
		if len(r.Servers) != 2 || !r.Servers[0].Healthy || !r.Servers[1].Healthy {
			t.Errorf("%s: servers %s", name, reportServers(r))
		}
		// Reported once, not on every pass.
		if r = refresh(t, h); r.Config != nil {
			t.Errorf("%s reported again: %+v", name, r.Config)
		}
	}

	f.write(cmds, "a")
	r = refresh(t, h)
	if r.Config == nil || !slices.Equal(r.Config.Removed, []string{"b"}) {
		t.Fatalf("after removing b: %+v", r.Config)
	}
	if pids := pidsOf(t, cmds["b"]); len(pids) != 0 {
		t.Errorf("b still runs: %v", pids)
	}
	if onePID(t, cmds["a"]) != pidA {
		t.Errorf("a restarted")
	}
}

// An edit that lands while the hub reads the file must be picked up by the
// next pass: the hub may not remember the new content as applied.
func TestRefreshEditDuringReload(t *testing.T) {
	t.Parallel()
	cmds := map[string]string{"a": exampleCmd(t, "a"), "b": exampleCmd(t, "b"), "c": exampleCmd(t, "c")}
	f := newConfigFile(t)
	f.write(cmds, "a")
	h := startFileHub(t, f)

	f.write(cmds, "a", "b")
	edit := func() { f.write(cmds, "a", "b", "c") }
	f.duringLoad.Store(&edit)
	r := refresh(t, h)
	if r.Config == nil || !slices.Equal(r.Config.Added, []string{"b"}) {
		t.Fatalf("first pass: %+v", r.Config)
	}
	r = refresh(t, h)
	if r.Config == nil || !slices.Equal(r.Config.Added, []string{"c"}) {
		t.Fatalf("second pass missed the edit made during the first: %+v", r.Config)
	}
	echo(t, h, "c__echo")
}

func TestRefreshReconnectsServerThatCameUp(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	ex.down.Store(true)
	srv := httpServer("late", ex.URL)
	srv.Backoff = slowBackoff // only a refresh can bring it back within the test
	h := newHub(t, hubConfig(srv, stdioServer("up", exampleCmd(t, "up"))), hub.Options{})
	h.Start()
	waitFor(t, "late to fail", 10*time.Second, func() bool { return serverInfo(t, h, "late").Status == "backoff" })
	if _, err := h.Call(t.Context(), hub.CallRequest{Name: "late__echo"}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("a server that never connected offers no tools: %v", err)
	}

	ex.down.Store(false)
	r := refresh(t, h)
	if len(r.Servers) != 2 || r.Servers[0].Server != "late" || !r.Servers[0].Healthy || r.Servers[0].Error != "" {
		t.Fatalf("servers: %s", reportServers(r))
	}
	if !slices.Contains(r.Changed(), "late") {
		t.Errorf("Changed() = %v: late's catalog went from nothing to tools", r.Changed())
	}
	if info := serverInfo(t, h, "late"); !info.Healthy || info.Tools != len(exampleToolNames) {
		t.Errorf("late after refresh: %+v", info)
	}
	echo(t, h, "late__echo")
}

func TestRefreshReportsChangedCatalogs(t *testing.T) {
	t.Parallel()
	// x does not announce list changes, so only a refresh sees them.
	h := startHub(t, hubConfig(
		httpServer("x", newHTTPExample(t, noListChanged()).URL),
		stdioServer("y", exampleCmd(t, "y")),
	))
	if r := refresh(t, h); len(r.Changed()) != 0 {
		t.Errorf("nothing changed, Changed() = %v", r.Changed())
	}

	call(t, h, "x__register_tool", `{"name":"fresh"}`)
	call(t, h, "y__echo", `{"message":"not a change"}`)
	if _, err := h.LookupTool("x__fresh"); !errors.Is(err, hub.ErrNotFound) {
		t.Fatalf("x__fresh known before a refresh (%v): the test needs a server that does not announce it", err)
	}
	r := refresh(t, h)
	if !slices.Equal(r.Changed(), []string{"x"}) {
		t.Errorf("Changed() = %v, want [x]; %s", r.Changed(), reportServers(r))
	}
	if res := call(t, h, "x__fresh", ""); res.Content != "fresh" {
		t.Errorf("x__fresh: %+v", res)
	}
	body, _ := h.ToolsJSON("x")
	if !slices.Contains(toolsList(t, body), "x__fresh") {
		t.Errorf("ToolsJSON(x) without the new tool")
	}
	if r := refresh(t, h); len(r.Changed()) != 0 {
		t.Errorf("second pass: Changed() = %v", r.Changed())
	}
}

// The loop itself runs the refresh: a server down with a backoff of minutes
// comes back within a few intervals, and healthy servers are pinged.
func TestRefreshLoopTicks(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	ex.down.Store(true)
	late := httpServer("late", ex.URL)
	late.Backoff = slowBackoff
	cfg := hubConfig(late, stdioServer("up", exampleCmd(t, "up")))
	cfg.RefreshInterval = 100 * time.Millisecond
	h := newHub(t, cfg, hub.Options{})
	h.Start()
	waitHealthy(t, h, "up")
	waitFor(t, "late to fail", 10*time.Second, func() bool { return serverInfo(t, h, "late").Status == "backoff" })
	if next := serverInfo(t, h, "late").NextRetry; time.Until(next) < time.Minute {
		t.Fatalf("next retry at %v: the test needs a long backoff", next)
	}

	seen := serverInfo(t, h, "up").LastSeen
	waitFor(t, "a ping of the healthy server", 5*time.Second, func() bool {
		return serverInfo(t, h, "up").LastSeen.After(seen)
	})
	ex.down.Store(false)
	waitHealthy(t, h, "late")
	echo(t, h, "late__echo")
}

func TestReloadChangesRefreshInterval(t *testing.T) {
	t.Parallel()
	a := stdioServer("a", exampleCmd(t, "a"))
	h := startHub(t, hubConfig(a))
	idle := func(what string) {
		t.Helper()
		seen := serverInfo(t, h, "a").LastSeen
		time.Sleep(500 * time.Millisecond)
		if got := serverInfo(t, h, "a").LastSeen; !got.Equal(seen) {
			t.Errorf("%s: the server was pinged (last seen %v → %v)", what, seen, got)
		}
	}
	idle("hourly refresh")

	fast := hubConfig(a)
	fast.RefreshInterval = 100 * time.Millisecond
	if _, err := h.Reload(t.Context(), fast); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		seen := serverInfo(t, h, "a").LastSeen
		waitFor(t, "a ping at the new interval", 3*time.Second, func() bool {
			return serverInfo(t, h, "a").LastSeen.After(seen)
		})
	}

	if _, err := h.Reload(t.Context(), hubConfig(a)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // a pass already under way may finish
	idle("back to hourly")
}

// Two interval changes before Start: the loop must run at the last one.
func TestRefreshIntervalReloadedBeforeStart(t *testing.T) {
	t.Parallel()
	a := stdioServer("a", exampleCmd(t, "a"))
	h := newHub(t, hubConfig(a), hub.Options{})
	fast := hubConfig(a)
	fast.RefreshInterval = 50 * time.Millisecond
	for _, cfg := range []*config.Config{fast, hubConfig(a)} {
		if _, err := h.Reload(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	h.Start()
	waitHealthy(t, h, "a")
	seen := serverInfo(t, h, "a").LastSeen
	time.Sleep(500 * time.Millisecond)
	if got := serverInfo(t, h, "a").LastSeen; !got.Equal(seen) {
		t.Errorf("the loop runs at a superseded interval: pinged at %v (refresh_interval is %v)", got, h.Config().RefreshInterval)
	}
}
