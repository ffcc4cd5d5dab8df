package config

import (
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Keys of the auth, cors, limits and audit sections.
func authKeys() []string { return []string{"tokens", "rules"} }

func tokenKeys() []string { return []string{"name", "token"} }

func ruleKeys() []string { return []string{"prefix", "tokens"} }

func corsKeys() []string { return []string{"origins"} }

func limitsKeys() []string {
	return []string{"max_body_bytes", "rate", "read_header_timeout", "idle_timeout"}
}

func rateKeys() []string { return []string{"per_second", "burst"} }

func auditKeys() []string { return []string{"file"} }

// authEntryKey names the key meant by a misspelt key of a token or rule
// entry that suggest cannot guess ("value" for "token"), or "".
func authEntryKey(list, key string) string {
	switch list + "." + strings.ToLower(key) {
	case "tokens.value", "tokens.secret", "tokens.key", "tokens.api_key":
		return "token"
	case "rules.path", "rules.paths":
		return "prefix"
	case "rules.names", "rules.allow", "rules.allowed":
		return "tokens"
	}
	return ""
}

// auth walks the "auth" section. Its lists hold mappings, which viper's
// values cannot represent with lines, so they are taken from the tree; a
// later file's list replaces an earlier one whole, like any setting.
func (w *walker) auth(dst map[string]setting, n *node, line int) {
	if !w.isMap(n, line, "auth") {
		return
	}
	for j, list := range n.keys {
		v, kline, path := n.vals[j], n.keyLines[j], "auth."+list
		var known []string
		switch list {
		case "tokens":
			known = tokenKeys()
		case "rules":
			known = ruleKeys()
		default:
			w.unknownKey(kline, path, list, authKeys())
			continue
		}
		switch v.kind {
		case kindNull:
			continue
		case kindList:
		default:
			w.problem(kline, path, "must be a list of mappings with %s, not a %s", strings.Join(known, " and "), v.kind)
			continue
		}
		for i, item := range v.items {
			ipath := path + "[" + strconv.Itoa(i) + "]"
			if item.kind != kindMap {
				w.problem(item.line, ipath, "must be a mapping with %s, not a %s", strings.Join(known, " and "), item.kind)
				continue
			}
			for m, key := range item.keys {
				switch {
				case slices.Contains(known, key):
				case authEntryKey(list, key) != "":
					w.problem(item.keyLines[m], ipath+"."+key, "unknown key (did you mean %q?)", authEntryKey(list, key))
				default:
					w.unknownKey(item.keyLines[m], ipath+"."+key, key, known)
				}
			}
		}
		dst[path] = setting{n: v, line: kline, file: w.file}
	}
}

// security decodes the auth, cors, limits and audit settings into c, then
// adds the token from MCPHUB_API_TOKEN.
func (d *decoder) security(c *Config, at settingAt) {
	if f, n, ok := at("auth.tokens"); ok {
		c.Auth.Tokens = d.tokens(c, f, n)
	}
	if f, n, ok := at("auth.rules"); ok {
		c.Auth.Rules = d.rules(c, f, n)
	}
	if f, n, ok := at("cors.origins"); ok {
		c.CORS.Origins = d.strList(f, n)
	}
	if f, n, ok := at("limits.max_body_bytes"); ok {
		if v, ok := d.integer(f, n); ok {
			c.Limits.MaxBodyBytes = int64(v)
		}
	}
	for _, dur := range []struct {
		key string
		dst *time.Duration
	}{
		{"limits.read_header_timeout", &c.Limits.ReadHeaderTimeout},
		{"limits.idle_timeout", &c.Limits.IdleTimeout},
	} {
		if f, n, ok := at(dur.key); ok {
			if v, ok := d.duration(f, n); ok {
				*dur.dst = v
			}
		}
	}
	if f, n, ok := at("limits.rate.per_second"); ok {
		if v, ok := d.number(f, n); ok {
			c.Limits.Rate.PerSecond = v
		}
	}
	if f, n, ok := at("limits.rate.burst"); ok {
		if v, ok := d.integer(f, n); ok {
			c.Limits.Rate.Burst = v
		}
	} else if c.Limits.Rate.PerSecond > 0 {
		c.Limits.Rate.Burst = defaultBurst(c.Limits.Rate.PerSecond)
	}
	if f, n, ok := at("audit.file"); ok {
		if v, ok := d.str(f, n); ok {
			c.Audit.File = auditFile(v, f.ex.dir)
		}
	}
	d.envToken(c)
}

// defaultBurst is the burst of a rate that leaves it out: two seconds'
// worth of requests, rounded up.
func defaultBurst(perSecond float64) int {
	return int(min(math.Ceil(2*perSecond), math.MaxInt32))
}

// auditFile resolves a relative audit file against dir, the directory of
// the config file that names it, like a server's cwd. "stderr" and
// "stdout" (any case) name those streams; "" turns the audit log off.
func auditFile(v, dir string) string {
	switch t := strings.ToLower(strings.TrimSpace(v)); t {
	case AuditStderr, AuditStdout:
		return t
	}
	if strings.TrimSpace(v) == "" {
		return ""
	}
	if filepath.IsAbs(v) {
		return v
	}
	return filepath.Join(dir, v)
}

// tokens decodes auth.tokens. An entry that is not a mapping (reported by
// the walker) becomes an empty Token, so later entries keep their index.
// Names are taken as written, like server names; values resolve
// placeholders and never appear in a message.
func (d *decoder) tokens(c *Config, f field, n *node) []Token {
	if n.kind != kindList { // reported by the walker
		return nil
	}
	out := make([]Token, 0, len(n.items))
	for i, item := range n.items {
		var t Token
		ipath := f.path + "[" + strconv.Itoa(i) + "]"
		for j, key := range item.keys {
			kf := f.at(ipath+"."+key, item.keyLines[j])
			c.positions[kf.path] = location{file: f.file, line: kf.line}
			switch key {
			case "name":
				kf.ex = nil
				t.Name, _ = d.str(kf, item.vals[j])
			case "token":
				t.Token, _ = d.secret(kf, item.vals[j])
			}
		}
		out = append(out, t)
	}
	return out
}

// rules decodes auth.rules. Prefixes resolve placeholders; token names are
// taken as written. A rule that leaves "tokens" out is a problem: a rule
// with no tokens allows none, which should be said with "tokens: []".
func (d *decoder) rules(c *Config, f field, n *node) []AuthRule {
	if n.kind != kindList { // reported by the walker
		return nil
	}
	out := make([]AuthRule, 0, len(n.items))
	for i, item := range n.items {
		var r AuthRule
		ipath := f.path + "[" + strconv.Itoa(i) + "]"
		for j, key := range item.keys {
			kf := f.at(ipath+"."+key, item.keyLines[j])
			c.positions[kf.path] = location{file: f.file, line: kf.line}
			v := item.vals[j]
			switch key {
			case "prefix":
				r.Prefix, _ = d.str(kf, v)
			case "tokens":
				kf.ex = nil
				r.Tokens = d.strList(kf, v)
				if v.kind == kindList {
					for k, name := range v.items {
						c.positions[kf.path+"["+strconv.Itoa(k)+"]"] = location{file: f.file, line: name.line}
					}
				}
			}
		}
		if _, _, ok := item.get("tokens"); !ok && item.kind == kindMap {
			d.problem(f.at(ipath+".tokens", item.line), "required: the token names allowed under the prefix (an empty list allows none)")
		}
		out = append(out, r)
	}
	return out
}

// secret decodes a token value like str. A placeholder problem is shown
// only when the value is one whole placeholder: in a value such as
// "s3cr${t" the text around "${" is part of the secret.
func (d *decoder) secret(f field, n *node) (string, bool) {
	if n.kind != kindString || f.ex == nil {
		return d.str(f, n)
	}
	v, err := f.ex.expand(n.text)
	if err == nil {
		return v, true
	}
	if strings.HasPrefix(n.text, "${") && closingBrace(n.text, 2) == len(n.text)-1 {
		d.problem(f, "%v", err)
	} else {
		d.problem(f, "invalid placeholder in the token (not shown: it may hold part of the secret); write a literal \"$\" as \"$$\"")
	}
	return "", false
}

// number decodes a finite number, written as a number or a string.
func (d *decoder) number(f field, n *node) (float64, bool) {
	if n.kind == kindNumber || n.kind == kindString {
		text, ok := d.str(f, n)
		if !ok {
			return 0, false
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(text), 64); err == nil && !math.IsInf(v, 0) && !math.IsNaN(v) {
			return v, true
		}
	}
	d.problem(f, "%s: want a number (20, 0.5)", truncate(strconv.Quote(n.text), 80))
	return 0, false
}

// envToken adds the token from MCPHUB_API_TOKEN, named EnvTokenName, after
// the files' tokens. A file token of that name is a problem, and then
// nothing is added.
func (d *decoder) envToken(c *Config) {
	v, ok := d.lookupEnv(EnvAPIToken)
	if !ok || v == "" {
		return
	}
	for i, t := range c.Auth.Tokens {
		if t.Name == EnvTokenName {
			path := "auth.tokens[" + strconv.Itoa(i) + "].name"
			loc, _ := c.position(path)
			d.ps.add(loc.file, loc.line, path, "token name %q is taken: %s is set and adds a token of that name (rename this one)",
				EnvTokenName, EnvAPIToken)
			return
		}
	}
	c.positions["auth.tokens["+strconv.Itoa(len(c.Auth.Tokens))+"]"] = location{path: EnvAPIToken}
	c.Auth.Tokens = append(c.Auth.Tokens, Token{Name: EnvTokenName, Token: v})
}
