package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/procset"
)

// The references the hub is read against: cmd/proxy-floor (CPU and
// latency) and cmd/dep-floor (RSS).

// startProxyFloor starts cmd/proxy-floor with target (-upstream and a URL,
// or -- and a stdio server's command) and returns it and its URL.
func startProxyFloor(ctx context.Context, procs *procset.Set, bin, dir string, target ...string) (*procset.Proc, string, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	p, err := procs.Start("proxy-floor", dir, nil, bin, append([]string{"--listen", addr}, target...)...)
	if err != nil {
		return nil, "", err
	}
	if err := waitTCP(ctx, addr, p); err != nil {
		return nil, "", err
	}
	return p, "http://" + addr + "/mcp", nil
}

// measureFloor starts cmd/dep-floor, makes it serve a few requests (the
// hub has served many by the time its RSS is read), reads its RSS once it
// is quiet, and stops it again.
func measureFloor(ctx context.Context, procs *procset.Set, bin, dir string, hz int64, rep *report, logf func(string, ...any)) error {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return err
	}
	p, err := procs.Start("dep-floor", dir, nil, bin, "--listen", addr)
	if err != nil {
		return err
	}
	if err := waitTCP(ctx, addr, p); err != nil {
		return err
	}
	if err := exerciseFloor(ctx, "http://"+addr); err != nil {
		return fmt.Errorf("dep-floor: %w", err)
	}
	if _, _, err := waitQuiet(ctx, p, hz, 30*time.Second); err != nil {
		return err
	}
	mem, err := procset.ReadStatus(p.PID(), "VmRSS", "RssAnon", "RssFile")
	if err != nil {
		return err
	}
	rep.FloorRSSIdleKB, rep.FloorRSSAnonIdleKB, rep.FloorRSSFileIdleKB = mem["VmRSS"], mem["RssAnon"], mem["RssFile"]
	logf("the hub's libraries alone (dep-floor): RSS idle %.1f MB", float64(rep.FloorRSSIdleKB)/1024)
	return procs.Stop(p, 10*time.Second)
}

// exerciseFloor makes dep-floor at base serve what the hub serves too:
// GET /healthz, the Swagger UI's page, /metrics, and an MCP initialize.
// A GET answered with 400 or more fails it, and an initialize answered with
// anything but 200.
func exerciseFloor(ctx context.Context, base string) error {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/swagger/index.html", "/metrics"} {
		body, code, err := get(ctx, hc, base+path)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if code >= 400 {
			return fmt.Errorf("GET %s: %d %.500s", path, code, body)
		}
	}
	if _, err := post(ctx, hc, base+"/mcp", []byte(initializeRequest), mcpAccept(), http.StatusOK, ""); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	return nil
}
