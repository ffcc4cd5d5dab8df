package config

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// decoder turns the merged tree values into typed values, resolving
// placeholders. Problems go to ps; a value that fails keeps its default.
type decoder struct {
	ctx       context.Context
	lookupEnv func(string) (string, bool)
	run       func(ctx context.Context, dir, command string) (string, error)
	ps        *problems
}

// field is a value being decoded: where it is, for messages, and how to
// resolve its placeholders (ex is nil for a disabled server's values).
type field struct {
	file string
	path string
	line int
	ex   *expander
}

func (f field) at(path string, line int) field {
	f.path, f.line = path, line
	return f
}

func (d *decoder) problem(f field, format string, args ...any) {
	d.ps.add(f.file, f.line, f.path, format, args...)
}

func (d *decoder) expander(file *fileCtx) *expander {
	return &expander{ctx: d.ctx, lookupEnv: d.lookupEnv, run: d.run, dir: file.dir}
}

// settingAt returns the merged hub setting at key, as a field to decode.
type settingAt func(key string) (field, *node, bool)

// hub decodes the merged hub settings over the defaults, recording where
// each was written for Validate's messages.
func (d *decoder) hub(settings map[string]setting) *Config {
	c := hubDefaults()
	c.positions = make(map[string]location, len(settings))
	for key, s := range settings {
		c.positions[key] = location{file: s.file.path, line: s.line}
		if s.n.kind == kindList {
			for i, item := range s.n.items {
				c.positions[key+"["+strconv.Itoa(i)+"]"] = location{file: s.file.path, line: item.line}
			}
		}
	}
	at := func(key string) (field, *node, bool) {
		s, ok := settings[key]
		if !ok {
			return field{}, nil, false
		}
		return field{file: s.file.path, path: key, line: s.line, ex: d.expander(s.file)}, s.n, true
	}
	if f, n, ok := at("listen"); ok {
		if v, ok := d.str(f, n); ok {
			c.Listen = v
		}
	}
	if f, n, ok := at("tool_name_separator"); ok {
		if v, ok := d.str(f, n); ok {
			c.ToolNameSeparator = v
		}
	}
	durations := []struct {
		key string
		dst *time.Duration
	}{
		{"refresh_interval", &c.RefreshInterval},
		{"backoff.initial", &c.Backoff.Initial},
		{"backoff.max", &c.Backoff.Max},
		{"approval.ttl", &c.Approval.TTL},
	}
	for _, dur := range durations {
		if f, n, ok := at(dur.key); ok {
			if v, ok := d.duration(f, n); ok {
				*dur.dst = v
			}
		}
	}
	if f, n, ok := at("approval.default"); ok {
		if v, ok := d.str(f, n); ok {
			c.Approval.Default = parseApprovalMode(v)
		}
	}
	if f, n, ok := at("approval.require"); ok {
		c.Approval.Require = d.strList(f, n)
	}
	if f, n, ok := at("max_concurrent_starts"); ok {
		if v, ok := d.integer(f, n); ok {
			c.MaxConcurrentStarts = v
		}
	}
	if f, n, ok := at("approval.max_pending"); ok {
		if v, ok := d.integer(f, n); ok {
			c.Approval.MaxPending = v
		}
	}
	if f, n, ok := at("expose"); ok {
		if v, ok := d.str(f, n); ok {
			c.Expose = parseExposeMode(v)
		}
	}
	d.security(c, at)
	return c
}

