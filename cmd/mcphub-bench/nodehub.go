package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mark3labs/mcp-go/client"

	"github.com/mcphub/mcphub/internal/procset"
	"github.com/mcphub/mcphub/internal/repobin"
)

// The Node hub the bench measures beside mcphub, side by side in the same
// run: mcp-hub (npm, the most popular Node MCP hub), pinned in
// test/peers/package.json and installed by scripts/install-test-peers.sh.
// It serves a REST call (POST /api/servers/tools) and an aggregated MCP
// endpoint over legacy SSE (GET /mcp, POST /messages), and reaches the
// example server over Streamable HTTP as the hub does.
const nodeHubName = "mcp-hub 4.2.1"

// defaultNodeHub is mcp-hub's entry point where the peers script installs
// it, or "" when it is not there or node is not on PATH.
func defaultNodeHub() string {
	root, err := repobin.ModuleRoot()
	if err != nil {
		return ""
	}
	js := filepath.Join(root, "test", "peers", "node_modules", "mcp-hub", "dist", "cli.js")
	if _, err := os.Stat(js); err != nil {
		return ""
	}
	if _, err := exec.LookPath("node"); err != nil {
		return ""
	}
	return js
}

// startNodeHub starts mcp-hub (its cli.js under node) with the example
// server at exampleURL as its one server "http", and waits until it is
// connected. Its state and logs go to dir, not the user's home.
func startNodeHub(ctx context.Context, procs *procset.Set, js, dir, exampleURL string) (*procset.Proc, string, error) {
	addr, err := freeAddr()
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
	// env(1) execs node: the process measured is node's.
	p, err := procs.Start("mcp-hub (node)", dir, nil, "env", "HOME="+home,
		"XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home, "XDG_STATE_HOME="+home,
		"node", js, "--port", port, "--config", cfg)
	if err != nil {
		return nil, "", err
	}
	base := "http://" + addr
	if err := waitNodeHub(ctx, base, p); err != nil {
		return nil, "", err
	}
	return p, base, nil
}

// waitNodeHub polls mcp-hub's GET /api/health until it is ready with its
// server connected.
func waitNodeHub(ctx context.Context, base string, p *procset.Proc) error {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for {
		body, code, err := get(ctx, hc, base+"/api/health")
		if err == nil && code == http.StatusOK {
			var h struct {
				State   string `json:"state"`
				Servers []struct {
					Name, Status string
				} `json:"servers"`
			}
			if json.Unmarshal(body, &h) == nil && h.State == "ready" && len(h.Servers) == 1 && h.Servers[0].Status == "connected" {
				return nil
			}
			last = fmt.Sprintf("%.300s", body)
		} else if err != nil {
			last = err.Error()
		}
		if p.Exited() {
			return p.ExitError()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not ready with its server connected after 30 s; GET /api/health: %s", nodeHubName, last)
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// nodeHubRESTScenario is n callers of mcp-hub's POST /api/servers/tools
// on the shared keep-alive client: its REST call, as rest-http is the hub's.
func nodeHubRESTScenario(_ context.Context, t *target, n int) ([]caller, []func(), error) {
	body, err := json.Marshal(map[string]any{"server_name": "http", "tool": "echo", "arguments": map[string]any{"message": message}})
	if err != nil {
		return nil, nil, err
	}
	url := t.nodeHubBase + "/api/servers/tools"
	want := []byte(`"text":"` + message + `"`)
	call := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := t.rest.Do(req)
		if err != nil {
			return fmt.Errorf("%s POST /api/servers/tools: %w", nodeHubName, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s POST /api/servers/tools: %w", nodeHubName, err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Contains(got, want) {
			return fmt.Errorf("%s POST /api/servers/tools: %d %.500s", nodeHubName, resp.StatusCode, got)
		}
		return nil
	}
	callers := make([]caller, n)
	for i := range callers {
		callers[i] = call
	}
	return callers, []func(){t.rest.CloseIdleConnections}, nil
}

// nodeHubMCPScenario is n mcp-go clients of mcp-hub's aggregated MCP
// endpoint (legacy SSE, the only one it serves), each with its own
// session, calling http__echo.
func nodeHubMCPScenario(ctx context.Context, t *target, n int) ([]caller, []func(), error) {
	var closers []func()
	callers := make([]caller, n)
	for i := range callers {
		c, err := client.NewSSEMCPClient(t.nodeHubBase + "/mcp")
		if err != nil {
			return nil, nil, errors.Join(err, closeConcurrently(closers))
		}
		closers = append(closers, func() { _ = c.Close() })
		if err := c.Start(ctx); err != nil {
			return nil, nil, errors.Join(fmt.Errorf("%s /mcp: %w", nodeHubName, err), closeConcurrently(closers))
		}
		if err := initialize(ctx, c); err != nil {
			return nil, nil, errors.Join(fmt.Errorf("%s /mcp: %w", nodeHubName, err), closeConcurrently(closers))
		}
		callers[i] = mcpCaller(c, "http__echo")
	}
	return callers, closers, nil
}
