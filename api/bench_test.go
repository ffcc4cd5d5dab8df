package api_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/api"
)

// benchRouter is the real hub with the example server over Streamable HTTP
// (and a second server, so the tool list has two servers' worth) behind the
// router, called in-process.
func benchRouter(b *testing.B) http.Handler {
	b.Helper()
	e := startHub(b, api.Options{}, httpServer("web", httpExample(b)), httpServer("web2", httpExample(b)))
	return api.NewRouter(e.hub, api.Options{Logger: quiet})
}

func BenchmarkCallHandler(b *testing.B) {
	h := benchRouter(b)
	for _, tc := range []struct{ name, args string }{
		{"object", `{"message":"hi"}`},
		{"string", `"{\"message\":\"hi\"}"`},
	} {
		body := callJSON("web__echo", tc.args)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mcp_hub/call", strings.NewReader(body)))
				if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"success":true`) {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
	// Rejected before any I/O: the cost of decoding alone.
	b.Run("rejected", func(b *testing.B) {
		b.ReportAllocs()
		body := callJSON("web__echo", `[1,2,3]`)
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/mcp_hub/call", strings.NewReader(body)))
			if rec.Code != http.StatusBadRequest {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

func BenchmarkToolsHandler(b *testing.B) {
	h := benchRouter(b)
	for _, path := range []string{"/mcp_hub/tools", "/mcp_hub/tools?server=web"} {
		b.Run(strings.TrimPrefix(path, "/mcp_hub/"), func(b *testing.B) {
			b.ReportAllocs()
			first := httptest.NewRecorder()
			h.ServeHTTP(first, httptest.NewRequest(http.MethodGet, path, nil))
			b.SetBytes(int64(first.Body.Len()))
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK || rec.Body.Len() != first.Body.Len() {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
