package config

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// stripGroups clears Origin so groups can be compared with literals.
func stripGroups(groups []Group) []Group {
	out := make([]Group, len(groups))
	for i, g := range groups {
		g.Origin = Origin{}
		out[i] = g
	}
	return out
}

func TestLoadGroupsAndFilters(t *testing.T) {
	wantGroups := []Group{
		{Name: "dev", Servers: []string{"github", "files"}},
		{Name: "ops", Servers: []string{"k8s", "github"},
			Tools:  ToolFilter{Allow: []string{"k8s.*", "github.list_*"}, Deny: []string{"*.delete_*"}},
			Expose: ExposeSearch},
		{Name: "read.only", Servers: []string{"files"}, Tools: ToolFilter{Deny: []string{"write_*"}}, Expose: ExposeAll},
	}
	wantTools := map[string]ToolFilter{
		"github": {Allow: []string{"list_*", "get_*"}, Deny: []string{"get_secret"}},
		"files":  {},
		"k8s":    {Deny: []string{"delete_*"}},
		"vscode": {Allow: []string{"x?"}},
	}
	tests := []struct {
		name string
		file [2]string
	}{
		{"yaml", [2]string{"a.yaml", `
expose: Search
servers:
  - name: github
    command: gh
    tools:
      allow: [list_*, get_*]
      deny: [get_secret]
  - {name: files, command: fs, tools: {}}
mcpServers:
  k8s: {command: k8s, tools: {deny: [delete_*]}}
groups:
  ops:
    servers: [k8s, github]
    tools: {allow: ["k8s.*", "github.list_*"], deny: ["*.delete_*"]}
    expose: search
  dev: [github, files]
  read.only: {servers: [files], tools: {deny: [write_*]}, expose: ALL}
`}},
		{"json", [2]string{"a.json", `{
 "expose": "search",
 "mcpServers": {
  "github": {"command": "gh", "tools": {"allow": ["list_*", "get_*"], "deny": ["get_secret"]}},
  "files": {"command": "fs", "tools": null},
  "k8s": {"command": "k8s", "tools": {"deny": ["delete_*"]}}},
 "groups": {
  "dev": ["github", "files"],
  "ops": {"servers": ["k8s", "github"], "tools": {"allow": ["k8s.*", "github.list_*"], "deny": ["*.delete_*"]}, "expose": "search"},
  "read.only": {"servers": ["files"], "tools": {"deny": ["write_*"], "allow": []}, "expose": "all"}}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The VS Code servers map takes tools too; it cannot share a file
			// with the seed list, so it comes from a second file.
			cfg := mustLoad(t, nil, tt.file, [2]string{"vscode.json",
				`{"servers": {"vscode": {"type": "http", "url": "http://h/mcp", "tools": {"allow": ["x?"]}}}}`})
			if cfg.Expose != ExposeSearch {
				t.Errorf("expose = %q", cfg.Expose)
			}
			if got := stripGroups(cfg.Groups); !groupsEqual(got, wantGroups) {
				t.Errorf("groups:\n got %+v\nwant %+v", got, wantGroups)
			}
			for name, want := range wantTools {
				s, ok := cfg.Server(name)
				if !ok || !s.Tools.Equal(want) {
					t.Errorf("%s: tools %+v, want %+v", name, s.Tools, want)
				}
			}
			ops, ok := cfg.Group("ops")
			if !ok || !strings.HasSuffix(ops.Origin.File, tt.file[0]) || ops.Origin.Path != "groups.ops" || ops.Origin.Line == 0 {
				t.Errorf("ops origin = %+v", ops.Origin)
			}
			if _, ok := cfg.Group("nope"); ok {
				t.Error("Group(nope) found")
			}
		})
	}
}

// groupsEqual compares with Group.Equal, so nil and empty lists are equal.
func groupsEqual(a, b []Group) bool { return slices.EqualFunc(a, b, Group.Equal) }

func TestLoadGroupsPlaceholders(t *testing.T) {
	env := map[string]string{"MODE": "search", "GLOB": "list_*", "NAME": "on"}
	cfg := mustLoad(t, env, [2]string{"a.yaml", `
servers:
  - {name: off, enabled: false, command: x, tools: {allow: ["${LATER}"]}}
  - {name: on, command: x, tools: {allow: ["${GLOB}"]}}
groups:
  g:
    servers: [on]
    tools: {deny: ["${GLOB}"]}
    expose: "${MODE}"
`})
	g, _ := cfg.Group("g")
	want := Group{Name: "g", Servers: []string{"on"}, Tools: ToolFilter{Deny: []string{"list_*"}}, Expose: ExposeSearch}
	if !g.Equal(want) {
		t.Errorf("g = %+v, want %+v", g, want)
	}
	off, _ := cfg.Server("off")
	on, _ := cfg.Server("on")
	if !reflect.DeepEqual(off.Tools.Allow, []string{"${LATER}"}) || !reflect.DeepEqual(on.Tools.Allow, []string{"list_*"}) {
		t.Errorf("off %+v on %+v: a disabled server's globs stay as written", off.Tools, on.Tools)
	}
	// Members are names, taken as written like server names.
	_, err := load(t, env, [2]string{"a.yaml", "servers: [{name: on, command: x}]\ngroups: {g: [\"${NAME}\"]}"})
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Path != "groups.g[0]" || !strings.Contains(ps[0].Message, `unknown server "${NAME}"`) {
		t.Errorf("got %v", err)
	}
}

func TestLoadGroupsMerge(t *testing.T) {
	cfg := mustLoad(t, nil,
		[2]string{"1.yaml", `
expose: search
servers:
  - {name: a, command: x, tools: {allow: [one_*]}}
  - {name: b, command: x, tools: {deny: [two]}}
groups:
  zeta: [a]
  ops:
    servers: [a, b]
    tools: {deny: [x]}
    expose: search
`},
		[2]string{"2.json", `{"expose": "all",
 "mcpServers": {"a": {"command": "y"}},
 "groups": {"ops": ["b"], "alpha": {"servers": ["a"], "expose": "search"}}}`},
	)
	want := []Group{
		{Name: "alpha", Servers: []string{"a"}, Expose: ExposeSearch},
		// Replaced whole: the later short form has no tools and no expose.
		{Name: "ops", Servers: []string{"b"}},
		{Name: "zeta", Servers: []string{"a"}},
	}
	if got := stripGroups(cfg.Groups); !groupsEqual(got, want) {
		t.Errorf("groups:\n got %+v\nwant %+v", got, want)
	}
	if ops, _ := cfg.Group("ops"); !strings.HasSuffix(ops.Origin.File, "2.json") || ops.Origin.Path != "groups.ops" || ops.Origin.Line != 3 {
		t.Errorf("ops origin = %+v", ops.Origin)
	}
	if cfg.Expose != ExposeAll {
		t.Errorf("expose later-wins: %q", cfg.Expose)
	}
	a, _ := cfg.Server("a")
	b, _ := cfg.Server("b")
	if !a.Tools.Empty() || a.Command != "y" {
		t.Errorf("a's filter must go with the replaced server: %+v", a)
	}
	if !reflect.DeepEqual(b.Tools, ToolFilter{Deny: []string{"two"}}) {
		t.Errorf("b.Tools = %+v", b.Tools)
	}
	if cfg.ExposeFor("alpha") != ExposeSearch || cfg.ExposeFor("ops") != ExposeAll || cfg.ExposeFor("") != ExposeAll {
		t.Errorf("ExposeFor: alpha %q ops %q top %q", cfg.ExposeFor("alpha"), cfg.ExposeFor("ops"), cfg.ExposeFor(""))
	}
}

func TestLoadGroupsDefaults(t *testing.T) {
	cfg := mustLoad(t, nil, [2]string{"a.yaml", "servers: [{name: a, command: x}]"})
	if cfg.Expose != ExposeAll || cfg.Groups != nil || !cfg.Servers[0].Tools.Empty() {
		t.Errorf("expose %q groups %v tools %+v", cfg.Expose, cfg.Groups, cfg.Servers[0].Tools)
	}
	d := Default()
	if d.Expose != ExposeAll || d.Groups != nil || d.ExposeFor("") != ExposeAll {
		t.Errorf("Default(): expose %q groups %v", d.Expose, d.Groups)
	}
}

// TestLoadGroupMistakes loads configs with every kind of group, filter and
// expose mistake and checks each is reported at the path the user wrote.
func TestLoadGroupMistakes(t *testing.T) {
	_, err := load(t, nil,
		[2]string{"a.yaml", `
expose: some
groupz: {}
servers:
  - name: github
    command: gh
    tools:
      allow: [ok, "bad["]
      deny: [""]
      alow: [x]
  - name: filesystem
    enabled: false
    command: fs
    tools: [x]
  - name: k8s
    command: k
    allow: [x]
groups:
  ops:
    servers:
      - k8s
      - githb
      - k8s
      - nothing_like_it
    tools: {allow: ["k8s.*"], deny: ["[z-a"], only: [x]}
    expose: sometimes
    server: [x]
  dev: [github, filesystm]
  empty: []
  nul:
  nomembers: {expose: all}
  "bad name!": [github]
  scalar: github
  listy: {servers: github}
  itemmap: [{a: b}]
  allowed: {servers: [github], allow: [x]}
`},
		[2]string{"b.json", `{"groups": {"j": {"servers": ["GitHub"], "tools": {"deny": ["\\"]}}}, "mcpServers": {"m": {"command": "m", "tools": "all"}}}`},
	)
	ps := problemsOf(t, err)
	want := map[string]string{
		"expose":                    `unknown expose mode "some" (want all or search)`,
		"groupz":                    `did you mean "groups"?`,
		"servers[0].tools.allow[1]": `"bad[": invalid glob`,
		"servers[0].tools.deny[0]":  "must not be empty",
		"servers[0].tools.alow":     `did you mean "allow"?`,
		"servers[1].tools":          "must be a mapping, not a list",
		"servers[2].allow":          `did you mean "tools.allow"?`,
		"groups.ops.servers[1]":     `unknown server "githb" (did you mean "github"?)`,
		"groups.ops.servers[2]":     `server "k8s" is listed twice (also at groups.ops.servers[0])`,
		"groups.ops.servers[3]":     `unknown server "nothing_like_it"`,
		"groups.ops.tools.deny[0]":  `"[z-a": invalid glob`,
		"groups.ops.tools.only":     "unknown key",
		"groups.ops.expose":         `unknown expose mode "sometimes" (want all or search)`,
		"groups.ops.server":         `did you mean "servers"?`,
		"groups.dev[1]":             `unknown server "filesystm" (did you mean "filesystem"?)`,
		"groups.empty":              "at least one server",
		"groups.nul":                "at least one server",
		"groups.nomembers.servers":  "at least one server",
		`groups["bad name!"]`:       `group name "bad name!" may only contain`,
		"groups.scalar":             "a group must be a list of server names or a mapping, not a string",
		"groups.listy.servers":      "must be a list of strings, not a string",
		"groups.itemmap[0]":         "must be a string, not a mapping",
		"groups.allowed.allow":      `did you mean "tools.allow"?`,
		"groups.j.servers[0]":       `unknown server "GitHub" (did you mean "github"?)`,
		"groups.j.tools.deny[0]":    "invalid glob",
		"mcpServers.m.tools":        "must be a mapping, not a string",
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
	lines := map[string]int{
		"groups.ops.servers[1]":     22,
		"groups.dev[1]":             28,
		"groups.nul":                30,
		"groups.nomembers.servers":  31,
		`groups["bad name!"]`:       32,
		"servers[0].tools.allow[1]": 8,
		"groups.ops.tools.deny[0]":  25,
		"groups.ops.expose":         26,
		"groups.j.servers[0]":       1,
	}
	for path, line := range lines {
		if p := got[path]; p.Line != line {
			t.Errorf("%s at line %d, want %d", path, p.Line, line)
		}
	}
	if p := got["groups.ops.servers[1]"]; !strings.HasSuffix(p.File, "a.yaml") ||
		!strings.HasPrefix(p.String(), p.File+":22: groups.ops.servers[1]: unknown server") {
		t.Errorf("unknown member: %s", p)
	}
	if p := got["groups.j.servers[0]"]; !strings.HasSuffix(p.File, "b.json") {
		t.Errorf("j: %s", p)
	}
}

func TestValidateGroupsBuilt(t *testing.T) {
	c := Default()
	c.Expose = ""
	c.Servers[0].Tools = ToolFilter{Allow: []string{"["}}
	c.Groups = []Group{
		{Name: "g", Servers: []string{"local"}, Expose: "SEARCH"}, // Load lower-cases; code must not rely on it.
		{Name: "g", Servers: []string{"local", "local"}},
		{Servers: []string{"locl"}, Tools: ToolFilter{Deny: []string{""}}},
	}
	var ve *ValidationError
	if err := c.Validate(); !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v", err)
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.Path+": "+p.Message)
	}
	want := []string{
		`expose: unknown expose mode "" (want all or search)`,
		`servers[0].tools.allow[0]: "[": invalid glob (path.Match syntax: *, ?, [a-z], \ escapes)`,
		`groups[0].expose: unknown expose mode "SEARCH" (want all or search)`,
		`groups[1].name: duplicate group name "g" (also defined at groups[0])`,
		`groups[1].servers[1]: server "local" is listed twice (also at groups[1].servers[0])`,
		`groups[2].name: group name must not be empty`,
		`groups[2].servers[0]: unknown server "locl" (did you mean "local"?)`,
		`groups[2].tools.deny[0]: must not be empty`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems:\n got %q\nwant %q", got, want)
	}
	// A valid built config with groups passes.
	c = Default()
	c.Groups = []Group{{Name: "g", Servers: []string{"local"}, Tools: ToolFilter{Allow: []string{"local.*"}}}}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
}

func TestToolFilterAllowsTool(t *testing.T) {
	tests := []struct {
		name   string
		filter ToolFilter
		tool   string
		want   bool
	}{
		{"empty", ToolFilter{}, "anything", true},
		{"empty lists", ToolFilter{Allow: []string{}, Deny: []string{}}, "anything", true},
		{"allow match", ToolFilter{Allow: []string{"list_*", "get_*"}}, "get_issue", true},
		{"allow no match", ToolFilter{Allow: []string{"list_*"}}, "delete_issue", false},
		{"allow is whole-name", ToolFilter{Allow: []string{"list"}}, "list_all", false},
		{"case-sensitive", ToolFilter{Allow: []string{"list_*"}}, "LIST_all", false},
		{"deny match", ToolFilter{Deny: []string{"delete_*"}}, "delete_issue", false},
		{"deny no match", ToolFilter{Deny: []string{"delete_*"}}, "list_issues", true},
		{"deny wins over allow", ToolFilter{Allow: []string{"*"}, Deny: []string{"*_secret"}}, "get_secret", false},
		{"both, allowed", ToolFilter{Allow: []string{"get_*"}, Deny: []string{"*_secret"}}, "get_issue", true},
		{"both, not allowed", ToolFilter{Allow: []string{"get_*"}, Deny: []string{"*_secret"}}, "list_issue", false},
		{"dotted tool", ToolFilter{Allow: []string{"fs.read*"}}, "fs.read_file", true},
		{"server glob does not apply", ToolFilter{Allow: []string{"github.*"}}, "list", false},
		{"star skips no slash", ToolFilter{Allow: []string{"*"}}, "a/b", false},
		{"malformed matches nothing", ToolFilter{Deny: []string{"["}}, "x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.AllowsTool(tt.tool); got != tt.want {
				t.Errorf("%+v.AllowsTool(%q) = %v, want %v", tt.filter, tt.tool, got, tt.want)
			}
		})
	}
}

func TestToolFilterAllowsQualified(t *testing.T) {
	tests := []struct {
		name         string
		filter       ToolFilter
		server, tool string
		want         bool
	}{
		{"empty", ToolFilter{}, "s", "t", true},
		{"allow bare", ToolFilter{Allow: []string{"list_*"}}, "github", "list_issues", true},
		{"allow qualified", ToolFilter{Allow: []string{"github.*"}}, "github", "delete_repo", true},
		{"allow other server", ToolFilter{Allow: []string{"github.*"}}, "gitlab", "list", false},
		{"allow qualified exact", ToolFilter{Allow: []string{"k8s.get_pods"}}, "k8s", "get_pods", true},
		{"deny only, qualified", ToolFilter{Deny: []string{"*.delete_*"}}, "k8s", "delete_pod", false},
		{"deny only, bare", ToolFilter{Deny: []string{"delete_*"}}, "k8s", "delete_pod", false},
		{"deny only, no match", ToolFilter{Deny: []string{"*.delete_*"}}, "k8s", "get_pod", true},
		{"both: allowed server, denied tool", ToolFilter{Allow: []string{"k8s.*", "github.list_*"}, Deny: []string{"*.delete_*"}}, "k8s", "delete_pod", false},
		{"both: allowed", ToolFilter{Allow: []string{"k8s.*", "github.list_*"}, Deny: []string{"*.delete_*"}}, "github", "list_prs", true},
		{"both: not allowed", ToolFilter{Allow: []string{"k8s.*", "github.list_*"}, Deny: []string{"*.delete_*"}}, "github", "get_pr", false},
		{"dotted server", ToolFilter{Allow: []string{"a.b.*"}}, "a.b", "x", true},
		// "a.b.*", meant for server a.b, also matches tool b.x of server a.
		{"dotted server, ambiguous", ToolFilter{Allow: []string{"a.b.*"}}, "a", "b.x", true},
		{"dotted tool bare", ToolFilter{Allow: []string{"fs.read"}}, "other", "fs.read", true},
		{"dotted tool qualified", ToolFilter{Allow: []string{"srv.fs.read"}}, "srv", "fs.read", true},
		{"dotted deny hides", ToolFilter{Deny: []string{"a.b.*"}}, "a", "b.x", false},
		{"star crosses dots", ToolFilter{Allow: []string{"*"}}, "a.b", "c.d", true},
		{"question mark is one byte", ToolFilter{Allow: []string{"?.t"}}, "ab", "t", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter.AllowsQualified(tt.server, tt.tool); got != tt.want {
				t.Errorf("%+v.AllowsQualified(%q, %q) = %v, want %v", tt.filter, tt.server, tt.tool, got, tt.want)
			}
		})
	}
}

func TestToolFilterEmpty(t *testing.T) {
	for _, tt := range []struct {
		f    ToolFilter
		want bool
	}{
		{ToolFilter{}, true},
		{ToolFilter{Allow: []string{}}, true},
		{ToolFilter{Allow: []string{"*"}}, false},
		{ToolFilter{Deny: []string{"x"}}, false},
	} {
		if got := tt.f.Empty(); got != tt.want {
			t.Errorf("%+v.Empty() = %v", tt.f, got)
		}
	}
}

func TestServerEqualTools(t *testing.T) {
	base := Default().Servers[0]
	base.Tools = ToolFilter{Allow: []string{"list_*"}}
	emptyVsNil := base
	emptyVsNil.Tools = ToolFilter{Allow: []string{"list_*"}, Deny: []string{}}
	if !base.Equal(emptyVsNil) {
		t.Error("nil and empty deny differ")
	}
	for i, change := range []func(*Server){
		func(s *Server) { s.Tools = ToolFilter{} },
		func(s *Server) { s.Tools.Allow = []string{"get_*"} },
		func(s *Server) { s.Tools.Deny = []string{"x"} },
		func(s *Server) { s.Tools = ToolFilter{Deny: []string{"list_*"}} },
	} {
		c := base
		change(&c)
		if base.Equal(c) {
			t.Errorf("change %d: Equal missed a tool filter change", i)
		}
		if !base.SameConnection(c) {
			t.Errorf("change %d: a tool filter change must not restart the connection", i)
		}
	}
}

func TestGroupEqual(t *testing.T) {
	base := Group{Name: "g", Servers: []string{"a", "b"}, Tools: ToolFilter{Deny: []string{"x"}}, Expose: ExposeSearch,
		Origin: Origin{File: "/a.yaml", Path: "groups.g", Line: 3}}
	moved := base
	moved.Origin = Origin{}
	if !base.Equal(moved) {
		t.Error("Origin must not matter")
	}
	for i, change := range []func(*Group){
		func(g *Group) { g.Name = "h" },
		func(g *Group) { g.Servers = []string{"b", "a"} },
		func(g *Group) { g.Tools.Deny = nil },
		func(g *Group) { g.Expose = "" },
	} {
		c := base
		change(&c)
		if base.Equal(c) {
			t.Errorf("change %d not detected", i)
		}
	}
}

func TestExposeFor(t *testing.T) {
	c := Default()
	c.Expose = ExposeSearch
	c.Groups = []Group{
		{Name: "inherit", Servers: []string{"local"}},
		{Name: "all", Servers: []string{"local"}, Expose: ExposeAll},
		{Name: "search", Servers: []string{"local"}, Expose: ExposeSearch},
	}
	tests := []struct {
		top   ExposeMode
		group string
		want  ExposeMode
	}{
		{ExposeSearch, "", ExposeSearch},
		{ExposeSearch, "inherit", ExposeSearch},
		{ExposeSearch, "all", ExposeAll},
		{ExposeSearch, "search", ExposeSearch},
		{ExposeSearch, "unknown", ExposeSearch},
		{ExposeAll, "", ExposeAll},
		{ExposeAll, "inherit", ExposeAll},
		{ExposeAll, "search", ExposeSearch},
		{"", "", ExposeAll},
		{"", "inherit", ExposeAll},
	}
	for _, tt := range tests {
		c.Expose = tt.top
		if got := c.ExposeFor(tt.group); got != tt.want {
			t.Errorf("top %q: ExposeFor(%q) = %q, want %q", tt.top, tt.group, got, tt.want)
		}
	}
}
