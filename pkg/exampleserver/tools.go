package exampleserver

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// maxToolNameLen is the MCP limit on tool names (2025-11-25 spec).
const maxToolNameLen = 128

// example holds one server's mutable state. Handlers are closures over it so
// that each New gets its own notes and runtime tools.
type example struct {
	srv   *server.MCPServer
	notes *notes

	mu      sync.Mutex
	runtime map[string]bool // tools added by register_tool, the only ones unregister_tool may remove
}

func (ex *example) addTools(extra int) {
	tools := []server.ServerTool{
		{Tool: mcp.NewTool(ToolEcho,
			mcp.WithDescription("Echo the message back unchanged."),
			mcp.WithString("message", mcp.Required(), mcp.Description("Text to send back.")),
			mcp.WithReadOnlyHintAnnotation(true),
		), Handler: ex.echo},
		{Tool: mcp.NewTool(ToolAdd,
			mcp.WithDescription("Add two numbers. Returns the sum as text and as structuredContent {\"sum\": n}."),
			mcp.WithNumber("a", mcp.Required(), mcp.Description("First addend.")),
			mcp.WithNumber("b", mcp.Required(), mcp.Description("Second addend.")),
			mcp.WithRawOutputSchema([]byte(`{"type":"object","properties":{"sum":{"type":"number","description":"a + b"}},"required":["sum"]}`)),
			mcp.WithReadOnlyHintAnnotation(true),
		), Handler: ex.add},
		{Tool: mcp.NewTool(ToolSlowCount,
			mcp.WithDescription("Count from 1 to count, waiting delay_ms before each step and sending a "+
				"notifications/progress per step when the request carries a progress token. Stops when cancelled."),
			mcp.WithInteger("count", mcp.Description("How many steps to count."),
				mcp.DefaultNumber(defaultCount), mcp.Min(0), mcp.Max(maxCount)),
			mcp.WithInteger("delay_ms", mcp.Description("Milliseconds to wait before each step."),
				mcp.DefaultNumber(defaultDelayMS), mcp.Min(0), mcp.Max(maxDelayMS)),
			mcp.WithReadOnlyHintAnnotation(true),
		), Handler: ex.slowCount},
		{Tool: mcp.NewTool(ToolCreateNote,
			mcp.WithDescription("Create or replace a note in the server's in-memory notebook."),
			mcp.WithString("id", mcp.Required(), mcp.Description("Note id; readable as note://<id>."), mcp.MinLength(1)),
			mcp.WithString("text", mcp.Required(), mcp.Description("Note text.")),
		), Handler: ex.createNote},
		{Tool: mcp.NewTool(ToolDeleteNote,
			mcp.WithDescription("Delete a note from the in-memory notebook. Destructive: the hub asks a human first."),
			mcp.WithString("id", mcp.Required(), mcp.Description("Id of the note to delete, e.g. \"todo\".")),
			mcp.WithDestructiveHintAnnotation(true),
		), Handler: ex.deleteNote},
		{Tool: mcp.NewTool(ToolRegisterTool,
			mcp.WithDescription("Test helper: register a new trivial tool at run time, which makes the server "+
				"send notifications/tools/list_changed."),
			mcp.WithString("name", mcp.Required(), mcp.Description("Name of the tool to add; must not exist yet."),
				mcp.MinLength(1), mcp.MaxLength(maxToolNameLen)),
		), Handler: ex.registerTool},
		{Tool: mcp.NewTool(ToolUnregisterTool,
			mcp.WithDescription("Test helper: remove a tool added by register_tool, which makes the server "+
				"send notifications/tools/list_changed."),
			mcp.WithString("name", mcp.Required(), mcp.Description("Name of a tool added by register_tool.")),
		), Handler: ex.unregisterTool},
		{Tool: mcp.NewTool(ToolFail,
			mcp.WithDescription("Always fail: returns a tool error result (isError true) carrying the message."),
			mcp.WithString("message", mcp.Description("Error text to return."), mcp.DefaultString("failure requested")),
		), Handler: ex.fail},
	}
	for i := range extra {
		name := "extra_" + strconv.Itoa(i)
		tools = append(tools, server.ServerTool{
			Tool: mcp.NewTool(name,
				mcp.WithDescription("Filler tool for pagination and scale tests; returns its own name."),
				mcp.WithReadOnlyHintAnnotation(true),
			),
			Handler: constText(name),
		})
	}
	// One AddTools call: nobody is connected yet, and one batch is one lock.
	ex.srv.AddTools(tools...)
}

