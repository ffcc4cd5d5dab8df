package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/procset"
	"github.com/mcphub/mcphub/internal/repobin"
)

// The Node hub the bench measures beside mcphub, side by side in the same
// run: mcp-hub (npm, the most popular Node MCP hub), pinned in
// test/peers/package.json and installed by scripts/install-test-peers.sh.
// It serves a REST call (POST /api/servers/tools) and an aggregated MCP
// endpoint over legacy SSE (GET /mcp, POST /messages), and reaches the
// example server over Streamable HTTP as the hub does. It listens on every
// interface (it has no host option) without authentication while the bench
// runs.

// defaultNodeHub is mcp-hub's entry point where the peers script installs
// it, or "" when it is not there.
func defaultNodeHub() string {
	root, err := repobin.ModuleRoot()
	if err != nil {
		return ""
	}
	js := filepath.Join(root, "test", "peers", "node_modules", "mcp-hub", "dist", "cli.js")
	if _, err := os.Stat(js); err != nil {
		return ""
	}
	return js
}

// nodeHubVersion names the mcp-hub whose entry point is js and the node
// that runs it, for the report: "mcp-hub 4.2.1 on node v20.20.2".
func nodeHubVersion(ctx context.Context, js string) string {
	name := "mcp-hub"
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(js), "..", "package.json")); err == nil {
		var pkg struct{ Name, Version string }
		if json.Unmarshal(b, &pkg) == nil && pkg.Name != "" {
			name = pkg.Name + " " + pkg.Version
		}
	}
	if out, err := exec.CommandContext(ctx, "node", "--version").Output(); err == nil {
		name += " on node " + strings.TrimSpace(string(out))
	}
	return name
}

// startNodeHub starts mcp-hub (its cli.js under node) with the example
// server at exampleURL as its one server "http", and waits until it is
// connected. Its state, logs and caches go to dir, not the user's home.
func startNodeHub(ctx context.Context, procs *procset.Set, js, dir, exampleURL string) (*procset.Proc, string, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(dir, "mcp-hub.json")
	conf, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{"http": map[string]string{"url": exampleURL}}})
	if err := os.WriteFile(cfg, conf, 0o644); err != nil {
		return nil, "", err
	}
	home := filepath.Join(dir, "mcp-hub-home")
	if err := seedMarketplaceCache(home); err != nil {
		return nil, "", err
	}
	p, err := procs.StartEnv("mcp-hub (node)", dir,
		[]string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "XDG_DATA_HOME=" + home, "XDG_STATE_HOME=" + home},
		nil, "node", js, "--port", port, "--config", cfg)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitNodeHub(ctx, base, p); err != nil {
		return nil, "", err
	}
	return p, base, nil
}

// seedMarketplaceCache writes a fresh, one-entry marketplace catalog where
// mcp-hub caches it ($XDG_DATA_HOME/mcp-hub/cache/registry.json). Without
// one it fetches the catalog from the internet at start, with no timeout,
// and reports ready only after: the bench must not depend on the network.
func seedMarketplaceCache(home string) error {
	dir := filepath.Join(home, "mcp-hub", "cache")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cache, _ := json.Marshal(map[string]any{
		"registry":            map[string]any{"servers": []any{map[string]any{}}},
		"lastFetchedAt":       time.Now().UnixMilli(),
		"serverDocumentation": map[string]any{},
	})
	return os.WriteFile(filepath.Join(dir, "registry.json"), cache, 0o644)
}

// waitNodeHub polls mcp-hub's GET /api/health until it is ready with its
// server connected.
func waitNodeHub(ctx context.Context, base string, p *procset.Proc) error {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	err := pollUntil(ctx, p, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		body, code, err := get(ctx, hc, base+"/api/health")
		if err != nil {
			return false, err
		}
		var h struct {
			State   string `json:"state"`
			Servers []struct {
				Name, Status string
			} `json:"servers"`
		}
		if code == http.StatusOK && json.Unmarshal(body, &h) == nil && h.State == "ready" && len(h.Servers) == 1 && h.Servers[0].Status == "connected" {
			return true, nil
		}
		return false, fmt.Errorf("GET /api/health: %d %.300s", code, body)
	})
	if errors.Is(err, errNotYet) {
		return fmt.Errorf("mcp-hub: not ready with its server connected: %w", err)
	}
	return err
}

// nodeHubRESTScenario is n callers of mcp-hub's POST /api/servers/tools on
// the shared keep-alive client: its REST call, as rest-http is the hub's.
var nodeHubRESTScenario = postScenario(func(t *target) string { return t.nodeHubBase + "/api/servers/tools" },
	map[string]any{"server_name": "http", "tool": "echo", "arguments": map[string]any{"message": message}},
	echoed)

// withNodeHub settles the Node hub's scenarios and returns mcp-hub's entry
// point (o.nodeHub, else test/peers'): they are kept when it is there and
// node is on PATH, left out of "all" with a note when not, and an error
// when named in -scenarios.
func withNodeHub(chosen []scenario, o options, logf func(string, ...any)) ([]scenario, string, error) {
	if !uses(chosen, viaNodeHub) {
		return chosen, "", nil
	}
	js, missing := o.nodeHub, ""
	switch js {
	case "off":
		js, missing = "", "-node-hub is off"
	case "":
		if js = defaultNodeHub(); js == "" {
			missing = "mcp-hub is not installed in test/peers (./scripts/install-test-peers.sh --npm)"
		}
	default:
		if _, err := os.Stat(js); err != nil {
			return nil, "", fmt.Errorf("-node-hub: %w", err)
		}
		var err error
		if js, err = filepath.Abs(js); err != nil { // node runs in the run's directory
			return nil, "", fmt.Errorf("-node-hub: %w", err)
		}
	}
	if js != "" {
		if _, err := exec.LookPath("node"); err != nil {
			if o.nodeHub != "" {
				return nil, "", fmt.Errorf("-node-hub is set, but node is not on PATH: %w", err)
			}
			js, missing = "", "node is not on PATH"
		}
	}
	if js != "" {
		return chosen, js, nil
	}
	out, err := leaveOut(chosen, viaNodeHub, o.scenarios, missing, logf)
	return out, "", err
}
