package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadApproval(t *testing.T) {
	type serverApproval struct {
		mode    ApprovalMode
		require []string
	}
	want := ApprovalSettings{
		Default:    ApprovalAlways,
		Require:    []string{"*.delete_*", "drop_table"},
		TTL:        90 * time.Second,
		MaxPending: 50,
	}
	wantServers := map[string]serverApproval{
		"seed":    {ApprovalNever, nil},
		"globs":   {"", []string{"delete_*", "rm?"}},
		"claude":  {ApprovalAlways, []string{"write_[a-z]*"}},
		"default": {"", nil},
	}
	tests := []struct {
		name  string
		files [][2]string
	}{
		{"yaml", [][2]string{{"a.yaml", `
approval:
  default: Always
  require: ["*.delete_*", drop_table]
  ttl: 90s
  max_pending: 50
servers:
  - {name: seed, endpoint: "http://h/mcp", approval: never}
  - name: globs
    endpoint: http://h/mcp
    require_approval:
      - delete_*
      - rm?
mcpServers:
  claude: {command: x, approval: always, require_approval: ["write_[a-z]*"]}
  default: {url: "http://h/mcp"}
`}}},
		{"json", [][2]string{{"a.json", `{
 "approval": {"default": "always", "require": ["*.delete_*", "drop_table"], "ttl": 90, "max_pending": 50},
 "servers": [
  {"name": "seed", "endpoint": "http://h/mcp", "approval": "never"},
  {"name": "globs", "endpoint": "http://h/mcp", "require_approval": ["delete_*", "rm?"]}],
 "mcpServers": {
  "claude": {"command": "x", "approval": "always", "require_approval": ["write_[a-z]*"]},
  "default": {"url": "http://h/mcp"}}}`}}},
		{"merged", [][2]string{
			{"1.yaml", `
approval: {default: never, require: [a, b, c], ttl: 90s, max_pending: 7}
servers:
  - {name: seed, endpoint: "http://h/mcp", approval: always, require_approval: [x]}
  - {name: globs, endpoint: "http://h/mcp", require_approval: ["delete_*", "rm?"]}
mcpServers:
  claude: {command: x, approval: always, require_approval: ["write_[a-z]*"]}
  default: {url: "http://h/mcp"}
`},
			// Later wins per key; a list is replaced whole; a server entirely.
			{"2.json", `{"approval": {"default": "always", "require": ["*.delete_*", "drop_table"], "max_pending": "50"},
 "mcpServers": {"seed": {"url": "http://h/mcp", "approval": "never"}}}`},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustLoad(t, nil, tt.files...)
			if !reflect.DeepEqual(cfg.Approval, want) {
				t.Errorf("approval = %+v, want %+v", cfg.Approval, want)
			}
			for name, w := range wantServers {
				s, ok := cfg.Server(name)
				if !ok || s.Approval != w.mode || !reflect.DeepEqual(s.RequireApproval, w.require) {
					t.Errorf("%s: approval %q require %q, want %q %q", name, s.Approval, s.RequireApproval, w.mode, w.require)
				}
			}
		})
	}
}

func TestLoadApprovalDefaults(t *testing.T) {
	cfg := mustLoad(t, nil, [2]string{"a.yaml", "servers: [{name: a, endpoint: 'http://h/mcp'}]\napproval: {ttl: 5m}"})
	want := ApprovalSettings{Default: ApprovalNever, TTL: 5 * time.Minute, MaxPending: DefaultMaxPending}
	if !reflect.DeepEqual(cfg.Approval, want) {
		t.Errorf("approval = %+v, want %+v", cfg.Approval, want)
	}
	if d := Default().Approval; d.Default != ApprovalNever || d.TTL != DefaultApprovalTTL || d.MaxPending != DefaultMaxPending || d.Require != nil {
		t.Errorf("Default().Approval = %+v", d)
	}
	// Placeholders work in approval values like everywhere else.
	cfg = mustLoad(t, map[string]string{"MAXP": "12", "GLOB": "kill_*"}, [2]string{"a.yaml", `
approval: {max_pending: "${MAXP}", require: ["${GLOB}"], default: "${MODE:-never}"}`})
	if cfg.Approval.MaxPending != 12 || !reflect.DeepEqual(cfg.Approval.Require, []string{"kill_*"}) {
		t.Errorf("placeholders: %+v", cfg.Approval)
	}
	// viper hands JSON numbers over as float64, which print with an exponent.
	cfg = mustLoad(t, nil, [2]string{"a.json", `{"approval": {"max_pending": 12345678}}`})
	if cfg.Approval.MaxPending != 12345678 {
		t.Errorf("max_pending = %d", cfg.Approval.MaxPending)
	}
}

