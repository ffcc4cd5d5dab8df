package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// startHub starts the hub on cfg at a free loopback port and returns it
// with its base URL and the time from starting the process to its first
// 200 answer to GET /mcp_hub/tools that lists http__echo.
func startHub(ctx context.Context, procs *procSet, bins binaries, dir, cfg string) (*proc, string, time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", 0, err
	}
	base := "http://" + addr
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	t0 := time.Now()
	p, err := procs.start("mcphub", dir, bins.hub, "-c", cfg, "--listen", addr, "--log-level", "warn")
	if err != nil {
		return nil, "", 0, err
	}
	deadline := t0.Add(30 * time.Second)
	for {
		// Polled every millisecond: a refused connection costs microseconds.
		if body, code, err := get(ctx, hc, base+"/mcp_hub/tools"); err == nil && code == http.StatusOK &&
			bytes.Contains(body, []byte(`"http__echo"`)) {
			return p, base, time.Since(t0), nil
		}
		if p.exited() {
			return nil, "", 0, p.exitError()
		}
		if time.Now().After(deadline) {
			return nil, "", 0, fmt.Errorf("the hub did not list http__echo within 30s; its output:\n%s", p.log.String())
		}
		if err := sleep(ctx, time.Millisecond); err != nil {
			return nil, "", 0, err
		}
	}
}

// waitTools waits until GET /mcp_hub/tools lists every one of names.
func waitTools(ctx context.Context, base string, names ...string) error {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, code, err := get(ctx, hc, base+"/mcp_hub/tools")
		if err == nil && code == http.StatusOK && !slices.ContainsFunc(names, func(n string) bool {
			return !bytes.Contains(body, []byte(n))
		}) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("GET /mcp_hub/tools does not list all of %v after 30s: %d %s %v", names, code, body, err)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// toolsLatency times n sequential GET /mcp_hub/tools on one keep-alive
// connection.
func toolsLatency(ctx context.Context, base string, n int) (toolsGET, error) {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	lat := make([]time.Duration, 0, n)
	var size int
	for range n {
		t0 := time.Now()
		body, code, err := get(ctx, hc, base+"/mcp_hub/tools")
		if err != nil {
			return toolsGET{}, err
		}
		if code != http.StatusOK {
			return toolsGET{}, fmt.Errorf("GET /mcp_hub/tools: %d %s", code, body)
		}
		lat = append(lat, time.Since(t0))
		size = len(body)
	}
	slices.Sort(lat)
	return toolsGET{
		Requests: n, Bytes: size,
		P50us: micros(percentile(lat, 0.50)), P90us: micros(percentile(lat, 0.90)), P99us: micros(percentile(lat, 0.99)),
	}, nil
}

// get fetches url and reads the whole body.
func get(ctx context.Context, hc *http.Client, url string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, resp.StatusCode, err
}
