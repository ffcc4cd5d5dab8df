package config

import (
	"context"
	"strings"
	"testing"
)

func TestHider(t *testing.T) {
	t.Parallel()
	hide := hider([]string{"abc", "secret", "secret-longer", "1"})
	for in, want := range map[string]string{
		"":                       "",
		"abc":                    "<redacted>",
		"xabcx":                  "xabcx", // short: only whole values
		"--k=secret-longer":      "--k=<redacted>",
		"secret/secret":          "<redacted>/<redacted>",
		"127.0.0.1":              "127.0.0.1",
		"1":                      "<redacted>",
		"a secret-longer secret": "a <redacted> <redacted>",
	} {
		if got := hide(in); got != want {
			t.Errorf("hide(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPlaceholderValuesAreSecrets checks a value a placeholder produced in
// a server entry is hidden wherever it sits: Redacted hides it in the
// command, args, cwd and endpoint, and Scrub in any text.
func TestPlaceholderValuesAreSecrets(t *testing.T) {
	env := map[string]string{"KEY": "sk-live-123456", "DIR": "/srv/private-dir", "SHORT": "7"}
	l := Loader{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		RunCommand: func(_ context.Context, _, cmd string) (string, error) {
			return "from-a-command-42", nil
		},
	}
	file := writeFile(t, t.TempDir(), "c.yaml", `
servers:
  - name: a
    command: ./bin/server
    args: ["--api-key=${env:KEY}", "--n", "${SHORT}", "--other=${cmd: vault read x}", "plain"]
    cwd: ${DIR}
  - name: b
    transport: streamable-http
    endpoint: https://example.com/${env:KEY}/mcp
`)
	cfg, err := l.Load(context.Background(), []string{file})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Servers[0].Args, " "); got != "--api-key=sk-live-123456 --n 7 --other=from-a-command-42 plain" {
		t.Fatalf("the hub runs with the values themselves; args %q", got)
	}
	r := cfg.Redacted()
	a, b := r.Servers[0], r.Servers[1]
	if got := strings.Join(a.Args, " "); got != "--api-key=<redacted> --n <redacted> --other=<redacted> plain" {
		t.Errorf("redacted args %q", got)
	}
	if a.Cwd != "<redacted>" || a.Command != "./bin/server" || b.Endpoint != "https://example.com/<redacted>/mcp" {
		t.Errorf("redacted cwd %q command %q endpoint %q", a.Cwd, a.Command, b.Endpoint)
	}
	if cfg.Servers[0].Args[0] != "--api-key=sk-live-123456" {
		t.Error("Redacted changed the config it copied")
	}
	text := `exec ./bin/server --api-key=sk-live-123456 in /srv/private-dir: from-a-command-42 (pid 7)`
	if got := cfg.Scrub(text); got != `exec ./bin/server --api-key=<redacted> in <redacted>: <redacted> (pid 7)` {
		t.Errorf("Scrub = %q", got)
	}
}