func TestLoadApprovalMistakes(t *testing.T) {
	_, err := load(t, nil,
		[2]string{"a.yaml", `
approval:
  default: sometimes
  require: [ok, "bad[", ""]
  ttl: 0
  max_pending: 1.5
  maxpending: 3
approval_ttl: 5m
servers:
  - name: a
    endpoint: http://h/mcp
    approval: maybe
    require_approval:
      - fine_*
      - "[z-a"
      - "trailing\\"
  - name: off
    enabled: false
    command: x
    approval: [always]
    require_approval: delete_*
`},
		[2]string{"b.json", `{"mcpServers": {
  "c": {"url": "http://h/mcp", "requireApproval": ["x"], "approval": "yes"}}}`},
	)
	ps := problemsOf(t, err)
	want := map[string]string{
		"approval.default":               `unknown approval mode "sometimes"`,
		"approval.require[1]":            `"bad[": invalid glob`,
		"approval.require[2]":            "must not be empty",
		"approval.ttl":                   "must be positive",
		"approval.max_pending":           "want a whole number",
		"approval.maxpending":            `did you mean "max_pending"?`,
		"approval_ttl":                   `did you mean "approval.ttl"?`,
		"servers[0].approval":            `unknown approval mode "maybe"`,
		"servers[0].require_approval[1]": "invalid glob",
		"servers[0].require_approval[2]": "invalid glob",
		"servers[1].approval":            "must be a string, not a list",
		"servers[1].require_approval":    "must be a list of strings",
		"mcpServers.c.requireApproval":   `did you mean "require_approval"?`,
		"mcpServers.c.approval":          `unknown approval mode "yes"`,
	}
	got := map[string]Problem{}
	for _, p := range ps {
		got[p.Path] = p
	}
	for path, msg := range want {
		if p, ok := got[path]; !ok || !strings.Contains(p.Message, msg) {
			t.Errorf("%s: got %q, want %q", path, p.Message, msg)
		}
	}
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), err)
	}
	// A problem about one glob names the glob's own line.
	if p := got["servers[0].require_approval[2]"]; p.Line != 16 || !strings.HasSuffix(p.File, "a.yaml") {
		t.Errorf("glob problem at %s:%d", p.File, p.Line)
	}
	if p := got["approval.maxpending"]; p.Line != 7 {
		t.Errorf("unknown approval key at line %d", p.Line)
	}
}

func TestValidateApprovalBuilt(t *testing.T) {
	c := Default()
	c.Approval = ApprovalSettings{Require: []string{"a", "\\"}}
	c.Servers[0].Approval = "ALWAYS" // Load lower-cases; code must not rely on it.
	c.Servers[0].RequireApproval = []string{"[^]"}
	var ve *ValidationError
	if err := c.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Path)
	}
	want := []string{"approval.default", "approval.require[1]", "approval.ttl", "approval.max_pending",
		"servers[0].approval", "servers[0].require_approval[0]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("paths = %v, want %v\n%v", got, want, ve)
	}
}

func TestServerEqualApproval(t *testing.T) {
	base := Default().Servers[0]
	base.RequireApproval = []string{"delete_*"}
	emptyVsNil := base
	emptyVsNil.RequireApproval = nil
	if !emptyVsNil.Equal(Server{Name: base.Name, Transport: base.Transport, Endpoint: base.Endpoint, Enabled: true,
		Timeout: base.Timeout, ProtocolVersion: base.ProtocolVersion, Backoff: base.Backoff, RequireApproval: []string{}}) {
		t.Error("nil and empty require_approval differ")
	}
	for i, change := range []func(*Server){
		func(s *Server) { s.Approval = ApprovalAlways },
		func(s *Server) { s.RequireApproval = []string{"delete_x"} },
		func(s *Server) { s.RequireApproval = nil },
	} {
		c := base
		change(&c)
		if base.Equal(c) {
			t.Errorf("change %d: Equal missed an approval change", i)
		}
		if !base.SameConnection(c) {
			t.Errorf("change %d: an approval change must not restart the connection", i)
		}
	}
	for i, change := range []func(*Server){
		func(s *Server) { s.Timeout++ },
		// The connection reads it on every call: a change restarts it.
		func(s *Server) { s.RequestIDMeta = !s.RequestIDMeta },
	} {
		c := base
		change(&c)
		if base.SameConnection(c) || base.Equal(c) {
			t.Errorf("connection change %d not detected", i)
		}
	}
}
