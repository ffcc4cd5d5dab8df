package config

import (
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Default returns the built-in configuration used when no file is found:
// one streamable-http server "local" at DefaultLocalEndpoint and every
// default hub setting.
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
		Listen:            DefaultListen,
		RefreshInterval:   DefaultRefreshInterval,
		ToolNameSeparator: DefaultToolNameSeparator,
		Backoff:           Backoff{Initial: DefaultBackoffInitial, Max: DefaultBackoffMax},
		Approval:          ApprovalSettings{Default: ApprovalNever, TTL: DefaultApprovalTTL, MaxPending: DefaultMaxPending},
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

// Equal reports whether s and o are the same server with the same
// settings. Origin is ignored (moving a server to another file or line
// changes nothing), and nil and empty Args, Env, Headers and
// RequireApproval are equal.
func (s Server) Equal(o Server) bool {
	return s.SameConnection(o) &&
		s.Approval == o.Approval &&
		slices.Equal(s.RequireApproval, o.RequireApproval)
}

// SameConnection reports whether s and o would run the same connection:
// any difference means a reload must restart the server. It is Equal
// without the approval settings, which only change what the hub asks
// before a call, never the connection.
func (s Server) SameConnection(o Server) bool {
	return s.Name == o.Name &&
		s.Transport == o.Transport &&
		s.Endpoint == o.Endpoint &&
		s.Command == o.Command &&
		slices.Equal(s.Args, o.Args) &&
		maps.Equal(s.Env, o.Env) &&
		s.Cwd == o.Cwd &&
		maps.Equal(s.Headers, o.Headers) &&
		s.Enabled == o.Enabled &&
		s.Timeout == o.Timeout &&
		s.ProtocolVersion == o.ProtocolVersion &&
		s.Backoff == o.Backoff
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
