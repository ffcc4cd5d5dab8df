package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the file the value came from; empty when unknown (configs
	// built in code, hub settings left at their defaults).
	File string
	// Line is the line in File, 0 when unknown.
	Line int
	// Path is the field path as written, e.g. "servers[1].endpoint" or
	// "mcpServers.github.env.GITHUB_TOKEN"; empty for whole-file problems
	// such as syntax errors.
	Path    string
	Message string
}

// String formats the problem as "file:line: path: message", leaving out
// what is unknown.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Path != "" {
		b.WriteString(p.Path + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError lists every problem found in a configuration: syntax
// errors, unknown keys, unresolvable placeholders and invalid values. Load
// and Validate return it as *ValidationError; use errors.As to get at the
// problems.
type ValidationError struct {
	Problems []Problem
}

// Error puts each problem on its own line after a summary line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		b.WriteString("invalid config: 1 problem")
	} else {
		fmt.Fprintf(&b, "invalid config: %d problems", len(e.Problems))
	}
	for _, p := range e.Problems {
		b.WriteString("\n" + p.String())
	}
	return b.String()
}

// problems collects Problems.
type problems []Problem

func (ps *problems) add(file string, line int, path, format string, args ...any) {
	*ps = append(*ps, Problem{File: file, Line: line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// err returns nil or a *ValidationError; never a typed nil in an interface.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{Problems: ps}
}

// Validate reports every problem with c at once as a *ValidationError, with
// field paths as the user wrote them and the file and line of each value
// when c came from Load. Disabled servers are only checked for name,
// transport, timeout, backoff, approval and tool filter. No message shows
// a token's value.
func (c *Config) Validate() error {
	var ps problems
	c.validateHub(&ps)
	c.validateSecurity(&ps)
	c.locate(ps)
	seen := map[string]reporter{}
	for i, s := range c.Servers {
		s.validate(i, c.Backoff, seen, &ps)
	}
	c.validateGroups(&ps)
	return ps.err()
}

// locate names the file and line of the problems about hub settings (those
// with no file yet) from where Load found the values. A path not found is
// looked up by its parents, so "auth.tokens[1].token", left out of its
// entry, is placed at the entry "auth.tokens[1]".
func (c *Config) locate(ps problems) {
	for i := range ps {
		if ps[i].File != "" {
			continue
		}
		if loc, ok := c.position(ps[i].Path); ok {
			ps[i].File, ps[i].Line = loc.file, loc.line
			if loc.path != "" {
				ps[i].Path = loc.path
			}
		}
	}
}

// position returns where the hub setting at path, or its nearest parent,
// was written.
func (c *Config) position(path string) (location, bool) {
	for p := path; p != ""; p = parentPath(p) {
		if loc, ok := c.positions[p]; ok {
			return loc, true
		}
	}
	return location{}, false
}

// parentPath cuts the last step off a field path: "a.b[1].c" → "a.b[1]" →
// "a.b" → "a" → "".
func parentPath(p string) string {
	if i := strings.LastIndexAny(p, ".["); i >= 0 {
		return p[:i]
	}
	return ""
}

func (c *Config) validateHub(ps *problems) {
	if err := checkListen(c.Listen); err != "" {
		ps.add("", 0, "listen", "%s", err)
	}
	if c.RefreshInterval <= 0 {
		ps.add("", 0, "refresh_interval", "must be positive")
	}
	if c.MaxConcurrentStarts <= 0 {
		ps.add("", 0, "max_concurrent_starts", "must be positive")
	}
	if c.ToolNameSeparator == "" {
		ps.add("", 0, "tool_name_separator", "must not be empty")
	} else if !allChars(c.ToolNameSeparator, "_-") {
		ps.add("", 0, "tool_name_separator", "%q may only contain letters, digits, '_' and '-'", c.ToolNameSeparator)
	}
	checkBackoff(c.Backoff, func(field, msg string) { ps.add("", 0, field, "%s", msg) })
	a := c.Approval
	if a.Default != ApprovalNever && a.Default != ApprovalAlways {
		ps.add("", 0, "approval.default", "unknown approval mode %q (want never or always)", a.Default)
	}
	checkGlobs(a.Require, func(i int, msg string) {
		ps.add("", 0, "approval.require["+strconv.Itoa(i)+"]", "%s", msg)
	})
	if a.TTL <= 0 {
		ps.add("", 0, "approval.ttl", "must be positive")
	}
	if a.MaxPending <= 0 {
		ps.add("", 0, "approval.max_pending", "must be positive")
	}
	if c.Expose != ExposeAll && c.Expose != ExposeSearch {
		ps.add("", 0, "expose", "unknown expose mode %q (want all or search)", c.Expose)
	}
}

// checkGlobs reports each glob that is empty or not path.Match syntax.
func checkGlobs(globs []string, report func(i int, msg string)) {
	for i, g := range globs {
		if g == "" {
			report(i, "must not be empty")
			continue
		}
		// Matching against "" checks the whole pattern's syntax.
		if _, err := path.Match(g, ""); err != nil {
			report(i, fmt.Sprintf("%s: invalid glob (path.Match syntax: *, ?, [a-z], \\ escapes)", truncate(strconv.Quote(g), 80)))
		}
	}
}

// checkListen returns why addr is not a usable "host:port", or "".
func checkListen(addr string) string {
	if addr == "" {
		return "must not be empty"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, numErr := strconv.Atoi(addr); numErr == nil {
			return fmt.Sprintf("%q is not host:port (did you mean \":%s\"?)", addr, addr)
		}
		return fmt.Sprintf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q: port must be a number from 0 to 65535", addr)
	}
	if strings.ContainsAny(host, " \t/\\") {
		return fmt.Sprintf("%q: invalid host", addr)
	}
	return ""
}

func checkBackoff(b Backoff, report func(field, msg string)) {
	if b.Initial <= 0 {
		report("backoff.initial", "must be positive")
	}
	if b.Max <= 0 {
		report("backoff.max", "must be positive")
	} else if b.Max < b.Initial {
		report("backoff.max", fmt.Sprintf("%v is less than backoff.initial (%v)", b.Max, b.Initial))
	}
}

// validate checks one server; i is its index in Config.Servers, hub the
// hub-wide backoff and seen maps the names checked so far to their servers.
func (s Server) validate(i int, hub Backoff, seen map[string]reporter, ps *problems) {
	r := entryReporter(s.Origin, ps, "servers", i)
	r.checkName("server", s.Name, seen)

	if s.Timeout <= 0 {
		r.report("timeout", "must be positive")
	}
	// An inherited hub backoff is reported once, at the hub.
	if s.Backoff != hub {
		checkBackoff(s.Backoff, func(field, msg string) { r.report(field, "%s", msg) })
	}
	switch s.Approval {
	case "", ApprovalAlways, ApprovalNever:
	default:
		r.report("approval", "unknown approval mode %q (want always or never)", s.Approval)
	}
	checkGlobs(s.RequireApproval, func(i int, msg string) {
		r.report("require_approval["+strconv.Itoa(i)+"]", "%s", msg)
	})
	r.checkToolFilter(s.Tools)

	switch s.Transport {
	case TransportStdio, TransportStreamableHTTP, TransportSSE:
	default:
		r.report("transport", "unknown transport %q (want streamable-http, sse or stdio)", s.Transport)
		return
	}
	if !s.Enabled {
		return
	}
	if s.ProtocolVersion == "" {
		r.report("protocol_version", "must not be empty")
	}
	if s.Transport == TransportStdio {
		s.validateStdio(r)
	} else {
		s.validateHTTP(r)
	}
}

// reporter adds problems about one server or group entry at the paths and
// lines the user wrote.
type reporter struct {
	o     Origin
	ps    *problems
	entry string
}

// report adds a problem about field (a canonical name such as "endpoint",
// or "" for the whole entry), optionally followed by sub-keys ("env", "PATH").
func (r reporter) report(field, format string, args ...any) {
	r.reportKey(field, "", format, args...)
}

func (r reporter) reportKey(field, key, format string, args ...any) {
	path, line := r.at(field)
	if key != "" {
		path = joinKey(path, key)
	}
	r.ps.add(r.o.File, line, path, format, args...)
}

// at returns the written path and the line of field.
func (r reporter) at(field string) (string, int) {
	path, line := r.entry, r.o.Line
	if field == "" {
		return path, line
	}
	written := field
	if ref, ok := r.o.fields[field]; ok {
		written, line = ref.key, ref.line
	} else if r.o.isMapEntry() {
		written = mapFormKey(field)
	}
	switch {
	case written == "": // the entry itself (a group's short form)
	case strings.HasPrefix(written, "["):
		path += written
	default:
		path += "." + written
	}
	return path, line
}

// locationFrom names where the entry is defined, for a message about an
// entry in file: "servers[2] (line 12)" or "/b.json:3 (mcpServers.x)".
func (r reporter) locationFrom(file string) string {
	switch {
	case r.o.File == "" || r.o.Line == 0:
		return r.entry
	case r.o.File == file:
		return fmt.Sprintf("%s (line %d)", r.entry, r.o.Line)
	}
	return fmt.Sprintf("%s:%d (%s)", r.o.File, r.o.Line, r.entry)
}

// checkToolFilter reports the malformed globs of a "tools" section.
func (r reporter) checkToolFilter(f ToolFilter) {
	for _, list := range []struct {
		field string
		globs []string
	}{{"tools.allow", f.Allow}, {"tools.deny", f.Deny}} {
		checkGlobs(list.globs, func(i int, msg string) {
			r.report(list.field+"["+strconv.Itoa(i)+"]", "%s", msg)
		})
	}
}

// validateGroups checks every group: its name, its members (configured
// servers, each once), its globs and its expose mode.
func (c *Config) validateGroups(ps *problems) {
	var servers []string
	known := map[string]bool{}
	for _, s := range c.Servers {
		if s.Name != "" && !known[s.Name] {
			known[s.Name] = true
			servers = append(servers, s.Name)
		}
	}
	seen := map[string]reporter{}
	for i, g := range c.Groups {
		r := entryReporter(g.Origin, ps, "groups", i)
		r.checkName("group", g.Name, seen)

		if len(g.Servers) == 0 {
			r.report("servers", "a group must list at least one server")
		}
		firstAt := map[string]int{}
		for j, m := range g.Servers {
			field := "servers[" + strconv.Itoa(j) + "]"
			switch first, dup := firstAt[m]; {
			case m == "":
				r.report(field, "server name must not be empty")
			case dup:
				path, _ := r.at("servers[" + strconv.Itoa(first) + "]")
				r.report(field, "server %q is listed twice (also at %s)", m, path)
			case !known[m]:
				msg := fmt.Sprintf("unknown server %q", m)
				if sug := suggest(m, servers); sug != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", sug)
				}
				r.report(field, "%s", msg)
			}
			if _, dup := firstAt[m]; !dup {
				firstAt[m] = j
			}
		}
		r.checkToolFilter(g.Tools)
		switch g.Expose {
		case "", ExposeAll, ExposeSearch:
		default:
			r.report("expose", "unknown expose mode %q (want all or search)", g.Expose)
		}
	}
}

func (s Server) validateStdio(r reporter) {
	if s.Command == "" {
		r.report("command", "required for a stdio server")
	}
	if s.Endpoint != "" {
		r.report("endpoint", "not used by a stdio server (set either command or a URL)")
	}
	if len(s.Headers) > 0 {
		r.report("headers", "not used by a stdio server")
	}
	for _, k := range sortedKeys(s.Env) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			r.reportKey("env", k, "invalid environment variable name")
		}
	}
}

