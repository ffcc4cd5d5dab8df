package catalog

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func tool(name string) Tool {
	return Tool{Name: name, Raw: json.RawMessage(fmt.Sprintf(`{"name":%q}`, name))}
}

func server(name string, tools ...string) ServerCatalog {
	sc := ServerCatalog{Server: name}
	for _, t := range tools {
		sc.Tools = append(sc.Tools, tool(t))
	}
	return sc
}

// checkInvariants asserts what every snapshot must guarantee: valid unique
// names, and every tool reachable by its exported name.
func checkInvariants(t *testing.T, s *Snapshot) {
	t.Helper()
	seen := map[string]QualifiedName{}
	for _, tl := range s.Tools() {
		if !openAIName.MatchString(tl.Exported) {
			t.Errorf("%s/%s: exported %q is not a valid OpenAI name", tl.Server, tl.Name, tl.Exported)
		}
		if prev, dup := seen[tl.Exported]; dup {
			t.Errorf("exported %q emitted twice: %v and %s/%s", tl.Exported, prev, tl.Server, tl.Name)
		}
		seen[tl.Exported] = QualifiedName{tl.Server, tl.Name}
		got, ok := s.Tool(tl.Exported)
		if !ok || got.Server != tl.Server || got.Name != tl.Name {
			t.Errorf("Tool(%q) = %s/%s, %v; want %s/%s", tl.Exported, got.Server, got.Name, ok, tl.Server, tl.Name)
		}
	}
}

