package config

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// maxBodyBytesCap bounds limits.max_body_bytes: a request body the hub
// buffers should never need more.
const maxBodyBytesCap = 1 << 30

// validateSecurity checks the auth, cors, limits and audit settings. No
// message shows a token's value, not even one written where a name belongs.
func (c *Config) validateSecurity(ps *problems) {
	c.validateAuth(ps)
	for i, o := range c.CORS.Origins {
		if msg := checkOrigin(o); msg != "" {
			ps.add("", 0, "cors.origins["+strconv.Itoa(i)+"]", "%s", msg)
		}
	}
	l := c.Limits
	switch {
	case l.MaxBodyBytes <= 0:
		ps.add("", 0, "limits.max_body_bytes", "must be positive")
	case l.MaxBodyBytes > maxBodyBytesCap:
		ps.add("", 0, "limits.max_body_bytes", "%d is more than 1 GiB (%d)", l.MaxBodyBytes, maxBodyBytesCap)
	}
	r := l.Rate
	if !(r.PerSecond >= 0) || math.IsInf(r.PerSecond, 0) {
		ps.add("", 0, "limits.rate.per_second", "must be a number of requests per second, 0 (no limit) or more")
	}
	switch {
	case r.Burst < 0:
		ps.add("", 0, "limits.rate.burst", "must not be negative")
	case r.PerSecond > 0 && r.Burst < 1:
		ps.add("", 0, "limits.rate.burst", "must be at least 1 when limits.rate.per_second is set")
	}
	if l.ReadHeaderTimeout <= 0 {
		ps.add("", 0, "limits.read_header_timeout", "must be positive")
	}
	if l.IdleTimeout <= 0 {
		ps.add("", 0, "limits.idle_timeout", "must be positive")
	}
	if strings.ContainsRune(c.Audit.File, 0) {
		ps.add("", 0, "audit.file", "must not contain NUL bytes")
	}
}

// validateAuth checks the tokens (names, values, both unique) and the rules
// (prefixes unique, token names configured).
func (c *Config) validateAuth(ps *problems) {
	tokens := c.Auth.Tokens
	// isValue reports whether s is a token's value, written where a name
	// belongs: then it must not be shown.
	isValue := func(s string) bool {
		return s != "" && slices.ContainsFunc(tokens, func(t Token) bool { return t.Token == s })
	}
	nameAt := map[string]int{}
	valueAt := map[string]int{}
	var names []string
	for i, t := range tokens {
		path := "auth.tokens[" + strconv.Itoa(i) + "]"
		switch {
		case t.Name == "":
			ps.add("", 0, path+".name", "token name must not be empty")
		case isValue(t.Name):
			ps.add("", 0, path+".name", "a token value is written as the name (not shown): names appear in logs and approvals")
		case !allChars(t.Name, "_.-"):
			ps.add("", 0, path+".name", "token name %s may only contain letters, digits, '_', '.' and '-'", truncate(strconv.Quote(t.Name), 80))
		default:
			if first, dup := nameAt[t.Name]; dup {
				ps.add("", 0, path+".name", "duplicate token name %q (also at auth.tokens[%d])", t.Name, first)
				break
			}
			nameAt[t.Name] = i
			names = append(names, t.Name)
		}
		switch {
		case t.Token == "":
			ps.add("", 0, path+".token", "must not be empty")
		case len(t.Token) < MinTokenLength:
			ps.add("", 0, path+".token", "too short: at least %d bytes", MinTokenLength)
		case strings.ContainsFunc(t.Token, func(r rune) bool { return r < ' ' || r == 0x7f }) ||
			strings.HasPrefix(t.Token, " ") || strings.HasSuffix(t.Token, " "):
			ps.add("", 0, path+".token", "must not contain control characters or line breaks, or start or end with a space "+
				"(a ${cmd: ...} must print only the token)")
		default:
			if first, dup := valueAt[t.Token]; dup {
				ps.add("", 0, path+".token", "tokens %s and %s have the same value, so requests with it cannot be told apart: give each name its own token",
					shownName(tokens[first].Name, isValue), shownName(t.Name, isValue))
				break
			}
			valueAt[t.Token] = i
		}
	}

	if len(c.Auth.Rules) > 0 && len(tokens) == 0 {
		ps.add("", 0, "auth.rules", "auth.rules needs auth.tokens: with no tokens auth is off and no rule applies")
	}
	prefixAt := map[string]int{}
	for i, r := range c.Auth.Rules {
		path := "auth.rules[" + strconv.Itoa(i) + "]"
		if msg := checkPrefix(r.Prefix); msg != "" {
			ps.add("", 0, path+".prefix", "%s", msg)
		} else if first, dup := prefixAt[r.Prefix]; dup {
			ps.add("", 0, path+".prefix", "duplicate prefix %q (also at auth.rules[%d])", r.Prefix, first)
		} else {
			prefixAt[r.Prefix] = i
		}
		if len(tokens) == 0 {
			continue // reported once above
		}
		listed := map[string]int{}
		for j, name := range r.Tokens {
			field := path + ".tokens[" + strconv.Itoa(j) + "]"
			first, dup := listed[name]
			switch {
			case name == "":
				ps.add("", 0, field, "token name must not be empty")
			case isValue(name):
				ps.add("", 0, field, "a token value is written where a token name belongs (not shown): list names")
			case dup:
				ps.add("", 0, field, "token %q is listed twice (also at %s.tokens[%d])", name, path, first)
			case !slices.ContainsFunc(tokens, func(t Token) bool { return t.Name == name }):
				msg := "unknown token " + truncate(strconv.Quote(name), 80)
				if s := suggest(name, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else if name == EnvTokenName {
					msg += fmt.Sprintf(" (the token %q comes from %s, which is not set)", EnvTokenName, EnvAPIToken)
				}
				ps.add("", 0, field, "%s", msg)
			}
			if !dup {
				listed[name] = j
			}
		}
	}
}

// shownName quotes a token name for a message, unless it is a token's value.
func shownName(name string, isValue func(string) bool) string {
	if isValue(name) {
		return "(name not shown)"
	}
	return truncate(strconv.Quote(name), 80)
}

// checkPrefix returns why p is not a usable rule prefix, or "".
func checkPrefix(p string) string {
	q := truncate(strconv.Quote(p), 80)
	switch {
	case p == "":
		return `must not be empty ("/" covers every path)`
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%s must start with \"/\" (did you mean %q?)", q, truncate("/"+p, 80))
	case strings.Contains(p, "*"):
		suggestion := strings.TrimRight(p[:strings.IndexByte(p, '*')], "/")
		if suggestion == "" {
			suggestion = "/"
		}
		return fmt.Sprintf("%s: '*' is not a wildcard: a prefix covers itself and every path below it (did you mean %q?)", q, truncate(suggestion, 80))
	case strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' }):
		return fmt.Sprintf("%s: must be a URL path (no query, fragment, spaces or control characters)", q)
	}
	return ""
}

