package config

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of the inbound limits.
const (
	DefaultMaxBodyBytes      = 4 << 20
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	// EnvAPIToken names the environment variable whose value, when set, is
	// one more accepted token, named EnvTokenName.
	EnvAPIToken = "MCPHUB_API_TOKEN"
	// EnvTokenName is the name of the token Load adds from EnvAPIToken.
	EnvTokenName = "env"
	// MinTokenLength is the shortest token value Validate accepts, in bytes.
	MinTokenLength = 16
)

// Audit.File values that name a standard stream instead of a file.
const (
	AuditStderr = "stderr"
	AuditStdout = "stdout"
)

// RedactedValue stands for a secret in Redacted configs and in the
// printed form of a Token.
const RedactedValue = "<redacted>"

// Auth is the "auth" section: who may call the hub.
//
//	auth:
//	  tokens:
//	    - name: ci                     # recorded on approvals and in the audit log
//	      token: ${CI_TOKEN}           # placeholders work; never logged or shown
//	    - name: alice
//	      token: "${cmd: pass show mcphub/alice}"
//	  rules:                           # the longest matching prefix decides
//	    - prefix: /mcp/group/ops
//	      tokens: [alice]              # only these token names
//
// With no tokens (and MCPHUB_API_TOKEN unset) auth is off. With tokens,
// every /mcp_hub/* route, /mcp*, the event stream and /metrics need
// "Authorization: Bearer <token>" (or "X-API-Key: <token>"), except GET
// /mcp_hub/health (liveness) and GET /readyz (readiness), which probes
// call without one. A path no rule matches accepts every token.
//
// Token names follow the rules of server names (letters, digits, '_', '.'
// and '-') and are unique; names are taken as written, values resolve
// placeholders. A value is at least MinTokenLength bytes and unique (two
// names sharing one token could not be told apart). When
// MCPHUB_API_TOKEN is set, Load adds its value as the token "env" after
// the files' tokens. A rule's prefix starts with "/" and is unique; its
// tokens name configured tokens, and "tokens: []" allows none. A later
// file's tokens or rules replace the earlier files' list whole.
//
// Printing an Auth or a Token with fmt (%v, %+v, %#v, %s), or marshaling it
// to JSON or YAML, shows "<redacted>" in place of every token value.
type Auth struct {
	Tokens []Token
	Rules  []AuthRule
}

// Token is one accepted API key. Its printed and marshaled forms redact
// Token (see Format); only the field itself holds the secret.
type Token struct {
	Name  string
	Token string
}

// AuthRule restricts the paths under Prefix to the named tokens.
type AuthRule struct {
	Prefix string
	Tokens []string
}

// redact returns RedactedValue for a secret, "" for an empty one (an empty
// value is a mistake worth seeing, and reveals nothing).
func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return RedactedValue
}

// tokenFields is a Token's printed form: the same fields, no methods.
type tokenFields struct {
	Name  string `json:"Name" yaml:"name"`
	Token string `json:"Token" yaml:"token"`
}

func (t Token) redacted() tokenFields { return tokenFields{Name: t.Name, Token: redact(t.Token)} }

// Format prints t like a struct with its value redacted, for every verb:
// %v is {ci <redacted>}, %+v {Name:ci Token:<redacted>}, %#v as GoString.
func (t Token) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = io.WriteString(f, t.GoString())
		return
	}
	_, _ = fmt.Fprintf(f, fmt.FormatString(f, verb), t.redacted())
}

// String returns t as %v prints it, its value redacted.
func (t Token) String() string { return fmt.Sprintf("%v", t) }

// GoString returns t as Go syntax, its value redacted.
func (t Token) GoString() string {
	return fmt.Sprintf("config.Token{Name:%q, Token:%q}", t.Name, redact(t.Token))
}

// MarshalJSON writes t with its value redacted.
func (t Token) MarshalJSON() ([]byte, error) { return json.Marshal(t.redacted()) }

// MarshalYAML writes t with its value redacted.
func (t Token) MarshalYAML() (any, error) { return t.redacted(), nil }

// Equal reports whether a and o hold the same tokens and rules in the same
// order; nil and empty lists are equal.
func (a Auth) Equal(o Auth) bool {
	return slices.Equal(a.Tokens, o.Tokens) &&
		slices.EqualFunc(a.Rules, o.Rules, func(x, y AuthRule) bool {
			return x.Prefix == y.Prefix && slices.Equal(x.Tokens, y.Tokens)
		})
}

// Enabled reports whether requests need a token.
func (a Auth) Enabled() bool { return len(a.Tokens) > 0 }

// Allowed returns the token names accepted on path: those of the rule with
// the longest prefix matching path, or nil (every token) when none does. A
// prefix matches a path equal to it or continuing it after a '/'.
func (a Auth) Allowed(path string) (names []string, restricted bool) {
	best := -1
	for i, r := range a.Rules {
		if prefixMatch(r.Prefix, path) && (best < 0 || len(r.Prefix) > len(a.Rules[best].Prefix)) {
			best = i
		}
	}
	if best < 0 {
		return nil, false
	}
	return a.Rules[best].Tokens, true
}

