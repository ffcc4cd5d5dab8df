package hub

import (
	"testing"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/downstream"
)

// BenchmarkStartupRebuilds is the catalog work of one startup with 100
// servers of 50 tools: each server's discovery lands (onDiscovery) and
// rebuilds the view from every catalog so far, so the 100 rebuilds cover
// 50, 100, … 5,000 tools. They run one at a time under catMu, whatever
// the number of cores, so their sum is on the critical path from Start to
// the complete catalog (BenchmarkDiscovery100x50); one op is the 100
// rebuilds.
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
	b.ReportAllocs()
	for b.Loop() {
		h.catMu.Lock()
		clear(h.catalogs)
		h.rendered = nil
		h.catMu.Unlock()
		h.rebuild()
		for _, c := range conns {
			h.catMu.Lock()
			h.catalogs[c] = full[c]
			h.catMu.Unlock()
			h.rebuild()
		}
	}
	if n := len(h.Snapshot().Tools()); n != 5000 {
		b.Fatalf("%d tools after the startup, want 5000", n)
	}
}
