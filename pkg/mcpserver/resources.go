package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/catalog"
)

// updateResources registers the scope's resources and templates. They keep
// their URIs (a URI names a resource everywhere); reads are routed to the
// owning server by the hub.
func (ep *endpoint) updateResources(snap *catalog.Snapshot, sc scope) {
	seen := map[string]bool{}
	next := make(map[string]mark, len(ep.resources))
	var add []server.ServerResource
	for _, r := range snap.Resources() { // sorted by server
		if !sc.hasServer(r.Server) || seen[r.URI] {
			// One copy of a URI several servers list: the first server's,
			// which is where reads go.
			continue
		}
		old, had := ep.resources[r.URI]
		m, changed := remark(old, had, r.Server, "", false, r.Raw)
		seen[r.URI] = true
		next[r.URI] = m
		if !changed {
			continue
		}
		var mr mcp.Resource
		if err := json.Unmarshal(r.Raw, &mr); err != nil {
			ep.srv.log.Warn("resource not served over MCP", "endpoint", ep.path(), "server", r.Server, "uri", r.URI, "err", err)
			delete(next, r.URI)
			continue
		}
		add = append(add, server.ServerResource{Resource: mr, Handler: ep.readResource})
	}
	// Against next, not what was seen: a version that no longer decodes
	// must not leave the old one registered.
	if gone := removed(ep.resources, next); len(gone) > 0 {
		ep.mcp.DeleteResources(gone...)
	}
	if len(add) > 0 {
		ep.mcp.AddResources(add...)
	}
	ep.resources = next

	// Templates: mcp-go can only replace the whole set, so any change does.
	nextT := make(map[string]mark, len(ep.templates))
	var kept []catalog.ResourceTemplate
	for _, t := range snap.ResourceTemplates() {
		if !sc.hasServer(t.Server) {
			continue
		}
		key := t.Server + "\x00" + t.URITemplate
		old, had := ep.templates[key]
		nextT[key], _ = remark(old, had, t.Server, "", false, t.Raw)
		kept = append(kept, t)
	}
	same := sameMarks(ep.templates, nextT)
	ep.templates = nextT
	if same {
		return
	}
	var templates []server.ServerResourceTemplate
	for _, t := range kept {
		var mt mcp.ResourceTemplate
		if err := json.Unmarshal(t.Raw, &mt); err != nil || mt.URITemplate == nil {
			ep.srv.log.Warn("resource template not served over MCP", "endpoint", ep.path(), "server", t.Server, "template", t.URITemplate, "err", err)
			continue
		}
		templates = append(templates, server.ServerResourceTemplate{Template: mt, Handler: ep.readResource})
	}
	ep.mcp.SetResourceTemplates(templates...)
}

func (ep *endpoint) readResource(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	// Routed among this endpoint's servers only: another server may offer
	// the same URI.
	res, err := ep.srv.hub.ReadResourceFrom(ctx, req.Params.URI, ep.currentScope().servers...)
	if err != nil {
		return nil, err
	}
	raw := res.Result
	out, err := mcp.ParseReadResourceResult(&raw)
	if err != nil {
		return nil, fmt.Errorf("server %s: resources/read result: %w", res.Server, err)
	}
	return out.Contents, nil
}

// updatePrompts registers the scope's prompts under their exported names.
func (ep *endpoint) updatePrompts(snap *catalog.Snapshot, sc scope) {
	next := make(map[string]mark, len(ep.prompts))
	var add []server.ServerPrompt
	for _, p := range snap.Prompts() {
		if !sc.hasServer(p.Server) {
			continue
		}
		old, had := ep.prompts[p.Exported]
		m, changed := remark(old, had, p.Server, p.Name, false, p.Raw)
		next[p.Exported] = m
		if !changed {
			continue
		}
		var mp mcp.Prompt
		if err := json.Unmarshal(p.Raw, &mp); err != nil {
			ep.srv.log.Warn("prompt not served over MCP", "endpoint", ep.path(), "server", p.Server, "prompt", p.Name, "err", err)
			delete(next, p.Exported)
			continue
		}
		mp.Name = p.Exported
		add = append(add, server.ServerPrompt{Prompt: mp, Handler: ep.getPrompt})
	}
	if gone := removed(ep.prompts, next); len(gone) > 0 {
		ep.mcp.DeletePrompts(gone...)
	}
	if len(add) > 0 {
		ep.mcp.AddPrompts(add...)
	}
	ep.prompts = next
}

func (ep *endpoint) getPrompt(ctx context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	p, ok := ep.srv.hub.Snapshot().Prompt(req.Params.Name)
	if !ok || !ep.currentScope().hasServer(p.Server) {
		return nil, fmt.Errorf("unknown prompt %q", req.Params.Name)
	}
	res, err := ep.srv.hub.GetPrompt(ctx, req.Params.Name, req.Params.Arguments)
	if err != nil {
		return nil, err
	}
	raw := res.Result
	out, err := mcp.ParseGetPromptResult(&raw)
	if err != nil {
		return nil, fmt.Errorf("server %s: prompts/get result: %w", res.Server, err)
	}
	return out, nil
}
