package catalog

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// searchTool is a tool as a server would send it; params are pairs of
// property name and description.
func searchTool(name, desc string, params ...string) Tool {
	props := map[string]any{}
	for i := 0; i+1 < len(params); i += 2 {
		props[params[i]] = map[string]any{"type": "string", "description": params[i+1]}
	}
	schema, err := json.Marshal(map[string]any{"type": "object", "properties": props})
	if err != nil {
		panic(err)
	}
	return Tool{Name: name, Description: desc, InputSchema: schema, Raw: json.RawMessage(fmt.Sprintf(`{"name":%q}`, name))}
}

// searchCatalog is a small catalog of the kind of servers people connect.
func searchCatalog() []ServerCatalog {
	return []ServerCatalog{
		{Server: "github", Tools: []Tool{
			searchTool("create_issue", "Create a new issue in a GitHub repository.",
				"owner", "Repository owner", "repo", "Repository name", "title", "Issue title", "body", "Issue body", "labels", "Labels to apply"),
			searchTool("list_issues", "List issues in a GitHub repository, with optional filters.",
				"owner", "Repository owner", "repo", "Repository name", "state", "open, closed or all"),
			searchTool("close_issue", "Close an issue.", "owner", "Repository owner", "repo", "Repository name", "issue_number", "The issue to close"),
			searchTool("create_pull_request", "Open a pull request to merge one branch into another.",
				"owner", "Repository owner", "repo", "Repository name", "head", "The branch containing your changes", "base", "The branch to merge into"),
			searchTool("create_branch", "Create a new branch in a repository.", "owner", "Repository owner", "repo", "Repository name", "branch", "Name of the new branch"),
			searchTool("get_file_contents", "Get the contents of a file or directory from a GitHub repository.",
				"owner", "Repository owner", "repo", "Repository name", "path", "Path to the file", "branch", "Branch to read from"),
			searchTool("search_repositories", "Search for GitHub repositories.", "query", "Search query", "page", "Page number"),
		}},
		{Server: "gitlab", Tools: []Tool{
			searchTool("create_issue", "Create a new issue in a GitLab project.", "project_id", "Project ID or path", "title", "Issue title"),
			searchTool("list_merge_requests", "List merge requests in a GitLab project.", "project_id", "Project ID or path"),
		}},
		{Server: "jira", Tools: []Tool{
			searchTool("createIssue", "Create a Jira ticket.", "projectKey", "The project key", "summary", "One line summary"),
			searchTool("searchIssues", "Search Jira tickets with JQL.", "jql", "A JQL expression"),
		}},
		{Server: "slack", Tools: []Tool{
			searchTool("post_message", "Send a message to a Slack channel.", "channel_id", "The channel to post to", "text", "Message text"),
			searchTool("list_channels", "List the public channels in the workspace.", "limit", "Maximum number of channels", "cursor", "Pagination cursor"),
			searchTool("get_user_profile", "Get a user's profile: name, title, status.", "user_id", "The user"),
			searchTool("add_reaction", "Add an emoji reaction to a message.", "channel_id", "The channel", "timestamp", "The message timestamp", "reaction", "Emoji name"),
		}},
		{Server: "filesystem", Tools: []Tool{
			searchTool("read_file", "Read the complete contents of a file from the file system.", "path", "Path of the file"),
			searchTool("write_file", "Create a new file or overwrite an existing file with new content.", "path", "Path of the file", "content", "Text to write"),
			searchTool("list_directory", "List the files and directories in a directory.", "path", "Directory path"),
			searchTool("search_files", "Recursively search for files whose names match a pattern.", "path", "Where to start", "pattern", "Glob pattern"),
			searchTool("move_file", "Move or rename a file or directory.", "source", "Current path", "destination", "New path"),
		}},
		{Server: "weather", Tools: []Tool{
			searchTool("get_forecast", "Get the weather forecast for a location.", "latitude", "Latitude of the location", "longitude", "Longitude of the location"),
			searchTool("get_alerts", "Get active weather alerts for a US state.", "state", "Two-letter US state code"),
		}},
		{Server: "postgres", Tools: []Tool{
			searchTool("query", "Run a read-only SQL query against the database.", "sql", "The SQL to run"),
			searchTool("list_tables", "List the tables in the database schema.", "schema", "Schema name"),
		}},
		{Server: "browser", Tools: []Tool{
			searchTool("navigate", "Navigate the browser to a URL.", "url", "Where to go"),
			searchTool("screenshot", "Take a screenshot of the current page.", "selector", "CSS selector of an element", "full_page", "Capture the whole page"),
		}},
		{Server: "alpha", Tools: []Tool{searchTool("ping", "Check that the server is alive.")}},
		{Server: "beta", Tools: []Tool{searchTool("ping", "Check that the server is alive.")}},
	}
}

