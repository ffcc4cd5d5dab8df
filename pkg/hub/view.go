package hub

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/mcphub/mcphub/pkg/approval"
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
	policy      *approval.Policy
}

// needsApproval reports whether calls of t wait for a person.
func (v *view) needsApproval(t *catalog.Tool) bool { return v.policy.Requires(t.Server, t.Name) }

// rebuilds coalesces view rebuilds. Whoever changes what the view is made
// of (a server's catalog, the state) calls Hub.rebuild afterwards, which
// returns once a view built after that change is visible. Rebuilds run one
// at a time, on the callers' own goroutines: a caller that finds one
// running waits for it and, if that one started before its change, for the
// next, which the first of the waiters to wake runs for all of them. So
// when 100 servers publish at once, their changes are merged into a few
// rebuilds instead of 100 full ones in a row (BenchmarkStartupRebuilds).
type rebuilds struct {
	mu   sync.Mutex
	cond sync.Cond // L is &mu; broadcast when a rebuild ends
	// requested counts rebuild calls. built is how many of them the last
	// finished rebuild covers: it started after they were counted, so it
	// saw every change their callers made before calling.
	requested, built uint64
	running          bool
	runs             uint64 // rebuilds run, for tests
}

// rebuild makes the view reflect every change made before the call, and
// returns once it does (see rebuilds).
func (h *Hub) rebuild() {
	b := &h.builds
	b.mu.Lock()
	defer b.mu.Unlock()
	b.requested++
	mine := b.requested
	for b.built < mine {
		if b.running {
			b.cond.Wait()
			continue
		}
		// This rebuild covers every call counted so far, this one included:
		// their changes were made before they were counted.
		b.running = true
		b.runs++
		covers := b.requested
		b.mu.Unlock()
		func() {
			// Even if it panics (a Reload run by an HTTP handler recovers),
			// the next caller must be able to rebuild.
			defer func() {
				b.mu.Lock()
				b.running = false
				b.cond.Broadcast()
			}()
			h.buildView()
		}()
		b.built = covers // rebuilds run in turn, so covers only grows
	}
}

// buildView renders a new view from the current state and catalogs and
// swaps it in. Only rebuild calls it, one at a time; it owns h.rendered.
//
// Rendering tool schemas is most of the cost of a change, so each server's
// list is rendered once and kept until that server's tools (or their
// exported names) change; the list of every tool is the servers' lists
// joined. One server's change re-renders one server, not the whole catalog
// twice (BenchmarkRebuild).
func (h *Hub) buildView() {
	st := h.state.Load()
	servers := make([]catalog.ServerCatalog, 0, len(st.conns))
	h.catMu.Lock()
	for _, c := range st.conns {
		if sc, ok := h.catalogs[c]; ok {
			servers = append(servers, sc)
		}
	}
	h.catMu.Unlock()
	for i := range servers {
		sc := &servers[i]
		// The filter of the running config, not of the connection: a
		// reload that only changes a filter keeps the connection.
		if srv, ok := st.cfg.Server(sc.Server); ok && !srv.Tools.Empty() {
			sc.Tools = slices.DeleteFunc(slices.Clone(sc.Tools), func(t catalog.Tool) bool { return !srv.Tools.AllowsTool(t.Name) })
		}
	}
	snap := catalog.Build(servers, st.cfg.ToolNameSeparator)
	v := &view{snap: snap, conns: st.conns, policy: st.policy, serverTools: make(map[string][]byte, len(servers))}
	needsApproval := v.needsApproval
	rendered := make(map[string]renderedServer, len(servers))
	bodies := make([][]byte, 0, len(servers))
	var gated []string
	for _, name := range snap.Servers() { // sorted, as snap.Tools() is
		tools := snap.ServerTools(name)
		r, ok := h.rendered[name]
		if !ok || !r.renders(tools, needsApproval) {
			r = renderServer(tools, needsApproval)
		}
		rendered[name] = r
		v.serverTools[name] = r.listed
		v.skipped = append(v.skipped, r.skipped...)
		bodies = append(bodies, r.body)
		gated = append(gated, r.gated...)
	}
	h.rendered = rendered
	var ok bool
	if v.tools, ok = joinToolLists(bodies); !ok {
		v.tools, v.skipped = openai.RenderTools(snap.Tools(), needsApproval)
	}
	v.tools = withApprovalList(v.tools, gated)
	for _, c := range snap.Collisions() {
		h.log.Warn("tool name collision: names disambiguated", "name", c.Exported, "members", fmt.Sprint(c.Members))
	}
	for _, s := range v.skipped {
		h.log.Warn("tool not exported as an OpenAI function", "tool", s.Name, "err", s.Err)
	}
	h.view.Store(v)
}