// checkOrigin returns why o is neither "*" nor an origin a browser sends
// ("https://console.example.com:8443"), or "". The hub compares origins
// exactly, so it also refuses what a browser never sends: upper case, a
// default port, a trailing slash.
func checkOrigin(o string) string {
	const want = `want "*" or an origin such as "https://console.example.com"`
	q := truncate(strconv.Quote(o), 80)
	if o == "*" {
		return ""
	}
	if o == "" {
		return "must not be empty (" + want + ")"
	}
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fmt.Sprintf("%s: %s", q, want)
	}
	origin := u.Scheme + "://" + u.Host
	lower := strings.ToLower(origin)
	switch {
	case strings.Contains(u.Host, "*"):
		return fmt.Sprintf("%s: wildcards are not supported: list each origin, or \"*\" for every one", q)
	case strings.ToLower(o) != lower:
		return fmt.Sprintf("%s is not an origin: it has a path, query, fragment or user name (did you mean %q?)", q, truncate(lower, 80))
	case strings.ContainsFunc(u.Host, func(r rune) bool { return r >= 0x80 }):
		return fmt.Sprintf("%s: write the host name in its ASCII (xn--) form, as browsers send it", q)
	}
	if port := u.Port(); port != "" {
		n, err := strconv.Atoi(port)
		switch {
		case err != nil || n < 1 || n > 65535:
			return fmt.Sprintf("%s: port must be a number from 1 to 65535", q)
		case u.Scheme == "https" && n == 443, u.Scheme == "http" && n == 80:
			return fmt.Sprintf("%s: browsers leave the default port out (did you mean %q?)", q, truncate(strings.ToLower(u.Scheme+"://"+strings.TrimSuffix(u.Host, ":"+port)), 80))
		}
	}
	if o != lower {
		return fmt.Sprintf("%s: browsers send origins in lower case (did you mean %q?)", q, truncate(lower, 80))
	}
	return ""
}