func exportedNames(res []SearchResult) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.Tool.Exported
	}
	return out
}

func TestSearchRanksTheRightToolFirst(t *testing.T) {
	s := Build(searchCatalog(), "__")
	tests := []struct {
		query, want string
	}{
		{"create a github issue", "github__create_issue"},
		{"send message to slack channel", "slack__post_message"},
		{"read file contents", "filesystem__read_file"},
		{"weather forecast", "weather__get_forecast"},
		{"sql query", "postgres__query"},
		{"What's the weather going to be like tomorrow? forecast please", "weather__get_forecast"},
		{"open a pull request", "github__create_pull_request"},
		{"screenshot of the page", "browser__screenshot"},
		{"list tables in the database", "postgres__list_tables"},
		{"gitlab merge requests", "gitlab__list_merge_requests"},
		{"react to a message with an emoji", "slack__add_reaction"},
		// stemming
		{"closing issues", "github__close_issue"},
		{"listed channels", "slack__list_channels"},
		{"Posting messages", "slack__post_message"},
		{"directories", "filesystem__list_directory"},
		{"moved files", "filesystem__move_file"},
		// names in any case style
		{"createIssue jira", "jira__createIssue"},
		{"jira search_issues", "jira__searchIssues"},
		{"SEARCH-ISSUES", "jira__searchIssues"},
		{"github__createIssue", "github__create_issue"},
		{"filesystem.read_file", "filesystem__read_file"},
		{"ListDirectory", "filesystem__list_directory"},
		// a word only a parameter holds still finds its tool
		{"latitude", "weather__get_forecast"},
		{"css selector", "browser__screenshot"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			res := s.Search(tt.query, 5)
			if len(res) == 0 || res[0].Tool.Exported != tt.want {
				t.Errorf("Search(%q) = %v, want %s first", tt.query, exportedNames(res), tt.want)
			}
		})
	}
}

// Every tool is the best answer to its own exported name.
func TestSearchFindsEveryToolByItsName(t *testing.T) {
	s := Build(searchCatalog(), "__")
	for _, tl := range s.Tools() {
		if tl.Server == "alpha" || tl.Server == "beta" {
			continue // "ping" is the same tool on both; the server name breaks the tie
		}
		res := s.Search(tl.Exported, 1)
		if len(res) != 1 || res[0].Tool.Exported != tl.Exported {
			t.Errorf("Search(%q) = %v", tl.Exported, exportedNames(res))
		}
	}
	for q, want := range map[string]string{"alpha ping": "alpha__ping", "beta__ping": "beta__ping"} {
		if res := s.Search(q, 1); len(res) != 1 || res[0].Tool.Exported != want {
			t.Errorf("Search(%q) = %v, want %s", q, exportedNames(res), want)
		}
	}
}

func TestSearchNameOutranksParameter(t *testing.T) {
	s := Build(searchCatalog(), "__")
	// "branch" is in create_branch's name and in get_file_contents'
	// parameters; create_pull_request only mentions it in a parameter's
	// description.
	res := s.Search("branch", 0)
	got := exportedNames(res)
	want := []string{"github__create_branch", "github__create_pull_request", "github__get_file_contents"}
	if len(got) < 1 || got[0] != want[0] {
		t.Fatalf("Search(branch) = %v, want %s first", got, want[0])
	}
	for _, w := range want[1:] {
		if !slices.Contains(got, w) {
			t.Errorf("Search(branch) = %v, missing %s (parameters are indexed)", got, w)
		}
	}
	for _, r := range res[1:] {
		if r.Score >= res[0].Score {
			t.Errorf("%s scores %v, not below the name match's %v", r.Tool.Exported, r.Score, res[0].Score)
		}
	}
}

func TestSearchTiesAreOrderedByExportedName(t *testing.T) {
	servers := searchCatalog()
	want := Build(servers, "__").Search("ping alive", 0)
	if got := exportedNames(want); !slices.Equal(got, []string{"alpha__ping", "beta__ping"}) {
		t.Fatalf("Search(ping alive) = %v", got)
	}
	if want[0].Score != want[1].Score {
		t.Errorf("identical tools score %v and %v", want[0].Score, want[1].Score)
	}
	// Same answers, to the bit, whatever order the catalog came in.
	ref := Build(searchCatalog(), "__")
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		rng.Shuffle(len(servers), func(i, j int) { servers[i], servers[j] = servers[j], servers[i] })
		for i := range servers {
			tools := servers[i].Tools
			rng.Shuffle(len(tools), func(i, j int) { tools[i], tools[j] = tools[j], tools[i] })
		}
		s := Build(servers, "__")
		for _, q := range []string{"ping alive", "create issue", "file", "list"} {
			a, b := s.Search(q, 0), ref.Search(q, 0)
			if !slices.EqualFunc(a, b, func(x, y SearchResult) bool {
				return x.Tool.Exported == y.Tool.Exported && x.Score == y.Score
			}) {
				t.Fatalf("Search(%q) depends on input order:\n%v\n%v", q, exportedNames(a), exportedNames(b))
			}
		}
	}
}

