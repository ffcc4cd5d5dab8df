package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/procset"
)

// listed says when a GET /mcp_hub/tools body is what startHub waits for;
// what describes it for messages.
type listed struct {
	what string
	ok   func(body []byte) bool
}

// listing is a listed that waits for every one of names (quoted exported
// names, e.g. `"http__echo"`).
func listing(names ...string) listed {
	return listed{what: "listing " + strings.Join(names, ", "), ok: func(body []byte) bool {
		return !slices.ContainsFunc(names, func(n string) bool { return !bytes.Contains(body, []byte(n)) })
	}}
}

// hubStart is one hub started by startHub.
type hubStart struct {
	p       *procset.Proc
	base    string    // http://127.0.0.1:port
	started time.Time // just before the process was started
	// took is the time from starting the process to its first 200 answer
	// to GET /mcp_hub/tools that satisfied want; cpu is the hub's CPU time
	// (user+sys) then.
	took, cpu time.Duration
}

// startHub starts the hub on cfg at a free loopback port, with extra
// flags, and waits until GET /mcp_hub/tools satisfies want, polling every
// poll, at most wait.
func startHub(ctx context.Context, procs *procset.Set, bins binaries, dir, cfg string, want listed,
	poll, wait time.Duration, hz int64, extra ...string) (hubStart, error) {
	addr, err := loopback.FreeAddr()
	if err != nil {
		return hubStart{}, err
	}
	base := "http://" + addr
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	t0 := time.Now()
	p, err := procs.Start("mcphub", dir, nil, bins.hub, append([]string{"-c", cfg, "--listen", addr, "--log-level", "warn"}, extra...)...)
	if err != nil {
		return hubStart{}, err
	}
	var took time.Duration
	// A refused connection costs microseconds.
	err = pollUntil(ctx, p, wait, poll, func() (bool, error) {
		body, code, err := get(ctx, hc, base+"/mcp_hub/tools")
		if err == nil && code == http.StatusOK && want.ok(body) {
			took = time.Since(t0)
			return true, nil
		}
		if err == nil {
			err = fmt.Errorf("%d %.300s", code, body)
		}
		return false, err
	})
	if errors.Is(err, errNotYet) {
		return hubStart{}, fmt.Errorf("GET /mcp_hub/tools of the hub was not %s: %w; its output:\n%s", want.what, err, p.Output())
	}
	if err != nil {
		return hubStart{}, err
	}
	st, err := procset.ReadStat(p.PID())
	if err != nil {
		return hubStart{}, err
	}
	return hubStart{p: p, base: base, started: t0, took: took, cpu: time.Duration(st.CPUTicks) * time.Second / time.Duration(hz)}, nil
}

// waitTools waits until GET /mcp_hub/tools lists every one of names.
func waitTools(ctx context.Context, base string, names ...string) error {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	want := listing(names...)
	err := pollUntil(ctx, nil, 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		body, code, err := get(ctx, hc, base+"/mcp_hub/tools")
		if err == nil && code == http.StatusOK && want.ok(body) {
			return true, nil
		}
		if err == nil {
			err = fmt.Errorf("%d %.2000s", code, body)
		}
		return false, err
	})
	if err != nil {
		return fmt.Errorf("GET /mcp_hub/tools is not %s: %w", want.what, err)
	}
	return nil
}

// waitServersReady polls GET /mcp_hub/servers every poll until it lists
// want servers, all ready and healthy, at most wait. A server's tools are
// listed a little before it is ready: the hub publishes its catalog, then
// marks it ready. It returns how many were ready at the last poll.
func waitServersReady(ctx context.Context, base string, want int, poll, wait time.Duration) (int, error) {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	var up int
	err := pollUntil(ctx, nil, wait, poll, func() (bool, error) {
		var total int
		var err error
		up, total, err = serversUp(ctx, hc, base)
		if err == nil && (up != want || total != want) {
			err = fmt.Errorf("the hub shows %d of %d servers ready, want all %d of its configuration", up, total, want)
		}
		return err == nil, err
	})
	return up, err
}

// serversUp counts the servers GET /mcp_hub/servers lists as ready (and
// healthy), and all it lists.
func serversUp(ctx context.Context, hc *http.Client, base string) (up, total int, err error) {
	body, code, err := get(ctx, hc, base+"/mcp_hub/servers")
	if err != nil {
		return 0, 0, err
	}
	var list []struct {
		Status  string `json:"status"`
		Healthy bool   `json:"healthy"`
	}
	if code != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /mcp_hub/servers: %d %.2000s", code, body)
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, 0, fmt.Errorf("GET /mcp_hub/servers: %w", err)
	}
	for _, s := range list {
		if s.Status == "ready" && s.Healthy {
			up++
		}
	}
	return up, len(list), nil
}

// quietWindow and quietTicks define a quiet hub for waitQuiet: at most
// quietTicks clock ticks (10 ms each at the usual CLK_TCK of 100) of CPU
// over quietWindow, i.e. under 10% of one core.
const (
	quietWindow = 250 * time.Millisecond
	quietTicks  = 2
)

// waitQuiet waits, at most wait, until p has used little CPU over a whole
// quietWindow (see quietTicks), and returns when that window began and p's
// CPU time (user+sys) then. A hub keeps working for a while after its
// servers are ready (see docs/PERFORMANCE.md); its idle figures are taken
// after this.
func waitQuiet(ctx context.Context, p *procset.Proc, hz int64, wait time.Duration) (time.Time, time.Duration, error) {
	deadline := time.Now().Add(wait)
	for {
		t0 := time.Now()
		st0, err := procset.ReadStat(p.PID())
		if err != nil {
			return time.Time{}, 0, err
		}
		if err := sleep(ctx, quietWindow); err != nil {
			return time.Time{}, 0, err
		}
		st1, err := procset.ReadStat(p.PID())
		if err != nil {
			return time.Time{}, 0, err
		}
		ticks0, ticks1 := st0.CPUTicks, st1.CPUTicks
		if ticks1-ticks0 <= quietTicks {
			return t0, time.Duration(ticks0) * time.Second / time.Duration(hz), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, 0, fmt.Errorf("%s (pid %d) still used %d%% of a core after %v", p.Name(), p.PID(),
				(ticks1-ticks0)*100*uint64(time.Second)/uint64(hz)/uint64(quietWindow), wait)
		}
	}
}

// toolNames decodes a GET /mcp_hub/tools body into its exported names.
func toolNames(body []byte) ([]string, error) {
	var list struct {
		Tools []struct {
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("GET /mcp_hub/tools: %w", err)
	}
	names := make([]string, len(list.Tools))
	for i, t := range list.Tools {
		names[i] = t.Function.Name
	}
	return names, nil
}

// toolsLatency times n sequential GET /mcp_hub/tools on one keep-alive
// connection, after one untimed. The body is read into one reused buffer:
// with thousands of tools it is megabytes, and growing a fresh slice for
// each would time the bench's allocations as much as the hub.
func toolsLatency(ctx context.Context, base string, n int) (toolsGET, error) {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	defer hc.CloseIdleConnections()
	var buf bytes.Buffer
	fetch := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/mcp_hub/tools", nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		buf.Reset()
		if _, err := buf.ReadFrom(resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /mcp_hub/tools: %d %.2000s", resp.StatusCode, buf.Bytes())
		}
		return nil
	}
	if err := fetch(); err != nil {
		return toolsGET{}, err
	}
	lat := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := fetch(); err != nil {
			return toolsGET{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	return toolsGET{
		Requests: n, Bytes: buf.Len(),
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
