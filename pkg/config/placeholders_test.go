package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func testExpander(env map[string]string) *expander {
	return &expander{
		ctx:       context.Background(),
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		run: func(_ context.Context, dir, cmd string) (string, error) {
			if cmd == "fail" {
				return "", errors.New("exit status 1")
			}
			return "ran(" + cmd + ")", nil
		},
		dir: "/tmp",
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"HOME": "/home/u", "EMPTY": "", "TOKEN": "s3cret", "NESTED": "${HOME}"}
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "", want: ""},
		{in: "${HOME}/x", want: "/home/u/x"},
		{in: "a${HOME}b${TOKEN}c", want: "a/home/ub" + "s3cretc"},
		{in: "${env:HOME}", want: "/home/u"},
		{in: "${MISSING:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY}", want: ""},
		{in: "${MISSING:-}", want: ""},
		{in: "${env:MISSING:-d}", want: "d"},
		{in: "${HOME:-unused}", want: "/home/u"},
		{in: "${MISSING:-${HOME}/cache}", want: "/home/u/cache"},
		{in: "${MISSING:-a:-b}", want: "a:-b"},
		{in: "${NESTED}", want: "${HOME}"}, // values are not expanded again
		{in: "$$", want: "$"},
		{in: "$${HOME}", want: "${HOME}"},
		{in: "cost: $5 and $", want: "cost: $5 and $"},
		{in: "$HOME", want: "$HOME"},
		{in: "${cmd: echo hi}", want: "ran(echo hi)"},
		{in: "${cmd:awk '{print $1}' f}", want: "ran(awk '{print $1}' f)"},
		{in: "${MISSING:-${cmd: op read x}}", want: "ran(op read x)"},
		{in: "${MISSING}", err: "${MISSING}: environment variable MISSING is not set"},
		{in: "${env:MISSING}", err: "${env:MISSING}: environment variable MISSING is not set"},
		{in: "${MISSING:-${ALSO_MISSING}}", err: "${ALSO_MISSING}: environment variable ALSO_MISSING is not set"},
		{in: "${HOME", err: "unterminated placeholder"},
		{in: "${}", err: "invalid environment variable name"},
		{in: "${1X}", err: "invalid environment variable name"},
		{in: "${input:token}", err: `unknown placeholder kind "input"`},
		{in: "${cmd:fail}", err: "${cmd:fail}: command failed: exit status 1"},
		{in: "${cmd:   }", err: "empty command"},
		{in: strings.Repeat("${A:-", 20) + "x" + strings.Repeat("}", 20), err: "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := testExpander(env).expand(tt.in)
			switch {
			case tt.err != "":
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("expand(%q) = %q, %v; want error %q", tt.in, got, err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error leaks a value: %v", err)
				}
			case err != nil:
				t.Fatalf("expand(%q): %v", tt.in, err)
			case got != tt.want:
				t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestExpandCommandsDisabled(t *testing.T) {
	e := testExpander(nil)
	e.run = nil
	if _, err := e.expand("${cmd: echo hi}"); err == nil || !strings.Contains(err.Error(), "disabled") {
		t.Errorf("got %v", err)
	}
}

func TestLoadPlaceholdersEverywhere(t *testing.T) {
	env := map[string]string{"HOST": "example.com", "TOKEN": "s3cret", "PORT": "9200", "BIN": "/usr/bin/srv"}
	cfg := mustLoad(t, env, [2]string{"a.yaml", `
listen: "127.0.0.1:${PORT}"
refresh_interval: ${REFRESH:-2m}
servers:
  - name: remote
    endpoint: https://${HOST}/mcp
    headers: {Authorization: "Bearer ${TOKEN}"}
    timeout: ${TIMEOUT:-15}
    enabled: ${REMOTE_ENABLED:-true}
  - name: local
    command: ${BIN}
    args: ["--token", "${env:TOKEN}", "--mode=${MODE:-fast}", "$$HOME"]
    env: {API_KEY: "${TOKEN}", LITERAL: "$${NOT_EXPANDED}"}
    cwd: ${CWD:-/srv}
`})
	if cfg.Listen != "127.0.0.1:9200" || cfg.RefreshInterval.String() != "2m0s" {
		t.Errorf("hub: %+v", cfg)
	}
	remote, _ := cfg.Server("remote")
	if remote.Endpoint != "https://example.com/mcp" || remote.Headers["Authorization"] != "Bearer s3cret" ||
		remote.Timeout.String() != "15s" || !remote.Enabled {
		t.Errorf("remote = %+v", remote)
	}
	local, _ := cfg.Server("local")
	if local.Command != "/usr/bin/srv" || local.Cwd != "/srv" ||
		!reflect.DeepEqual(local.Args, []string{"--token", "s3cret", "--mode=fast", "$HOME"}) ||
		!reflect.DeepEqual(local.Env, map[string]string{"API_KEY": "s3cret", "LITERAL": "${NOT_EXPANDED}"}) {
		t.Errorf("local = %+v", local)
	}
}

func TestLoadUnresolvablePlaceholders(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cret"}
	_, err := load(t, env, [2]string{"a.yaml", `
listen: ${LISTEN}
servers:
  - {name: a, endpoint: "http://h/mcp"}
  - {name: b, endpoint: "http://h/mcp"}
  - name: c
    command: srv
    args: [ok, "${ARG_MISSING}"]
    env: {API_KEY: "${MISSING}", OK: "${TOKEN}"}
mcpServers:
  gh:
    url: "${GH_URL}"
    headers: {Authorization: "Bearer ${cmd: exit 1}"}
`})
	ps := problemsOf(t, err)
	want := map[string]string{
		"listen":                              "${LISTEN}: environment variable LISTEN is not set",
		"servers[2].args[1]":                  "${ARG_MISSING}: environment variable ARG_MISSING is not set",
		"servers[2].env.API_KEY":              "${MISSING}: environment variable MISSING is not set",
		"mcpServers.gh.url":                   "${GH_URL}: environment variable GH_URL is not set",
		"mcpServers.gh.headers.Authorization": "${cmd: exit 1}: command failed",
	}
	got := map[string]string{}
	for _, p := range ps {
		got[p.Path] = p.Message
	}
	for path, msg := range want {
		if !strings.HasPrefix(got[path], msg) {
			t.Errorf("%s: got %q, want %q", path, got[path], msg)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("want %d problems (no repeats from Validate), got:\n%v", len(want), err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks a secret: %v", err)
	}
	if !strings.Contains(err.Error(), "a.yaml:9: servers[2].env.API_KEY: ${MISSING}: environment variable MISSING is not set") {
		t.Errorf("error does not name file, line and path:\n%v", err)
	}
}

// TestRunShell runs real commands: the default runner behind ${cmd:...}.
func TestRunShell(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, dir, "a.yaml", `
servers:
  - name: a
    command: srv
    args: ["${cmd: echo hi}", "${cmd: cat token}"]
`)
	l := Loader{LookupEnv: func(string) (string, bool) { return "", false }}
	cfg, err := l.Load(t.Context(), []string{path})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Servers[0].Args; !reflect.DeepEqual(got, []string{"hi", "from-file"}) {
		t.Errorf("args = %q", got)
	}

	_, err = runShell(t.Context(), dir, "echo oops >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing command: %v", err)
	}
}
