package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/hub"
)

// The meta-tools of an endpoint in search mode (expose: search): a model
// finds tools by relevance instead of holding the whole catalog in context.
const (
	toolSearch       = "search_tools"
	toolCall         = "call_tool"
	toolServerDetail = "get_server_detail"
	maxSearchLimit   = 50
)

func (ep *endpoint) metaTools() []server.ServerTool {
	return []server.ServerTool{
		{Tool: mcp.NewTool(toolSearch,
			mcp.WithDescription("Find tools by what they do. Returns the best matches with their names, descriptions and input schemas; run one with call_tool."),
			mcp.WithString("query", mcp.Required(), mcp.Description("What you want to do, in a few words, e.g. \"create a github issue\".")),
			mcp.WithInteger("limit", mcp.Description("How many tools to return (default 10, at most 50)."), mcp.Min(1), mcp.Max(maxSearchLimit)),
			mcp.WithReadOnlyHintAnnotation(true),
		), Handler: ep.searchTools},
		{Tool: mcp.NewTool(toolCall,
			mcp.WithDescription("Run a tool found with search_tools, by its exact name."),
			mcp.WithString("name", mcp.Required(), mcp.Description("The tool's name as search_tools returned it.")),
			mcp.WithObject("arguments", mcp.Description("The tool's arguments, matching its input schema.")),
		), Handler: ep.callMeta},
		{Tool: mcp.NewTool(toolServerDetail,
			mcp.WithDescription("Describe one downstream server: whether it is up, what it is, and the names of its tools."),
			mcp.WithString("server", mcp.Required(), mcp.Description("The server's name (the part of a tool name before the separator).")),
			mcp.WithReadOnlyHintAnnotation(true),
		), Handler: ep.serverDetail},
	}
}

// foundTool is one search_tools hit.
type foundTool struct {
	Name             string          `json:"name"`
	Server           string          `json:"server"`
	Description      string          `json:"description,omitempty"`
	InputSchema      json.RawMessage `json:"inputSchema"`
	RequiresApproval bool            `json:"requiresApproval,omitempty"`
}

func (ep *endpoint) searchTools(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	query, err := req.RequireString("query")
	if err != nil || query == "" {
		return mcp.NewToolResultError("query is required: say in a few words what the tool should do"), nil
	}
	limit := req.GetInt("limit", catalog.DefaultSearchLimit)
	if limit < 1 || limit > maxSearchLimit {
		return mcp.NewToolResultError(fmt.Sprintf("limit must be from 1 to %d", maxSearchLimit)), nil
	}
	sc := ep.currentScope()
	found := ep.srv.hub.Snapshot().SearchFunc(query, limit, sc.keepsTool)
	out := struct {
		Tools []foundTool `json:"tools"`
	}{Tools: make([]foundTool, 0, len(found))}
	for _, r := range found {
		schema := r.Tool.InputSchema
		if len(schema) == 0 {
			schema = json.RawMessage(`{"type":"object"}`)
		}
		out.Tools = append(out.Tools, foundTool{
			Name: r.Tool.Exported, Server: r.Tool.Server, Description: r.Tool.Description,
			InputSchema: schema, RequiresApproval: ep.srv.hub.NeedsApproval(r.Tool),
		})
	}
	return jsonResult(out)
}

func (ep *endpoint) callMeta(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var p struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	}
	if err := json.Unmarshal(callArguments(req), &p); err != nil || p.Name == "" {
		return mcp.NewToolResultError("call_tool needs {\"name\": <a tool from search_tools>, \"arguments\": {...}}"), nil
	}
	t, ok := ep.srv.hub.Snapshot().Tool(p.Name)
	if !ok || !ep.currentScope().keepsTool(&t) {
		return mcp.NewToolResultError(fmt.Sprintf("unknown tool %q: find tools with search_tools", p.Name)), nil
	}
	onProgress := progressSender(ctx, req)
	res, err := ep.srv.hub.Call(ctx, hub.CallRequest{Name: t.Exported, Arguments: p.Arguments, OnProgress: onProgress, Claim: true, NoContent: true})
	if pending, ok := asPending(err); ok {
		return ep.askApproval(ctx, pending.Request, t.Exported, p.Arguments, onProgress)
	}
	return ep.toolResult(res, err)
}

// serverDetail describes one server of the endpoint's scope.
func (ep *endpoint) serverDetail(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	name, err := req.RequireString("server")
	sc := ep.currentScope()
	if err != nil || !sc.hasServer(name) {
		return mcp.NewToolResultError(fmt.Sprintf("unknown server %q", name)), nil
	}
	for _, info := range ep.srv.hub.Servers() {
		if info.Name != name {
			continue
		}
		var tools []string
		for _, t := range ep.srv.hub.Snapshot().ServerTools(name) {
			if sc.keepsTool(&t) {
				tools = append(tools, t.Exported)
			}
		}
		slices.Sort(tools)
		return jsonResult(map[string]any{
			"server": info.Name, "status": info.Status, "healthy": info.Healthy, "last_error": info.LastError,
			"server_info": map[string]string{"name": info.ServerName, "version": info.ServerVersion},
			"tools":       tools, "resources": info.Resources, "prompts": info.Prompts,
		})
	}
	return mcp.NewToolResultError(fmt.Sprintf("unknown server %q", name)), nil
}

func jsonResult(v any) (*mcp.CallToolResult, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return mcp.NewToolResultText(string(b)), nil
}

func asPending(err error) (*hub.PendingError, bool) {
	var p *hub.PendingError
	return p, errors.As(err, &p)
}
