// Package config defines the hub's configuration, loads it from YAML or JSON
// files (the seed "servers" list and the Claude/Cursor "mcpServers" map),
// resolves placeholders and validates it.
package config

import "time"

// Transport names how the hub talks to a downstream server.
type Transport string

const (
	TransportStreamableHTTP Transport = "streamable-http"
	TransportSSE            Transport = "sse"
	TransportStdio          Transport = "stdio"
)

// Defaults applied when a file leaves a value out.
const (
	DefaultListen            = "127.0.0.1:9000"
	DefaultRefreshInterval   = 5 * time.Minute
	DefaultToolNameSeparator = "__"
	DefaultServerTimeout     = 30 * time.Second
	DefaultProtocolVersion   = "2025-11-25"
	DefaultBackoffInitial    = 1 * time.Second
	DefaultBackoffMax        = 60 * time.Second
	DefaultLocalEndpoint     = "http://localhost:8000/mcp"
	DefaultApprovalTTL       = 10 * time.Minute
	DefaultMaxPending        = 1000
)

// ApprovalMode says whether calls need a person's approval before they run.
type ApprovalMode string

const (
	// ApprovalAlways: every call needs approval.
	ApprovalAlways ApprovalMode = "always"
	// ApprovalNever: no call needs approval.
	ApprovalNever ApprovalMode = "never"
)

// Config is the whole, resolved and defaulted hub configuration.
type Config struct {
	// Listen is the hub's listen address ("host:port").
	Listen string
	// RefreshInterval is how often the refresh loop runs.
	RefreshInterval time.Duration
	// ToolNameSeparator joins server and tool names in exported names.
	ToolNameSeparator string
	// Backoff bounds reconnect delays for every server (per-server values override).
	Backoff Backoff
	// Approval is the hub-wide approval policy and the limits of pending approvals.
	Approval ApprovalSettings
	// Servers in file order; names are unique.
	Servers []Server
	// Files are the files this config was loaded from, in merge order
	// (empty for the built-in default).
	Files []string
}

// Backoff is an exponential reconnect backoff with jitter.
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// ApprovalSettings is the "approval" section of a config file:
//
//	approval:
//	  default: never          # or always
//	  require: ["*.delete_*", "github.*", "drop_table"]
//	  ttl: 10m                # how long a pending call waits for a decision
//	  max_pending: 1000       # pending calls at once; more are refused
//
// Which calls need approval is decided per call, in this order (the first
// rule that applies wins):
//
//  1. the server's approval: never → no approval;
//  2. the server's approval: always → approval;
//  3. a glob of the server's require_approval matches the tool name → approval;
//  4. a glob of Require matches "server.tool" or the bare tool name → approval;
//  5. Default.
//
// Globs use path.Match syntax ('*' and '?' do not match '/'), are
// case-sensitive, and must match the whole name. "tool" is the tool's name
// on its server, not the exported name, so rules do not depend on
// tool_name_separator. A hub glob is tried against both forms: "delete_*"
// matches delete_x on every server, "github.*" every tool of server github,
// "*" every tool. Server and tool names may both contain '.', so a glob
// meant for one call can match another ("a.b.*", meant for server a.b,
// also matches tool b.x of server a): such extra matches only ever add
// approval, never remove it.
type ApprovalSettings struct {
	// Default is ApprovalNever (the default) or ApprovalAlways.
	Default ApprovalMode
	// Require holds globs matched against "server.tool" and the bare tool name.
	Require []string
	// TTL is how long a pending call waits for a decision (default 10m).
	TTL time.Duration
	// MaxPending bounds the calls waiting for approval at once (default 1000).
	MaxPending int
}

// Server is one downstream MCP server.
//
// A disabled server (Enabled false) is kept as written: its placeholders are
// not resolved and only its name, transport, timeout, backoff and approval
// settings are validated, so a server can be switched off while its secrets
// are missing.
type Server struct {
	Name      string
	Transport Transport
	// Endpoint is the URL for streamable-http and sse servers.
	Endpoint string
	// Command, Args, Env and Cwd start a stdio server.
	Command string
	Args    []string
	Env     map[string]string
	Cwd     string
	// Headers are sent with every HTTP request to the server.
	Headers map[string]string
	Enabled bool
	// Timeout bounds initialize, discovery and each call.
	Timeout time.Duration
	// ProtocolVersion is the MCP revision the hub asks for.
	ProtocolVersion string
	// Backoff is always fully set after Load: values the server leaves out
	// come from the hub-wide Backoff.
	Backoff Backoff
	// Approval is ApprovalAlways, ApprovalNever or "" (the server's
	// RequireApproval and the hub rules decide); see ApprovalSettings for
	// the order rules apply in.
	Approval ApprovalMode
	// RequireApproval holds globs matched against the server's own tool
	// names (path.Match syntax): a match needs approval.
	RequireApproval []string
	// Origin says where the server was defined, for messages only; it is not
	// part of the server's identity and Equal ignores it.
	Origin Origin
}

// Origin records where a server was defined, so problems can name the file,
// line and field path the user actually wrote.
type Origin struct {
	// File is the absolute path of the defining file; empty for servers built in code.
	File string
	// Path is the entry's field path: "servers[1]", "mcpServers.github" or
	// "servers.github" (the VS Code map form).
	Path string
	// Line is the entry's line in File, 0 when unknown.
	Line int
	// fields maps a canonical field name ("endpoint", "backoff.max") to the
	// key as written ("url") and its line.
	fields map[string]fieldRef
}

// fieldRef is a field's key as written and its line.
type fieldRef struct {
	key  string
	line int
}
