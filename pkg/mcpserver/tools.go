package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/openai"
)

// updateTools registers the scope's tools that are new or changed and
// removes those that are gone. A tool mcp-go would refuse is skipped and
// logged, never a panic (AddTools panics on bad x-mcp-header annotations).
func (ep *endpoint) updateTools(snap *catalog.Snapshot, sc scope, needsApproval func(catalog.Tool) bool) {
	tools := scopeTools(snap, sc)
	if ep.toolsUnchanged(tools, sc, needsApproval) {
		return // the common case: a sync for another endpoint's change
	}
	var add []server.ServerTool
	listed := make([]listedTool, 0, len(ep.tools))
	next := make(map[string]mark, len(ep.tools))
	for _, t := range tools {
		if !sc.keepsTool(&t) {
			continue
		}
		gated := needsApproval(t)
		old, had := ep.tools[t.Exported]
		m, changed := remark(old, had, t.Server, t.Name, gated, t.Raw, t.InputSchema)
		if changed {
			mt, err := toMCPTool(t, gated)
			if err != nil {
				ep.srv.log.Warn("tool not served over MCP", "endpoint", ep.path(), "server", t.Server, "tool", t.Name, "err", err)
				continue
			}
			add = append(add, server.ServerTool{Tool: mt, Handler: ep.callTool})
		}
		listed = append(listed, listedTool{tool: t, gated: gated})
		next[t.Exported] = m
	}
	// The listing and the served set change before mcp-go's registry:
	// DeleteTools and AddTools send list_changed, and a client that lists
	// or calls at once must find the new tools.
	slices.SortFunc(listed, func(a, b listedTool) int { return strings.Compare(a.tool.Exported, b.tool.Exported) })
	ep.publish(listed, next)
	if gone := removed(ep.tools, next); len(gone) > 0 {
		ep.mcp.DeleteTools(gone...)
	}
	if refused := ep.addTools(add); len(refused) > 0 {
		// Rare (toMCPTool checks what mcp-go panics on): listed for a
		// moment, never served by mcp-go.
		next = maps.Clone(next) // the published ones are read concurrently
		for _, name := range refused {
			delete(next, name)
		}
		listed = slices.DeleteFunc(slices.Clone(listed), func(lt listedTool) bool { _, ok := next[lt.tool.Exported]; return !ok })
		ep.publish(listed, next)
	}
	ep.tools = next
}

// publish makes next the tools the endpoint serves and listed (the same
// tools, by exported name) its fast path's listing.
func (ep *endpoint) publish(listed []listedTool, next map[string]mark) {
	ep.served.Store(&next)
	ep.listing.Store(&toolListing{tools: listed})
}

// toolsUnchanged reports whether the endpoint registered exactly these
// tools, from the same bytes: then there is nothing to do, not even to
// allocate.
func (ep *endpoint) toolsUnchanged(tools []catalog.Tool, sc scope, needsApproval func(catalog.Tool) bool) bool {
	if ep.listing.Load() == nil {
		return false // never listed
	}
	n := 0
	for _, t := range tools {
		if !sc.keepsTool(&t) {
			continue
		}
		n++
		old, had := ep.tools[t.Exported]
		if !had || old.server != t.Server || old.name != t.Name || old.big != [2]bytesID{idOf(t.Raw), idOf(t.InputSchema)} ||
			old.flag != needsApproval(t) {
			return false
		}
	}
	return n == len(ep.tools)
}

// scopeTools is the catalog's tools an endpoint of sc may serve: a
// server's or a group's endpoint looks only at its servers' tools.
func scopeTools(snap *catalog.Snapshot, sc scope) []catalog.Tool {
	switch len(sc.servers) {
	case 0:
		if sc.servers == nil {
			return snap.Tools()
		}
		return nil
	case 1:
		return snap.ServerTools(sc.servers[0])
	}
	var out []catalog.Tool
	for _, s := range sc.servers {
		out = append(out, snap.ServerTools(s)...)
	}
	return out
}

// addTools registers tools, isolating any that mcp-go panics on despite
// the checks in toMCPTool, and returns the names of those.
func (ep *endpoint) addTools(tools []server.ServerTool) (refused []string) {
	if len(tools) == 0 || safeAdd(ep.mcp, tools) == nil {
		return nil
	}
	for _, t := range tools {
		if err := safeAdd(ep.mcp, []server.ServerTool{t}); err != nil {
			ep.srv.log.Warn("tool not served over MCP", "endpoint", ep.path(), "tool", t.Tool.Name, "err", err)
			refused = append(refused, t.Tool.Name)
		}
	}
	return refused
}

