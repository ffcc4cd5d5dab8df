package hub

import (
	"fmt"
	"strings"
)

// NotReady says why the hub is not ready to take traffic, or returns nil
// when it is. The hub is ready once every enabled server of its
// configuration has ended its first connection attempt, whether it
// connected or not: a server that is down must not keep the hub unready
// forever (it shows as down in Servers instead), and one that is still
// connecting means the catalog is not yet what it will be, so a call of
// its tools would be "unknown tool" now and work a moment later.
//
// Once ready, the hub stays ready until it stops: a reload that adds a
// server must not take a serving hub out of its load balancer while that
// server connects. A stopped hub is not ready (ErrStopped). It takes no
// lock, so a probe never waits for a reload.
func (h *Hub) NotReady() error {
	if h.ctx.Err() != nil {
		return ErrStopped
	}
	if h.ready.Load() {
		return nil
	}
	st := h.state.Load()
	var waiting []string
	for _, srv := range st.cfg.Servers {
		if !srv.Enabled {
			continue
		}
		// No connection yet: the hub has not started.
		if c, ok := st.conns[srv.Name]; !ok || !c.Attempted() {
			waiting = append(waiting, srv.Name)
		}
	}
	if len(waiting) > 0 {
		return fmt.Errorf("waiting for the first connection attempt of %d server(s): %s", len(waiting), strings.Join(waiting, ", "))
	}
	h.ready.Store(true)
	return nil
}
