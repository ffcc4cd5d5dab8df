package catalog

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// benchServers is nServers servers of nTools tools each, with a few names
// that need sanitizing, shortening or disambiguating, like real catalogs.
func benchServers(nServers, nTools int) []ServerCatalog {
	out := make([]ServerCatalog, nServers)
	for s := range out {
		sc := ServerCatalog{Server: fmt.Sprintf("server-%03d", s)}
		for i := range nTools {
			name := fmt.Sprintf("tool_%03d", i)
			switch i % 10 {
			case 1:
				name = fmt.Sprintf("ns.tool_%03d", i)
			case 2:
				name = fmt.Sprintf("ns_tool_%03d", i-1) // collides with case 1
			case 3:
				name = fmt.Sprintf("a_very_long_tool_name_that_will_not_fit_in_sixty_four_bytes_%03d", i)
			}
			sc.Tools = append(sc.Tools, Tool{
				Name:        name,
				Description: "does something useful",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"}}}`),
				Raw:         json.RawMessage(fmt.Sprintf(`{"name":%q}`, name)),
			})
		}
		out[s] = sc
	}
	return out
}

// BenchmarkBuild builds a snapshot of 100 servers of 50 tools. "sorted"
// is the hub's case: each server's tools in snapshot order already.
func BenchmarkBuild(b *testing.B) {
	unsorted := benchServers(100, 50)
	sorted := benchServers(100, 50)
	for i := range sorted {
		sorted[i].Sort()
	}
	for _, in := range []struct {
		name    string
		servers []ServerCatalog
	}{{"unsorted", unsorted}, {"sorted", sorted}} {
		b.Run(in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Build(in.servers, "__")
			}
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	s := Build(benchServers(100, 50), "__")
	for _, q := range []struct{ form, name string }{
		{"exported", "server-042__tool_007"},
		{"seed", "server-042.tool_007"},
		{"raw", "server-042__ns.tool_011"},
		{"missing", "server-042__nope"},
	} {
		b.Run(q.form, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = s.Tool(q.name)
			}
		})
	}
}

// searchBenchServers is a synthetic but realistic catalog: servers named
// after products, tool names in every case style, descriptions of a few
// dozen words and two to six described parameters per tool.
func searchBenchServers(nServers, nTools int) []ServerCatalog {
	products := strings.Fields(`github gitlab slack jira notion linear stripe shopify postgres mysql redis mongodb
		s3 gcs azure-blob kubernetes docker aws-ec2 cloudflare vercel sentry datadog pagerduty grafana prometheus
		confluence google-drive gmail outlook calendar zoom teams discord telegram twilio sendgrid hubspot salesforce
		zendesk intercom airtable figma asana trello todoist dropbox onedrive spotify youtube playwright`)
	verbs := strings.Fields(`create list get update delete search send read write close open run query fetch
		upload download archive merge sync export import add remove find describe`)
	nouns := strings.Fields(`issue pull_request message channel file directory user repository comment branch
		commit ticket invoice customer event calendar_event document page table record bucket object image
		video report metric alert dashboard deployment container secret key note task project label webhook
		subscription payment order product playlist`)
	filler := strings.Fields(`the a of to and in for with on by from this that is are be it as or can will
		returns result results optional required default value values id ids name names status state type
		list items item new existing current all only when if not use using used given specified provided
		filter filters sort order limit page pages cursor pagination maximum number count total time date
		range start end created updated deleted owner workspace organization team account access permission
		scope token api request response error errors format json text markdown url link path content body
		title summary details metadata field fields tag tags label labels priority assignee reviewer author
		public private archived active inactive enabled disabled visible hidden recent latest oldest newest`)
	params := strings.Fields(`id owner repo title body labels limit cursor query path content channel text
		user_id start_date end_date state sort order page per_page branch sha message email name description
		status priority assignee project_id workspace_id format include_archived timeout region`)
	rng := rand.New(rand.NewPCG(42, 7))
	// A quarter of the words come from a long tail of made-up domain words
	// (Zipf-distributed, like real vocabularies), so the dictionary has
	// thousands of terms rather than a few hundred.
	syllables := strings.Fields(`ka lo mi nu pe ra so ti vu xe bri cor dan fel gor hil jun kep lum mor
		nix por qua ren sil tor ulm vex wyn zor`)
	tail := rand.NewZipf(rng, 1.1, 1, 19999)
	rare := func() string {
		n := tail.Uint64()
		var b strings.Builder
		for n > 0 || b.Len() == 0 {
			b.WriteString(syllables[n%uint64(len(syllables))])
			n /= uint64(len(syllables))
		}
		return b.String()
	}
	words := func(n int) string {
		w := make([]string, n)
		for i := range w {
			if rng.IntN(4) == 0 {
				w[i] = rare()
			} else {
				w[i] = filler[rng.IntN(len(filler))]
			}
		}
		return strings.Join(w, " ")
	}
	out := make([]ServerCatalog, nServers)
	for s := range out {
		server := products[s%len(products)]
		if s >= len(products) {
			server += fmt.Sprintf("-%d", s/len(products))
		}
		sc := ServerCatalog{Server: server}
		for i := range nTools {
			verb, noun := verbs[i%len(verbs)], nouns[(i/len(verbs)+3*s)%len(nouns)]
			var name string
			switch i % 4 {
			case 0:
				name = verb + "_" + noun
			case 1: // camelCase
				parts := strings.Split(noun, "_")
				for j, p := range parts {
					parts[j] = strings.ToUpper(p[:1]) + p[1:]
				}
				name = verb + strings.Join(parts, "")
			case 2:
				name = strings.ReplaceAll(verb+"-"+noun, "_", "-")
			case 3:
				name = noun + "." + verb
			}
			desc := fmt.Sprintf("%s a %s in %s. %s. Returns the %s's id, name and status; %s.",
				strings.ToUpper(verb[:1])+verb[1:], strings.ReplaceAll(noun, "_", " "), server,
				words(10+rng.IntN(20)), noun, words(5+rng.IntN(10)))
			var kv []string
			for _, p := range rng.Perm(len(params))[:2+rng.IntN(5)] {
				kv = append(kv, params[p], "The "+strings.ReplaceAll(params[p], "_", " ")+" of the "+noun+", "+words(3+rng.IntN(8)))
			}
			sc.Tools = append(sc.Tools, searchTool(name, desc, kv...))
		}
		out[s] = sc
	}
	return out
}

func BenchmarkIndex(b *testing.B) {
	tools := Build(searchBenchServers(100, 50), "__").Tools()
	b.ReportAllocs()
	for b.Loop() {
		_ = newSearchIndex(tools)
	}
	b.ReportMetric(float64(len(tools)), "tools")
}

func BenchmarkSearch(b *testing.B) {
	s := Build(searchBenchServers(100, 50), "__")
	s.Search("warm up the index", 1)
	for _, q := range []struct{ name, query string }{
		{"two words", "create issue"},
		{"sentence", "send a message to the slack channel"},
		{"common word", "list"},
		{"no match", "xylophone"},
		{"long", strings.Repeat("update the status of a github issue and notify the channel ", 20)},
	} {
		b.Run(q.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = s.Search(q.query, 10)
			}
		})
	}
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_ = s.Search("send a message to the slack channel", 10)
			}
		})
	})
}