func safeAdd(s *server.MCPServer, tools []server.ServerTool) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("mcp-go refused the tool: %v", v)
		}
	}()
	s.AddTools(tools...)
	return nil
}

// toMCPTool is the downstream tool under its exported name, with its input
// and output schemas exactly as the server sent them (mcp-go's typed schema
// would drop $schema, anyOf, title and more).
func toMCPTool(t catalog.Tool, gated bool) (mcp.Tool, error) {
	// One decode: the outer outputSchema field, shallower, takes the raw
	// schema instead of mcp.Tool's typed one.
	var decoded struct {
		mcp.Tool
		Output json.RawMessage `json:"outputSchema"`
	}
	if err := json.Unmarshal(t.Raw, &decoded); err != nil {
		return mcp.Tool{}, fmt.Errorf("decoding the tool: %w", err)
	}
	mt, output := decoded.Tool, decoded.Output
	mt.Name = t.Exported
	mt.InputSchema = mcp.ToolInputSchema{}
	mt.RawInputSchema = t.InputSchema
	if len(mt.RawInputSchema) == 0 || string(mt.RawInputSchema) == "null" {
		mt.RawInputSchema = json.RawMessage(`{"type":"object"}`)
	}
	mt.OutputSchema = mcp.ToolOutputSchema{}
	mt.RawOutputSchema = nil
	if len(output) > 0 && string(output) != "null" {
		mt.RawOutputSchema = output
	}
	if gated {
		mt.Description = strings.TrimSpace(mt.Description + " " + openai.ApprovalNote)
	}
	if err := mcp.ValidateParamHeaderAnnotations(&mt); err != nil {
		return mcp.Tool{}, err
	}
	return mt, nil
}

// callTool runs a call through the hub. Hub errors become tool errors
// (isError) so the model sees what went wrong; a JSON-RPC error is kept
// for calls of tools this endpoint does not serve.
func (ep *endpoint) callTool(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	name := req.Params.Name
	t, ok := ep.srv.hub.Snapshot().Tool(name)
	if !ok || !ep.currentScope().keepsTool(&t) {
		return nil, fmt.Errorf("unknown tool %q", name)
	}
	args := callArguments(req)
	onProgress := progressSender(ctx, req)
	res, err := ep.srv.hub.Call(ctx, hub.CallRequest{Name: name, Arguments: args, OnProgress: onProgress, Claim: true, NoContent: true})
	if pending, ok := asPending(err); ok {
		return ep.askApproval(ctx, pending.Request, name, args, onProgress)
	}
	return ep.toolResult(res, err)
}

func (ep *endpoint) currentScope() scope { return *ep.scopeP.Load() }

// serves reports whether the endpoint registered a tool of that name.
func (ep *endpoint) serves(name string) bool {
	m := ep.served.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[name]
	return ok
}

// callArguments are the call's arguments as the client sent them (mcp-go
// keeps the raw bytes, so integers above 2^53 survive).
func callArguments(req mcp.CallToolRequest) json.RawMessage {
	if len(req.Params.RawArguments) > 0 {
		return req.Params.RawArguments
	}
	if req.Params.Arguments == nil {
		return nil
	}
	b, err := json.Marshal(req.Params.Arguments)
	if err != nil {
		return nil
	}
	return b
}

// progressSender forwards the downstream's progress to the client that
// made the call, under the client's own progress token; nil when the client
// asked for none.
func progressSender(ctx context.Context, req mcp.CallToolRequest) func(hub.Progress) {
	if req.Params.Meta == nil || req.Params.Meta.ProgressToken == nil {
		return nil
	}
	token := req.Params.Meta.ProgressToken
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return nil
	}
	return func(p hub.Progress) {
		params := map[string]any{"progressToken": token, "progress": p.Progress}
		if p.Total != nil {
			params["total"] = *p.Total
		}
		if p.Message != "" {
			params["message"] = p.Message
		}
		// Best effort: a client that went away only misses progress.
		_ = srv.SendNotificationToClient(ctx, "notifications/progress", params)
	}
}