// server decodes one entry; backoff values it leaves out come from hub.
func (d *decoder) server(rs rawServer, hub Backoff) Server {
	s := Server{
		Name:            rs.name,
		Enabled:         true,
		Timeout:         DefaultServerTimeout,
		ProtocolVersion: DefaultProtocolVersion,
		Backoff:         hub,
		Origin:          Origin{File: rs.file.path, Path: rs.path, Line: rs.line, fields: map[string]fieldRef{}},
	}
	ex := d.expander(rs.file)
	ex.record = func(v string) { s.secrets = append(s.secrets, v) }
	base := field{file: rs.file.path, ex: ex}
	n := rs.n
	// enabled first: a disabled server's values stay unresolved, so it can
	// be switched off while its secrets or commands are unavailable.
	for i, key := range n.keys {
		if key == "enabled" || key == "disabled" {
			if v, ok := d.boolean(base.at(rs.path+"."+key, n.keyLines[i]), n.vals[i]); ok {
				s.Enabled = v == (key == "enabled")
			}
		}
	}
	if !s.Enabled {
		base.ex = nil
	}
	for i, key := range n.keys {
		v, line := n.vals[i], n.keyLines[i]
		f := base.at(rs.path+"."+key, line)
		canon := canonicalKey(key)
		s.Origin.fields[canon] = fieldRef{key: key, line: line}
		switch canon {
		case "endpoint":
			s.Endpoint, _ = d.str(f, v)
		case "transport":
			t, _ := d.str(f, v)
			s.Transport = parseTransport(t)
		case "command":
			s.Command, _ = d.str(f, v)
		case "args":
			s.Args = d.strList(f, v)
		case "env":
			s.Env = d.strMap(f, v)
		case "headers":
			s.Headers = d.strMap(f, v)
		case "request_id_meta":
			s.RequestIDMeta, _ = d.boolean(f, v)
		case "cwd":
			s.Cwd, _ = d.str(f, v)
			// Relative to the config file, like docker compose: the file
			// then works from wherever the hub is started.
			if s.Cwd != "" && base.ex != nil && !filepath.IsAbs(s.Cwd) {
				s.Cwd = filepath.Join(rs.file.dir, s.Cwd)
			}
		case "timeout":
			if t, ok := d.duration(f, v); ok {
				s.Timeout = t
			}
		case "protocol_version":
			if pv, ok := d.str(f, v); ok && v.kind != kindNull {
				s.ProtocolVersion = pv
			}
		case "backoff":
			d.serverBackoff(&s, f, v)
		case "approval":
			m, _ := d.str(f, v)
			s.Approval = parseApprovalMode(m)
		case "require_approval":
			s.RequireApproval = d.strList(f, v)
			s.Origin.listItems(key, key, v)
		case "tools":
			s.Tools = d.toolFilter(f, v, &s.Origin)
		}
	}
	if s.Transport == "" {
		s.Transport = inferTransport(s)
	}
	if len(s.secrets) > 0 {
		s.hidden = newSecretHider(s.secrets)
	}
	return s
}

// group decodes one group. Member names are taken as written, like server
// names; the globs and expose resolve placeholders.
func (d *decoder) group(rg rawGroup) Group {
	g := Group{
		Name:   rg.name,
		Origin: Origin{File: rg.file.path, Path: rg.path, Line: rg.line, fields: map[string]fieldRef{}},
	}
	f := field{file: rg.file.path, path: rg.path, line: rg.line, ex: d.expander(rg.file)}
	members := func(f field, n *node) []string {
		f.ex = nil
		return d.strList(f, n)
	}
	n := rg.n
	switch n.kind {
	case kindNull:
		g.Origin.fields["servers"] = fieldRef{line: rg.line}
	case kindList: // short form: the entry is the member list
		g.Servers = members(f, n)
		g.Origin.fields["servers"] = fieldRef{line: rg.line}
		g.Origin.listItems("servers", "", n)
	case kindMap:
		for i, key := range n.keys {
			v, line := n.vals[i], n.keyLines[i]
			kf := f.at(rg.path+"."+key, line)
			g.Origin.fields[key] = fieldRef{key: key, line: line}
			switch key {
			case "servers":
				g.Servers = members(kf, v)
				g.Origin.listItems(key, key, v)
			case "tools":
				g.Tools = d.toolFilter(kf, v, &g.Origin)
			case "expose":
				m, _ := d.str(kf, v)
				g.Expose = parseExposeMode(m)
			}
		}
	}
	return g
}

