// Package config defines the hub's configuration, loads it from YAML or JSON
// files (the seed "servers" list and the Claude/Cursor "mcpServers" map),
// resolves placeholders and validates it. It also holds the pure matching
// rules of the configuration's tool filters (ToolFilter).
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
	DefaultListen              = "127.0.0.1:9000"
	DefaultRefreshInterval     = 5 * time.Minute
	DefaultToolNameSeparator   = "__"
	DefaultServerTimeout       = 30 * time.Second
	DefaultProtocolVersion     = "2025-11-25"
	DefaultBackoffInitial      = 1 * time.Second
	DefaultBackoffMax          = 60 * time.Second
	DefaultLocalEndpoint       = "http://localhost:8000/mcp"
	DefaultApprovalTTL         = 10 * time.Minute
	DefaultMaxPending          = 1000
	DefaultMaxConcurrentStarts = 8
)

// ApprovalMode says whether calls need a person's approval before they run.
type ApprovalMode string

const (
	// ApprovalAlways: every call needs approval.
	ApprovalAlways ApprovalMode = "always"
	// ApprovalNever: no call needs approval.
	ApprovalNever ApprovalMode = "never"
)

// ExposeMode says what an MCP endpoint (the top-level /mcp one or a
// group's) lists:
//
//	expose: all           # top level: the default of every endpoint
//	groups:
//	  ops:
//	    servers: [k8s]
//	    expose: search    # this group only; left out: the top-level value
type ExposeMode string

const (
	// ExposeAll: the endpoint lists every tool it exposes (the default).
	ExposeAll ExposeMode = "all"
	// ExposeSearch: the endpoint lists only the meta-tools search_tools and
	// call_tool, which find and call the tools it exposes, instead of the
	// whole catalog. It keeps a large catalog out of the model's context.
	ExposeSearch ExposeMode = "search"
)

// Config is the whole, resolved and defaulted hub configuration.
type Config struct {
	// Listen is the hub's listen address ("host:port").
	Listen string
	// RefreshInterval is how often the refresh loop runs.
	RefreshInterval time.Duration
	// ToolNameSeparator joins server and tool names in exported names.
	ToolNameSeparator string
	// MaxConcurrentStarts bounds the stdio servers starting (spawned and
	// not yet through initialize) at once, so that a config with many of
	// them, or a reload, does not fork them all at the same moment
	// (default 8).
	MaxConcurrentStarts int
	// Backoff bounds reconnect delays for every server (per-server values override).
	Backoff Backoff
	// Approval is the hub-wide approval policy and the limits of pending approvals.
	Approval ApprovalSettings
	// Auth, CORS, Limits and Audit secure the hub's inbound side (security.go).
	Auth   Auth
	CORS   CORS
	Limits Limits
	Audit  Audit
	// Servers in file order; names are unique.
	Servers []Server
	// Expose is what the top-level /mcp endpoint lists, and what a group's
	// endpoint lists when the group sets no Expose of its own (default
	// ExposeAll); see ExposeFor.
	Expose ExposeMode
	// Groups sorted by name; names are unique. Nil when none are configured.
	Groups []Group
	// Files are the files this config was loaded from, in merge order
	// (empty for the built-in default).
	Files []string

	// positions maps the field path of each hub setting Load found
	// ("listen", "approval.require[1]", "auth.tokens[0].token") to where it
	// was written, so Validate can name the file and line; nil for a config
	// built in code. For messages only.
	positions map[string]location
	// scrub caches what Scrub replaces (security.go); nil only in a
	// Config not made by this package, which Scrub then works out per call.
	scrub *scrubCache
}