func constText(text string) server.ToolHandlerFunc {
	return func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(text), nil
	}
}

func (ex *example) echo(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	msg, err := req.RequireString("message")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	return mcp.NewToolResultText(msg), nil
}

func (ex *example) add(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	a, err := req.RequireFloat("a")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	b, err := req.RequireFloat("b")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	sum := a + b
	// 'g' with -1 precision prints 2+3 as "5", not "5.000000".
	return mcp.NewToolResultStructured(map[string]any{"sum": sum}, strconv.FormatFloat(sum, 'g', -1, 64)), nil
}

func (ex *example) createNote(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	id, err := req.RequireString("id")
	if err != nil || id == "" {
		return mcp.NewToolResultError("id must be a non-empty string"), nil
	}
	text, err := req.RequireString("text")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	ex.notes.put(id, text)
	return mcp.NewToolResultText("created note " + id), nil
}

func (ex *example) deleteNote(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	id, err := req.RequireString("id")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	if !ex.notes.delete(id) {
		return mcp.NewToolResultError(fmt.Sprintf("no note with id %q", id)), nil
	}
	return mcp.NewToolResultText("deleted note " + id), nil
}

func (ex *example) registerTool(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	name, err := req.RequireString("name")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	if name == "" || len(name) > maxToolNameLen {
		return mcp.NewToolResultError(fmt.Sprintf("name must be 1 to %d characters", maxToolNameLen)), nil
	}
	// Held across AddTool so two concurrent registrations of one name can't
	// both pass the existence check.
	ex.mu.Lock()
	defer ex.mu.Unlock()
	// Refusing existing names keeps a test helper from replacing delete_note
	// with a harmless twin and so sidestepping the hub's approval policy.
	if ex.srv.GetTool(name) != nil {
		return mcp.NewToolResultError(fmt.Sprintf("tool %q already exists", name)), nil
	}
	ex.srv.AddTool(mcp.NewTool(name,
		mcp.WithDescription("Registered at run time by register_tool; returns its own name."),
	), constText(name))
	ex.runtime[name] = true
	flushNotifications(ctx) // the caller's tools/list_changed goes out first
	return mcp.NewToolResultText("registered tool " + name), nil
}

func (ex *example) unregisterTool(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	name, err := req.RequireString("name")
	if err != nil {
		return mcp.NewToolResultError(err.Error()), nil
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if !ex.runtime[name] {
		return mcp.NewToolResultError(fmt.Sprintf("tool %q was not added by register_tool", name)), nil
	}
	delete(ex.runtime, name)
	ex.srv.DeleteTools(name)
	flushNotifications(ctx)
	return mcp.NewToolResultText("unregistered tool " + name), nil
}

func (ex *example) fail(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return mcp.NewToolResultError(req.GetString("message", "failure requested")), nil
}

// notes is the in-memory notebook behind delete_note, create_note and the
// note://{id} template.
type notes struct {
	mu sync.RWMutex
	m  map[string]string
}

func newNotes() *notes {
	return &notes{m: map[string]string{
		"welcome":  WelcomeText,
		"todo":     "Write the hub",
		"shopping": "Milk, eggs, coffee",
	}}
}

func (n *notes) get(id string) (string, bool) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	text, ok := n.m[id]
	return text, ok
}

func (n *notes) put(id, text string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.m[id] = text
}

func (n *notes) delete(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.m[id]
	delete(n.m, id)
	return ok
}
