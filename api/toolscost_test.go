package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

// discard is a ResponseWriter that keeps nothing, so that what a request
// allocates is the handler's alone (httptest.ResponseRecorder copies the
// body).
type discard struct {
	h    http.Header
	n    int
	code int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }

// TestToolsListCostFlat checks issue 7's "GET /mcp_hub/tools served from a
// pre-rendered snapshot, no per-request allocation proportional to the
// catalog": the same request against 8 tools and against 5000 allocates
// the same, while the body is some 700 times bigger.
func TestToolsListCostFlat(t *testing.T) {
	big := serveHTTP(t, exampleserver.NewStreamableHTTPServer(exampleserver.New(exampleserver.WithScaleTools(492)))).URL + "/mcp"
	var servers []config.Server
	for i := range 10 {
		servers = append(servers, httpServer(fmt.Sprintf("s%02d", i), big)) // 10 sessions × 500 tools
	}
	type cost struct {
		allocs, bytes float64
		body          int
	}
	measure := func(h http.Handler) cost {
		req := httptest.NewRequest(http.MethodGet, "/mcp_hub/tools", nil)
		w := &discard{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.code != http.StatusOK && w.code != 0 {
			t.Fatalf("status %d", w.code)
		}
		body := w.n
		const runs = 200
		serve := func() {
			w.n = 0
			clear(w.h)
			h.ServeHTTP(w, req)
		}
		allocs := testing.AllocsPerRun(runs, serve)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range runs {
			serve()
		}
		runtime.ReadMemStats(&after)
		return cost{allocs: allocs, bytes: float64(after.TotalAlloc-before.TotalAlloc) / runs, body: body}
	}
	small := measure(api.NewRouter(startHub(t, api.Options{}, httpServer("web", httpExample(t))).hub, api.Options{Logger: quiet}))
	large := measure(api.NewRouter(startHub(t, api.Options{}, servers...).hub, api.Options{Logger: quiet}))
	t.Logf("8 tools: %d bytes, %.0f allocations, %.0f B a request; 5000 tools: %d bytes, %.0f allocations, %.0f B a request",
		small.body, small.allocs, small.bytes, large.body, large.allocs, large.bytes)
	if large.body < 100*small.body {
		t.Fatalf("the large list is %d bytes against %d: not the catalog this test means", large.body, small.body)
	}
	// Other goroutines of the two hubs may allocate meanwhile: a little
	// slack: 1 KB, against the 1.9 MB a copy of the list would cost.
	if large.allocs > small.allocs+2 || large.bytes > small.bytes+1024 {
		t.Errorf("a request with 5000 tools costs %.0f allocations and %.0f B, with 8 tools %.0f and %.0f B",
			large.allocs, large.bytes, small.allocs, small.bytes)
	}
}

// TestCallAllocations holds what a REST call allocates: to the in-process
// example server over HTTP, the hub and that server together (what
// BenchmarkCallHandler counts, less its recorder); to the example server
// as a stdio child, the hub alone (with httptest's request, 11 of them). A regression of more than about 5%
// fails here instead of waiting for someone to read a benchmark.
func TestCallAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector; make test-allocs counts them")
	}
	h := api.NewRouter(startHub(t, api.Options{}, httpServer("web", httpExample(t)), stdioExample("child")).hub,
		api.Options{Logger: quiet})
	for _, tc := range []struct {
		name, tool, who string
		limit           float64 // about 5% over what it measured when set
	}{
		{"http", "web__echo", "hub and example server", 305},
		{"stdio", "child__echo", "the hub and httptest's request", 41},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := callJSON(tc.tool, `{"message":"hi"}`)
			call := func() {
				w := &discard{h: http.Header{}}
				h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/mcp_hub/call", strings.NewReader(body)))
				if w.code != http.StatusOK {
					t.Fatalf("status %d", w.code)
				}
			}
			call() // the connection pool and the first-use caches
			if n := testing.AllocsPerRun(200, call); n > tc.limit {
				t.Errorf("a REST call allocates %v times (%s), more than %v", n, tc.who, tc.limit)
			} else {
				t.Logf("a REST call allocates %v times (%s); the limit is %v", n, tc.who, tc.limit)
			}
		})
	}
}