func (s Server) validateHTTP(r reporter) {
	if s.Command != "" {
		r.report("command", "not used by a %s server (set either command or a URL)", s.Transport)
	}
	if len(s.Args) > 0 {
		r.report("args", "not used by a %s server", s.Transport)
	}
	if len(s.Env) > 0 {
		r.report("env", "not used by a %s server", s.Transport)
	}
	if s.Cwd != "" {
		r.report("cwd", "not used by a %s server", s.Transport)
	}
	if s.Endpoint == "" {
		if s.Command == "" {
			r.report("endpoint", "required for a %s server (or set command for a stdio server)", s.Transport)
		}
	} else if msg := checkURL(s.Endpoint); msg != "" {
		// The URL is not quoted: it may carry a resolved secret.
		r.report("endpoint", "%s", msg)
	}
	for _, k := range sortedKeys(s.Headers) {
		if !validHeaderName(k) {
			r.reportKey("headers", k, "invalid header name")
		} else if strings.ContainsAny(s.Headers[k], "\r\n\x00") {
			r.reportKey("headers", k, "value must not contain line breaks")
		}
	}
}

// checkURL returns why u is not an absolute http(s) URL with a host, or "".
func checkURL(u string) string {
	parsed, err := url.Parse(u)
	switch {
	case err != nil:
		return "not a valid URL"
	case parsed.Scheme != "http" && parsed.Scheme != "https":
		return "must be an absolute http:// or https:// URL"
	case parsed.Host == "" || parsed.Hostname() == "":
		return "URL has no host"
	}
	return ""
}

