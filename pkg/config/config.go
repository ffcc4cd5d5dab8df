package config

import (
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Default returns the built-in configuration used when no file is found:
// one streamable-http server "local" at DefaultLocalEndpoint, no groups and
// every default hub setting (Expose is ExposeAll).
func Default() *Config {
	c := hubDefaults()
	c.Servers = []Server{{
		Name:            "local",
		Transport:       TransportStreamableHTTP,
		Endpoint:        DefaultLocalEndpoint,
		Enabled:         true,
		Timeout:         DefaultServerTimeout,
		ProtocolVersion: DefaultProtocolVersion,
		Backoff:         c.Backoff,
	}}
	return c
}

func hubDefaults() *Config {
	return &Config{
		Listen:              DefaultListen,
		RefreshInterval:     DefaultRefreshInterval,
		ToolNameSeparator:   DefaultToolNameSeparator,
		Backoff:             Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax},
		Approval:            ApprovalSettings{Default: ApprovalNever, TTL: DefaultApprovalTTL, MaxPending: DefaultMaxPending},
		Expose:              ExposeAll,
		MaxConcurrentStarts: DefaultMaxConcurrentStarts,
		Limits:              Limits{MaxBodyBytes: DefaultMaxBodyBytes, ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: DefaultIdleTimeout},
		scrub:               new(scrubCache),
	}
}

// Server returns the server called name.
func (c *Config) Server(name string) (Server, bool) {
	for _, s := range c.Servers {
		if s.Name == name {
			return s, true
		}
	}
	return Server{}, false
}

// Group returns the group called name.
func (c *Config) Group(name string) (Group, bool) {
	for _, g := range c.Groups {
		if g.Name == name {
			return g, true
		}
	}
	return Group{}, false
}

// ExposeFor returns what the endpoint of group lists: the group's own
// Expose if it sets one, else the top-level Expose. group "" means the
// top-level /mcp endpoint; an unknown group gets the top-level value too.
// An unset top-level Expose (a Config built in code) means ExposeAll.
func (c *Config) ExposeFor(group string) ExposeMode {
	if group != "" {
		if g, ok := c.Group(group); ok && g.Expose != "" {
			return g.Expose
		}
	}
	if c.Expose == "" {
		return ExposeAll
	}
	return c.Expose
}

// Equal reports whether s and o are the same server with the same
// settings. Origin is ignored (moving a server to another file or line
// changes nothing), and nil and empty Args, Env, Headers,
// RequireApproval and tool filter lists are equal.
func (s Server) Equal(o Server) bool {
	return s.SameConnection(o) &&
		s.Approval == o.Approval &&
		slices.Equal(s.RequireApproval, o.RequireApproval) &&
		s.Tools.Equal(o.Tools)
}

// SameConnection reports whether s and o would run the same connection:
// any difference means a reload must restart the server. It is Equal
// without the approval settings and the tool filter, which only change
// what the hub asks before a call and which tools it shows, never the
// connection.
func (s Server) SameConnection(o Server) bool {
	return s.Name == o.Name &&
		s.Transport == o.Transport &&
		s.Endpoint == o.Endpoint &&
		s.Command == o.Command &&
		slices.Equal(s.Args, o.Args) &&
		maps.Equal(s.Env, o.Env) &&
		s.Cwd == o.Cwd &&
		maps.Equal(s.Headers, o.Headers) &&
		s.RequestIDMeta == o.RequestIDMeta &&
		s.Enabled == o.Enabled &&
		s.Timeout == o.Timeout &&
		s.ProtocolVersion == o.ProtocolVersion &&
		s.Backoff == o.Backoff
}

// Equal reports whether g and o are the same group with the same settings.
// Origin is ignored; nil and empty lists are equal.
func (g Group) Equal(o Group) bool {
	return g.Name == o.Name &&
		slices.Equal(g.Servers, o.Servers) &&
		g.Tools.Equal(o.Tools) &&
		g.Expose == o.Expose
}

// Equal reports whether f and o hold the same globs in the same order; nil
// and empty lists are equal.
func (f ToolFilter) Equal(o ToolFilter) bool {
	return slices.Equal(f.Allow, o.Allow) && slices.Equal(f.Deny, o.Deny)
}

// Empty reports whether the filter lets everything through (no globs).
func (f ToolFilter) Empty() bool {
	return len(f.Allow) == 0 && len(f.Deny) == 0
}

// AllowsTool reports whether a server's filter exposes tool, the tool's
// name on that server: Allow is empty or one of its globs matches, and no
// glob of Deny does. Globs must be valid (Validate checks them); a
// malformed one matches nothing.
func (f ToolFilter) AllowsTool(tool string) bool {
	match := func(g string) bool {
		ok, _ := path.Match(g, tool)
		return ok
	}
	return f.allows(match)
}

// AllowsQualified reports whether a group's filter exposes tool (its name
// on server): as AllowsTool, but each glob is tried against both
// "server.tool" and the bare tool name, and matches if either matches.
func (f ToolFilter) AllowsQualified(server, tool string) bool {
	if f.Empty() {
		return true
	}
	qualified := server + "." + tool
	match := func(g string) bool {
		ok, _ := path.Match(g, tool)
		if !ok {
			ok, _ = path.Match(g, qualified)
		}
		return ok
	}
	return f.allows(match)
}

func (f ToolFilter) allows(match func(glob string) bool) bool {
	return (len(f.Allow) == 0 || slices.ContainsFunc(f.Allow, match)) &&
		!slices.ContainsFunc(f.Deny, match)
}

// isMapEntry reports whether the server was defined as a map entry
// (mcpServers or the VS Code servers map), where the key is the name.
func (o Origin) isMapEntry() bool {
	return o.Path != "" && !strings.HasSuffix(o.Path, "]") || strings.HasSuffix(o.Path, `"]`)
}

// joinKey appends a map key to a field path: "env.API_KEY", or
// `headers["X Weird"]` when the key would make the path ambiguous.
func joinKey(path, key string) string {
	if key != "" && allChars(key, "_-") {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}
