package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/events"
)

// RefreshReport is what one refresh pass did.
type RefreshReport struct {
	StartedAt time.Time
	Duration  time.Duration
	// Config is set when the config files were re-read.
	Config  *ReloadReport
	Servers []downstream.RefreshResult // in server-name order
}

// Changed lists the servers whose catalog changed.
func (r RefreshReport) Changed() []string {
	var out []string
	for _, s := range r.Servers {
		if s.Changed {
			out = append(out, s.Server)
		}
	}
	return out
}

// ReloadReport is what applying a configuration changed.
type ReloadReport struct {
	Reloaded  bool     `json:"reloaded"`
	Error     string   `json:"error,omitempty"` // the new config was rejected; the old one keeps running
	Added     []string `json:"added,omitempty"`
	Removed   []string `json:"removed,omitempty"`
	Restarted []string `json:"restarted,omitempty"`
}

// refreshLoop runs Refresh every interval until the hub stops.
func (h *Hub) refreshLoop(interval time.Duration) {
	defer close(h.loopDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case d := <-h.intervalCh:
			t.Reset(d)
		case <-t.C:
			r, err := h.Refresh(h.ctx)
			if err != nil {
				continue // stopping
			}
			h.log.Info("refresh", "took", r.Duration.Round(time.Millisecond), "changed", r.Changed())
		}
	}
}

// Refresh runs one pass now: re-read the config files if they changed, then
// ping and re-discover every server concurrently, reconnecting those that
// are down. It answers when the pass is done.
func (h *Hub) Refresh(ctx context.Context) (RefreshReport, error) {
	r := RefreshReport{StartedAt: time.Now()}
	if h.ctx.Err() != nil {
		return r, ErrStopped
	}
	h.events.Publish(events.Refresh, RefreshEvent{Phase: "started"})
	if rep, ok := h.reloadIfChanged(ctx); ok {
		r.Config = &rep
	}
	conns := h.state.Load().conns
	results := make([]downstream.RefreshResult, 0, len(conns))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			res := c.Refresh(ctx)
			mu.Lock()
			results = append(results, res)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.SortFunc(results, func(a, b downstream.RefreshResult) int { return strings.Compare(a.Server, b.Server) })
	r.Servers = results
	r.Duration = time.Since(r.StartedAt)
	h.events.Publish(events.Refresh, refreshPayload(r, h.Config().Scrub))
	h.observer.RefreshDone(r)
	return r, nil
}

// reloadIfChanged re-reads the config files when their content changed.
func (h *Hub) reloadIfChanged(ctx context.Context) (ReloadReport, bool) {
	if h.load == nil {
		return ReloadReport{}, false
	}
	fp, err := fingerprint(h.Config().Files)
	h.mu.Lock()
	same := err == nil && fp == h.fingerprint
	h.mu.Unlock()
	if same {
		return ReloadReport{}, false
	}
	return h.ReloadFromFiles(ctx), true
}

// ReloadFromFiles re-reads the config files and applies them. An invalid
// config is reported and the running one kept.
func (h *Hub) ReloadFromFiles(ctx context.Context) ReloadReport {
	if h.load == nil {
		return ReloadReport{Error: "no config files to reload"}
	}
	// Hash the files before reading them: an edit that lands while they are
	// read then differs from the remembered hash, and the next pass applies
	// it. (Hashed afterwards, the edit would count as applied and be lost.)
	files := h.Config().Files
	fp, fpErr := fingerprint(files)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(h.ctx, cancel)() // Stop ends a reload's commands too
	cfg, err := h.load(lctx)
	if err != nil {
		h.log.ErrorContext(ctx, "config reload rejected; keeping the running config", "err", err)
		h.events.Publish(events.ConfigError, ConfigEvent{Error: err.Error()})
		// Remember the broken content, so it is reported once, not every pass.
		if fpErr == nil {
			h.mu.Lock()
			h.fingerprint = fp
			h.mu.Unlock()
		}
		return ReloadReport{Error: err.Error()}
	}
	if fpErr != nil || !slices.Equal(cfg.Files, files) {
		fp, _ = fingerprint(cfg.Files)
	}
	rep, err := h.reload(ctx, cfg, fp)
	if err != nil {
		return ReloadReport{Error: err.Error()}
	}
	return rep
}

