package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mcphub/mcphub/internal/rawjson"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/openai"
)

// maxURIBytes bounds a resource URI. Real URIs are far shorter; the bound
// caps the work of matching one against every template and the size of the
// error that quotes it.
const maxURIBytes = 8 << 10

// codeResourceNotFound is MCP's JSON-RPC error for a URI the server does not
// have (up to protocol 2025-11-25; 2026-07-28 servers answer -32602, which
// stays invalid input like any other).
const codeResourceNotFound = -32002

// ResourceResult is a resource read.
type ResourceResult struct {
	Server string
	URI    string
	// Result is the MCP ReadResourceResult exactly as the server sent it.
	Result json.RawMessage
}

// PromptResult is a rendered prompt.
type PromptResult struct {
	Server string
	Name   string // the exported name
	Prompt string // the prompt's name on its server
	// Result is the MCP GetPromptResult exactly as the server sent it.
	Result json.RawMessage
}

// ReadResource reads a resource from the server that offers it; see
// RouteResource for how that server is chosen. ctx is the caller's. A URI no
// server lists or matches is ErrNotFound, and so is the server's own
// "resource not found" (-32002); other downstream errors are classified as
// for tool calls.
func (h *Hub) ReadResource(ctx context.Context, uri string) (*ResourceResult, error) {
	return h.ReadResourceFrom(ctx, uri)
}

// ReadResourceFrom is ReadResource among the named servers only (all when
// none are named): for an endpoint that serves some servers, which must not
// answer with another server's resource of the same URI, and for a caller
// that wants the resource a URI collision hides. A name that is not
// configured is ErrNotFound.
func (h *Hub) ReadResourceFrom(ctx context.Context, uri string, servers ...string) (*ResourceResult, error) {
	switch {
	case uri == "":
		return nil, fmt.Errorf("%w: the resource URI is empty", ErrInvalidInput)
	case len(uri) > maxURIBytes:
		return nil, fmt.Errorf("%w: the resource URI is %d bytes long, the limit is %d", ErrInvalidInput, len(uri), maxURIBytes)
	}
	if h.ctx.Err() != nil {
		return nil, ErrStopped // the catalog is empty: say why, not "not found"
	}
	var keep func(string) bool
	if len(servers) > 0 {
		cfg := h.Config()
		for _, name := range servers {
			if _, ok := cfg.Server(name); !ok {
				return nil, fmt.Errorf("%w: unknown server %.256q", ErrNotFound, name)
			}
		}
		keep = func(name string) bool { return slices.Contains(servers, name) }
	}
	v := h.view.Load()
	server, ok := RouteResource(v.snap, uri, keep)
	if !ok {
		// %.256q: an 8 KiB URI echoed whole would only amplify the request.
		return nil, fmt.Errorf("%w: no server lists resource %.256q or has a template matching it", ErrNotFound, uri)
	}
	conn, ok := v.conns[server]
	if !ok {
		return nil, fmt.Errorf("%w: server %s is not running", ErrUnavailable, server)
	}
	raw, err := conn.ReadResource(ctx, uri)
	if err != nil {
		var rpcErr *downstream.RPCError
		if errors.As(err, &rpcErr) && rpcErr.Code == codeResourceNotFound {
			return nil, fmt.Errorf("%w: server %s has no resource %.256q: %w", ErrNotFound, server, uri, err)
		}
		return nil, h.callError(ctx, server, conn, err)
	}
	if err := wantObject(raw); err != nil {
		return nil, fmt.Errorf("%w: server %s: resources/read result %w", ErrProtocol, server, err)
	}
	return &ResourceResult{Server: server, URI: uri, Result: raw}, nil
}

// GetPrompt renders a prompt on its server. name is the exported name or
// the "server.prompt" form. Arguments the prompt declares as required must
// be present: checked here, because servers differ in how they refuse a
// missing one (mcp-go handlers answer -32603, which would read as a broken
// server rather than a bad request).
func (h *Hub) GetPrompt(ctx context.Context, name string, args map[string]string) (*PromptResult, error) {
	if h.ctx.Err() != nil {
		return nil, ErrStopped
	}
	v := h.view.Load()
	p, ok := v.snap.Prompt(name)
	if !ok {
		return nil, fmt.Errorf("%w: unknown prompt %.256q", ErrNotFound, name)
	}
	if missing := missingArguments(p.Raw, args); len(missing) > 0 {
		return nil, fmt.Errorf("%w: prompt %s: missing required argument(s) %s", ErrInvalidInput, p.Exported, strings.Join(missing, ", "))
	}
	conn, ok := v.conns[p.Server]
	if !ok {
		return nil, fmt.Errorf("%w: server %s is not running", ErrUnavailable, p.Server)
	}
	raw, err := conn.GetPrompt(ctx, p.Name, args)
	if err != nil {
		return nil, h.callError(ctx, p.Server, conn, err)
	}
	if err := wantObject(raw); err != nil {
		return nil, fmt.Errorf("%w: server %s: prompts/get result %w", ErrProtocol, p.Server, err)
	}
	return &PromptResult{Server: p.Server, Name: p.Exported, Prompt: p.Name, Result: raw}, nil
}