func TestSearchLimit(t *testing.T) {
	s := Build(searchCatalog(), "__")
	all := len(s.Search("repository", len(s.Tools())))
	if all < 5 {
		t.Fatalf("only %d tools mention a repository", all)
	}
	tests := []struct{ limit, want int }{
		{1, 1}, {3, 3}, {0, min(all, DefaultSearchLimit)}, {-1, min(all, DefaultSearchLimit)}, {1000, all},
	}
	for _, tt := range tests {
		res := s.Search("repository", tt.limit)
		if len(res) != tt.want {
			t.Errorf("limit %d: %d results, want %d", tt.limit, len(res), tt.want)
		}
		// A smaller limit is a prefix of a larger one.
		if full := s.Search("repository", all); !slices.Equal(exportedNames(res), exportedNames(full[:len(res)])) {
			t.Errorf("limit %d: %v is not a prefix of %v", tt.limit, exportedNames(res), exportedNames(full))
		}
	}
}

func TestSearchNothing(t *testing.T) {
	s := Build(searchCatalog(), "__")
	for name, tt := range map[string]struct {
		s     *Snapshot
		query string
	}{
		"empty":          {s, ""},
		"whitespace":     {s, " \t\n "},
		"punctuation":    {s, "__ -- ..."},
		"stop words":     {s, "what is the"},
		"unknown word":   {s, "xylophone"},
		"nil snapshot":   {nil, "issue"},
		"zero snapshot":  {&Snapshot{}, "issue"},
		"empty snapshot": {Build(nil, "__"), "issue"},
	} {
		if res := tt.s.Search(tt.query, 10); res != nil {
			t.Errorf("%s: Search(%q) = %v, want nil", name, tt.query, exportedNames(res))
		}
	}
}

func TestSearchFunc(t *testing.T) {
	s := Build(searchCatalog(), "__")
	onlyGitlab := func(tl *Tool) bool { return tl.Server == "gitlab" }
	got := exportedNames(s.SearchFunc("create github issue", 0, onlyGitlab))
	if !slices.Equal(got, []string{"gitlab__create_issue"}) {
		t.Errorf("gitlab only: %v", got)
	}
	none := func(*Tool) bool { return false }
	if res := s.SearchFunc("issue", 0, none); len(res) != 0 {
		t.Errorf("keep nothing: %v", exportedNames(res))
	}
	// The filter applies before the limit: the best kept tools fill it.
	notGithub := func(tl *Tool) bool { return tl.Server != "github" }
	got = exportedNames(s.SearchFunc("create issue", 2, notGithub))
	if len(got) != 2 || slices.ContainsFunc(got, func(n string) bool { return strings.HasPrefix(n, "github") }) {
		t.Errorf("not github, limit 2: %v", got)
	}
}

func TestSearchMalformedSchemas(t *testing.T) {
	schemas := []string{
		`{"properties":`, `{"properties":[1,2]}`, `"nope"`, `null`, ``,
		`{"properties":{"city":true,"zip":{"description":5},"country":{"description":"ISO country code"}}}`,
	}
	sc := ServerCatalog{Server: "geo"}
	for i, schema := range schemas {
		sc.Tools = append(sc.Tools, Tool{Name: fmt.Sprintf("lookup_%d", i), InputSchema: json.RawMessage(schema), Raw: json.RawMessage(`{}`)})
	}
	s := Build([]ServerCatalog{sc}, "__")
	if n := len(s.Search("lookup", 100)); n != len(schemas) {
		t.Errorf("Search(lookup) found %d tools, want all %d", n, len(schemas))
	}
	// What decoded despite type errors is indexed.
	last := fmt.Sprintf("geo__lookup_%d", len(schemas)-1)
	for _, q := range []string{"city", "zip", "iso country"} {
		if got := exportedNames(s.Search(q, 10)); !slices.Equal(got, []string{last}) {
			t.Errorf("Search(%q) = %v, want [%s]", q, got, last)
		}
	}
}

func TestSearchTruncatesLongQueries(t *testing.T) {
	s := Build(searchCatalog(), "__")
	q := "weather" + strings.Repeat(" ", MaxQueryBytes) + "slack"
	for _, r := range s.Search(q, 100) {
		if r.Tool.Server != "weather" {
			t.Errorf("%s matched a word past MaxQueryBytes", r.Tool.Exported)
		}
	}
	for _, q := range []string{strings.Repeat("é", MaxQueryBytes), strings.Repeat("a", MaxQueryBytes-1) + "日本"} {
		got := truncateQuery(q)
		if len(got) > MaxQueryBytes || len(got) < MaxQueryBytes-utf8.UTFMax || !utf8.ValidString(got) {
			t.Errorf("truncateQuery cut %d bytes to %d (valid %v)", len(q), len(got), utf8.ValidString(got))
		}
	}
}