// toolFilter decodes a "tools" section at f, recording the lines of its
// globs in o for problems about one glob.
func (d *decoder) toolFilter(f field, n *node, o *Origin) ToolFilter {
	var tf ToolFilter
	if n.kind != kindMap { // reported by the walker
		return tf
	}
	for i, key := range n.keys {
		var dst *[]string
		switch key {
		case "allow":
			dst = &tf.Allow
		case "deny":
			dst = &tf.Deny
		default:
			continue
		}
		v := n.vals[i]
		canon := "tools." + key
		o.fields[canon] = fieldRef{key: canon, line: n.keyLines[i]}
		*dst = d.strList(f.at(f.path+"."+key, n.keyLines[i]), v)
		o.listItems(canon, canon, v)
	}
	return tf
}

// listItems records the lines of a list's items, so a problem about one
// item names its own line: field "tools.allow" gives "tools.allow[0]" and
// so on, written as key+"[0]".
func (o *Origin) listItems(field, key string, n *node) {
	if n.kind != kindList {
		return
	}
	for j, item := range n.items {
		idx := "[" + strconv.Itoa(j) + "]"
		o.fields[field+idx] = fieldRef{key: key + idx, line: item.line}
	}
}

func (d *decoder) serverBackoff(s *Server, f field, n *node) {
	if n.kind != kindMap { // reported by the walker
		return
	}
	for i, key := range n.keys {
		path := "backoff." + key
		var dst *time.Duration
		switch key {
		case "initial":
			dst = &s.Backoff.Initial
		case "max":
			dst = &s.Backoff.Max
		default:
			continue
		}
		s.Origin.fields[path] = fieldRef{key: path, line: n.keyLines[i]}
		if v, ok := d.duration(f.at(f.path+"."+key, n.keyLines[i]), n.vals[i]); ok {
			*dst = v
		}
	}
}

// parseApprovalMode accepts any case and surrounding space; anything else
// is kept for Validate to report.
func parseApprovalMode(m string) ApprovalMode {
	switch t := strings.ToLower(strings.TrimSpace(m)); t {
	case string(ApprovalAlways), string(ApprovalNever), "":
		return ApprovalMode(t)
	}
	return ApprovalMode(m)
}

// parseExposeMode accepts any case and surrounding space; anything else is
// kept for Validate to report.
func parseExposeMode(m string) ExposeMode {
	switch t := strings.ToLower(strings.TrimSpace(m)); t {
	case string(ExposeAll), string(ExposeSearch), "":
		return ExposeMode(t)
	}
	return ExposeMode(m)
}

// parseTransport accepts the names the seed format and the Claude, Cursor
// and VS Code formats use; anything else is kept for Validate to report.
func parseTransport(t string) Transport {
	switch strings.ToLower(strings.TrimSpace(t)) {
	case "":
		return ""
	case "streamable-http", "streamablehttp", "streamable_http", "http":
		return TransportStreamableHTTP
	case "sse":
		return TransportSSE
	case "stdio":
		return TransportStdio
	}
	return Transport(t)
}

// inferTransport picks a transport when none is given: a command means
// stdio, a URL path ending in /sse means the legacy SSE transport. With
// neither, args, env or cwd mean stdio, so the problem reported is the
// missing command rather than a missing URL.
func inferTransport(s Server) Transport {
	if s.Command != "" || s.Endpoint == "" && (len(s.Args) > 0 || len(s.Env) > 0 || s.Cwd != "") {
		return TransportStdio
	}
	if u, err := url.Parse(s.Endpoint); err == nil && strings.HasSuffix(strings.TrimSuffix(u.Path, "/"), "/sse") {
		return TransportSSE
	}
	return TransportStreamableHTTP
}

