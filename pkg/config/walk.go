package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/viper"
)

// walker collects one file's hub settings, server entries and groups and
// reports unknown keys and wrong shapes, for every entry (even ones a later
// file overrides: they are still mistakes in this file).
type walker struct {
	file *fileCtx
	v    *viper.Viper
	ps   *problems
}

// Keys are listed by functions rather than package variables so nothing
// global is mutable.
func topLevelKeys() []string {
	return []string{"listen", "refresh_interval", "tool_name_separator", "max_concurrent_starts", "backoff", "approval", "expose",
		"auth", "cors", "limits", "audit", "servers", "mcpServers", "groups"}
}

func serverKeys() []string {
	return []string{"name", "endpoint", "url", "transport", "type", "command", "args", "env", "cwd",
		"headers", "request_id_meta", "enabled", "disabled", "timeout", "protocol_version", "backoff", "approval", "require_approval",
		"tools"}
}

func groupKeys() []string { return []string{"servers", "tools", "expose"} }

func toolFilterKeys() []string { return []string{"allow", "deny"} }

func backoffKeys() []string { return []string{"initial", "max"} }

func approvalKeys() []string { return []string{"default", "require", "ttl", "max_pending"} }

// movedKey names where a top-level key that belongs in a section goes
// ("max_pending" is "approval.max_pending"), or "".
func movedKey(key string) string {
	switch key {
	case "approval_ttl", "ttl":
		return "approval.ttl"
	case "max_pending":
		return "approval.max_pending"
	case "require_approval", "require":
		return "approval.require"
	case "approval_default":
		return "approval.default"
	case "tokens", "api_tokens", "api_keys":
		return "auth.tokens"
	case "rules":
		return "auth.rules"
	case "origins", "cors_origins", "allowed_origins":
		return "cors.origins"
	case "max_body_bytes", "rate", "rate_limit", "read_header_timeout", "idle_timeout":
		return "limits." + strings.TrimSuffix(key, "_limit")
	case "audit_file", "audit_log":
		return "audit.file"
	}
	return ""
}

// sectionKeys returns the keys of a hub settings section such as
// "approval" or "limits.rate", or nil if path is not one.
func sectionKeys(path string) []string {
	switch path {
	case "backoff":
		return backoffKeys()
	case "approval":
		return approvalKeys()
	case "cors":
		return corsKeys()
	case "limits":
		return limitsKeys()
	case "limits.rate":
		return rateKeys()
	case "audit":
		return auditKeys()
	}
	return nil
}

// entryKeyProblem reports a key that is not in known, in a server entry or
// a long-form group: allow and deny belong under tools.
func (w *walker) entryKeyProblem(line int, path, key string, known []string) {
	if key == "allow" || key == "deny" {
		w.problem(line, path, "unknown key (did you mean %q?)", "tools."+key)
		return
	}
	w.unknownKey(line, path, key, known)
}

func (w *walker) problem(line int, path, format string, args ...any) {
	w.ps.add(w.file.path, line, path, format, args...)
}

