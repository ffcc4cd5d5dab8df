// Package approval decides which tool calls need a person's approval and
// keeps the calls that wait for one.
//
// A Policy answers "does this call need approval?". A pending Request is
// bound to one exact call: the server, the tool and a digest of the
// canonical arguments (see Digest), so an approval cannot be spent on a
// different call. A Store keeps requests; MemoryStore is the in-memory
// implementation. As with alertmanager's silences, a request's state is
// computed from its timestamps and decisions are recorded, never deleted:
// finished requests are only garbage-collected after a retention period.
//
// The package does no I/O and imports nothing of the project; callers
// translate their configuration into NewPolicy's plain values.
package approval

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
)

// Mode is a server's approval setting.
type Mode string

const (
	// ModeInherit leaves the decision to the server's globs and the hub rules.
	ModeInherit Mode = ""
	// ModeAlways: every call of the server's tools needs approval.
	ModeAlways Mode = "always"
	// ModeNever: no call of the server's tools needs approval, whatever the
	// hub rules say.
	ModeNever Mode = "never"
)

// ServerRule is one server's approval setting.
type ServerRule struct {
	Mode Mode
	// Require holds globs matched against the tool's name on the server.
	Require []string
}

// Policy decides which calls need approval. It is immutable and safe for
// concurrent use; build a new one when the configuration changes. The zero
// Policy requires approval for nothing.
type Policy struct {
	defaultAlways bool
	require       []string
	servers       map[string]ServerRule
}

// NewPolicy builds a policy from the hub default (true: every call needs
// approval unless a rule says otherwise), the hub globs and the servers'
// rules by server name. Requires applies the rules in this order, the first
// that applies winning:
//
//  1. the server's Mode is ModeNever → no approval;
//  2. the server's Mode is ModeAlways → approval;
//  3. a glob of the server's Require matches the tool name → approval;
//  4. a hub glob matches "server.tool" or the bare tool name → approval;
//  5. defaultAlways.
//
// Globs use path.Match syntax ('*' and '?' do not match '/'), are
// case-sensitive and must match the whole name. The tool name is the tool's
// name on its server, not an exported name. A hub glob is tried against
// both forms: "delete_*" matches delete_x on every server, "github.*" every
// tool of server github, "*" every tool. Server and tool names may both
// contain '.', so a glob meant for one call can match another ("a.b.*",
// meant for server a.b, also matches tool b.x of server a; "x.y", meant for
// a bare tool name, also matches tool y of server x): such extra matches
// only ever add approval, never remove it.
//
// NewPolicy reports every empty or malformed glob and unknown mode at once.
// It copies its arguments.
func NewPolicy(defaultAlways bool, require []string, servers map[string]ServerRule) (*Policy, error) {
	var errs []error
	checkGlobs := func(where string, globs []string) {
		for i, g := range globs {
			if g == "" {
				errs = append(errs, fmt.Errorf("approval: %s[%d]: empty glob", where, i))
			} else if _, err := path.Match(g, ""); err != nil { // checks the whole pattern
				errs = append(errs, fmt.Errorf("approval: %s[%d]: %q: %w", where, i, g, err))
			}
		}
	}
	checkGlobs("require", require)
	p := &Policy{
		defaultAlways: defaultAlways,
		require:       slices.Clone(require),
		servers:       make(map[string]ServerRule, len(servers)),
	}
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		r := servers[name]
		switch r.Mode {
		case ModeInherit, ModeAlways, ModeNever:
		default:
			errs = append(errs, fmt.Errorf("approval: server %q: unknown mode %q (want always, never or empty)", name, r.Mode))
		}
		checkGlobs(fmt.Sprintf("server %q: require", name), r.Require)
		p.servers[name] = ServerRule{Mode: r.Mode, Require: slices.Clone(r.Require)}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Requires reports whether a call of tool (its name on server) needs
// approval; see NewPolicy for the rules. It does not allocate.
func (p *Policy) Requires(server, tool string) bool {
	r := p.servers[server]
	switch r.Mode {
	case ModeNever:
		return false
	case ModeAlways:
		return true
	}
	for _, g := range r.Require {
		if ok, _ := path.Match(g, tool); ok {
			return true
		}
	}
	q := qualified{server: server, tool: tool}
	for _, g := range p.require {
		if ok, _ := path.Match(g, tool); ok || matchQualified(g, q) {
			return true
		}
	}
	return p.defaultAlways
}
