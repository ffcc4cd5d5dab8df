package catalog

import (
	"encoding/json"
	"fmt"
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

func BenchmarkBuild(b *testing.B) {
	in := benchServers(100, 50)
	b.ReportAllocs()
	for b.Loop() {
		_ = Build(in, "__")
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