func prefixMatch(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// CORS is the "cors" section. With no origins (the default) the hub sends
// no CORS headers, so browsers on other origins cannot call it.
//
//	cors:
//	  origins: ["https://console.example.com"]   # or ["*"]
//
// An origin is "*" (every origin) or what a browser sends in its Origin
// header: scheme, host and a port other than the default, in lower case,
// with no path or trailing slash. A later file's list replaces the earlier.
type CORS struct {
	Origins []string
}

// Equal reports whether c and o list the same origins in the same order;
// nil and empty lists are equal.
func (c CORS) Equal(o CORS) bool { return slices.Equal(c.Origins, o.Origins) }

// Limits is the "limits" section: bounds on inbound requests.
//
//	limits:
//	  max_body_bytes: 4194304    # larger bodies are 413
//	  rate: {per_second: 20, burst: 40}   # per token (per client IP without auth); 429 with Retry-After
//	  read_header_timeout: 10s
//	  idle_timeout: 120s
//
// MaxBodyBytes is a whole number from 1 to 1 GiB (default 4 MiB). The
// timeouts are positive, written like every duration: seconds (10, 1.5)
// or a Go duration ("10s", "2m"). Rate.PerSecond is 0 (the default: no
// limit) or more, fractions allowed; Burst is at least 1 when PerSecond is
// set, and left out it is 2*PerSecond rounded up. Each key merges on its
// own: a later file that sets only per_second keeps an earlier burst.
type Limits struct {
	MaxBodyBytes      int64
	Rate              RateLimit
	ReadHeaderTimeout time.Duration
	IdleTimeout       time.Duration
}

// RateLimit is a token bucket; PerSecond 0 turns it off.
type RateLimit struct {
	PerSecond float64
	Burst     int
}

// Audit is the "audit" section: a structured log of every call and
// approval decision (who, tool, argument digest, outcome, duration) to its
// own sink.
//
//	audit:
//	  file: /var/log/mcphub/audit.jsonl   # or "stderr"; empty: off
//
// After Load, File is "" (off), AuditStderr, AuditStdout (written in any
// case) or a path; a relative path is resolved against the directory of
// the config file that names it, like a server's cwd.
type Audit struct {
	File string
}

// Redacted returns a copy of c fit to show: every token value, server env
// value and header value is replaced by "<redacted>" (empty values stay
// empty) and the password of an endpoint URL by "xxxxx". The lists and
// maps it changes are copies, as are the auth rules; query values of an
// endpoint are redacted too (see RedactEndpoint). Every value a placeholder
// produced in a server entry is hidden in its endpoint, command, args and
// cwd as well. Other lists are shared with c, so treat the copy as
// read-only.
func (c *Config) Redacted() *Config {
	r := *c
	r.Auth.Tokens = slices.Clone(c.Auth.Tokens)
	for i := range r.Auth.Tokens {
		r.Auth.Tokens[i].Token = redact(r.Auth.Tokens[i].Token)
	}
	r.Auth.Rules = slices.Clone(c.Auth.Rules)
	for i := range r.Auth.Rules {
		r.Auth.Rules[i].Tokens = slices.Clone(r.Auth.Rules[i].Tokens)
	}
	r.Servers = slices.Clone(c.Servers)
	for i := range r.Servers {
		s := &r.Servers[i]
		s.Env = redactValues(s.Env)
		s.Headers = redactValues(s.Headers)
		hide := s.secretHider().hide
		s.Endpoint = hide(RedactEndpoint(s.Endpoint))
		s.Command, s.Cwd = hide(s.Command), hide(s.Cwd)
		if s.Args != nil {
			s.Args = slices.Clone(s.Args)
			for j, a := range s.Args {
				s.Args[j] = hide(a)
			}
		}
		s.secrets, s.hidden = nil, nil
	}
	return &r
}

// Hide replaces in v every value a placeholder produced in the server's
// entry (see Redacted). The replacer is built once, when Load decodes the
// entry, and shared by copies of the Server.
func (s *Server) Hide(v string) string {
	if len(s.secrets) == 0 {
		return v // most servers: nothing to hide
	}
	return s.secretHider().hide(v)
}

// secretHider returns the server's hider: the one built when the entry was
// decoded (the only place secrets are recorded), or, for a Server made
// otherwise (in a test), a new one.
func (s *Server) secretHider() *secretHider {
	switch {
	case s.hidden != nil:
		return s.hidden
	case len(s.secrets) == 0:
		return noSecrets
	}
	return newSecretHider(s.secrets)
}

// noSecrets is the hider of a server without secrets: it changes nothing.
var noSecrets = &secretHider{}

// minSecretLen is the length, in bytes, from which a secret is replaced
// inside other text. Shorter ones are hidden only when they are the whole
// value (see secretHider) or not at all (Scrub): replacing them inside other
// text would mangle it (a "1" in every address) and show where they were
// anyway.
const minSecretLen = 4

// secretHider replaces a server's placeholder secrets by RedactedValue. It
// is safe for concurrent use.
type secretHider struct {
	whole map[string]bool   // every secret, short ones included
	r     *strings.Replacer // nil: no secret is long enough to replace inside text
}

func newSecretHider(secrets []string) *secretHider {
	h := &secretHider{whole: make(map[string]bool, len(secrets))}
	pairs := make([]string, 0, 2*len(secrets))
	for _, v := range secrets {
		h.whole[v] = true
		pairs = append(pairs, v, RedactedValue)
	}
	h.r = secretReplacer(pairs)
	return h
}

func (h *secretHider) hide(v string) string {
	switch {
	case v == "":
		return v
	case h.whole[v]:
		return RedactedValue
	case h.r == nil:
		return v
	}
	return h.r.Replace(v)
}

// secretReplacer builds a replacer from old, new pairs, or returns nil if
// none is left: each old value once (its first pair wins), those shorter
// than minSecretLen left out, and the longest first. The replacer tries
// its pairs in order at each position, so a secret that starts with
// another one must come first or its tail would show.
func secretReplacer(pairs []string) *strings.Replacer {
	type pair struct{ old, new string }
	ps := make([]pair, 0, len(pairs)/2)
	seen := make(map[string]bool, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		if old := pairs[i]; len(old) >= minSecretLen && !seen[old] {
			seen[old] = true
			ps = append(ps, pair{old, pairs[i+1]})
		}
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return len(b.old) - len(a.old) })
	out := make([]string, 0, 2*len(ps))
	for _, p := range ps {
		out = append(out, p.old, p.new)
	}
	return strings.NewReplacer(out...)
}

