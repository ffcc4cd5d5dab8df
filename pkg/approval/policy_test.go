package approval

import (
	"errors"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestPolicyRequires(t *testing.T) {
	servers := map[string]ServerRule{
		"safe":   {Mode: ModeNever, Require: []string{"*"}},
		"danger": {Mode: ModeAlways},
		"files":  {Require: []string{"delete_*", "rm?"}},
		"a.b":    {},
	}
	hub := []string{"*.drop_*", "github.*", "purge"}
	tests := []struct {
		name          string
		defaultAlways bool
		server, tool  string
		want          bool
	}{
		{"never beats server and hub globs", false, "safe", "purge", false},
		{"never beats default always", true, "safe", "read", false},
		{"always beats default never", false, "danger", "read", true},
		{"server glob", false, "files", "delete_all", true},
		{"server glob ?", false, "files", "rmx", true},
		{"server glob is whole-name", false, "files", "undelete_all", false},
		{"server glob not for other servers", false, "other", "delete_all", false},
		{"hub glob bare name", false, "other", "purge", true},
		{"hub glob qualified", false, "x", "drop_table", true},
		{"hub glob server.*", false, "github", "create_issue", true},
		{"hub glob server.* other server", false, "gitlab", "create_issue", false},
		{"hub glob is case-sensitive", false, "GitHub", "create_issue", false},
		{"dotted server", false, "a.b", "drop_x", true},
		{"no rule: default never", false, "files", "read", false},
		{"no rule: default always", true, "files", "read", true},
		{"unknown server: default", true, "nowhere", "read", true},
		{"'*' does not cross '/'", false, "x", "a/drop_b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewPolicy(tt.defaultAlways, hub, servers)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Requires(tt.server, tt.tool); got != tt.want {
				t.Errorf("Requires(%q, %q) = %v, want %v", tt.server, tt.tool, got, tt.want)
			}
		})
	}
}

func TestPolicyZeroAndCopies(t *testing.T) {
	var zero Policy
	if zero.Requires("s", "t") {
		t.Error("the zero Policy requires approval")
	}
	hub := []string{"x"}
	servers := map[string]ServerRule{"s": {Require: []string{"y"}}}
	p, err := NewPolicy(false, hub, servers)
	if err != nil {
		t.Fatal(err)
	}
	hub[0] = "*"
	servers["s"].Require[0] = "*"
	servers["t"] = ServerRule{Mode: ModeAlways}
	if p.Requires("s", "z") || p.Requires("t", "z") {
		t.Error("NewPolicy must copy its arguments")
	}
}

func TestNewPolicyErrors(t *testing.T) {
	_, err := NewPolicy(false, []string{"ok", "[", ""}, map[string]ServerRule{
		"a": {Mode: "sometimes"},
		"b": {Require: []string{`x\`}},
	})
	if err == nil {
		t.Fatal("NewPolicy accepted bad input")
	}
	for _, want := range []string{`require[1]: "["`, "require[2]: empty glob", `server "a": unknown mode "sometimes"`, `server "b": require[0]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if !errors.Is(err, path.ErrBadPattern) {
		t.Errorf("error does not wrap path.ErrBadPattern: %v", err)
	}
}

func TestMatchQualified(t *testing.T) {
	tests := []struct {
		pattern, server, tool string
	}{
		{"*", "s", "t"},
		{"s.t", "s", "t"},
		{"s.*", "s", "t"},
		{"*.t", "s", "t"},
		{"s?t", "s", "t"},
		{"s[.]t", "s", "t"},
		{"s[^.]t", "s", "t"},
		{`s\.t`, "s", "t"},
		{"*.*.*", "a.b", "c"},
		{"*x*", "ab", "c"},
		{"*", "a/b", "c"},
		{"a*c", "a/b", "c"},
		{"[é]*", "é", "x"},
		{"??.t", "é", "t"},
		{"?.t", "é", "t"},
		{"*", "", ""},
		{"?", "", ""},
		{".", "", ""},
		{"*.", "s", ""},
	}
	for _, tt := range tests {
		want, _ := path.Match(tt.pattern, tt.server+"."+tt.tool)
		if got := matchQualified(tt.pattern, qualified{tt.server, tt.tool}); got != want {
			t.Errorf("matchQualified(%q, %q.%q) = %v, path.Match says %v", tt.pattern, tt.server, tt.tool, got, want)
		}
	}
}

// FuzzMatchQualified checks that matching a valid pattern against server
// and tool in place agrees with path.Match on the joined name.
func FuzzMatchQualified(f *testing.F) {
	for _, seed := range [][3]string{
		{"*", "s", "t"}, {"s.*", "s", "t"}, {"*.d_*", "x", "d_y"}, {"[a-z]*.?", "ab", "c"},
		{`\*.[^.]`, "*", "x"}, {"*?*", "", ""}, {"a*b*c", "aXb", "Yc"}, {"[\xff]", "\xe2", "\x82"},
		{"?", "\xe2\x82", ""}, {"*/*", "a/b", "c"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, pattern, server, tool string) {
		if _, err := path.Match(pattern, ""); err != nil {
			return // NewPolicy refuses it
		}
		want, _ := path.Match(pattern, server+"."+tool)
		if got := matchQualified(pattern, qualified{server, tool}); got != want {
			t.Errorf("matchQualified(%q, %q.%q) = %v, path.Match says %v (valid UTF-8: %v)",
				pattern, server, tool, got, want, utf8.ValidString(server+tool))
		}
	})
}

func BenchmarkRequires(b *testing.B) {
	servers := map[string]ServerRule{
		"files":  {Require: []string{"delete_*", "rm_*", "write_[a-z]*"}},
		"github": {},
		"safe":   {Mode: ModeNever},
	}
	p, err := NewPolicy(false, []string{"*.drop_*", "github.delete_*", "purge_everything_now"}, servers)
	if err != nil {
		b.Fatal(err)
	}
	// The longest names force matching past path.Match's (and the
	// compiler's) 32-byte buffers: nothing may be allocated.
	calls := [][2]string{
		{"files", "read_file"}, {"github", "list_pull_requests_for_a_very_long_repository_name"},
		{"a-server-with-a-rather-long-name", "drop_the_whole_database_right_now"}, {"safe", "x"},
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c := calls[i%len(calls)]
		p.Requires(c[0], c[1])
	}
	if allocs := testing.AllocsPerRun(100, func() {
		for _, c := range calls {
			p.Requires(c[0], c[1])
		}
	}); allocs != 0 {
		b.Errorf("Requires allocates %v times per round", allocs)
	}
}
