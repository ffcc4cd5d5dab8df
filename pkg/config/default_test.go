package config

import (
	"context"
	"strings"
	"testing"
)

// TestLoaderDefault: the configuration without a file is Default plus the
// token from MCPHUB_API_TOKEN, validated as Load validates it, a problem
// with the token named after the variable.
func TestLoaderDefault(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    []Token
		problem string // EnvAPIToken's problem; "" means valid
	}{
		{name: "unset", env: map[string]string{}},
		{name: "empty is unset", env: map[string]string{EnvAPIToken: ""}},
		{name: "set", env: map[string]string{EnvAPIToken: envSecret}, want: []Token{{Name: EnvTokenName, Token: envSecret}}},
		{name: "too short", env: map[string]string{EnvAPIToken: "short"}, problem: "too short: at least 16 bytes"},
		{name: "line break", env: map[string]string{EnvAPIToken: envSecret + "\n"}, problem: "must not contain control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := Loader{LookupEnv: func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }}
			cfg, err := l.Default()
			if tc.problem != "" {
				ps := problemsOf(t, err)
				if len(ps) != 1 || ps[0].Path != EnvAPIToken || ps[0].File != "" || !strings.Contains(ps[0].Message, tc.problem) {
					t.Fatalf("problems %v, want one at %s: %s", ps, EnvAPIToken, tc.problem)
				}
				if strings.Contains(err.Error(), envSecret) {
					t.Errorf("the error shows the token: %v", err)
				}
				if !strings.Contains(err.Error(), EnvAPIToken+": ") {
					t.Errorf("the error does not name %s: %v", EnvAPIToken, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			def := Default()
			if len(cfg.Servers) != 1 || !cfg.Servers[0].Equal(def.Servers[0]) || cfg.Listen != def.Listen || len(cfg.Files) != 0 {
				t.Errorf("not the default config: %+v", cfg)
			}
			if !(Auth{Tokens: tc.want}).Equal(cfg.Auth) {
				t.Errorf("auth %+v, want tokens %+v", cfg.Auth, tc.want)
			}
		})
	}
}

// TestSearchPathsAreSearched: Find tries SearchPaths in order, so messages
// built from it say where the hub looked.
func TestSearchPathsAreSearched(t *testing.T) {
	t.Parallel()
	paths := SearchPaths()
	if len(paths) == 0 || paths[0] != "mcp_servers.yaml" {
		t.Fatalf("SearchPaths() = %q", paths)
	}
	for i := range paths {
		dir := t.TempDir()
		// Every later candidate exists too: the i-th must win.
		for _, p := range paths[i:] {
			writeFile(t, dir, p, "servers: []\n")
		}
		files, found, err := Find(nil, func(string) (string, bool) { return "", false }, dir)
		if err != nil || !found || len(files) != 1 || !strings.HasSuffix(files[0], paths[i]) {
			t.Errorf("with %q and later: %q %v %v", paths[i], files, found, err)
		}
	}
}

// TestServerHiderBuiltOnce: Load builds a server's hider when it decodes
// the entry; Hide and copies of the Server use that one, and a Server
// whose secrets changed gets a hider of its own secrets.
func TestServerHiderBuiltOnce(t *testing.T) {
	t.Parallel()
	l := Loader{
		LookupEnv: func(k string) (string, bool) {
			return map[string]string{"API_KEY": "sk-live-123456"}[k], k == "API_KEY"
		},
	}
	file := writeFile(t, t.TempDir(), "c.yaml", `
servers:
  - name: a
    command: ./bin/server
    args: ["--api-key=${env:API_KEY}"]
  - name: plain
    command: ./bin/other
`)
	cfg, err := l.Load(context.Background(), []string{file})
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Servers[0]
	if a.hidden == nil {
		t.Fatal("Load built no hider")
	}
	if cfg.Servers[1].hidden != nil {
		t.Error("a server without secrets got a hider")
	}
	cp := a // a copy shares the hider
	if cp.secretHider() != a.hidden || cfg.Servers[0].secretHider() != a.hidden {
		t.Error("Hide would build a new hider")
	}
	if got := cp.Hide("--api-key=sk-live-123456"); got != "--api-key=<redacted>" {
		t.Errorf("Hide = %q", got)
	}
	other := Server{secrets: []string{"other-secret"}} // made without Load
	if got := other.Hide("sk-live-123456 other-secret"); got != "sk-live-123456 <redacted>" {
		t.Errorf("a Server with other secrets: Hide = %q", got)
	}
	if r := cfg.Redacted(); r.Servers[0].hidden != nil || r.Servers[0].secrets != nil {
		t.Error("Redacted keeps the secrets' hider")
	}
}

// TestSecretReplacer: each value once (its first pair wins), short values
// left out, the longest first; nil when nothing is left.
func TestSecretReplacer(t *testing.T) {
	t.Parallel()
	if r := secretReplacer(nil); r != nil {
		t.Error("no pairs: a replacer")
	}
	if r := secretReplacer([]string{"abc", "x", "", "y"}); r != nil {
		t.Error("only short values: a replacer")
	}
	r := secretReplacer([]string{"abcd", "<1>", "abcd-efgh", "<2>", "abcd", "<3>", "ab", "<4>"})
	if got := r.Replace("abcd-efgh abcd ab"); got != "<2> <1> ab" {
		t.Errorf("Replace = %q", got)
	}
}