func TestSearchConcurrent(t *testing.T) {
	queries := []string{"create issue", "slack message", "read file", "weather", "sql", "repository", "list"}
	want := map[string][]SearchResult{}
	ref := Build(searchCatalog(), "__")
	for _, q := range queries {
		want[q] = ref.Search(q, 0)
	}
	s := Build(searchCatalog(), "__") // fresh: the goroutines race to build the index
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				q := queries[(g+i)%len(queries)]
				if got := s.Search(q, 0); !slices.EqualFunc(got, want[q], func(a, b SearchResult) bool {
					return a.Tool.Exported == b.Tool.Exported && a.Score == b.Score
				}) {
					t.Errorf("concurrent Search(%q) = %v, want %v", q, exportedNames(got), exportedNames(want[q]))
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestSearchAllocations(t *testing.T) {
	if !poolKeepsItems() {
		t.Skip("sync.Pool drops items (the race detector does so on purpose), so queries allocate their scratch")
	}
	s := Build(searchBenchServers(20, 50), "__")
	s.Search("warm up", 1)
	// The result slice is the only allocation.
	if allocs := testing.AllocsPerRun(100, func() { s.Search("create an issue in the repository", 10) }); allocs > 1 {
		t.Errorf("Search allocates %v times per query, want 1", allocs)
	}
}

// poolKeepsItems reports whether a sync.Pool hands back what was just put
// into it, which it always does unless the race detector is on.
func poolKeepsItems() bool {
	var p sync.Pool
	for range 100 {
		x := new(int)
		p.Put(x)
		if p.Get() != x {
			return false
		}
	}
	return true
}

// checkResults asserts what every answer must satisfy.
func checkResults(t *testing.T, s *Snapshot, query string, limit int, res []SearchResult) {
	t.Helper()
	max := limit
	if max <= 0 {
		max = DefaultSearchLimit
	}
	if len(res) > max {
		t.Fatalf("Search(%q, %d) returned %d results", query, limit, len(res))
	}
	for i, r := range res {
		if !(r.Score > 0) || math.IsInf(r.Score, 0) {
			t.Fatalf("Search(%q): %s has score %v", query, r.Tool.Exported, r.Score)
		}
		if got, ok := s.Tool(r.Tool.Exported); !ok || got.Name != r.Tool.Name {
			t.Fatalf("Search(%q): %s is not in the snapshot", query, r.Tool.Exported)
		}
		if i == 0 {
			continue
		}
		p := res[i-1]
		if p.Score < r.Score || p.Score == r.Score && p.Tool.Exported >= r.Tool.Exported {
			t.Fatalf("Search(%q): %s (%v) before %s (%v)", query, p.Tool.Exported, p.Score, r.Tool.Exported, r.Score)
		}
	}
}

func FuzzSearch(f *testing.F) {
	for _, q := range []string{
		"create a github issue", "", " ", "createIssue", "日本語", "user's", "\xff\xfe", "HTTPServer", "APIs",
		strings.Repeat("issue ", 300), "ies", "sses", "ed", "ing", "list_issues --state open",
		`{"properties":{"a":{"description":"x\"y"}}}`, `[1,{"a":[]},"]"]`, `{"a":-1.5e3,"b":[true,null]}`,
	} {
		f.Add(q, 3)
	}
	s := Build(append(searchCatalog(), searchBenchServers(5, 20)...), "__")
	f.Fuzz(func(t *testing.T, query string, limit int) {
		if len(query) > 2*MaxQueryBytes {
			// Search only reads the first MaxQueryBytes, and minimizing
			// long inputs stalls the fuzzer for a minute each.
			t.Skip()
		}
		res := s.Search(query, limit)
		checkResults(t, s, query, limit, res)
		if again := s.Search(query, limit); !slices.Equal(exportedNames(res), exportedNames(again)) {
			t.Fatalf("Search(%q) is not deterministic", query)
		}
		// Queries double as schemas: the walker must accept all JSON.
		if !eachProperty(query, func(string, string) {}) && json.Valid([]byte(query)) {
			t.Fatalf("eachProperty rejects valid JSON %q", query)
		}
		tk := tokenizer{text: query}
		for {
			tok, ok := tk.next()
			if !ok {
				break
			}
			if len(tok) == 0 || len(tok) > maxTermBytes || !utf8.Valid(tok) {
				t.Fatalf("tokenizer(%q) produced term %q", query, tok)
			}
		}
	})
}