// missingArguments returns the names of the arguments prompt (its object as
// the server listed it) requires that args lacks, in declared order. A
// declaration it cannot read requires nothing: the server still decides.
// Members are read through maps, as catalog does: protocol keys are exact,
// and struct tags would match "Required" too.
func missingArguments(prompt json.RawMessage, args map[string]string) []string {
	var p map[string]json.RawMessage
	var decls []map[string]json.RawMessage
	if json.Unmarshal(prompt, &p) != nil || json.Unmarshal(p["arguments"], &decls) != nil {
		return nil
	}
	var missing []string
	for _, d := range decls {
		var name string
		var required bool
		if json.Unmarshal(d["name"], &name) != nil || json.Unmarshal(d["required"], &required) != nil {
			continue
		}
		if _, ok := args[name]; required && !ok {
			missing = append(missing, name)
		}
	}
	return missing
}

// wantObject checks that a result is a JSON object. The transport has
// already checked that it is JSON, so the first byte tells; decoding a
// resource's contents again just to look would cost a second full scan.
func wantObject(raw json.RawMessage) error {
	if rawjson.FirstByte(raw) != '{' {
		return fmt.Errorf("is not an object: %.64s", raw)
	}
	return nil
}

// Resources lists every server's resources ("") or one server's, sorted by
// server then URI. A configured server that offered nothing (yet) has an
// empty list; an unknown one is ErrNotFound. The items share bytes with
// the catalog: callers must not modify them.
func (h *Hub) Resources(server string) ([]catalog.Resource, error) {
	return serverItems(h, server, h.view.Load().snap.Resources(), func(r *catalog.Resource) string { return r.Server })
}

// ResourceTemplates lists resource templates like Resources.
func (h *Hub) ResourceTemplates(server string) ([]catalog.ResourceTemplate, error) {
	return serverItems(h, server, h.view.Load().snap.ResourceTemplates(), func(r *catalog.ResourceTemplate) string { return r.Server })
}

// Prompts lists prompts like Resources, sorted by server then name on it.
func (h *Hub) Prompts(server string) ([]catalog.Prompt, error) {
	return serverItems(h, server, h.view.Load().snap.Prompts(), func(p *catalog.Prompt) string { return p.Server })
}

// serverItems returns all, or the items of one configured server.
func serverItems[T any](h *Hub, server string, all []T, serverOf func(*T) string) ([]T, error) {
	if server == "" {
		return all, nil
	}
	if _, ok := h.Config().Server(server); !ok {
		return nil, fmt.Errorf("%w: unknown server %.256q", ErrNotFound, server)
	}
	var out []T
	for i := range all {
		if serverOf(&all[i]) == server {
			out = append(out, all[i])
		}
	}
	return out, nil
}

// SearchToolsJSON ranks the tools of every server ("") or of one by
// relevance to query (see catalog.Snapshot.Search) and renders the best
// limit of them, best first, in ToolsJSON's {"tools":[...]} form, with its
// "requires_approval" list. An empty query finds nothing; a tool that cannot be
// rendered is left out, as it is from ToolsJSON. Unlike ToolsJSON it renders
// on every call: results depend on the query, and rendering a few tools
// costs little next to the search.
func (h *Hub) SearchToolsJSON(query string, limit int, server string) ([]byte, error) {
	if len(query) > catalog.MaxQueryBytes {
		return nil, fmt.Errorf("%w: the query is %d bytes long, the limit is %d", ErrInvalidInput, len(query), catalog.MaxQueryBytes)
	}
	v := h.view.Load()
	var keep func(*catalog.Tool) bool
	if server != "" {
		if _, ok := h.Config().Server(server); !ok {
			return nil, fmt.Errorf("%w: unknown server %.256q", ErrNotFound, server)
		}
		keep = func(t *catalog.Tool) bool { return t.Server == server }
	}
	results := v.snap.SearchFunc(query, limit, keep)
	tools := make([]catalog.Tool, len(results))
	for i, r := range results {
		tools[i] = r.Tool
	}
	body, skipped := openai.RenderTools(tools, v.needsApproval) // skipped tools were logged when the view was built
	return withApprovalList(body, gatedNames(tools, v.needsApproval, skipped)), nil
}

