package hub

import (
	"encoding/json"
	"fmt"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/openai"
)

// view is everything a request needs, built once per change and swapped
// atomically: readers never wait for writers, and the OpenAI tool list is
// served as pre-rendered bytes.
type view struct {
	snap        *catalog.Snapshot
	conns       map[string]*downstream.Conn
	tools       []byte            // {"tools":[...]} for every server
	serverTools map[string][]byte // the same, per server
	skipped     []openai.SkippedTool
}

// rebuild renders a new view from the current state and catalogs.
func (h *Hub) rebuild() {
	h.catMu.Lock()
	defer h.catMu.Unlock()
	st := h.state.Load()
	servers := make([]catalog.ServerCatalog, 0, len(st.conns))
	for _, c := range st.conns {
		if sc, ok := h.catalogs[c]; ok {
			servers = append(servers, sc)
		}
	}
	snap := catalog.Build(servers, st.cfg.ToolNameSeparator)
	v := &view{snap: snap, conns: st.conns, serverTools: make(map[string][]byte, len(servers))}
	v.tools, v.skipped = openai.RenderTools(snap.Tools())
	for _, sc := range servers {
		v.serverTools[sc.Server], _ = openai.RenderTools(snap.ServerTools(sc.Server))
	}
	for _, c := range snap.Collisions() {
		h.log.Warn("tool name collision: names disambiguated", "name", c.Exported, "members", fmt.Sprint(c.Members))
	}
	for _, s := range v.skipped {
		h.log.Warn("tool not exported as an OpenAI function", "tool", s.Name, "err", s.Err)
	}
	h.view.Store(v)
}

// dropCatalog forgets what a stopped connection offered.
func (h *Hub) dropCatalog(c *downstream.Conn) {
	h.catMu.Lock()
	delete(h.catalogs, c)
	h.catMu.Unlock()
}

// toCatalog decodes a discovery into catalog types. Each item is parsed on
// its own, so one malformed tool is skipped and reported instead of hiding
// the rest of its server.
func toCatalog(server string, d *downstream.Discovery) (catalog.ServerCatalog, []error) {
	sc := catalog.ServerCatalog{Server: server}
	var problems []error
	sc.Tools = parseEach(server, "tools", d.Tools, catalog.ParseTools, &problems)
	sc.Resources = parseEach(server, "resources", d.Resources, catalog.ParseResources, &problems)
	sc.ResourceTemplates = parseEach(server, "resourceTemplates", d.ResourceTemplates, catalog.ParseResourceTemplates, &problems)
	sc.Prompts = parseEach(server, "prompts", d.Prompts, catalog.ParsePrompts, &problems)
	return sc, problems
}

func parseEach[T any](server, field string, items []json.RawMessage,
	parse func(string, json.RawMessage) ([]T, string, error), problems *[]error) []T {
	out := make([]T, 0, len(items))
	for _, item := range items {
		// A fresh page each time: parsed items may keep slices of it.
		page := append(append([]byte(`{"`+field+`":[`), item...), "]}"...)
		parsed, _, err := parse(server, page)
		if err != nil {
			*problems = append(*problems, err)
			continue
		}
		out = append(out, parsed...)
	}
	return out
}
