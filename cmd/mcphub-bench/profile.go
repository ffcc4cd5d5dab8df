package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// profiler takes the hub's CPU profiles (its --pprof listener) over the
// measured windows of the scenarios through it (-pprof DIR).
type profiler struct {
	dir  string
	base string // http://127.0.0.1:port of the hub's pprof listener
	hc   *http.Client
}

// start asks for a CPU profile of d rounded up to whole seconds (pprof's
// unit) and one more, so that it covers the window, which begins just after
// the request, and the hub stops and encodes it once measure has read the
// hub's figures; it returns a function that waits for the profile and
// writes it to dir/name.pprof.
func (p *profiler) start(ctx context.Context, name string, d time.Duration) func() error {
	secs := int(math.Ceil(d.Seconds())) + 1
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", p.base, secs)
	done := make(chan error, 1)
	go func() {
		body, code, err := get(ctx, p.hc, url)
		switch {
		case err != nil:
		case code != http.StatusOK:
			err = fmt.Errorf("GET %s: %d %s", url, code, body)
		default:
			err = os.WriteFile(filepath.Join(p.dir, name+".pprof"), body, 0o644)
		}
		done <- err
	}()
	return func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("CPU profile %s: %w", name, err)
		}
		return nil
	}
}

// profileHub is measure's during for scenario s: the hub's CPU profile over
// the window, named name; nil without -pprof or for a scenario not through
// the hub.
func profileHub(ctx context.Context, p *profiler, s scenario, name string) func(time.Duration) func() error {
	if p == nil || s.via != viaHub {
		return nil
	}
	return func(d time.Duration) func() error { return p.start(ctx, name, d) }
}