func TestCollisions(t *testing.T) {
	long := strings.Repeat("x", 70)
	longName := ExportedName("s", long, "__")      // shortened, with a hash suffix
	literal := strings.TrimPrefix(longName, "s__") // a tool literally called that
	tests := []struct {
		name    string
		servers []ServerCatalog
		// want maps each member's "server/tool" to its natural name, which
		// must be recorded as contested and given to nobody.
		contested map[string][]string
		// keep lists pairs whose natural name must survive.
		keep []string
	}{
		{
			name:      "separator inside names across servers",
			servers:   []ServerCatalog{server("a__b", "c"), server("a", "b__c")},
			contested: map[string][]string{"a__b__c": {"a/b__c", "a__b/c"}},
		},
		{
			name:      "sanitization on one server",
			servers:   []ServerCatalog{server("s", "my.tool", "my_tool", "other")},
			contested: map[string][]string{"s__my_tool": {"s/my.tool", "s/my_tool"}},
			keep:      []string{"s/other"},
		},
		{
			name:      "unicode of equal length",
			servers:   []ServerCatalog{server("s", "天気", "雨雲")},
			contested: map[string][]string{"s____": {"s/天気", "s/雨雲"}},
		},
		{
			name:      "three-way across servers",
			servers:   []ServerCatalog{server("x.y", "z"), server("x_y", "z"), server("x y", "z"), server("x", "y.z")},
			contested: map[string][]string{"x_y__z": {"x y/z", "x.y/z", "x_y/z"}},
			keep:      []string{"x/y.z"},
		},
		{
			name:      "two contested names at once",
			servers:   []ServerCatalog{server("s", "a.b", "a_b", "c d", "c_d")},
			contested: map[string][]string{"s__a_b": {"s/a.b", "s/a_b"}, "s__c_d": {"s/c d", "s/c_d"}},
		},
		{
			name:      "literal name equal to a shortened one",
			servers:   []ServerCatalog{server("s", long, literal)},
			contested: map[string][]string{longName: {"s/" + literal, "s/" + long}},
		},
		{
			name: "long names sharing a prefix do not collide",
			servers: []ServerCatalog{server("s",
				strings.Repeat("p", 60)+"one", strings.Repeat("p", 60)+"two")},
			keep: []string{"s/" + strings.Repeat("p", 60) + "one", "s/" + strings.Repeat("p", 60) + "two"},
		},
		{
			name:    "duplicate tool on one server is kept once",
			servers: []ServerCatalog{server("s", "t", "t")},
			keep:    []string{"s/t"},
		},
		{
			name:    "empty separator",
			servers: []ServerCatalog{server("ab", "c"), server("a", "bc")},
			contested: map[string][]string{
				"abc": {"a/bc", "ab/c"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sep := "__"
			if tt.name == "empty separator" {
				sep = ""
			}
			s := Build(tt.servers, sep)
			checkInvariants(t, s)
			var gotColl map[string][]string
			for _, c := range s.Collisions() {
				if gotColl == nil {
					gotColl = map[string][]string{}
				}
				for _, m := range c.Members {
					gotColl[c.Exported] = append(gotColl[c.Exported], m.Server+"/"+m.Name)
				}
				// The contested name may still resolve as some member's raw
				// server+sep+tool alias, but nobody is exported under it.
				for _, tl := range s.Tools() {
					if tl.Exported == c.Exported {
						t.Errorf("contested name %q was given to %s/%s", c.Exported, tl.Server, tl.Name)
					}
				}
				for _, m := range c.Members {
					if _, ok := s.Tool(m.Server + "." + m.Name); !ok && !strings.Contains(m.Server, ".") && !strings.Contains(m.Name, ".") {
						t.Errorf("member %v not reachable by seed form", m)
					}
				}
			}
			if !reflect.DeepEqual(gotColl, tt.contested) {
				t.Errorf("collisions = %v, want %v", gotColl, tt.contested)
			}
			for _, k := range tt.keep {
				srv, name, _ := strings.Cut(k, "/")
				i := slices.IndexFunc(s.Tools(), func(tl Tool) bool { return tl.Server == srv && tl.Name == name })
				if i < 0 || s.Tools()[i].Exported != ExportedName(srv, name, sep) {
					t.Errorf("%s lost its natural name", k)
				}
			}
		})
	}
}

// TestCollisionCannotStealANaturalName: a tool literally named what a
// colliding pair would be renamed to keeps that name; the pair retries.
func TestCollisionCannotStealANaturalName(t *testing.T) {
	steal := strings.TrimPrefix(disambiguated("s", "a.b", "__", 0), "s__")
	s := Build([]ServerCatalog{server("s", "a.b", "a_b", steal)}, "__")
	checkInvariants(t, s)
	tl, _ := s.Tool("s." + steal)
	if tl.Exported != "s__"+steal {
		t.Errorf("literal tool renamed to %q", tl.Exported)
	}
	ab, _ := s.Tool("s.a.b")
	if ab.Exported != disambiguated("s", "a.b", "__", 1) {
		t.Errorf("s/a.b got %q, want the retry name", ab.Exported)
	}
}

func TestDeterministicUnderShuffle(t *testing.T) {
	base := []ServerCatalog{
		server("a__b", "c", "d"), server("a", "b__c", "x.y", "x_y"),
		server("fs", "read", "write", strings.Repeat("w", 80)), server("empty"),
		server("uni", "天気", "雨雲", "ok"),
	}
	base[2].Resources = []Resource{{URI: "file:///a"}, {URI: "file:///b"}}
	base[1].Resources = []Resource{{URI: "file:///a"}}
	base[0].Prompts = []Prompt{{Name: "p.q"}, {Name: "p_q"}}
	want := Build(base, "__")
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 50 {
		in := slices.Clone(base)
		for j := range in {
			in[j].Tools = slices.Clone(in[j].Tools)
			rng.Shuffle(len(in[j].Tools), func(a, b int) { in[j].Tools[a], in[j].Tools[b] = in[j].Tools[b], in[j].Tools[a] })
		}
		rng.Shuffle(len(in), func(a, b int) { in[a], in[b] = in[b], in[a] })
		got := Build(in, "__")
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("shuffle %d: snapshot differs\n got %v\nwant %v", i, got.Tools(), want.Tools())
		}
	}
}

