package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"
)

var openAIName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// spec8 is the documented suffix: "_" + 8 hex of sha256(server+"\x00"+tool).
func spec8(server, tool string) string {
	sum := sha256.Sum256([]byte(server + "\x00" + tool))
	return "_" + hex.EncodeToString(sum[:])[:8]
}

func TestExportedName(t *testing.T) {
	long := strings.Repeat("t", 200)
	tests := []struct {
		name, server, tool, sep string
		want                    string
	}{
		{"plain", "github", "create_issue", "__", "github__create_issue"},
		{"dash kept", "my-srv", "get-x", "__", "my-srv__get-x"},
		{"dot and slash", "fs", "files/read.v2", "__", "fs__files_read_v2"},
		{"space and colon", "my server", "a:b c", "__", "my_server__a_b_c"},
		{"one underscore per rune", "é", "天気", "__", "___" + "__"},
		{"emoji", "s", "🔥hot", "__", "s___hot"},
		{"invalid utf8 byte", "s", "a\xffb", "__", "s__a_b"},
		{"dot separator sanitized", "s", "t", ".", "s_t"},
		{"empty separator", "s", "t", "", "st"},
		{"empty tool", "s", "", "__", "s__"},
		{"all empty gets a hash", "", "", "", spec8("", "")},
		{"exactly 64", "s", strings.Repeat("x", 61), "__", "s__" + strings.Repeat("x", 61)},
		{"65 shortened", "s", strings.Repeat("x", 62), "__", "s__" + strings.Repeat("x", 52) + spec8("s", strings.Repeat("x", 62))},
		{"200 keeps 16 of the server", strings.Repeat("S", 40), long, "__", strings.Repeat("S", 16) + "__" + strings.Repeat("t", 37) + spec8(strings.Repeat("S", 40), long)},
		{"long server short tool", strings.Repeat("S", 100), "tool", "__", strings.Repeat("S", 49) + "__tool" + spec8(strings.Repeat("S", 100), "tool")},
		{"long unicode", "s", strings.Repeat("é", 70), "__", "s__" + strings.Repeat("_", 52) + spec8("s", strings.Repeat("é", 70))},
		{"separator too long to share", "srv", "tool", strings.Repeat("-", 70), "srv" + strings.Repeat("-", 52) + spec8("srv", "tool")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExportedName(tt.server, tt.tool, tt.sep)
			if got != tt.want {
				t.Errorf("ExportedName(%q, %q, %q)\n got %q\nwant %q", tt.server, tt.tool, tt.sep, got, tt.want)
			}
			if !openAIName.MatchString(got) || !ValidName(got) {
				t.Errorf("%q is not a valid OpenAI name", got)
			}
			if again := ExportedName(tt.server, tt.tool, tt.sep); again != got {
				t.Errorf("not deterministic: %q then %q", got, again)
			}
		})
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a", true},
		{"A-z_09", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{"a.b", false},
		{"a b", false},
		{"é", false},
		{"a/b", false},
	}
	for _, tt := range tests {
		if got := ValidName(tt.in); got != tt.want {
			t.Errorf("ValidName(%q) = %v, want %v", tt.in, got, tt.want)
		}
		if got := openAIName.MatchString(tt.in); got != tt.want {
			t.Errorf("regexp disagrees on %q", tt.in)
		}
	}
}

func TestSanitizeDoesNotAllocateWhenClean(t *testing.T) {
	s := strings.Repeat("abc_", 10)
	if n := testing.AllocsPerRun(100, func() { _ = sanitize(s) }); n != 0 {
		t.Errorf("sanitize of a clean name allocates %v times", n)
	}
}

func TestDisambiguatedDiffersFromNatural(t *testing.T) {
	for _, q := range []QualifiedName{{"a", "b"}, {"srv", strings.Repeat("x", 100)}, {"", ""}} {
		nat := ExportedName(q.Server, q.Name, "__")
		seen := map[string]bool{nat: true}
		for try := 1; try < 5; try++ {
			d := disambiguated(q.Server, q.Name, "__", try)
			if !ValidName(d) || seen[d] {
				t.Errorf("try %d for %v: %q invalid or repeated", try, q, d)
			}
			seen[d] = true
		}
	}
}

func FuzzExportedName(f *testing.F) {
	f.Add("github", "create_issue", "__")
	f.Add("a__b", "c", "__")
	f.Add("", "", "")
	f.Add("srv", strings.Repeat("天", 40), ".")
	f.Add(strings.Repeat("s", 70), strings.Repeat("t", 70), strings.Repeat("-", 70))
	f.Fuzz(func(t *testing.T, server, tool, sep string) {
		got := ExportedName(server, tool, sep)
		if !openAIName.MatchString(got) {
			t.Fatalf("ExportedName(%q, %q, %q) = %q: not a valid OpenAI name", server, tool, sep, got)
		}
		if again := ExportedName(server, tool, sep); again != got {
			t.Fatalf("not deterministic: %q then %q", got, again)
		}
		for try := range 3 {
			if d := disambiguated(server, tool, sep, try); !openAIName.MatchString(d) {
				t.Fatalf("disambiguated try %d = %q: not a valid OpenAI name", try, d)
			}
		}
	})
}
