// Package exampleserver is the small MCP server that mcphub's default config
// and tests talk to. It exercises what a gateway has to get right: plain tool
// calls, structured results, tool errors, progress notifications,
// cancellation, a destructive tool that needs approval, runtime tool-list
// changes, pagination, a resource, a resource template and a prompt.
//
// Every call to New builds an independent server with its own notes, so
// tests can run servers side by side without sharing state.
package exampleserver

import (
	"log/slog"
	"time"

	"github.com/mark3labs/mcp-go/server"
)

// Name is the implementation name the server reports in initialize.
const Name = "mcphub-example"

// Version is the implementation version the server reports in initialize.
const Version = "0.1.0"

// Tool names, exported so tests elsewhere in the module don't repeat literals.
const (
	ToolEcho           = "echo"
	ToolAdd            = "add"
	ToolSlowCount      = "slow_count"
	ToolCreateNote     = "create_note"
	ToolDeleteNote     = "delete_note"
	ToolRegisterTool   = "register_tool"
	ToolUnregisterTool = "unregister_tool"
	ToolFail           = "fail"
)

// Resource, template and prompt identifiers.
const (
	WelcomeURI      = "note://welcome"
	WelcomeText     = "Welcome to mcphub"
	NoteURITemplate = "note://{id}"
	PromptGreet     = "greet"
)

// Option configures New.
type Option func(*config)

type config struct {
	extraTools int
	scaleTools int           // WithScaleTools (scale.go)
	listDelay  time.Duration // WithListDelay (scale.go)
	pageSize   int
	logger     *slog.Logger
	serverOpts []server.ServerOption
}

// WithTools adds n trivial tools named extra_0 … extra_{n-1}, for pagination
// and scale tests. n <= 0 adds none.
func WithTools(n int) Option {
	return func(c *config) { c.extraTools = n }
}

// WithPageSize makes every list method return at most n items per page.
// n <= 0 disables pagination (the default): mcp-go's own
// server.WithPaginationLimit(0) would panic while building the next cursor.
func WithPageSize(n int) Option {
	return func(c *config) { c.pageSize = n }
}

// WithLogger makes mcp-go log one line per request and per tool call.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithServerOptions passes extra options to server.NewMCPServer, after the
// example server's own, for tests that need hooks or filters.
func WithServerOptions(opts ...server.ServerOption) Option {
	return func(c *config) { c.serverOpts = append(c.serverOpts, opts...) }
}

// New builds the example server. Serve it with NewStreamableHTTPServer
// (below), server.NewSSEServer, or server.NewStdioServer; for stdio raise the
// worker pool with server.WithWorkerPoolSize (mcp-go runs 5 tool calls at a
// time by default), and note that mcp-go keeps the stdio session in a package
// variable, so one process can serve only one stdio connection.
func New(opts ...Option) *server.MCPServer {
	var c config
	for _, o := range opts {
		o(&c)
	}

	sopts := []server.ServerOption{
		// listChanged: register_tool and unregister_tool change the list at
		// run time, and the hub's tests rely on the notification.
		server.WithToolCapabilities(true),
		// Resources and prompts never change, so they don't claim listChanged.
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithRecovery(),
		// Bad arguments come back as isError results the model can read
		// (SEP-1303) instead of handler code guessing at zero values.
		server.WithInputSchemaValidation(),
		server.WithInstructions("Example server for mcphub: echo, arithmetic, progress, notes."),
	}
	if c.pageSize > 0 {
		sopts = append(sopts, server.WithPaginationLimit(c.pageSize))
	}
	if c.logger != nil {
		sopts = append(sopts, server.WithLogger(c.logger))
	}
	sopts = append(sopts, c.serverOpts...)

	s := server.NewMCPServer(Name, Version, sopts...)
	ex := &example{srv: s, notes: newNotes(), runtime: map[string]bool{}}
	ex.addTools(c.extraTools)
	ex.addScaleTools(c.scaleTools)
	delayListTools(s, c.listDelay)
	ex.addResources()
	ex.addPrompts()
	return s
}

// NewStreamableHTTPServer wraps s in mcp-go's Streamable HTTP transport with
// the options every user of the example server needs; opts come after them.
//
// The event store is not about resumability here: without one, mcp-go
// v1.2.1's POST handler races its notification forwarder against the final
// response and drops notifications still in flight (often the last progress
// step, in bursts any step). With a store, the forwarder is stopped and
// drained before the response is written, so every notification arrives, in
// order, ahead of the result, as long as the client has no standalone GET
// stream open: the GET stream's pump drains the same per-session queue, so
// with one open, progress is split between the two streams (all of it
// arrives, but out of order and partly after the result).
//
// The store keeps a session's events until the session is deleted or idles
// out, so long-running servers should add server.WithSessionIdleTTL (which
// starts a sweeper goroutine that Shutdown stops).
func NewStreamableHTTPServer(s *server.MCPServer, opts ...server.StreamableHTTPOption) *server.StreamableHTTPServer {
	all := append([]server.StreamableHTTPOption{
		server.WithEventStore(server.NewInMemoryEventStore()),
	}, opts...)
	return server.NewStreamableHTTPServer(s, all...)
}
