package config

import (
	"context"
	"strings"
	"testing"
)

func TestHider(t *testing.T) {
	t.Parallel()
	hide := newSecretHider([]string{"abc", "secret", "secret-longer", "1"}).hide
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

// TestPlaceholderSecretsAreHidden checks a secret a placeholder produced
// in a server entry (a command's output, a variable named like a secret) is
// hidden wherever it sits: Redacted hides it in the command, args, cwd and
// endpoint, and Scrub in any text. Other placeholder values (hosts, ports,
// levels, paths) are shown as they are.
func TestPlaceholderSecretsAreHidden(t *testing.T) {
	env := map[string]string{"API_KEY": "sk-live-123456", "DIR": "/srv/work", "SESSION_PIN": "7", "LOG_LEVEL": "info", "HOST": "localhost"}
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
    args: ["--api-key=${env:API_KEY}", "--pin", "${SESSION_PIN}", "--other=${cmd: vault read x}", "--log-level=${LOG_LEVEL}", "plain"]
    cwd: ${DIR}
  - name: b
    transport: streamable-http
    endpoint: http://${HOST}:9100/${env:API_KEY}/mcp
`)
	cfg, err := l.Load(context.Background(), []string{file})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.Servers[0].Args, " "); got != "--api-key=sk-live-123456 --pin 7 --other=from-a-command-42 --log-level=info plain" {
		t.Fatalf("the hub runs with the values themselves; args %q", got)
	}
	r := cfg.Redacted()
	a, b := r.Servers[0], r.Servers[1]
	if got := strings.Join(a.Args, " "); got != "--api-key=<redacted> --pin <redacted> --other=<redacted> --log-level=info plain" {
		t.Errorf("redacted args %q", got)
	}
	if a.Cwd != "/srv/work" || a.Command != "./bin/server" || b.Endpoint != "http://localhost:9100/<redacted>/mcp" {
		t.Errorf("redacted cwd %q command %q endpoint %q", a.Cwd, a.Command, b.Endpoint)
	}
	if cfg.Servers[0].Args[0] != "--api-key=sk-live-123456" {
		t.Error("Redacted changed the config it copied")
	}
	text := `exec ./bin/server --api-key=sk-live-123456 in /srv/work: from-a-command-42 (pid 7), more information at http://localhost:9100/docs`
	if got := cfg.Scrub(text); got != `exec ./bin/server --api-key=<redacted> in /srv/work: <redacted> (pid 7), more information at http://localhost:9100/docs` {
		t.Errorf("Scrub = %q", got)
	}
}

func TestSecretVar(t *testing.T) {
	for name, want := range map[string]bool{
		"API_KEY": true, "GITHUB_TOKEN": true, "db_password": true, "AWS_SECRET_ACCESS_KEY": true, "CREDENTIALS": true,
		"HOST": false, "PORT": false, "LOG_LEVEL": false, "HOME": false, "DIR": false,
	} {
		if got := secretVar(name); got != want {
			t.Errorf("secretVar(%q) = %v, want %v", name, got, want)
		}
	}
}