func TestLookup(t *testing.T) {
	s := Build([]ServerCatalog{
		server("github", "create_issue", "list.repos"),
		server("my server", "a/b"),
		server("a__b", "c"), server("a", "b__c"),
		server("x.y", "z"), server("x", "y.z"),
	}, "__")
	tests := []struct {
		query      string
		wantServer string // "" = not found
		wantName   string
	}{
		{"github__create_issue", "github", "create_issue"},
		{"github.create_issue", "github", "create_issue"},
		{"github__list_repos", "github", "list.repos"},
		{"github.list.repos", "github", "list.repos"},
		{"github__list.repos", "github", "list.repos"},
		{"my_server__a_b", "my server", "a/b"},
		{"my server.a/b", "my server", "a/b"},
		{"my server__a/b", "my server", "a/b"},
		{"a__b.c", "a__b", "c"},
		{"a.b__c", "a", "b__c"},
		{"a__b__c", "", ""}, // the raw form is shared by two tools: ambiguous
		{"x_y__z", "x.y", "z"},
		{"x__y_z", "x", "y.z"},
		{"x.y.z", "", ""}, // the seed form is shared: ambiguous
		{"github__nope", "", ""},
		{"", "", ""},
		{"github", "", ""},
	}
	for _, tt := range tests {
		got, ok := s.Tool(tt.query)
		if ok != (tt.wantServer != "") || got.Server != tt.wantServer || got.Name != tt.wantName {
			t.Errorf("Tool(%q) = %q/%q, %v; want %q/%q", tt.query, got.Server, got.Name, ok, tt.wantServer, tt.wantName)
		}
	}
	checkInvariants(t, s)
}

func TestLookupSeparators(t *testing.T) {
	for _, sep := range []string{"__", "_", "-", ".", "::", ""} {
		s := Build([]ServerCatalog{server("srv", "tool.x")}, sep)
		want := ExportedName("srv", "tool.x", sep)
		for _, q := range []string{want, "srv.tool.x", "srv" + sep + "tool.x"} {
			if got, ok := s.Tool(q); !ok || got.Exported != want {
				t.Errorf("sep %q: Tool(%q) = %q, %v", sep, q, got.Exported, ok)
			}
		}
	}
}

func TestLookupDoesNotAllocate(t *testing.T) {
	s := Build([]ServerCatalog{server("github", "create_issue")}, "__")
	for _, q := range []string{"github__create_issue", "github.create_issue", "missing"} {
		if n := testing.AllocsPerRun(100, func() { _, _ = s.Tool(q) }); n != 0 {
			t.Errorf("Tool(%q) allocates %v times", q, n)
		}
	}
}

func TestEmptyAndNilSnapshot(t *testing.T) {
	for name, s := range map[string]*Snapshot{"nil": nil, "zero": {}, "built empty": Build(nil, "__")} {
		t.Run(name, func(t *testing.T) {
			if len(s.Tools())+len(s.ServerTools("x"))+len(s.Collisions())+len(s.Resources())+
				len(s.ResourceTemplates())+len(s.Prompts())+len(s.Servers())+len(s.ResourceCollisions())+len(s.PromptCollisions()) != 0 {
				t.Error("empty snapshot returned items")
			}
			if _, ok := s.Tool("x"); ok {
				t.Error("Tool found something")
			}
			if _, ok := s.Resource("x"); ok {
				t.Error("Resource found something")
			}
			if _, ok := s.Prompt("x"); ok {
				t.Error("Prompt found something")
			}
			_ = s.Separator()
		})
	}
}

func TestServersAndServerTools(t *testing.T) {
	in := []ServerCatalog{server("b", "z", "y"), server("a", "t"), server("empty"), server("b", "x")}
	s := Build(in, "__")
	if got, want := s.Servers(), []string{"a", "b", "empty"}; !slices.Equal(got, want) {
		t.Errorf("Servers() = %v, want %v", got, want)
	}
	var names []string
	for _, tl := range s.ServerTools("b") {
		names = append(names, tl.Name)
	}
	if want := []string{"x", "y", "z"}; !slices.Equal(names, want) {
		t.Errorf("ServerTools(b) = %v, want %v", names, want)
	}
	if got := s.ServerTools("empty"); got != nil {
		t.Errorf("ServerTools(empty) = %v", got)
	}
	// Appending to a returned slice must not write into the snapshot.
	a := s.ServerTools("a")
	_ = append(a, tool("intruder"))
	if s.ServerTools("b")[0].Name != "x" {
		t.Error("append to ServerTools clobbered the snapshot")
	}
	// Build must not write into its input.
	if in[0].Tools[0].Exported != "" || in[0].Tools[0].Server != "" {
		t.Error("Build modified its input")
	}
}

