package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzLoad feeds arbitrary bytes to Load as YAML and as JSON: it must never
// panic, and must return either a config or an error.
func FuzzLoad(f *testing.F) {
	for _, seed := range []string{
		"",
		"servers: [{name: a, endpoint: 'http://h/mcp'}]",
		`{"mcpServers": {"a": {"command": "x", "env": {"K": "${V:-d}"}}}}`,
		`{"servers": {"a": {"type": "http", "url": "http://h/mcp"}}}`,
		"a: &x [*x]",
		"x-b: &b {command: c}\nservers: [{<<: *b, name: n}]",
		"listen: ${L:-:0}\nrefresh_interval: 1e400\nbackoff: {initial: -1}",
		"servers: [{name: a, timeout: .nan}]",
		"[1, 2]",
		"approval: {default: always, require: ['*.delete_*', 'x['], ttl: 0, max_pending: 1e3}\nservers: [{name: a, command: x, approval: never, require_approval: [rm_*]}]",
		`{"approval": {"require": [{"a": 1}], "max_pending": "${V}"}, "mcpServers": {"a": {"url": "http://h/mcp", "require_approval": "x"}}}`,
		"expose: search\nservers: [{name: a, command: x, tools: {allow: ['l*'], deny: [x]}}]\ngroups: {g: [a], h: {servers: [a], tools: {allow: ['a.*']}, expose: All}}",
		"expose: some\nservers: [{name: a, command: x, tools: {allow: ['['], alow: 1}}, {name: b, command: y, tools: [x]}]\ngroups: {g: [a, b, a, c], '': null, h: {servers: x, tools: {deny: [{}]}, expose: [1], allow: 2}, i: 3}",
		`{"expose": "${V}", "mcpServers": {"a.b": {"url": "http://h/mcp", "tools": {"deny": ["*"], "allow": null}}}, "groups": {"g": {"servers": ["a.b"], "expose": "search", "tools": {"allow": ["a.b.*"]}}, "h": []}}`,
		"servers: [{name: a, command: x}]\ngroups: [a]",
		"auth: {tokens: [{name: ci, token: '${V}'}, {name: env, token: x}, y, {nme: z}], rules: [{prefix: /x, tokens: [ci, v]}, {prefix: '*'}, {path: /}]}\n" +
			"cors: {origins: ['*', 'HTTPS://a:443/', '']}\nlimits: {max_body_bytes: 1e20, rate: {per_second: .inf, burst: -1}, read_header_timeout: 0}\naudit: {file: stderr}",
		`{"auth": {"tokens": {"a": "b"}, "rules": [[]]}, "limits": {"rate": 3, "idle_timeout": "${V}"}, "audit": {"file": null}, "cors": {"origins": "x"}}`,
		"auth: {tokens: [{name: a, token: 0123456789abcdefgh}, {name: b, token: 'x${V}0123456789abcdef'}], rules: [{prefix: /mcp, tokens: [a, b]}, {prefix: /mcp/x, tokens: []}]}\n" +
			"cors: {origins: ['https://a.example.com:8443']}\nlimits: {max_body_bytes: '1024', rate: {per_second: 1e300}, idle_timeout: 1}\naudit: {file: logs/a.jsonl}",
		`{"auth": {"tokens": [{"name": "a", "token": "${cmd: x}"}, {"name": "a", "token": "$${V}"}]}, "limits": {"rate": {"per_second": "0.5"}}, "tokens": [], "rate_limit": 1}`,
	} {
		f.Add([]byte(seed))
	}
	l := &Loader{
		LookupEnv: func(k string) (string, bool) { return "v", k == "V" },
		RunCommand: func(context.Context, string, string) (string, error) {
			return "", errors.New("commands are disabled while fuzzing")
		},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		for _, name := range []string{"c.yaml", "c.json"} {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := l.Load(context.Background(), []string{path})
			if (cfg == nil) == (err == nil) {
				t.Fatalf("Load returned %v and %v", cfg, err)
			}
			if err == nil {
				if verr := cfg.Validate(); verr != nil {
					t.Fatalf("Load accepted a config Validate rejects: %v", verr)
				}
				if !slices.IsSortedFunc(cfg.Groups, func(a, b Group) int { return strings.Compare(a.Name, b.Name) }) {
					t.Fatalf("groups not sorted by name: %+v", cfg.Groups)
				}
				for _, tok := range cfg.Auth.Tokens {
					if got, want := fmt.Sprintf("%+v", tok), "{Name:"+tok.Name+" Token:"+RedactedValue+"}"; got != want {
						t.Fatalf("%%+v of a token = %q, want %q", got, want)
					}
				}
				if r := cfg.Redacted(); len(r.Auth.Tokens) != len(cfg.Auth.Tokens) || len(r.Servers) != len(cfg.Servers) {
					t.Fatalf("Redacted lost entries: %+v", r)
				}
			}
		}
	})
}

// FuzzPlaceholders checks that expansion never panics or hangs, and that an
// input without "$" comes back unchanged.
func FuzzPlaceholders(f *testing.F) {
	for _, seed := range []string{
		"", "plain", "${A}", "${A:-${B:-c}}", "$$", "$${A}", "${cmd: echo {x}}", "${", "${env:A:-}", "}{$",
		strings.Repeat("${A:-", 30) + strings.Repeat("}", 30),
	} {
		f.Add(seed)
	}
	e := &expander{
		ctx:       context.Background(),
		lookupEnv: func(k string) (string, bool) { return "${A}", k == "A" },
		run:       func(_ context.Context, _, cmd string) (string, error) { return cmd, nil },
	}
	f.Fuzz(func(t *testing.T, s string) {
		done := make(chan struct{})
		var (
			out string
			err error
		)
		go func() {
			defer close(done)
			out, err = e.expand(s)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("expand(%q) hangs", s)
		}
		if !strings.Contains(s, "$") && (err != nil || out != s) {
			t.Errorf("expand(%q) = %q, %v", s, out, err)
		}
	})
}