// renderedServer is one server's rendered tool list and what it was
// rendered from.
type renderedServer struct {
	from    []renderKey
	body    []byte   // {"tools":[...]}
	listed  []byte   // body with its requires_approval: what GET /mcp_hub/tools?server= serves
	gated   []string // exported names of the rendered tools that need approval
	skipped []openai.SkippedTool
}

// renderKey is what a tool's rendering depends on. It is copied out of the
// snapshot so that the cache does not keep old snapshots alive.
type renderKey struct {
	name, exported, description string
	schema                      []byte
	approval                    bool
}

func renderServer(tools []catalog.Tool, needsApproval func(*catalog.Tool) bool) renderedServer {
	r := renderedServer{from: make([]renderKey, len(tools))}
	for i := range tools {
		t := &tools[i]
		r.from[i] = renderKey{t.Name, t.Exported, t.Description, t.InputSchema, needsApproval(t)}
	}
	r.body, r.skipped = openai.RenderTools(tools, needsApproval)
	if cap(r.body)-len(r.body) > len(r.body)/8 {
		r.body = bytes.Clone(r.body) // kept until the server changes: without the buffer's slack
	}
	r.gated = gatedNames(tools, needsApproval, r.skipped)
	r.listed = withApprovalList(r.body, r.gated)
	return r
}

// gatedNames lists the exported names of tools that need approval, leaving
// out those the rendering skipped.
func gatedNames(tools []catalog.Tool, needsApproval func(*catalog.Tool) bool, skipped []openai.SkippedTool) []string {
	var out []string
	for i := range tools {
		t := &tools[i]
		if needsApproval(t) && !slices.ContainsFunc(skipped, func(s openai.SkippedTool) bool { return s.Server == t.Server && s.Name == t.Name }) {
			out = append(out, t.Exported)
		}
	}
	return out
}

// withApprovalList adds "requires_approval": the exported names of the
// listed tools whose calls wait for a person, beside "tools" so that the
// tools array stays exactly OpenAI's shape. With none it adds nothing.
func withApprovalList(body []byte, names []string) []byte {
	if len(names) == 0 || len(body) == 0 || body[len(body)-1] != '}' {
		return body
	}
	list, _ := json.Marshal(names) // strings always marshal
	out := make([]byte, 0, len(body)+len(list)+24)
	out = append(out, body[:len(body)-1]...)
	out = append(out, `,"requires_approval":`...)
	out = append(out, list...)
	return append(out, '}')
}

// renders reports whether r is the rendering of tools.
func (r renderedServer) renders(tools []catalog.Tool, needsApproval func(*catalog.Tool) bool) bool {
	if len(r.from) != len(tools) {
		return false
	}
	for i := range tools {
		t, k := &tools[i], r.from[i]
		if k.name != t.Name || k.exported != t.Exported || k.description != t.Description ||
			!bytes.Equal(k.schema, t.InputSchema) || k.approval != needsApproval(t) {
			return false
		}
	}
	return true
}

// joinToolLists joins rendered {"tools":[...]} bodies into one. Exported
// names are unique across the snapshot, so joining cannot repeat a name.
// It reports false if a body is not in that form.
func joinToolLists(bodies [][]byte) ([]byte, bool) {
	const head, tail = `{"tools":[`, `]}`
	size := len(head) + len(tail)
	for _, b := range bodies {
		if !bytes.HasPrefix(b, []byte(head)) || !bytes.HasSuffix(b, []byte(tail)) || len(b) < len(head)+len(tail) {
			return nil, false
		}
		size += len(b) - len(head) - len(tail) + 1
	}
	out := make([]byte, 0, size)
	out = append(out, head...)
	first := true
	for _, b := range bodies {
		items := b[len(head) : len(b)-len(tail)]
		if len(items) == 0 {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, items...)
	}
	return append(out, tail...), true
}

// dropCatalog forgets what a stopped connection offered.
func (h *Hub) dropCatalog(c *downstream.Conn) {
	h.catMu.Lock()
	delete(h.catalogs, c)
	h.catMu.Unlock()
}

// toCatalog decodes a discovery into catalog types. Each item is parsed on
// its own, so one malformed tool is skipped and reported instead of hiding
// the rest of its server. The catalog keeps the discovery's bytes, which
// the connection never modifies.
func toCatalog(server string, d *downstream.Discovery) (catalog.ServerCatalog, []error) {
	sc := catalog.ServerCatalog{Server: server}
	var all, problems []error
	sc.Tools, problems = catalog.ParseToolList(server, d.Tools)
	all = append(all, problems...)
	sc.Resources, problems = catalog.ParseResourceList(server, d.Resources)
	all = append(all, problems...)
	sc.ResourceTemplates, problems = catalog.ParseResourceTemplateList(server, d.ResourceTemplates)
	all = append(all, problems...)
	sc.Prompts, problems = catalog.ParsePromptList(server, d.Prompts)
	all = append(all, problems...)
	sc.Sort() // so that the rebuilds of the view do not sort them again (see catalog.Build)
	return sc, all
}