func TestResourcesAndPrompts(t *testing.T) {
	a := ServerCatalog{Server: "a",
		Resources:         []Resource{{URI: "file:///shared", Name: "from a"}, {URI: "file:///a"}},
		ResourceTemplates: []ResourceTemplate{{URITemplate: "file:///{p}"}},
		Prompts:           []Prompt{{Name: "greet"}, {Name: "long.prompt"}},
	}
	b := ServerCatalog{Server: "b",
		Resources: []Resource{{URI: "file:///shared", Name: "from b"}},
		Prompts:   []Prompt{{Name: "greet"}},
	}
	s := Build([]ServerCatalog{b, a}, "__")
	if r, ok := s.Resource("file:///shared"); !ok || r.Server != "a" {
		t.Errorf("Resource(shared) = %+v, %v; want server a", r, ok)
	}
	want := []Collision{{Exported: "file:///shared", Members: []QualifiedName{{"a", "file:///shared"}, {"b", "file:///shared"}}}}
	if got := s.ResourceCollisions(); !reflect.DeepEqual(got, want) {
		t.Errorf("ResourceCollisions() = %v, want %v", got, want)
	}
	if len(s.Resources()) != 3 || len(s.ResourceTemplates()) != 1 || s.ResourceTemplates()[0].Server != "a" {
		t.Errorf("resources %v templates %v", s.Resources(), s.ResourceTemplates())
	}
	for q, wantServer := range map[string]string{"a__greet": "a", "b.greet": "b", "a__long_prompt": "a", "a.long.prompt": "a"} {
		if p, ok := s.Prompt(q); !ok || p.Server != wantServer {
			t.Errorf("Prompt(%q) = %+v, %v", q, p, ok)
		}
	}
	if len(s.PromptCollisions()) != 0 || len(s.Collisions()) != 0 {
		t.Errorf("unexpected collisions")
	}
	// Prompts and tools are separate namespaces: the same name is no collision.
	s = Build([]ServerCatalog{{Server: "s", Tools: []Tool{tool("x")}, Prompts: []Prompt{{Name: "x"}}}}, "__")
	if len(s.Collisions())+len(s.PromptCollisions()) != 0 {
		t.Error("tool and prompt of one name collided")
	}
}

// TestBuildRandomNames builds catalogs from a tiny alphabet, where
// sanitization collisions are everywhere, and checks the invariants.
func TestBuildRandomNames(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "_", ".", "é", "-", "__"}
	word := func(maxLen int) string {
		var b strings.Builder
		for range 1 + rng.IntN(maxLen) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	for round := range 200 {
		var servers []ServerCatalog
		for range 1 + rng.IntN(4) {
			sc := ServerCatalog{Server: word(3)}
			for range rng.IntN(12) {
				n := word(4)
				if rng.IntN(8) == 0 {
					n = strings.Repeat(n, 40) // force shortening
				}
				sc.Tools = append(sc.Tools, tool(n))
			}
			servers = append(servers, sc)
		}
		sep := []string{"__", "_", ".", ""}[round%4]
		s := Build(servers, sep)
		checkInvariants(t, s)
		for _, c := range s.Collisions() {
			if len(c.Members) < 2 {
				t.Fatalf("collision %q with %d members", c.Exported, len(c.Members))
			}
		}
		if !reflect.DeepEqual(s, Build(servers, sep)) {
			t.Fatal("two builds of one input differ")
		}
		// Lists sorted as a snapshot holds them take Build's fast path
		// (no sort) and must give the same snapshot.
		sorted := slices.Clone(servers)
		for i := range sorted {
			sorted[i].Tools = slices.Clone(sorted[i].Tools)
			sorted[i].Sort()
		}
		slices.Reverse(sorted)
		if !reflect.DeepEqual(s, Build(sorted, sep)) {
			t.Fatal("a build of sorted lists differs")
		}
		if t.Failed() {
			t.Fatalf("round %d, sep %q: %+v", round, sep, servers)
		}
	}
}
