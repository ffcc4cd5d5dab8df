package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/procset"
)

// The Go gateway the bench measures beside mcphub when given its binary
// (-mcp-proxy): TBXark/mcp-proxy, the Go MCP proxy built on mcp-go that
// issue 7 names as the best existing one. For each configured server it
// runs an mcp-go server whose tools are handled by that server's mcp-go
// client (CallTool), behind net/http's ServeMux at /<name>/. The bench
// configures it with the example server over Streamable HTTP as "http",
// served over Streamable HTTP, and calls it with the mcp-go client as the
// direct scenario does. Its code is not in this repository: build it with
// go install github.com/TBXark/mcp-proxy@latest.

// mcpProxyServer is the name the bench gives the example server in
// mcp-proxy's configuration, and so the path it serves it at.
const mcpProxyServer = "http"

// mcpProxyVersion names the mcp-proxy build at bin and the mcp-go it
// links, from the binary's build information, for the report:
// "github.com/TBXark/mcp-proxy v0.43.2, mcp-go v0.41.1".
func mcpProxyVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return filepath.Base(bin)
	}
	name := info.Main.Path + " " + info.Main.Version
	for _, d := range info.Deps {
		if d.Path == "github.com/mark3labs/mcp-go" {
			if d.Replace != nil { // what was built, not what was asked for
				d = d.Replace
			}
			name += ", mcp-go " + d.Version
		}
	}
	return name
}

// startMCPProxy starts mcp-proxy (bin) with the example server at
// exampleURL as its one server, and returns it and the URL it serves that
// server's tools at once it does.
func startMCPProxy(ctx context.Context, procs *procset.Set, bin, dir, exampleURL string) (*procset.Proc, string, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	cfg := filepath.Join(dir, "mcp-proxy.json")
	conf, _ := json.Marshal(map[string]any{
		"mcpProxy": map[string]any{
			"baseURL": "http://" + addr, "addr": addr, "name": "mcp-proxy", "version": "bench",
			"type": "streamable-http",
		},
		"mcpServers": map[string]any{
			// panicIfInvalid: a server it cannot reach makes it exit (the
			// bench shows its output), not serve without the route.
			mcpProxyServer: map[string]any{"transportType": "streamable-http", "url": exampleURL,
				"options": map[string]any{"panicIfInvalid": true}},
		},
	})
	if err := os.WriteFile(cfg, conf, 0o644); err != nil {
		return nil, "", err
	}
	p, err := procs.Start("mcp-proxy", dir, nil, bin, "--config", cfg)
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr + "/" + mcpProxyServer + "/"
	if err := waitMCPProxy(ctx, url, p); err != nil {
		return nil, "", err
	}
	return p, url, nil
}

// waitMCPProxy polls url with an MCP initialize until mcp-proxy answers it:
// it serves a server's path only once it has connected to the server and
// listed its tools.
func waitMCPProxy(ctx context.Context, url string, p *procset.Proc) error {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 2 * time.Second}
	defer hc.CloseIdleConnections()
	err := pollUntil(ctx, p, 30*time.Second, 20*time.Millisecond, func() (bool, error) {
		_, err := post(ctx, hc, url, []byte(initializeRequest), mcpAccept(), http.StatusOK, "")
		return err == nil, err
	})
	if errors.Is(err, errNotYet) {
		return fmt.Errorf("mcp-proxy: not serving %s: %w", url, err)
	}
	return err
}

// withMCPProxy settles the mcpproxy-http scenario: kept when -mcp-proxy
// names a binary, left out of "all" with a note when it is not set, and an
// error when named in -scenarios without it.
func withMCPProxy(chosen []scenario, o options, logf func(string, ...any)) ([]scenario, string, error) {
	if !uses(chosen, viaMCPProxy) {
		return chosen, "", nil
	}
	if o.mcpProxy == "" {
		out, err := leaveOut(chosen, viaMCPProxy, o.scenarios,
			"-mcp-proxy is not set (TBXark/mcp-proxy's binary: go install github.com/TBXark/mcp-proxy@latest)", logf)
		return out, "", err
	}
	bin, err := filepath.Abs(o.mcpProxy) // it runs in the run's directory
	if err != nil {
		return nil, "", fmt.Errorf("-mcp-proxy: %w", err)
	}
	if _, err := os.Stat(bin); err != nil {
		return nil, "", fmt.Errorf("-mcp-proxy: %w", err)
	}
	return chosen, bin, nil
}