// str decodes a scalar as text (numbers and booleans as written, null as
// "") and resolves its placeholders. ok is false after a problem.
func (d *decoder) str(f field, n *node) (string, bool) {
	switch n.kind {
	case kindNull:
		return "", true
	case kindMap, kindList:
		d.problem(f, "must be a string, not a %s", n.kind)
		return "", false
	}
	if f.ex == nil || n.kind != kindString {
		return n.text, true
	}
	v, err := f.ex.expand(n.text)
	if err != nil {
		d.problem(f, "%v", err)
		return "", false
	}
	return v, true
}

func (d *decoder) boolean(f field, n *node) (bool, bool) {
	if n.kind == kindBool || n.kind == kindString {
		text, ok := d.str(f, n)
		if !ok {
			return false, false
		}
		if b, err := strconv.ParseBool(text); err == nil {
			return b, true
		}
	}
	d.problem(f, "must be true or false")
	return false, false
}

// duration decodes a number of seconds (30, 1.5) or a Go duration string
// ("45s", "5m"); a string holding a number is seconds too ("30").
func (d *decoder) duration(f field, n *node) (time.Duration, bool) {
	var (
		v   time.Duration
		err error
	)
	switch n.kind {
	case kindNumber:
		v, err = parseSeconds(n.text)
	case kindString:
		text, ok := d.str(f, n)
		if !ok {
			return 0, false
		}
		if f.ex == nil && strings.Contains(text, "${") {
			return 0, false // a disabled server's placeholder: keep the default
		}
		v, err = parseDuration(text)
	default:
		err = fmt.Errorf("not a %s", n.kind)
	}
	if err != nil {
		// Quote the value as written, never a resolved one.
		d.problem(f, "%s: want seconds (30) or a duration (\"45s\", \"5m\")", truncate(strconv.Quote(n.text), 80))
		return 0, false
	}
	return v, true
}

// integer decodes a whole number, written as a number or a string ("1000").
// Exponent forms of whole numbers are accepted too: viper hands JSON
// numbers over as float64, which print as 1.2345678e+07.
func (d *decoder) integer(f field, n *node) (int, bool) {
	if n.kind == kindNumber || n.kind == kindString {
		text, ok := d.str(f, n)
		if !ok {
			return 0, false
		}
		text = strings.TrimSpace(text)
		if v, err := strconv.Atoi(text); err == nil {
			return v, true
		}
		if v, err := strconv.ParseFloat(text, 64); err == nil && v == math.Trunc(v) && math.Abs(v) <= 1<<53 {
			return int(v), true
		}
	}
	d.problem(f, "%s: want a whole number", truncate(strconv.Quote(n.text), 80))
	return 0, false
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if v, err := time.ParseDuration(s); err == nil {
		return v, nil
	}
	return parseSeconds(s)
}

func parseSeconds(s string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("%v seconds is out of range", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// strList decodes a list of scalars (args).
func (d *decoder) strList(f field, n *node) []string {
	switch n.kind {
	case kindNull:
		return nil
	case kindList:
	default:
		d.problem(f, "must be a list of strings, not a %s", n.kind)
		return nil
	}
	out := make([]string, 0, len(n.items))
	for i, item := range n.items {
		v, _ := d.str(f.at(f.path+"["+strconv.Itoa(i)+"]", item.line), item)
		out = append(out, v)
	}
	return out
}

// strMap decodes a mapping of scalars (env, headers), keys as written.
func (d *decoder) strMap(f field, n *node) map[string]string {
	switch n.kind {
	case kindNull:
		return nil
	case kindMap:
	default:
		d.problem(f, "must be a mapping of strings, not a %s", n.kind)
		return nil
	}
	out := make(map[string]string, len(n.keys))
	for i, k := range n.keys {
		v, _ := d.str(f.at(joinKey(f.path, k), n.keyLines[i]), n.vals[i])
		out[k] = v
	}
	return out
}
