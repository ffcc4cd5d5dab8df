package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/api"
)

// benchRouter is the real hub with the example server over Streamable HTTP
// (and a second server, so the tool list has two servers' worth) behind the
// router, called in-process.
func benchRouter(b *testing.B) http.Handler {
	b.Helper()
	e := startHub(b, api.Options{}, httpServer("web", httpExample(b)), httpServer("web2", httpExample(b)),
		stdioExample("child"))
	return api.NewRouter(e.hub, api.Options{Logger: quiet})
}

func BenchmarkCallHandler(b *testing.B) {
	h := benchRouter(b)
	for _, tc := range []struct{ name, tool, args string }{
		{"object", "web__echo", `{"message":"hi"}`},
		{"string", "web__echo", `"{\"message\":\"hi\"}"`},
		// The server is another process: allocs/op are the hub's own
		// (and the recorder's).
		{"stdio", "child__echo", `{"message":"hi"}`},
	} {
		body := callJSON(tc.tool, tc.args)
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

// BenchmarkApprovalRoundTrip is a gated call's whole life over loopback
// HTTP (POST /call answers 202 with an approval id, POST /approve runs the
// call and answers with its result), beside the same call without approval
// and the direct call to the server with no hub, measured in the same run.
func BenchmarkApprovalRoundTrip(b *testing.B) {
	url := httpExample(b)
	gated := httpServer("gated", url)
	gated.RequireApproval = []string{"echo"}
	e := startHubConfig(b, api.Options{}, nil, httpServer("web", url), gated)
	args := `{"message":"hi"}`

	b.Run("direct", func(b *testing.B) {
		c, err := client.NewStreamableHttpClient(url)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.ProtocolVersion20251125
		if _, err := c.Initialize(ctx, init); err != nil {
			b.Fatal(err)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "echo"
		req.Params.Arguments = map[string]any{"message": "hi"}
		b.ReportAllocs()
		for b.Loop() {
			if res, err := c.CallTool(ctx, req); err != nil || res.IsError {
				b.Fatalf("direct call: %v %+v", err, res)
			}
		}
	})
	b.Run("call", func(b *testing.B) {
		body := callJSON("web__echo", args)
		b.ReportAllocs()
		for b.Loop() {
			if r := e.do(b, http.MethodPost, "/mcp_hub/call", strings.NewReader(body)); r.status != http.StatusOK {
				b.Fatalf("call: status %d: %s", r.status, r.body)
			}
		}
	})
	b.Run("call+approve", func(b *testing.B) {
		body := callJSON("gated__echo", args)
		b.ReportAllocs()
		for b.Loop() {
			r := e.do(b, http.MethodPost, "/mcp_hub/call", strings.NewReader(body))
			var pending struct {
				Data struct {
					ApprovalID string `json:"approval_id"`
				} `json:"data"`
			}
			if r.status != http.StatusAccepted || json.Unmarshal(r.body, &pending) != nil {
				b.Fatalf("call: status %d: %s", r.status, r.body)
			}
			approve := `{"approval_id":"` + pending.Data.ApprovalID + `","tool":"gated__echo","arguments":` + args + `}`
			r = e.do(b, http.MethodPost, "/mcp_hub/approve", strings.NewReader(approve))
			if r.status != http.StatusOK || !strings.Contains(string(r.body), `"success":true`) {
				b.Fatalf("approve: status %d: %s", r.status, r.body)
			}
		}
	})
}
