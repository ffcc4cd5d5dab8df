package config

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Secrets the security tests resolve; none may appear in a message.
const (
	ciSecret    = "ci-secret-value-0123456789"
	aliceSecret = "alice-from-pass-0123456789"
	envSecret   = "env-secret-value-0123456789"
)

// secLoader is testLoader with one command: `pass show mcphub/alice`.
func secLoader(env map[string]string) *Loader {
	l := testLoader(env)
	l.RunCommand = func(_ context.Context, _, cmd string) (string, error) {
		if cmd == "pass show mcphub/alice" {
			return aliceSecret, nil
		}
		return "", errors.New("no such command in this test")
	}
	return l
}

// loadSec is load with secLoader; files may sit in subdirectories ("sub/b.yaml").
func loadSec(t *testing.T, env map[string]string, files ...[2]string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	for _, f := range files {
		paths = append(paths, writeFile(t, dir, f[0], f[1]))
	}
	return secLoader(env).Load(t.Context(), paths)
}

func mustLoadSec(t *testing.T, env map[string]string, files ...[2]string) *Config {
	t.Helper()
	cfg, err := loadSec(t, env, files...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

func TestLoadSecurity(t *testing.T) {
	wantAuth := Auth{
		Tokens: []Token{{Name: "ci", Token: ciSecret}, {Name: "alice", Token: aliceSecret}},
		Rules: []AuthRule{
			{Prefix: "/mcp/group/ops", Tokens: []string{"alice"}},
			{Prefix: "/mcp_hub/approvals", Tokens: []string{"ci", "alice"}},
		},
	}
	wantCORS := CORS{Origins: []string{"https://console.example.com", "*", "http://[::1]:8080"}}
	wantLimits := Limits{MaxBodyBytes: 1 << 20, Rate: RateLimit{PerSecond: 20, Burst: 40},
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	tests := []struct {
		name  string
		file  [2]string
		audit string // relative to the file's directory
	}{
		{"yaml", [2]string{"a.yaml", `
auth:
  tokens:
    - {name: ci, token: "${CI_TOKEN}"}
    - {name: alice, token: "${cmd: pass show mcphub/alice}"}
  rules:
    - {prefix: /mcp/group/ops, tokens: [alice]}
    - prefix: "${APPROVALS:-/mcp_hub/approvals}"
      tokens: [ci, alice]
cors:
  origins: ["https://console.example.com", "*", "${V6}"]
limits:
  max_body_bytes: 1048576
  rate: {per_second: 20, burst: 40}
  read_header_timeout: 5s
  idle_timeout: 120
audit:
  file: logs/audit.jsonl
`}, "logs/audit.jsonl"},
		{"json", [2]string{"a.json", `{
 "auth": {
  "tokens": [{"name": "ci", "token": "${env:CI_TOKEN}"}, {"token": "${cmd: pass show mcphub/alice}", "name": "alice"}],
  "rules": [{"prefix": "/mcp/group/ops", "tokens": ["alice"]}, {"prefix": "/mcp_hub/approvals", "tokens": ["ci", "alice"]}]},
 "cors": {"origins": ["https://console.example.com", "*", "http://[::1]:8080"]},
 "limits": {"max_body_bytes": 1048576, "rate": {"per_second": "20", "burst": 40},
  "read_header_timeout": 5, "idle_timeout": "2m"},
 "audit": {"file": "${AUDIT}"}}`}, "audit.jsonl"},
	}
	env := map[string]string{"CI_TOKEN": ciSecret, "V6": "http://[::1]:8080", "AUDIT": "audit.jsonl"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoadSec(t, env, tt.file)
			if !reflect.DeepEqual(cfg.Auth, wantAuth) {
				t.Errorf("auth:\n got %#v\nwant %#v", cfg.Auth, wantAuth) // %#v redacts: compare names and rules
			}
			if !cfg.Auth.Enabled() {
				t.Error("auth not enabled")
			}
			if !reflect.DeepEqual(cfg.CORS, wantCORS) || cfg.Limits != wantLimits {
				t.Errorf("cors %+v limits %+v", cfg.CORS, cfg.Limits)
			}
			if want := filepath.Join(filepath.Dir(cfg.Files[0]), tt.audit); cfg.Audit.File != want {
				t.Errorf("audit.file = %q, want %q", cfg.Audit.File, want)
			}
		})
	}
}

func TestLoadSecurityDefaults(t *testing.T) {
	want := Limits{MaxBodyBytes: DefaultMaxBodyBytes, ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: DefaultIdleTimeout}
	cfg := mustLoadSec(t, nil, [2]string{"a.yaml", "servers: [{name: a, command: x}]"})
	if cfg.Auth.Enabled() || cfg.Auth.Tokens != nil || cfg.Auth.Rules != nil || cfg.CORS.Origins != nil ||
		cfg.Limits != want || cfg.Audit.File != "" {
		t.Errorf("loaded: auth %+v cors %+v limits %+v audit %+v", cfg.Auth, cfg.CORS, cfg.Limits, cfg.Audit)
	}
	d := Default()
	if d.Auth.Enabled() || d.CORS.Origins != nil || d.Limits != want || d.Audit.File != "" {
		t.Errorf("Default(): auth %+v cors %+v limits %+v audit %+v", d.Auth, d.CORS, d.Limits, d.Audit)
	}
	// Empty sections and null values keep the defaults.
	cfg = mustLoadSec(t, nil, [2]string{"a.yaml", "auth: {tokens: null, rules: []}\ncors:\nlimits: {rate: null}\naudit: {file: ''}"})
	if cfg.Auth.Enabled() || cfg.Limits != want || cfg.Audit.File != "" {
		t.Errorf("empty sections: %+v %+v %+v", cfg.Auth, cfg.Limits, cfg.Audit)
	}

	tests := []struct {
		rate string
		want RateLimit
	}{
		{"{per_second: 20}", RateLimit{20, 40}},
		{"{per_second: 2.5}", RateLimit{2.5, 5}},
		{"{per_second: 0.2}", RateLimit{0.2, 1}},
		{"{per_second: 0}", RateLimit{}},
		{"{per_second: 0, burst: 3}", RateLimit{0, 3}},
		{"{per_second: 1, burst: 1}", RateLimit{1, 1}},
		{"{per_second: 1e12}", RateLimit{1e12, math.MaxInt32}},
	}
	for _, tt := range tests {
		cfg := mustLoadSec(t, nil, [2]string{"a.yaml", "limits: {rate: " + tt.rate + "}"})
		if cfg.Limits.Rate != tt.want {
			t.Errorf("rate %s: got %+v, want %+v", tt.rate, cfg.Limits.Rate, tt.want)
		}
	}
	for in, want := range map[string]string{"stderr": AuditStderr, " StdOut ": AuditStdout, "/var/log/a.jsonl": "/var/log/a.jsonl"} {
		cfg := mustLoadSec(t, nil, [2]string{"a.yaml", fmt.Sprintf("audit: {file: %q}", in)})
		if cfg.Audit.File != want {
			t.Errorf("audit.file %q: got %q, want %q", in, cfg.Audit.File, want)
		}
	}
}

func TestLoadSecurityMerge(t *testing.T) {
	env := map[string]string{"CI_TOKEN": ciSecret}
	first := [2]string{"1.yaml", `
auth:
  tokens:
    - {name: old, token: old-token-0123456789}
    - {name: ci, token: "${CI_TOKEN}"}
  rules: [{prefix: /mcp, tokens: [ci]}]
cors: {origins: ["https://a.example.com", "https://b.example.com"]}
limits: {max_body_bytes: 1000, rate: {per_second: 5, burst: 7}, idle_timeout: 1m}
audit: {file: first.jsonl}
`}
	cfg := mustLoadSec(t, env, first,
		// A later file replaces lists whole and wins per key.
		[2]string{"sub/2.json", `{"auth": {"tokens": [{"name": "ci", "token": "${CI_TOKEN}"}, {"name": "new", "token": "new-token-0123456789"}]},
 "cors": {"origins": ["*"]}, "limits": {"rate": {"per_second": 50}, "read_header_timeout": 3},
 "audit": {"file": "second.jsonl"}}`},
		// Null leaves the earlier value alone.
		[2]string{"3.yaml", "auth: {tokens: null, rules: null}\ncors: {origins: null}"},
	)
	want := Auth{
		Tokens: []Token{{Name: "ci", Token: ciSecret}, {Name: "new", Token: "new-token-0123456789"}},
		Rules:  []AuthRule{{Prefix: "/mcp", Tokens: []string{"ci"}}},
	}
	if !cfg.Auth.Equal(want) {
		t.Errorf("auth = %+v, want %+v", cfg.Auth, want)
	}
	if !cfg.CORS.Equal(CORS{Origins: []string{"*"}}) {
		t.Errorf("cors = %+v", cfg.CORS)
	}
	// per_second from the later file, burst from the earlier one.
	wantLimits := Limits{MaxBodyBytes: 1000, Rate: RateLimit{PerSecond: 50, Burst: 7}, ReadHeaderTimeout: 3 * time.Second, IdleTimeout: time.Minute}
	if cfg.Limits != wantLimits {
		t.Errorf("limits = %+v, want %+v", cfg.Limits, wantLimits)
	}
	// Relative to the file that names it.
	if want := filepath.Join(filepath.Dir(cfg.Files[1]), "second.jsonl"); cfg.Audit.File != want || !strings.Contains(want, "sub") {
		t.Errorf("audit.file = %q, want %q", cfg.Audit.File, want)
	}

	// An empty list clears; the tokens' file need not be the rules' file.
	cfg = mustLoadSec(t, env, first, [2]string{"2.yaml", "auth: {rules: []}\ncors: {origins: []}"})
	if len(cfg.Auth.Rules) != 0 || len(cfg.Auth.Tokens) != 2 || len(cfg.CORS.Origins) != 0 {
		t.Errorf("cleared: %+v %+v", cfg.Auth, cfg.CORS)
	}
	_, err := loadSec(t, env, first, [2]string{"2.yaml", "auth: {tokens: []}"})
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Path != "auth.rules" || !strings.HasSuffix(ps[0].File, "1.yaml") ||
		ps[0].Line != 6 || ps[0].Message != "auth.rules needs auth.tokens: with no tokens auth is off and no rule applies" {
		t.Errorf("rules left without tokens: %v", err)
	}
}

func TestLoadEnvAPIToken(t *testing.T) {
	file := [2]string{"a.yaml", `
auth:
  tokens: [{name: ci, token: "${CI_TOKEN}"}]
  rules: [{prefix: /mcp_hub, tokens: [env]}]
`}
	tests := []struct {
		name string
		env  map[string]string
		// files replace file when set.
		files [][2]string
		want  []Token
		// problems: path → message fragment; File "" means no file or line.
		problems map[string]string
		file     string
	}{
		{name: "unset", env: map[string]string{"CI_TOKEN": ciSecret},
			problems: map[string]string{"auth.rules[0].tokens[0]": `unknown token "env" (the token "env" comes from MCPHUB_API_TOKEN, which is not set)`},
			file:     "a.yaml"},
		{name: "empty is unset", env: map[string]string{"CI_TOKEN": ciSecret, EnvAPIToken: ""},
			problems: map[string]string{"auth.rules[0].tokens[0]": `unknown token "env"`}, file: "a.yaml"},
		{name: "set", env: map[string]string{"CI_TOKEN": ciSecret, EnvAPIToken: envSecret},
			want: []Token{{Name: "ci", Token: ciSecret}, {Name: "env", Token: envSecret}}},
		{name: "set, no file tokens", env: map[string]string{EnvAPIToken: envSecret}, files: [][2]string{{"a.yaml", "listen: 127.0.0.1:1"}},
			want: []Token{{Name: "env", Token: envSecret}}},
		{name: "set, files' tokens cleared", env: map[string]string{EnvAPIToken: envSecret, "CI_TOKEN": ciSecret},
			files: [][2]string{file, {"b.yaml", "auth: {tokens: []}"}},
			want:  []Token{{Name: "env", Token: envSecret}}},
		{name: "clash", env: map[string]string{EnvAPIToken: envSecret},
			files:    [][2]string{{"a.yaml", "\nauth:\n  tokens:\n    - {name: ok, token: ok-token-0123456789}\n    - {name: env, token: file-token-0123456789}"}},
			problems: map[string]string{"auth.tokens[1].name": `token name "env" is taken: MCPHUB_API_TOKEN is set and adds a token of that name (rename this one)`},
			file:     "a.yaml"},
		{name: "too short", env: map[string]string{"CI_TOKEN": ciSecret, EnvAPIToken: "short"},
			problems: map[string]string{EnvAPIToken: "too short: at least 16 bytes"}},
		{name: "same as a file token", env: map[string]string{"CI_TOKEN": ciSecret, EnvAPIToken: ciSecret},
			problems: map[string]string{EnvAPIToken: `tokens "ci" and "env" have the same value`}},
		{name: "line break", env: map[string]string{"CI_TOKEN": ciSecret, EnvAPIToken: envSecret + "\n"},
			problems: map[string]string{EnvAPIToken: "must not contain control characters"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := tt.files
			if files == nil {
				files = [][2]string{file}
			}
			cfg, err := loadSec(t, tt.env, files...)
			if tt.problems == nil {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(cfg.Auth.Tokens, tt.want) || !cfg.Auth.Enabled() {
					t.Errorf("tokens = %+v, want %+v", cfg.Auth.Tokens, tt.want)
				}
				if _, ok := cfg.positions["auth.tokens["+fmt.Sprint(len(tt.want)-1)+"]"]; !ok {
					t.Error("the env token has no position")
				}
				return
			}
			ps := problemsOf(t, err)
			if len(ps) != len(tt.problems) {
				t.Fatalf("got %v, want %d problems", err, len(tt.problems))
			}
			for _, p := range ps {
				if msg, ok := tt.problems[p.Path]; !ok || !strings.Contains(p.Message, msg) {
					t.Errorf("%s: %q, want %q", p.Path, p.Message, msg)
				}
				if tt.file == "" && (p.File != "" || p.Line != 0) || tt.file != "" && !strings.HasSuffix(p.File, tt.file) {
					t.Errorf("%s at %s:%d, want file %q", p.Path, p.File, p.Line, tt.file)
				}
				if strings.Contains(err.Error(), envSecret) || strings.Contains(err.Error(), ciSecret) {
					t.Errorf("a secret in %v", err)
				}
			}
		})
	}
}

// TestLoadSecurityMistakes loads a config with every kind of auth, cors,
// limits and audit mistake and checks each is reported at the path and
// line the user wrote, secrets shown nowhere.
func TestLoadSecurityMistakes(t *testing.T) {
	env := map[string]string{"CI_TOKEN": ciSecret, "SHORT": "short-secret", "CTL": "ctl-secret-0123456789\nsecond line"}
	_, err := loadSec(t, env,
		[2]string{"a.yaml", `
auth:
  tokens:
    - {name: ci, token: "${CI_TOKEN}"}
    - {name: alice, token: "${cmd: pass show mcphub/alice}"}
    - {name: "bad name", token: "${SHORT}"}
    - {name: ci, token: "${CI_TOKEN}"}
    - just-a-string
    - {nme: x, value: y}
    - name: ctl
      token: "${CTL}"
    - {name: broken, token: "lit${eral-secret-0123"}
    - {name: unset, token: "${NOPE}"}
  rules:
    - {prefix: /mcp/group/ops, tokens: [ci, alise, ""]}
    - {prefix: "mcp/x", tokens: [ci]}
    - {prefix: "/mcp/group/*"}
    - {prefix: /mcp/group/ops, tokens: [ci, ci, env]}
    - {prefix: "/a?b", tokens: [ci-secret-value-0123456789]}
    - {path: /x, tokens: [alice]}
  tokenz: []
cors:
  origins:
    - https://Console.example.com
    - https://a.example.com/
    - http://x:80
    - "*"
    - ftp://x
    - https://*.x.com
    - https://ok.example.com:8443
    - ""
  origin: [x]
limits:
  max_body_bytes: 2147483648
  rate: {per_second: -1, burst: -2, brust: 3}
  read_header_timeout: 0
  idle_timeout: 5s
audit:
  file: audit.jsonl
  fil: x
origins: [x]
rate_limit: {}
autho: {}
`},
		[2]string{"b.json", `{"auth": {"rules": {"prefix": "/x"}},
 "limits": {"rate": 5, "idle_timeout": "${NOPE}", "max_body_bytes": "4MB"}, "audit": {"file": ["x"]},
 "cors": null}`},
	)
	ps := problemsOf(t, err)
	type at struct {
		line int
		msg  string
	}
	want := map[string]at{
		"auth.tokens[2].name":        {6, `token name "bad name" may only contain letters, digits, '_', '.' and '-'`},
		"auth.tokens[2].token":       {6, "too short: at least 16 bytes"},
		"auth.tokens[3].name":        {7, `duplicate token name "ci" (also at auth.tokens[0])`},
		"auth.tokens[3].token":       {7, `tokens "ci" and "ci" have the same value`},
		"auth.tokens[4]":             {8, "must be a mapping with name and token, not a string"},
		"auth.tokens[5].nme":         {9, `unknown key (did you mean "name"?)`},
		"auth.tokens[5].value":       {9, `unknown key (did you mean "token"?)`},
		"auth.tokens[5].name":        {9, "token name must not be empty"},
		"auth.tokens[5].token":       {9, "must not be empty"},
		"auth.tokens[6].token":       {11, "must not contain control characters or line breaks"},
		"auth.tokens[7].token":       {12, "invalid placeholder in the token (not shown"},
		"auth.tokens[8].token":       {13, "${NOPE}: environment variable NOPE is not set"},
		"auth.rules[0].tokens[1]":    {15, `unknown token "alise" (did you mean "alice"?)`},
		"auth.rules[0].tokens[2]":    {15, "token name must not be empty"},
		"auth.rules[1].prefix":       {16, `"mcp/x" must start with "/" (did you mean "/mcp/x"?)`},
		"auth.rules[2].prefix":       {17, `'*' is not a wildcard: a prefix covers itself and every path below it (did you mean "/mcp/group"?)`},
		"auth.rules[2].tokens":       {17, "required"},
		"auth.rules[3].prefix":       {18, `duplicate prefix "/mcp/group/ops" (also at auth.rules[0])`},
		"auth.rules[3].tokens[1]":    {18, `token "ci" is listed twice (also at auth.rules[3].tokens[0])`},
		"auth.rules[3].tokens[2]":    {18, `unknown token "env" (the token "env" comes from MCPHUB_API_TOKEN, which is not set)`},
		"auth.rules[4].prefix":       {19, "must be a URL path"},
		"auth.rules[4].tokens[0]":    {19, "a token value is written where a token name belongs (not shown)"},
		"auth.rules[5].path":         {20, `unknown key (did you mean "prefix"?)`},
		"auth.rules[5].prefix":       {20, "must not be empty"},
		"auth.tokenz":                {21, `unknown key (did you mean "tokens"?)`},
		"cors.origins[0]":            {24, `browsers send origins in lower case (did you mean "https://console.example.com"?)`},
		"cors.origins[1]":            {25, `is not an origin: it has a path, query, fragment or user name (did you mean "https://a.example.com"?)`},
		"cors.origins[2]":            {26, `browsers leave the default port out (did you mean "http://x"?)`},
		"cors.origins[4]":            {28, `"ftp://x": want "*" or an origin`},
		"cors.origins[5]":            {29, "wildcards are not supported"},
		"cors.origins[7]":            {31, "must not be empty"},
		"cors.origin":                {32, `unknown key (did you mean "origins"?)`},
		"limits.rate.per_second":     {35, "must be a number of requests per second, 0 (no limit) or more"},
		"limits.rate.burst":          {35, "must not be negative"},
		"limits.rate.brust":          {35, "unknown key"},
		"limits.read_header_timeout": {36, "must be positive"},
		"audit.fil":                  {40, `unknown key (did you mean "file"?)`},
		"origins":                    {41, `unknown key (did you mean "cors.origins"?)`},
		"rate_limit":                 {42, `unknown key (did you mean "limits.rate"?)`},
		"autho":                      {43, `unknown key (did you mean "auth"?)`},
		// From b.json, which wins for the keys it sets.
		"auth.rules":            {1, "must be a list of mappings with prefix and tokens, not a mapping"},
		"limits.rate":           {2, "must be a mapping, not a number"},
		"limits.idle_timeout":   {2, "${NOPE}: environment variable NOPE is not set"},
		"limits.max_body_bytes": {2, `"4MB": want a whole number`},
		"audit.file":            {2, "must be a string, not a list"},
	}
	got := map[string]Problem{}
	for _, p := range ps {
		if _, dup := got[p.Path]; dup {
			t.Errorf("two problems at %s", p.Path)
		}
		got[p.Path] = p
	}
	for path, w := range want {
		p, ok := got[path]
		if !ok || !strings.Contains(p.Message, w.msg) {
			t.Errorf("%s: got %q, want %q", path, p.Message, w.msg)
			continue
		}
		file := "a.yaml"
		if w.line <= 2 {
			file = "b.json"
		}
		if p.Line != w.line || !strings.HasSuffix(p.File, file) {
			t.Errorf("%s at %s:%d, want %s:%d", path, p.File, p.Line, file, w.line)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	for _, secret := range []string{ciSecret, aliceSecret, "short-secret", "ctl-secret", "eral-secret"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%q shown in:\n%v", secret, err)
		}
	}
	// The max_body_bytes cap, from a file of its own.
	_, err = loadSec(t, nil, [2]string{"a.yaml", "\nlimits:\n  max_body_bytes: 2147483648"})
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Path != "limits.max_body_bytes" || ps[0].Line != 3 ||
		ps[0].Message != "2147483648 is more than 1 GiB (1073741824)" {
		t.Errorf("cap: %v", err)
	}
}

// TestSecretsNeverInMessages loads configs with bad token setups and checks
// that no problem shows a token's value, whichever way it was written.
func TestSecretsNeverInMessages(t *testing.T) {
	const secret = "Zq9-never-show-me-4711"
	env := map[string]string{"SECRET": secret, "SHORT": "Zq9-short", "TWICE": secret, EnvAPIToken: secret}
	tests := []struct {
		name, yaml string
	}{
		{"duplicate value from env", "auth: {tokens: [{name: a, token: '${SECRET}'}, {name: b, token: '${TWICE}'}]}"},
		{"env token duplicates a file token", "auth: {tokens: [{name: a, token: '${SECRET}'}]}"},
		{"short", "auth: {tokens: [{name: a, token: '${SHORT}'}]}"},
		{"literal with a broken placeholder", "auth: {tokens: [{name: a, token: 'Zq9-${never-show-me-4711'}]}"},
		{"literal with an unset variable", "auth: {tokens: [{name: a, token: 'Zq9-${never}show-me-4711'}]}"},
		{"value as a rule token", "auth: {tokens: [{name: a, token: '${SECRET}'}], rules: [{prefix: /x, tokens: ['Zq9-never-show-me-4711']}]}"},
		{"value as a name", "auth: {tokens: [{name: 'Zq9-never-show-me-4711', token: '${SECRET}'}, {name: 'Zq9-never-show-me-4711', token: x}]}"},
		{"value as a name with a bad character", "auth: {tokens: [{name: 'Zq9-never-show-me-4711!', token: 'Zq9-never-show-me-4711!'}]}"},
		{"value and control characters", "auth: {tokens: [{name: a, token: \"Zq9-never-show-me-4711\\n\"}]}"},
		{"value as a mapping", "auth: {tokens: [{name: a, token: {Zq9-never-show-me-4711: 1}}]}"},
		{"command output", "auth: {tokens: [{name: a, token: '${cmd: pass show mcphub/alice}'}, {name: b, token: '${cmd: pass show mcphub/alice}'}]}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadSec(t, env, [2]string{"a.yaml", tt.yaml})
			ps := problemsOf(t, err)
			for _, s := range []string{secret, "never-show-me", "Zq9-short", aliceSecret} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("%q shown in:\n%v", s, err)
				}
				for _, p := range ps {
					if strings.Contains(fmt.Sprintf("%#v", p), s) {
						t.Errorf("%q in %#v", s, p)
					}
				}
			}
		})
	}
}