// RouteResource names the server a resources/read of uri goes to in snap,
// among the servers keep accepts (all if keep is nil):
//
//  1. A server that lists uri itself. When several do, the first by name
//     (the snapshot reports the collision).
//  2. Otherwise a server with a resource template that uri matches (see
//     MatchURITemplate). When several match, the template with the longest
//     literal prefix (the text before its first expression) wins, as the
//     most specific; between equals, the first server by name, and within
//     a server the first template in byte order.
//
// It belongs with the snapshot's other lookups and would move to catalog if
// another package needed it.
func RouteResource(snap *catalog.Snapshot, uri string, keep func(server string) bool) (server string, ok bool) {
	if r, ok := snap.Resource(uri); ok && (keep == nil || keep(r.Server)) {
		return r.Server, true
	}
	if keep != nil {
		// The index holds the first server only: look for a kept one that
		// lists uri too. Resources are sorted by server, then URI.
		for _, r := range snap.Resources() {
			if r.URI == uri && keep(r.Server) {
				return r.Server, true
			}
		}
	}
	best := -1
	for _, t := range snap.ResourceTemplates() { // sorted by server, then template
		if keep != nil && !keep(t.Server) {
			continue
		}
		parts, ok := parseTemplate(t.URITemplate)
		if !ok || !matchParts(parts, uri) {
			continue
		}
		if p := literalPrefix(parts); p > best { // strictly: ties keep the earlier
			best, server = p, t.Server
		}
	}
	return server, best >= 0
}

// MatchURITemplate reports whether uri could be an expansion of the RFC 6570
// URI template, for routing reads. It matches bytes as they are, without
// decoding or case folding, and errs towards matching where the RFC allows
// more than one reading, since the server makes the final decision:
//
//   - Literal text must appear as it is.
//   - A simple expression ({id}, also {x,y} and {id:3}) matches one or more
//     characters other than '/': its expansion percent-encodes '/', and an
//     empty match would let "note://" reach every note template.
//   - An expression with an operator ({+path}, {#frag}, {/seg}, {.ext},
//     {;p}, {?q}, {&q}) matches any run of characters, empty included:
//     reserved expansion keeps '/', the others insert separators of their
//     own, and an undefined variable expands to nothing.
//   - A malformed template (an unclosed '{', a stray '}', an empty
//     expression, an operator RFC 6570 reserves for later) matches nothing.
func MatchURITemplate(template, uri string) bool {
	parts, ok := parseTemplate(template)
	return ok && matchParts(parts, uri)
}

// templatePart is a literal or one expression of a parsed template.
type templatePart struct {
	literal string
	kind    partKind
}

type partKind uint8

const (
	partLiteral partKind = iota
	partSegment          // one or more characters, none of them '/'
	partAny              // any characters, possibly none
)

// parseTemplate splits a template into literals and expressions.
func parseTemplate(template string) ([]templatePart, bool) {
	var parts []templatePart
	for rest := template; rest != ""; {
		open := strings.IndexByte(rest, '{')
		lit := rest
		if open >= 0 {
			lit = rest[:open]
		}
		if strings.IndexByte(lit, '}') >= 0 {
			return nil, false
		}
		if lit != "" {
			parts = append(parts, templatePart{literal: lit})
		}
		if open < 0 {
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, false
		}
		expr := rest[open+1 : open+end]
		rest = rest[open+end+1:]
		switch {
		case expr == "" || strings.IndexByte(expr, '{') >= 0:
			return nil, false
		case strings.IndexByte("+#./;?&", expr[0]) >= 0:
			parts = append(parts, templatePart{kind: partAny})
		case strings.IndexByte("=,!@|", expr[0]) >= 0:
			return nil, false // reserved for future extensions: no meaning to match
		default:
			parts = append(parts, templatePart{kind: partSegment})
		}
	}
	return parts, true
}

// literalPrefix is the length of the literal text before the first expression.
func literalPrefix(parts []templatePart) int {
	if len(parts) > 0 && parts[0].kind == partLiteral {
		return len(parts[0].literal)
	}
	return 0
}

// matchParts reports whether uri matches parts. It tracks the set of
// positions in uri that the parts so far can end at, one part at a time, so
// it takes time proportional to len(uri) per part, never backtracking.
func matchParts(parts []templatePart, uri string) bool {
	// Most templates fail on their first or last literal (another scheme,
	// another extension): check those before allocating.
	if len(parts) > 0 {
		if first := parts[0]; first.kind == partLiteral && !strings.HasPrefix(uri, first.literal) {
			return false
		}
		if last := parts[len(parts)-1]; last.kind == partLiteral && !strings.HasSuffix(uri, last.literal) {
			return false
		}
	}
	n := len(uri)
	cur, next := make([]bool, n+1), make([]bool, n+1)
	cur[0] = true
	for _, p := range parts {
		clear(next)
		switch p.kind {
		case partLiteral:
			for i := 0; i+len(p.literal) <= n; i++ {
				if cur[i] && uri[i:i+len(p.literal)] == p.literal {
					next[i+len(p.literal)] = true
				}
			}
		case partSegment:
			// A run ends at i if it starts at i-1 or continues one ending
			// there, and its last character is not '/'.
			for i := 1; i <= n; i++ {
				next[i] = uri[i-1] != '/' && (cur[i-1] || next[i-1])
			}
		case partAny:
			next[0] = cur[0]
			for i := 1; i <= n; i++ {
				next[i] = cur[i] || next[i-1]
			}
		}
		cur, next = next, cur
	}
	return cur[n]
}