// allChars reports whether s holds only ASCII letters, digits and extra.
func allChars(s, extra string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

// validHeaderName reports whether k is an RFC 9110 token.
func validHeaderName(k string) bool {
	return k != "" && allChars(k, "!#$%&'*+-.^_`|~")
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// mapFormKey is the Claude/Cursor/VS Code spelling of a field, used to name
// a field the user left out of a map entry.
func mapFormKey(field string) string {
	switch field {
	case "endpoint":
		return "url"
	case "transport":
		return "type"
	}
	return field
}

// entryReporter reports the problems of entry i of a list (servers,
// groups), named by where the entry was written when it was.
func entryReporter(o Origin, ps *problems, list string, i int) reporter {
	r := reporter{o: o, ps: ps, entry: o.Path}
	if r.entry == "" {
		r.entry = list + "[" + strconv.Itoa(i) + "]"
	}
	return r
}

// checkName checks an entry's name (kind: "server", "group") and records
// it in seen, the names checked so far of that kind.
func (r reporter) checkName(kind, name string, seen map[string]reporter) {
	// In the map forms the key is the name, so name problems belong to the entry.
	field := "name"
	if r.o.isMapEntry() {
		field = ""
	}
	switch {
	case name == "":
		r.report(field, "%s name must not be empty", kind)
	case !allChars(name, "_.-"):
		r.report(field, "%s name %q may only contain letters, digits, '_', '.' and '-'", kind, name)
	default:
		if first, dup := seen[name]; dup {
			r.report(field, "duplicate %s name %q (also defined at %s)", kind, name, first.locationFrom(r.o.File))
			return
		}
		seen[name] = r
	}
}