// redactValues returns a copy of m with every value redacted.
func redactValues(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = redact(v)
	}
	return out
}

// RedactEndpoint is endpoint fit to show: the password of its user info
// becomes "xxxxx" and every query value "<redacted>" (API keys are often
// passed as ?key=...). Anything that does not parse is returned as is.
func RedactEndpoint(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil {
		return endpoint
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			for i := range vs {
				vs[i] = RedactedValue
			}
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Scrub replaces, in text, every secret the servers' configuration holds
// (endpoint passwords and query values, header and env values, values
// placeholders produced) with "<redacted>", and each endpoint with its
// RedactEndpoint form (with those values hidden in it too). It is for error
// text that may quote a request: an endpoint with a key in its query string
// ends up in transport errors. Values shorter than 4 bytes are left alone:
// replacing them would mangle ordinary words. Where secrets overlap, the
// longest is replaced whole.
//
// It runs for every log record and status event, so what it replaces is
// worked out once per Config, on first use: treat a Config as read-only
// once it is in use.
func (c *Config) Scrub(text string) string {
	if text == "" {
		return text
	}
	if r := c.scrubber().r; r != nil {
		return r.Replace(text)
	}
	return text
}

// scrubCache holds what Scrub replaces. Config points to one (hubDefaults
// allocates it) rather than holding it, so that copying a Config copies no
// lock; copies share it, which is why a scrubber records the server list it
// was built from.
type scrubCache struct{ p atomic.Pointer[scrubber] }

type scrubber struct {
	servers []Server          // the list it was built from, compared by identity
	r       *strings.Replacer // nil: nothing to replace
}

// scrubber returns the replacer of c's servers, building it the first time
// (and again if c.Servers is no longer the list it was built from: a copy
// of c given other servers).
func (c *Config) scrubber() *scrubber {
	if c.scrub != nil {
		if s := c.scrub.p.Load(); s != nil && sameList(s.servers, c.Servers) {
			return s
		}
	}
	s := &scrubber{servers: c.Servers, r: scrubReplacer(c.Servers)}
	if c.scrub != nil {
		c.scrub.p.Store(s)
	}
	return s
}

// sameList reports whether a and b are the same slice (not equal ones).
func sameList(a, b []Server) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// scrubReplacer builds Scrub's replacer for servers, or nil if there is
// nothing to replace (see secretReplacer).
func scrubReplacer(servers []Server) *strings.Replacer {
	var pairs []string
	for i := range servers {
		s := &servers[i]
		if s.Endpoint != "" {
			if r := RedactEndpoint(s.Endpoint); r != s.Endpoint {
				pairs = append(pairs, s.Endpoint, s.Hide(r))
			}
			if u, err := url.Parse(s.Endpoint); err == nil {
				if pw, ok := u.User.Password(); ok {
					pairs = appendSecret(pairs, pw)
					pairs = appendSecret(pairs, url.QueryEscape(pw))
				}
				for _, vs := range u.Query() {
					for _, v := range vs {
						pairs = appendSecret(pairs, v)
						pairs = appendSecret(pairs, url.QueryEscape(v))
					}
				}
			}
		}
		for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
			pairs = appendSecret(pairs, s.Headers[k])
		}
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			pairs = appendSecret(pairs, s.Env[k])
		}
		for _, v := range s.secrets {
			pairs = appendSecret(pairs, v)
		}
	}
	return secretReplacer(pairs)
}

// appendSecret adds the pair that replaces v by RedactedValue.
func appendSecret(pairs []string, v string) []string {
	return append(pairs, v, RedactedValue)
}