// toolResult turns a hub outcome into the client's result.
func (ep *endpoint) toolResult(res *hub.CallResult, err error) (*mcp.CallToolResult, error) {
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
		// Scrubbed: transport errors quote endpoints, which may hold keys.
		return mcp.NewToolResultError(ep.srv.hub.Config().Scrub(err.Error())), nil
	}
	raw := res.Result
	out, perr := mcp.ParseCallToolResult(&raw)
	if perr != nil {
		return mcp.NewToolResultError(fmt.Sprintf("the server's result could not be relayed: %v", perr)), nil
	}
	return out, nil
}

// askApproval asks the person at the client to approve a gated call when
// the client supports elicitation, and runs the call if they agree.
// Otherwise the answer is a tool error naming the approval request, so it
// can be approved over REST; calling the tool again with the same
// arguments then returns the approved call's result.
func (ep *endpoint) askApproval(ctx context.Context, r approval.Request, name string, args json.RawMessage, onProgress func(hub.Progress)) (*mcp.CallToolResult, error) {
	id := r.ID
	if supportsElicitation(ctx) {
		// The person may never answer: the wait ends with the request's
		// expiry, or when the endpoints stop (Shutdown does not cancel
		// handlers).
		ectx, cancel := context.WithDeadline(ctx, r.ExpiresAt)
		defer cancel()
		defer context.AfterFunc(ep.srv.ctx, cancel)()
		res, err := ep.mcp.RequestElicitation(ectx, mcp.ElicitationRequest{Params: mcp.ElicitationParams{
			Message: fmt.Sprintf("mcphub: allow %s to run with arguments %s? (approval request %s)", name, compact(args), id),
			RequestedSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"approve": map[string]any{"type": "boolean", "title": "Run it", "description": "Run this call now"},
				},
				"required": []string{"approve"},
			},
		}})
		switch {
		case err == nil:
			return ep.decide(ctx, id, name, args, onProgress, res)
		case ctx.Err() != nil:
			return nil, ctx.Err() // the client went away
		case ep.srv.ctx.Err() != nil:
			return mcp.NewToolResultError(fmt.Sprintf("the hub is stopping; approval request %s for %s stays pending", id, name)), nil
		case ectx.Err() != nil:
			return mcp.NewToolResultError(fmt.Sprintf("nobody answered the approval of %s before approval request %s expired", name, id)), nil
		}
		ep.srv.log.InfoContext(ctx, "elicitation failed; the approval goes over REST", "id", id, "err", err)
	}
	return mcp.NewToolResultError(fmt.Sprintf(
		"%s needs a person's approval before it runs (approval request %s). Ask the user to approve it "+
			"(POST /mcp_hub/approve with {\"approval_id\":%q,\"tool\":%q,\"arguments\":%s}) or reject it "+
			"(POST /mcp_hub/reject). Once it is approved, call %s again with the same arguments to get its result.",
		name, id, id, name, compact(args), name)), nil
}

// decide acts on the person's answer to an elicitation.
func (ep *endpoint) decide(ctx context.Context, id, name string, args json.RawMessage, onProgress func(hub.Progress), res *mcp.ElicitationResult) (*mcp.CallToolResult, error) {
	const by = "mcp client"
	approve := false
	if m, ok := res.Content.(map[string]any); ok {
		approve, _ = m["approve"].(bool)
	}
	switch {
	case res.Action == mcp.ElicitationResponseActionAccept && approve:
		out, err := ep.srv.hub.Approve(ctx, hub.ApproveRequest{ID: id, Name: name, Arguments: args, By: by, OnProgress: onProgress})
		return ep.toolResult(out, err)
	case res.Action == mcp.ElicitationResponseActionCancel:
		return mcp.NewToolResultError(fmt.Sprintf("the user dismissed the approval of %s; approval request %s is still pending", name, id)), nil
	default: // declined, or accepted without saying yes
		if _, err := ep.srv.hub.Reject(ctx, id, by, "declined in the client"); err != nil {
			return ep.toolResult(nil, err)
		}
		return mcp.NewToolResultError(fmt.Sprintf("the user declined to run %s (approval request %s)", name, id)), nil
	}
}

// supportsElicitation reports whether the calling client declared the
// elicitation capability.
func supportsElicitation(ctx context.Context) bool {
	s, ok := server.ClientSessionFromContext(ctx).(server.SessionWithClientInfo)
	return ok && s.GetClientCapabilities().Elicitation != nil
}

func compact(args json.RawMessage) string {
	if len(args) == 0 {
		return "{}"
	}
	return string(args)
}
