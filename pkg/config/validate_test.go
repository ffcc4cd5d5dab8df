package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLoadEveryMistake loads a config with every kind of mistake and checks
// that each is reported, at once, at the path the user wrote.
func TestLoadEveryMistake(t *testing.T) {
	_, err := load(t, nil,
		[2]string{"a.yaml", `
listen: "localhost"
refresh_interval: soon
tool_name_separator: "::"
backoff: {initial: 5s, max: 1s, jitter: 1}
lisen: x
servers:
  - name: ""
    endpoint: http://h/mcp
  - name: "bad name!"
    endpoint: http://h/mcp
  - name: dup
    endpoint: http://h/mcp
  - name: dup
    endpoint: http://h/mcp
  - name: nocmd
    transport: stdio
  - name: noendpoint
    transport: sse
  - name: badurl
    endpoint: ftp://h/mcp
  - name: relurl
    endpoint: /mcp
  - name: weird
    transport: carrier-pigeon
  - name: slow
    endpoint: http://h/mcp
    timeout: -1
  - name: zero
    endpoint: http://h/mcp
    timeout: 0
  - name: typo
    endpiont: http://h/mcp
  - name: both
    command: x
    endpoint: http://h/mcp
  - name: badtimeout
    endpoint: http://h/mcp
    timeout: forever
  - name: badbackoff
    endpoint: http://h/mcp
    backoff: {initial: 0s, maximum: 1s}
  - just a string
`},
		[2]string{"b.json", `{"mcpServers": {
  "github": {"env": {"A": "b"}},
  "remote": {"type": "http"},
  "x": {"url": "http://h/mcp", "url2": "y", "name": "x", "disabled": "maybe"},
  "conflict": {"url": "http://h/mcp", "endpoint": "http://h/mcp"},
  "hdr": {"url": "http://h/mcp", "headers": {"Bad Header": "v"}}
}, "servers": 3}`},
	)
	ps := problemsOf(t, err)
	want := []string{
		"listen",
		"refresh_interval",
		"tool_name_separator",
		"backoff.max",
		"backoff.jitter",
		"lisen",
		"servers[0].name",
		"servers[1].name",
		"servers[3].name",
		"servers[4].command",
		"servers[5].endpoint",
		"servers[6].endpoint",
		"servers[7].endpoint",
		"servers[8].transport",
		"servers[9].timeout",
		"servers[10].timeout",
		"servers[11].endpiont",
		"servers[11].endpoint",
		"servers[12].endpoint",
		"servers[13].timeout",
		"servers[14].backoff.initial",
		"servers[14].backoff.maximum",
		"servers[15]",
		"mcpServers.github.command",
		"mcpServers.remote.url",
		"mcpServers.x.url2",
		"mcpServers.x.name",
		"mcpServers.x.disabled",
		"mcpServers.conflict.endpoint",
		`mcpServers.hdr.headers["Bad Header"]`,
		"servers",
	}
	got := map[string]Problem{}
	for _, p := range ps {
		got[p.Path] = p
	}
	for _, path := range want {
		if _, ok := got[path]; !ok {
			t.Errorf("no problem reported at %s", path)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	if p := got["servers[11].endpiont"]; !strings.Contains(p.Message, `did you mean "endpoint"?`) || p.Line != 33 || !strings.HasSuffix(p.File, "a.yaml") {
		t.Errorf("typo: %+v", p)
	}
	if p := got["servers[3].name"]; !strings.Contains(p.Message, `duplicate server name "dup"`) || !strings.Contains(p.Message, "servers[2]") {
		t.Errorf("duplicate: %+v", p)
	}
	if p := got["mcpServers.github.command"]; !strings.HasSuffix(p.File, "b.json") || p.Line != 2 {
		t.Errorf("github: %+v", p)
	}
	if p := got["mcpServers.remote.url"]; !strings.Contains(p.Message, "required") {
		t.Errorf("remote: %+v", p)
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(ps)+1 {
		t.Errorf("Error() must list one problem per line:\n%v", err)
	}
}

func TestValidateBuiltConfig(t *testing.T) {
	c := Default()
	c.Listen = "127.0.0.1:99999"
	c.RefreshInterval = 0
	c.ToolNameSeparator = ""
	c.Servers = append(c.Servers,
		Server{Name: "local", Transport: TransportStdio, Command: "x", Enabled: true, Timeout: time.Second,
			ProtocolVersion: "v", Backoff: c.Backoff},
		Server{Name: "h", Transport: TransportSSE, Endpoint: "http://h/sse", Headers: map[string]string{"X": "a\nb"},
			Enabled: true, Timeout: time.Second, ProtocolVersion: "v", Backoff: Backoff{Initial: time.Second, Max: time.Second}},
		// Disabled: only name, transport, timeout and backoff are checked.
		Server{Name: "off", Transport: TransportStdio, Timeout: time.Second, Backoff: c.Backoff},
	)
	var ve *ValidationError
	if err := c.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Path)
	}
	want := []string{"listen", "refresh_interval", "tool_name_separator", "servers[1].name", "servers[2].headers.X"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("paths = %v, want %v\n%v", got, want, ve)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: "/a.yaml", Line: 3, Path: "servers[0].endpoint", Message: "m"}, "/a.yaml:3: servers[0].endpoint: m"},
		{Problem{File: "/a.yaml", Message: "m"}, "/a.yaml: m"},
		{Problem{Path: "listen", Message: "m"}, "listen: m"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

func TestSuggest(t *testing.T) {
	known := serverKeys()
	tests := map[string]string{
		"endpiont":        "endpoint",
		"Endpoint":        "endpoint",
		"protocolVersion": "protocol_version",
		"comand":          "command",
		"zzz":             "",
		"e":               "",
	}
	for in, want := range tests {
		if got := suggest(in, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
	if got := suggest("mcpservers", topLevelKeys()); got != "mcpServers" {
		t.Errorf("mcpservers → %q", got)
	}
}

func TestCheckListen(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1:9000": "",
		":9000":          "",
		"[::1]:0":        "",
		"localhost:80":   "",
		"":               "must not be empty",
		"9000":           `did you mean ":9000"?`,
		"localhost":      "not host:port",
		"h:http":         "port must be a number",
		"h:70000":        "port must be a number",
		"a b:1":          "invalid host",
	}
	for in, want := range tests {
		got := checkListen(in)
		if want == "" && got != "" || !strings.Contains(got, want) {
			t.Errorf("checkListen(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoadShapeProblems(t *testing.T) {
	tests := []struct {
		name, yaml, path, msg string
	}{
		{"args scalar", "servers: [{name: a, command: x, args: --v}]", "servers[0].args", "must be a list of strings"},
		{"arg map", "servers: [{name: a, command: x, args: [{a: b}]}]", "servers[0].args[0]", "must be a string, not a mapping"},
		{"env list", "servers: [{name: a, command: x, env: [A]}]", "servers[0].env", "must be a mapping of strings"},
		{"header list", "mcpServers: {a: {url: 'http://h/mcp', headers: {A: [1]}}}", "mcpServers.a.headers.A", "must be a string, not a list"},
		{"hub backoff scalar", "backoff: 5", "backoff", "must be a mapping, not a number"},
		{"server backoff list", "servers: [{name: a, command: x, backoff: [1]}]", "servers[0].backoff", "must be a mapping, not a list"},
		{"mcpServers list", "mcpServers: [a]", "mcpServers", "must be a mapping, not a list"},
		{"entry null", "mcpServers: {a: }", "mcpServers.a", "must be a mapping, not a null"},
		{"name list", "servers: [{name: [a], command: x}]", "servers[0].name", "must be a string, not a list"},
		{"listen list", "listen: [a]", "listen", "must be a string, not a list"},
		{"enabled number", "servers: [{name: a, command: x, enabled: 1}]", "servers[0].enabled", "must be true or false"},
		{"timeout bool", "servers: [{name: a, command: x, timeout: true}]", "servers[0].timeout", "want seconds"},
		{"timeout huge", "servers: [{name: a, command: x, timeout: 1e300}]", "servers[0].timeout", "want seconds"},
		{"both enabled and disabled", "mcpServers: {a: {command: x, enabled: true, disabled: false}}", "mcpServers.a.disabled", "set only one"},
		{"odd name", `mcpServers: {"a b": {command: x}}`, `mcpServers["a b"]`, "may only contain"},
		{"empty name", `mcpServers: {"": {command: x}}`, `mcpServers[""]`, "must not be empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, nil, [2]string{"a.yaml", tt.yaml})
			ps := problemsOf(t, err)
			if len(ps) != 1 || ps[0].Path != tt.path || !strings.Contains(ps[0].Message, tt.msg) {
				t.Errorf("got %v; want one problem at %s: %q", err, tt.path, tt.msg)
			}
		})
	}
}