// Reload applies cfg: removed servers stop, added ones start, changed ones
// start fresh and replace the old once they tried to connect, unchanged
// ones keep their connection. An invalid cfg changes nothing.
func (h *Hub) Reload(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	fp, _ := fingerprint(cfg.Files)
	return h.reload(ctx, cfg, fp)
}

// reload is Reload with the fingerprint of the content cfg was loaded from.
func (h *Hub) reload(ctx context.Context, cfg *config.Config, fp string) (ReloadReport, error) {
	rep, err := h.applyConfig(ctx, cfg, fp)
	if err != nil {
		h.events.Publish(events.ConfigError, ConfigEvent{Error: err.Error()})
		return rep, err
	}
	h.events.Publish(events.ConfigReloaded, ConfigEvent{Added: rep.Added, Removed: rep.Removed, Restarted: rep.Restarted})
	return rep, nil
}

func (h *Hub) applyConfig(ctx context.Context, cfg *config.Config, fp string) (ReloadReport, error) {
	if err := cfg.Validate(); err != nil {
		return ReloadReport{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	st, err := newState(cfg, nil)
	if err != nil {
		return ReloadReport{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		return ReloadReport{}, ErrStopped
	}
	old := h.state.Load()
	rep := ReloadReport{Reloaded: true}
	next := make(map[string]*downstream.Conn, len(cfg.Servers))
	var replaced []*downstream.Conn
	var fresh []*downstream.Conn
	for _, srv := range cfg.Servers {
		if !srv.Enabled {
			continue
		}
		prev, had := old.conns[srv.Name]
		// Approval settings are not part of the connection: changing them
		// must not restart the server.
		if had && prev.Config().SameConnection(srv) {
			next[srv.Name] = prev
			continue
		}
		if !h.started {
			continue // Start will connect it
		}
		c := h.startConn(srv)
		next[srv.Name] = c
		if had {
			rep.Restarted = append(rep.Restarted, srv.Name)
			fresh = append(fresh, c)
			replaced = append(replaced, prev)
		} else {
			rep.Added = append(rep.Added, srv.Name)
		}
	}
	removed := map[string]*downstream.Conn{}
	for name, c := range old.conns {
		if next[name] != c && !slices.Contains(replaced, c) {
			removed[name] = c
			rep.Removed = append(rep.Removed, name)
		}
	}
	// Changed servers take over once they had their chance to connect and
	// their tools are in the catalog, so a restart does not leave a gap in
	// what the hub offers.
	for _, c := range fresh {
		_ = c.WaitFirstAttempt(ctx)
	}
	st.conns = next
	h.state.Store(st)
	if s, ok := h.approvals.(limitSetter); ok {
		s.SetMaxPending(cfg.Approval.MaxPending)
	}
	h.fingerprint = fp
	if old.cfg.RefreshInterval != cfg.RefreshInterval {
		// Only the latest interval counts: replace one the loop has not
		// picked up yet (or that waits for Start) instead of dropping the
		// new one. h.mu makes this the only sender, so the send never blocks.
		select {
		case <-h.intervalCh:
		default:
		}
		h.intervalCh <- cfg.RefreshInterval
	}
	h.rebuild()

	for _, c := range replaced {
		removed[c.Config().Name+"\x00old"] = c
	}
	err = stopAll(ctx, removed)
	for _, c := range removed {
		h.dropCatalog(c)
	}
	h.rebuild()
	h.announceRemoved(rep.Removed)
	slices.Sort(rep.Added)
	slices.Sort(rep.Removed)
	slices.Sort(rep.Restarted)
	h.log.InfoContext(ctx, "config applied", "added", rep.Added, "removed", rep.Removed, "restarted", rep.Restarted)
	if err != nil {
		h.log.Warn("stopping old connections", "err", err)
	}
	return rep, nil
}

// fingerprint hashes the config files' content, to notice edits.
func fingerprint(files []string) (string, error) {
	if len(files) == 0 {
		return "", nil
	}
	sum := sha256.New()
	var errs []error
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(sum, "%s\x00%d\x00", f, len(b))
		sum.Write(b)
	}
	return hex.EncodeToString(sum.Sum(nil)), errors.Join(errs...)
}
