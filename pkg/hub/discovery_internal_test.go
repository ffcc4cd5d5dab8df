package hub

import (
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/downstream"
)

// BenchmarkStartupRebuilds is the catalog work of one startup with 100
// servers of 50 tools: each server's discovery lands (as onDiscovery does:
// its catalog stored, then a rebuild) until the view holds all 5,000 tools;
// one op is the 100 publications.
//
// "one-at-a-time" publishes them in a row, so each one rebuilds the view
// from every catalog so far (50, 100, … 5,000 tools): what a rebuild costs.
// "together" publishes them from 100 goroutines at once, as a startup whose
// servers answer together does: rebuilds run one at a time whatever the
// number of cores, so their sum is on the critical path from Start to the
// complete catalog (BenchmarkDiscovery100x50), and those waiting merge.
//
//	go test -run '^$' -bench StartupRebuilds -benchtime 10x ./pkg/hub
func BenchmarkStartupRebuilds(b *testing.B) {
	h := benchHub(b, 100, 50)
	conns := make([]*downstream.Conn, 0, len(h.catalogs))
	full := make(map[*downstream.Conn]catalog.ServerCatalog, len(h.catalogs))
	for _, srv := range h.Config().Servers {
		c := h.state.Load().conns[srv.Name]
		conns = append(conns, c)
		full[c] = h.catalogs[c]
	}
	publish := func(c *downstream.Conn) {
		h.catMu.Lock()
		h.catalogs[c] = full[c]
		h.catMu.Unlock()
		h.rebuild()
	}
	for _, mode := range []string{"one-at-a-time", "together"} {
		b.Run(mode, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				h.catMu.Lock()
				clear(h.catalogs)
				h.rendered = nil
				h.catMu.Unlock()
				h.rebuild()
				if mode == "one-at-a-time" {
					for _, c := range conns {
						publish(c)
					}
				} else {
					var wg sync.WaitGroup
					start := make(chan struct{})
					for _, c := range conns {
						wg.Go(func() {
							<-start
							publish(c)
						})
					}
					close(start)
					wg.Wait()
				}
			}
			if n := len(h.Snapshot().Tools()); n != 5000 {
				b.Fatalf("%d tools after the startup, want 5000", n)
			}
		})
	}
}

// TestRebuildsCoalesce: rebuilds requested while one runs are merged into
// one, and each caller returns only once its change is in the view.
func TestRebuildsCoalesce(t *testing.T) {
	h := benchHub(t, 20, 5)
	conns := make([]*downstream.Conn, 0, 20)
	full := map[*downstream.Conn]catalog.ServerCatalog{}
	for _, srv := range h.Config().Servers {
		c := h.state.Load().conns[srv.Name]
		conns = append(conns, c)
		full[c] = h.catalogs[c]
	}
	h.catMu.Lock()
	clear(h.catalogs)
	h.catMu.Unlock()
	h.rebuild()
	if n := len(h.Snapshot().Tools()); n != 0 {
		t.Fatalf("%d tools after clearing", n)
	}

	// Every caller's change is visible when its rebuild returns.
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			h.catMu.Lock()
			h.catalogs[c] = full[c]
			h.catMu.Unlock()
			h.rebuild()
			if got := len(h.Snapshot().ServerTools(c.Config().Name)); got != 5 {
				t.Errorf("%s: %d tools in the view after its rebuild, want 5", c.Config().Name, got)
			}
		})
	}
	wg.Wait()

	// While a rebuild is held up (by catMu, which it takes to read the
	// catalogs), the callers that come meanwhile wait, and one more rebuild
	// serves them all.
	h.builds.mu.Lock()
	runs, base := h.builds.runs, h.builds.requested
	h.builds.mu.Unlock()
	h.catMu.Lock()
	for range conns {
		wg.Go(h.rebuild)
	}
	for {
		h.builds.mu.Lock()
		n := h.builds.requested - base
		h.builds.mu.Unlock()
		if n == uint64(len(conns)) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	h.catMu.Unlock()
	wg.Wait()
	if got := h.builds.runs - runs; got != 2 {
		t.Errorf("%d rebuilds for %d callers that came together, want 2", got, len(conns))
	}
	if n := len(h.Snapshot().Tools()); n != 100 {
		t.Errorf("%d tools in the view, want 100", n)
	}
}