// location is where a hub setting was written.
type location struct {
	file string
	line int
	// path, when set, replaces the field path in messages: the token Load
	// adds from MCPHUB_API_TOKEN is named after the variable.
	path string
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

// ToolFilter is the "tools" section of a server entry (any of the three
// forms) or of a group; it narrows which tools are exposed:
//
//	servers:
//	  - name: github
//	    command: github-mcp
//	    tools:
//	      allow: ["list_*", "get_*"]   # left out or empty: every tool
//	      deny: ["*_secret*"]
//	mcpServers:
//	  k8s: {command: k8s-mcp, tools: {deny: ["delete_*"]}}
//
// A tool is exposed when Allow is empty or one of its globs matches, and no
// glob of Deny matches: deny wins over allow. Globs use path.Match syntax
// like the approval globs ('*' and '?' do not match '/'), are
// case-sensitive, and must match the whole name; "tool" is the tool's name
// on its server, not the exported name.
//
// In a server's filter the globs match the tool's name (AllowsTool). In a
// group's filter they are tried against both "server.tool" and the bare
// tool name, as in approval.require (AllowsQualified): "delete_*" matches
// delete_x of every member, "github.*" every tool of member github. Server
// and tool names may both contain '.', so a glob meant for one tool can
// match another ("a.b.*", meant for server a.b, also matches tool b.x of
// server a); in Allow that exposes more, in Deny it hides more. Write
// globs narrowly when names contain dots.
//
// The zero ToolFilter lets every tool through.
type ToolFilter struct {
	// Allow holds globs; when it is not empty a tool must match one.
	Allow []string
	// Deny holds globs; a tool that matches one is never exposed.
	Deny []string
}

// Group is one entry of the "groups" section: a named subset of the servers
// with an MCP endpoint of its own. A group is written either as the list of
// its members' names or as a mapping:
//
//	groups:
//	  dev: [github, filesystem]        # short form: the member servers
//	  ops:                             # long form
//	    servers: [k8s, github]
//	    tools: {allow: ["k8s.*", "github.list_*"], deny: ["*.delete_*"]}
//	    expose: search                 # left out: the top-level expose
//
// Group names follow the rules of server names (letters, digits, '_', '.'
// and '-'). Members must be configured servers, enabled or not, each listed
// once; a disabled member simply contributes no tools. A member's tool is
// in the group when both the member's ToolFilter and the group's expose
// it. When several files define a
// group of the same name, the last one replaces the others whole. Member
// names, like server names, are taken as written (no placeholders); the
// globs and expose resolve placeholders like any other value.
type Group struct {
	Name string
	// Servers are the members' names in the order written.
	Servers []string
	// Tools filters the members' tools by "server.tool" or bare tool name.
	Tools ToolFilter
	// Expose is ExposeAll, ExposeSearch or "" (the top-level Config.Expose).
	Expose ExposeMode
	// Origin says where the group was defined, for messages only; Equal
	// ignores it.
	Origin Origin
}

// Server is one downstream MCP server.
//
// A disabled server (Enabled false) is kept as written: its placeholders are
// not resolved and only its name, transport, timeout, backoff, approval
// settings and tool filter are validated, so a server can be switched off
// while its secrets are missing.
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
	// RequestIDMeta puts the hub's request id (see reqid) in the _meta of
	// the tools/call, resources/read and prompts/get requests made for a
	// hub request, as io.mcphub/request-id: the one way a stdio server can
	// learn it. Off by default because it is not free: servers built on
	// mcp-go decode any _meta into a map, which cost the example server
	// 15–30 µs of CPU per call. HTTP servers get the id in an X-Request-ID
	// header either way, unless Headers set that header.
	RequestIDMeta bool
	Enabled       bool
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
	// Tools narrows which of the server's tools the hub exposes; the zero
	// value exposes all of them. It does not affect the connection (see
	// SameConnection).
	Tools ToolFilter
	// secrets are the secrets placeholders produced in this entry (command
	// outputs, and variables named like secrets: see secretVar): hidden
	// wherever they show (Redacted, Scrub), since a placeholder may sit in
	// any field, an argument such as --api-key=${env:API_KEY} for one.
	secrets []string
	// hidden hides secrets (Hide, Redacted): built once when Load decodes
	// the entry, and shared by copies of the Server, which is safe because
	// it is never changed after.
	hidden *secretHider

	// Origin says where the server was defined, for messages only; it is not
	// part of the server's identity and Equal ignores it.
	Origin Origin
}

// Origin records where a server or group was defined, so problems can name
// the file, line and field path the user actually wrote.
type Origin struct {
	// File is the absolute path of the defining file; empty for entries built in code.
	File string
	// Path is the entry's field path: "servers[1]", "mcpServers.github" or
	// "servers.github" (the VS Code map form) for a server, "groups.ops"
	// for a group.
	Path string
	// Line is the entry's line in File, 0 when unknown.
	Line int
	// fields maps a canonical field name ("endpoint", "backoff.max",
	// "tools.allow[0]", a group's "servers[1]") to the key as written
	// ("url"; "[1]" in a group's short form, "" for the entry itself) and
	// its line.
	fields map[string]fieldRef
}

// fieldRef is a field's key as written and its line.
type fieldRef struct {
	key  string
	line int
}
