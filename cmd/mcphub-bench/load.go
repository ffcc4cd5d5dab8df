package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mcphub/mcphub/internal/procset"
)

// caller makes one call and checks its result.
type caller func(ctx context.Context) error

// callTimeout bounds a call that started before the end of a window.
const callTimeout = 10 * time.Second

// window is what one measured run of one scenario produced.
type window struct {
	Calls       int     `json:"calls"`
	Seconds     float64 `json:"seconds"`
	CallsPerSec float64 `json:"calls_per_sec"`
	P50us       float64 `json:"p50_us"`
	P90us       float64 `json:"p90_us"`
	P99us       float64 `json:"p99_us"`
	// The gateway's figures, for scenarios through one only (result's
	// Gateway: the hub, cmd/proxy-floor or mcp-hub; the names predate the
	// other two).
	HubCPUusPerCall *float64 `json:"hub_cpu_us_per_call,omitempty"`
	HubRSSPeakKB    *int64   `json:"hub_rss_peak_kb,omitempty"`
}

// drive runs every caller in its own goroutine, in a loop, until d has
// passed: a call is started only before the deadline, so the window ends
// when the last one returns. It returns each call's latency.
func drive(ctx context.Context, callers []caller, d time.Duration) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, d+callTimeout)
	defer cancel()
	per := make([][]time.Duration, len(callers))
	var (
		once     sync.Once
		firstErr error // the first call to fail; the others see the cancellation it causes
		wg       sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for i, call := range callers {
		wg.Go(func() {
			lat := make([]time.Duration, 0, 4096)
			for {
				t0 := time.Now()
				if !t0.Before(deadline) {
					break
				}
				if err := call(ctx); err != nil {
					once.Do(func() { firstErr = err })
					cancel() // one failure ends the window: its figures would be wrong
					break
				}
				lat = append(lat, time.Since(t0))
			}
			per[i] = lat
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return nil, 0, firstErr
	}
	return slices.Concat(per...), elapsed, nil
}

// measure warms callers up, then measures one window of d. With gw (the
// gateway the callers go through) set, it also takes gw's CPU time over the
// window and samples its RSS every 100 ms. With during set, it is called as
// the window begins, and the function it returns once gw's figures are
// taken (whatever it still does, a profile's encoding say, is not counted).
func measure(ctx context.Context, callers []caller, warmup, d time.Duration, gw *procset.Proc, hz int64,
	during func(d time.Duration) (end func() error)) (w window, err error) {
	if warmup > 0 {
		if _, _, err := drive(ctx, callers, warmup); err != nil {
			return window{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	if during != nil {
		end := during(d)
		defer func() {
			if eerr := end(); eerr != nil && err == nil {
				w, err = window{}, eerr
			}
		}()
	}
	var st0 procset.Stat
	var sampler *rssSampler
	if gw != nil {
		if st0, err = procset.ReadStat(gw.PID()); err != nil {
			return window{}, err
		}
		sampler = startRSSSampler(gw.PID(), 100*time.Millisecond)
	}
	lat, elapsed, err := drive(ctx, callers, d)
	if gw != nil {
		peak, serr := sampler.stop()
		st1, cerr := procset.ReadStat(gw.PID())
		if err == nil {
			err = errors.Join(serr, cerr)
		}
		if err == nil && len(lat) > 0 {
			cpu := float64(st1.CPUTicks-st0.CPUTicks) / float64(hz) * 1e6 / float64(len(lat))
			w.HubCPUusPerCall, w.HubRSSPeakKB = &cpu, &peak
		}
	}
	if err != nil {
		return window{}, err
	}
	if len(lat) == 0 {
		return window{}, errors.New("no call completed in the window")
	}
	slices.Sort(lat)
	w.Calls, w.Seconds = len(lat), elapsed.Seconds()
	w.CallsPerSec = float64(len(lat)) / elapsed.Seconds()
	w.P50us, w.P90us, w.P99us = micros(percentile(lat, 0.50)), micros(percentile(lat, 0.90)), micros(percentile(lat, 0.99))
	return w, nil
}

// percentile is the nearest-rank q-quantile of sorted.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// rssSampler reads a process's VmRSS on a ticker and keeps the peak.
type rssSampler struct {
	quit chan struct{}
	done chan struct{}
	peak int64
	err  error
}

func startRSSSampler(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan struct{})}
	sample := func() {
		m, err := procset.ReadStatus(pid, "VmRSS")
		if err != nil {
			s.err = err
			return
		}
		s.peak = max(s.peak, m["VmRSS"])
	}
	sample()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.quit:
				sample()
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the peak in kB.
func (s *rssSampler) stop() (int64, error) {
	close(s.quit)
	<-s.done
	return s.peak, s.err
}

// paired is one window in which one client alternated a baseline's call
// and the same call through a gateway. Both medians come from the same
// spell of the shared machine, which moves the baseline alone by 10–40%
// between the windows the other figures are taken in.
type paired struct {
	Pairs      int     `json:"pairs"`
	BaseP50us  float64 `json:"base_p50_us"`
	ViaP50us   float64 `json:"via_p50_us"`
	AddedP50us float64 `json:"added_p50_us"` // ViaP50us − BaseP50us
}

// measurePaired warms up, then calls base and via in turn on one goroutine
// for d (a pair is started only before d has passed), via first in every
// other pair.
func measurePaired(ctx context.Context, base, via caller, warmup, d time.Duration) (paired, error) {
	var baseLat, viaLat []time.Duration
	timed := func(ctx context.Context, call caller, lat *[]time.Duration) error {
		t0 := time.Now()
		err := call(ctx)
		*lat = append(*lat, time.Since(t0))
		return err
	}
	viaFirst := false // pairs alternate their order, so that going first or second weighs on both sides alike
	alternate := func(ctx context.Context) error {
		viaFirst = !viaFirst
		if viaFirst {
			if err := timed(ctx, via, &viaLat); err != nil {
				return err
			}
		}
		if err := timed(ctx, base, &baseLat); err != nil {
			return fmt.Errorf("direct: %w", err)
		}
		if !viaFirst {
			return timed(ctx, via, &viaLat)
		}
		return nil
	}
	if warmup > 0 {
		if _, _, err := drive(ctx, []caller{alternate}, warmup); err != nil {
			return paired{}, fmt.Errorf("warm-up: %w", err)
		}
		baseLat, viaLat = baseLat[:0], viaLat[:0]
	}
	if _, _, err := drive(ctx, []caller{alternate}, d); err != nil {
		return paired{}, err
	}
	if len(viaLat) == 0 {
		return paired{}, errors.New("no pair completed in the window")
	}
	slices.Sort(baseLat)
	slices.Sort(viaLat)
	p := paired{Pairs: len(viaLat), BaseP50us: micros(percentile(baseLat, 0.5)), ViaP50us: micros(percentile(viaLat, 0.5))}
	p.AddedP50us = p.ViaP50us - p.BaseP50us
	return p, nil
}