func (w *walker) unknownKey(line int, path, key string, known []string) {
	msg := "unknown key"
	if s := suggest(key, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	w.problem(line, path, "%s", msg)
}

func (w *walker) walk(root *node) fileDoc {
	doc := fileDoc{settings: map[string]setting{}}
	for i, key := range root.keys {
		n, line := root.vals[i], root.keyLines[i]
		switch key {
		case "listen", "refresh_interval", "tool_name_separator", "max_concurrent_starts", "expose":
			w.setting(doc.settings, key, n, line)
		case "backoff", "approval", "cors", "limits", "audit":
			w.section(doc.settings, key, n, line)
		case "auth":
			w.auth(doc.settings, n, line)
		case "servers":
			switch n.kind {
			case kindNull:
			case kindList:
				for j, item := range n.items {
					doc.servers = w.entry(doc.servers, false, "", "servers["+strconv.Itoa(j)+"]", item, item.line)
				}
			case kindMap:
				doc.servers = w.entries(doc.servers, key, n)
			default:
				w.problem(line, key, "must be a list (seed format) or a mapping (VS Code format), not a %s", n.kind)
			}
		case "mcpServers":
			if w.isMap(n, line, key) {
				doc.servers = w.entries(doc.servers, key, n)
			}
		case "groups":
			if w.isMap(n, line, key) {
				for j, name := range n.keys {
					doc.groups = w.group(doc.groups, name, joinKey(key, name), n.vals[j], n.keyLines[j])
				}
			}
		default:
			// Like docker compose, x- keys are free for YAML anchors.
			switch {
			case strings.HasPrefix(key, "x-"):
			case movedKey(key) != "":
				w.problem(line, key, "unknown key (did you mean %q?)", movedKey(key))
			default:
				w.unknownKey(line, key, key, topLevelKeys())
			}
		}
	}
	return doc
}

// section walks a hub settings section (see sectionKeys): each known key
// is a setting at path.key, or a section itself (limits.rate).
func (w *walker) section(dst map[string]setting, path string, n *node, line int) {
	if !w.isMap(n, line, path) {
		return
	}
	known := sectionKeys(path)
	for j, k := range n.keys {
		sub := path + "." + k
		switch {
		case !slices.Contains(known, k):
			w.unknownKey(n.keyLines[j], sub, k, known)
		case sectionKeys(sub) != nil:
			w.section(dst, sub, n.vals[j], n.keyLines[j])
		default:
			w.setting(dst, sub, n.vals[j], n.keyLines[j])
		}
	}
}

// setting records a hub setting, taking its value from viper (the reader
// of record for settings) and its position from the tree.
func (w *walker) setting(dst map[string]setting, key string, n *node, line int) {
	if n.kind == kindNull {
		return
	}
	dst[key] = setting{n: fromViper(w.v.Get(key), n), line: line, file: w.file}
}

// fromViper turns a value viper decoded into a node; raw is the same value
// from the tree, used for types viper has no plain form of (timestamps).
func fromViper(v any, raw *node) *node {
	n := &node{line: raw.line}
	switch x := v.(type) {
	case nil:
		n.kind = kindNull
	case string:
		n.kind, n.text = kindString, x
	case bool:
		n.kind, n.text = kindBool, strconv.FormatBool(x)
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		n.kind, n.text = kindNumber, fmt.Sprint(x)
	case map[string]any:
		n.kind = kindMap
	case []any:
		// Lists keep their items (approval.require); raw supplies the
		// items' lines when the shapes agree.
		n.kind = kindList
		for i, item := range x {
			rawItem := raw
			if raw.kind == kindList && i < len(raw.items) {
				rawItem = raw.items[i]
			}
			n.items = append(n.items, fromViper(item, rawItem))
		}
	default:
		return raw
	}
	return n
}

func (w *walker) isMap(n *node, line int, path string) bool {
	switch n.kind {
	case kindMap:
		return true
	case kindNull:
		return false
	}
	w.problem(line, path, "must be a mapping, not a %s", n.kind)
	return false
}

// entries walks a map of servers (mcpServers, VS Code servers): key = name.
func (w *walker) entries(dst []rawServer, prefix string, n *node) []rawServer {
	for j, name := range n.keys {
		dst = w.entry(dst, true, name, joinKey(prefix, name), n.vals[j], n.keyLines[j])
	}
	return dst
}

// entry checks one server entry's keys. In the map forms (mapForm) name is
// the entry's key; in the seed list it is the "name" field.
func (w *walker) entry(dst []rawServer, mapForm bool, name, path string, n *node, line int) []rawServer {
	if n.kind != kindMap {
		w.problem(line, path, "a server must be a mapping, not a %s", n.kind)
		return dst
	}
	if !mapForm {
		if nn, nline, ok := n.get("name"); ok {
			if nn.isScalar() && nn.kind != kindNull {
				name = nn.text
			} else {
				w.problem(nline, path+".name", "must be a string, not a %s", nn.kind)
			}
		}
	}
	first := map[string]string{} // canonical field → key that set it
	for j, key := range n.keys {
		kline := n.keyLines[j]
		switch {
		case key == "name" && mapForm:
			w.problem(kline, path+"."+key, "unknown key (in a map the server's name is its key)")
			continue
		case !slices.Contains(serverKeys(), key):
			w.entryKeyProblem(kline, path+"."+key, key, serverKeys())
			continue
		case key == "tools":
			w.toolFilter(path+".tools", n.vals[j], kline)
		case key == "backoff":
			if w.isMap(n.vals[j], kline, path+".backoff") {
				b := n.vals[j]
				for k, bk := range b.keys {
					if !slices.Contains(backoffKeys(), bk) {
						w.unknownKey(b.keyLines[k], path+".backoff."+bk, bk, backoffKeys())
					}
				}
			}
		}
		canon := canonicalKey(key)
		if other, dup := first[canon]; dup {
			w.problem(kline, path+"."+key, "conflicts with %q: set only one of them", other)
		}
		first[canon] = key
	}
	return append(dst, rawServer{name: name, path: path, line: line, n: n, file: w.file})
}

// group checks one group's shape: a list of member names (short form), a
// mapping (long form) or null (no members, which Validate reports).
func (w *walker) group(dst []rawGroup, name, path string, n *node, line int) []rawGroup {
	switch n.kind {
	case kindNull, kindList:
	case kindMap:
		for j, key := range n.keys {
			kline := n.keyLines[j]
			switch {
			case !slices.Contains(groupKeys(), key):
				w.entryKeyProblem(kline, path+"."+key, key, groupKeys())
			case key == "tools":
				w.toolFilter(path+".tools", n.vals[j], kline)
			}
		}
	default:
		w.problem(line, path, "a group must be a list of server names or a mapping, not a %s", n.kind)
		return dst
	}
	return append(dst, rawGroup{name: name, path: path, line: line, n: n, file: w.file})
}

// toolFilter checks the keys of a "tools" section; null is an empty filter.
func (w *walker) toolFilter(path string, n *node, line int) {
	if !w.isMap(n, line, path) {
		return
	}
	for j, k := range n.keys {
		if !slices.Contains(toolFilterKeys(), k) {
			w.unknownKey(n.keyLines[j], path+"."+k, k, toolFilterKeys())
		}
	}
}

// canonicalKey maps the Claude/Cursor/VS Code spellings to the seed ones.
func canonicalKey(key string) string {
	switch key {
	case "url":
		return "endpoint"
	case "type":
		return "transport"
	case "disabled":
		return "enabled"
	}
	return key
}

// suggest returns the known key closest to key, or "" if none is close:
// same letters ignoring case, '_' and '-' (protocolVersion), or an edit
// distance of at most 2 (endpiont).
func suggest(key string, known []string) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	best, bestDist := "", 3
	for _, k := range known {
		if norm(k) == norm(key) {
			return k
		}
		if d := editDistance(norm(key), norm(k)); d < bestDist && d < len(norm(k))/2 {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, cut short for long inputs
// (keys are short; this only guards against hostile ones).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return len(a) + len(b)
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