func TestValidateSecurityBuilt(t *testing.T) {
	c := Default()
	c.Auth = Auth{
		Tokens: []Token{{Name: "a", Token: "0123456789abcdef"}, {Name: "a.b-c_d", Token: " 0123456789abcdef"}},
		Rules:  []AuthRule{{Prefix: "/", Tokens: nil}, {Prefix: "/x", Tokens: []string{"A"}}},
	}
	c.CORS.Origins = []string{"https://a.example.com:443"}
	c.Limits = Limits{MaxBodyBytes: -1, Rate: RateLimit{PerSecond: math.NaN()}, IdleTimeout: -time.Second}
	c.Audit.File = "a\x00"
	var ve *ValidationError
	if err := c.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v", err)
	}
	var got []string
	for _, p := range ve.Problems {
		if p.File != "" || p.Line != 0 {
			t.Errorf("a built config has no files: %s", p)
		}
		got = append(got, p.Path+": "+p.Message)
	}
	want := []string{
		"auth.tokens[1].token: must not contain control characters or line breaks, or start or end with a space (a ${cmd: ...} must print only the token)",
		`auth.rules[1].tokens[0]: unknown token "A" (did you mean "a"?)`,
		`cors.origins[0]: "https://a.example.com:443": browsers leave the default port out (did you mean "https://a.example.com"?)`,
		"limits.max_body_bytes: must be positive",
		"limits.rate.per_second: must be a number of requests per second, 0 (no limit) or more",
		"limits.read_header_timeout: must be positive",
		"limits.idle_timeout: must be positive",
		"audit.file: must not contain NUL bytes",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
	// Rules need tokens; burst needs to be at least 1 with a rate.
	c = Default()
	c.Auth.Rules = []AuthRule{{Prefix: "/mcp", Tokens: []string{"nobody"}}}
	c.Limits.Rate = RateLimit{PerSecond: 1}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "auth.rules: auth.rules needs auth.tokens") ||
		!strings.Contains(err.Error(), "limits.rate.burst: must be at least 1 when limits.rate.per_second is set") ||
		strings.Contains(err.Error(), "nobody") {
		t.Errorf("Validate() = %v", err)
	}
	// A valid built config passes.
	c = Default()
	c.Auth = Auth{Tokens: []Token{{Name: "a", Token: "0123456789abcdef"}}, Rules: []AuthRule{{Prefix: "/mcp/", Tokens: []string{}}}}
	c.CORS.Origins = []string{"*", "http://localhost:3000"}
	c.Limits.Rate = RateLimit{PerSecond: 0.5, Burst: 1}
	c.Audit.File = "relative/a.jsonl"
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestCheckOrigin(t *testing.T) {
	tests := map[string]string{
		"*":                             "",
		"https://console.example.com":   "",
		"http://localhost:3000":         "",
		"https://a.example.com:8443":    "",
		"http://[::1]:8080":             "",
		"https://xn--bcher-kva.example": "",
		"":                              "must not be empty",
		"console.example.com":           `want "*" or an origin`,
		"https://":                      `want "*" or an origin`,
		"https://a.example.com/app":     `did you mean "https://a.example.com"?`,
		"https://a.example.com?x":       `did you mean "https://a.example.com"?`,
		"https://u@a.example.com":       `did you mean "https://a.example.com"?`,
		"HTTPS://A.example.com":         `lower case (did you mean "https://a.example.com"?)`,
		"https://a.example.com:443":     `did you mean "https://a.example.com"?`,
		"https://[::1]:443":             `did you mean "https://[::1]"?`,
		"http://a.example.com:443":      "",
		"https://a.example.com:0":       "port must be a number from 1 to 65535",
		"https://a.example.com:99999":   "port must be a number from 1 to 65535",
		"https://bücher.example":        "ASCII (xn--) form",
		"null":                          `want "*" or an origin`,
	}
	for in, want := range tests {
		got := checkOrigin(in)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("checkOrigin(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckPrefix(t *testing.T) {
	tests := map[string]string{
		"/":               "",
		"/mcp/group/ops":  "",
		"/mcp/group/ops/": "",
		"":                "must not be empty",
		"mcp":             `did you mean "/mcp"?`,
		"/*":              `did you mean "/"?`,
		"/mcp/*/x":        `did you mean "/mcp"?`,
		"/a b":            "must be a URL path",
		"/a#b":            "must be a URL path",
		"/a\nb":           "must be a URL path",
	}
	for in, want := range tests {
		got := checkPrefix(in)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("checkPrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestLoadHubSettingLines checks that Validate's problems about hub
// settings name the file and line that set them, after merging.
func TestLoadHubSettingLines(t *testing.T) {
	_, err := loadSec(t, nil,
		[2]string{"a.yaml", "\napproval:\n  require: [ok, '[']\n  ttl: 0\n"},
		[2]string{"b.json", "{\n \"listen\": \"nope\",\n \"limits\": {\"idle_timeout\": 0}}"},
	)
	want := map[string]string{"approval.require[1]": "a.yaml:3", "approval.ttl": "a.yaml:4", "listen": "b.json:2", "limits.idle_timeout": "b.json:3"}
	ps := problemsOf(t, err)
	for _, p := range ps {
		if w := want[p.Path]; w == "" || !strings.HasSuffix(p.File+":"+fmt.Sprint(p.Line), "/"+w) {
			t.Errorf("%s at %s:%d, want %s", p.Path, p.File, p.Line, w)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("got %v", err)
	}
}

func TestMaxConcurrentStarts(t *testing.T) {
	if got := Default().MaxConcurrentStarts; got != DefaultMaxConcurrentStarts {
		t.Errorf("default = %d", got)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("max_concurrent_starts: 3\nservers: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{path})
	if err != nil || cfg.MaxConcurrentStarts != 3 {
		t.Fatalf("Load = %+v, %v", cfg, err)
	}
	if err := os.WriteFile(path, []byte("max_concurrent_starts: 0\nservers: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load([]string{path}); err == nil || !strings.Contains(err.Error(), "max_concurrent_starts: must be positive") {
		t.Errorf("0 accepted or badly reported: %v", err)
	}
}
