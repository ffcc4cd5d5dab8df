package api_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

const (
	ciToken       = "ci-token-0123456789abcdef"
	approverToken = "approver-token-0123456789"
)

// authConfig turns auth on with two tokens; only "approver" may decide.
func authConfig(c *config.Config) {
	c.Auth = config.Auth{
		Tokens: []config.Token{{Name: "ci", Token: ciToken}, {Name: "approver", Token: approverToken}},
		Rules: []config.AuthRule{
			{Prefix: "/mcp_hub/approve", Tokens: []string{"approver"}},
			{Prefix: "/mcp_hub/reject", Tokens: []string{"approver"}},
		},
	}
}

// send makes a request with optional headers (name, value pairs).
func (e *env) send(t testing.TB, method, path, body string, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func wantStatus(t testing.TB, r response, status int, inBody string) {
	t.Helper()
	if r.status != status || !strings.Contains(string(r.body), inBody) {
		t.Errorf("status %d body %s; want %d with %q", r.status, r.body, status, inBody)
	}
}

func TestAuth(t *testing.T) {
	mcp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	srv := stdioExample("example")
	srv.RequireApproval = []string{"delete_*"}
	e := startHubConfig(t, api.Options{MCP: mcp}, authConfig, srv)
	bearer := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

	t.Run("no token", func(t *testing.T) {
		for _, p := range []struct{ method, path string }{
			{"GET", "/mcp_hub/tools"}, {"GET", "/mcp_hub/servers"}, {"POST", "/mcp_hub/refresh"},
			{"GET", "/mcp_hub/events"}, {"POST", "/mcp"}, {"GET", "/mcp/server/example"}, {"GET", "/mcp_hub/approvals"},
		} {
			r := e.send(t, p.method, p.path, "")
			wantStatus(t, r, http.StatusUnauthorized, "authentication required")
			if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="mcphub"` {
				t.Errorf("%s %s: WWW-Authenticate %q", p.method, p.path, got)
			}
			wantJSONType(t, r)
		}
	})
	t.Run("bad tokens", func(t *testing.T) {
		for _, h := range [][]string{bearer("nope"), bearer(ciToken + "x"), bearer(ciToken[:10]), {"Authorization", "Basic " + ciToken}, {"X-API-Key", "nope"}} {
			wantStatus(t, e.send(t, "GET", "/mcp_hub/tools", "", h...), http.StatusUnauthorized, "")
		}
	})
	t.Run("good tokens", func(t *testing.T) {
		wantStatus(t, e.send(t, "GET", "/mcp_hub/tools", "", bearer(ciToken)...), http.StatusOK, "example__echo")
		wantStatus(t, e.send(t, "GET", "/mcp_hub/tools", "", "X-API-Key", approverToken), http.StatusOK, "example__echo")
		wantStatus(t, e.send(t, "GET", "/mcp_hub/tools", "", "Authorization", "bearer "+ciToken), http.StatusOK, "example__echo")
		if r := e.send(t, "POST", "/mcp", "", bearer(ciToken)...); r.status != http.StatusTeapot {
			t.Errorf("/mcp with a token: %d, want the MCP handler's answer", r.status)
		}
	})
	t.Run("open paths", func(t *testing.T) {
		wantStatus(t, e.send(t, "GET", "/mcp_hub/health", ""), http.StatusOK, `"status"`)
		wantStatus(t, e.send(t, "GET", "/swagger/doc.json", ""), http.StatusOK, "/mcp_hub/call")
	})
	t.Run("rules and callers", func(t *testing.T) {
		r := e.send(t, "POST", "/mcp_hub/call", callJSON("example__delete_note", `{"id":"todo"}`), bearer(ciToken)...)
		var pending struct {
			Data struct {
				ApprovalID string `json:"approval_id"`
			} `json:"data"`
		}
		if r.status != http.StatusAccepted || json.Unmarshal(r.body, &pending) != nil {
			t.Fatalf("gated call: %d %s", r.status, r.body)
		}
		id := pending.Data.ApprovalID
		wantStatus(t, e.send(t, "GET", "/mcp_hub/approvals/"+id, "", bearer(ciToken)...), http.StatusOK, `"caller":"ci"`)
		approve := `{"approval_id":"` + id + `","tool":"example__delete_note","arguments":{"id":"todo"}}`
		wantStatus(t, e.send(t, "POST", "/mcp_hub/approve", approve, bearer(ciToken)...), http.StatusForbidden, `token \"ci\" may not use /mcp_hub/approve`)
		wantStatus(t, e.send(t, "POST", "/mcp_hub/approve", approve, bearer(approverToken)...), http.StatusOK, `"success":true`)
		wantStatus(t, e.send(t, "GET", "/mcp_hub/approvals/"+id, "", bearer(ciToken)...), http.StatusOK, `"decided_by":"approver"`)
	})
}

func TestCORS(t *testing.T) {
	origin := "https://console.example.com"
	pre := []string{"Origin", origin, "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type"}
	t.Run("off by default", func(t *testing.T) {
		e := startHub(t, api.Options{}, stdioExample("example"))
		r := e.send(t, "GET", "/mcp_hub/tools", "", "Origin", origin)
		if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("CORS headers without configured origins: %v", r.header)
		}
	})
	t.Run("configured", func(t *testing.T) {
		e := startHubConfig(t, api.Options{}, func(c *config.Config) {
			authConfig(c)
			c.CORS.Origins = []string{origin}
		}, stdioExample("example"))
		// Preflights carry no credentials: answered before authentication.
		r := e.send(t, "OPTIONS", "/mcp_hub/call", "", pre...)
		if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
			!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "X-Request-ID") {
			t.Errorf("preflight: %d %v", r.status, r.header)
		}
		r = e.send(t, "GET", "/mcp_hub/tools", "", "Origin", origin, "Authorization", "Bearer "+ciToken)
		if r.status != http.StatusOK || r.header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
			t.Errorf("simple request: %d %v", r.status, r.header)
		}
		r = e.send(t, "OPTIONS", "/mcp_hub/call", "", "Origin", "https://evil.example", "Access-Control-Request-Method", "POST")
		if r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("another origin got CORS headers: %v", r.header)
		}
	})
}

func TestRateLimit(t *testing.T) {
	e := startHubConfig(t, api.Options{}, func(c *config.Config) {
		authConfig(c)
		c.Limits.Rate = config.RateLimit{PerSecond: 0.5, Burst: 2}
	}, stdioExample("example"))
	for i := range 2 {
		wantStatus(t, e.send(t, "GET", "/mcp_hub/servers", "", "X-API-Key", ciToken), http.StatusOK, "example")
		_ = i
	}
	r := e.send(t, "GET", "/mcp_hub/servers", "", "X-API-Key", ciToken)
	wantStatus(t, r, http.StatusTooManyRequests, "rate limit exceeded")
	if ra := r.header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After %q, want 2 (seconds until a token is back)", ra)
	}
	// Another token has its own bucket; health is never limited.
	wantStatus(t, e.send(t, "GET", "/mcp_hub/servers", "", "X-API-Key", approverToken), http.StatusOK, "example")
	for range 5 {
		wantStatus(t, e.send(t, "GET", "/mcp_hub/health", ""), http.StatusOK, "status")
	}
}

func TestBodyLimitFromConfig(t *testing.T) {
	e := startHubConfig(t, api.Options{}, func(c *config.Config) { c.Limits.MaxBodyBytes = 512 }, stdioExample("example"))
	big := callJSON("example__echo", `{"message":"`+strings.Repeat("x", 600)+`"}`)
	wantStatus(t, e.send(t, "POST", "/mcp_hub/call", big), http.StatusRequestEntityTooLarge, "512")
	wantStatus(t, e.send(t, "POST", "/mcp_hub/call", callJSON("example__echo", `{"message":"ok"}`)), http.StatusOK, `"content":"ok"`)
}

// The caller's credentials stay with the hub: a downstream sees only the
// headers its own config gives it.
func TestAuthorizationNotForwarded(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	inner := exampleserver.NewStreamableHTTPServer(exampleserver.New())
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ts.CloseClientConnections(); ts.Close() })
	srv := httpServer("web", ts.URL)
	srv.Headers = map[string]string{"X-Downstream-Key": "configured"}
	e := startHubConfig(t, api.Options{}, authConfig, srv)
	wantStatus(t, e.send(t, "POST", "/mcp_hub/call", callJSON("web__echo", `{"message":"hi"}`),
		"Authorization", "Bearer "+ciToken, "X-API-Key", ciToken), http.StatusOK, `"content":"hi"`)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the downstream saw no request")
	}
	for _, h := range seen {
		if h.Get("Authorization") != "" || h.Get("X-API-Key") != "" || h.Get("X-Downstream-Key") != "configured" {
			t.Errorf("downstream request headers: %v", h)
		}
	}
}

// TestEndpointSecretsRedacted: a key in an endpoint's query string or user
// info shows in no answer: not in /servers, not in last_error, not in a
// call's error.
func TestEndpointSecretsRedacted(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // refused from now on
	const key, password = "query-key-sup3rs3cr3t", "pa55w0rd-s3cr3t"
	srv := httpServer("keyed", "http://user:"+password+"@"+addr+"/mcp?api_key="+key)
	srv.Backoff = config.Backoff{Initial: time.Hour, Max: time.Hour}
	e := startHub(t, api.Options{}, srv)
	for _, path := range []string{"/mcp_hub/servers", "/mcp_hub/health"} {
		r := e.send(t, "GET", path, "")
		if strings.Contains(string(r.body), key) || strings.Contains(string(r.body), password) {
			t.Errorf("%s shows a secret: %s", path, r.body)
		}
	}
	var servers []map[string]any
	e.json(t, http.MethodGet, "/mcp_hub/servers", "", http.StatusOK, &servers)
	if ep, _ := servers[0]["endpoint"].(string); !strings.Contains(ep, "api_key=%3Credacted%3E") || !strings.Contains(ep, "user:xxxxx@") {
		t.Errorf("endpoint shown as %q", ep)
	}
	if le, _ := servers[0]["last_error"].(string); le == "" {
		t.Error("no last_error for a refused server")
	}
	r := e.send(t, "POST", "/mcp_hub/refresh", "")
	if strings.Contains(string(r.body), key) || strings.Contains(string(r.body), password) {
		t.Errorf("refresh shows a secret: %s", r.body)
	}
}

// Token guessing is slowed per address: after a burst of failures, 429.
func TestAuthFailuresLimited(t *testing.T) {
	e := startHubConfig(t, api.Options{}, authConfig, stdioExample("example"))
	limited := false
	for i := 0; i < 40 && !limited; i++ {
		r := e.send(t, "GET", "/mcp_hub/tools", "", "Authorization", "Bearer guess-"+strconv.Itoa(i))
		switch r.status {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			limited = r.header.Get("Retry-After") != ""
		default:
			t.Fatalf("guess %d: status %d", i, r.status)
		}
	}
	if !limited {
		t.Error("40 wrong tokens in a row were all answered 401: guessing is not slowed")
	}
	// A valid token still works: only failures count.
	wantStatus(t, e.send(t, "GET", "/mcp_hub/tools", "", "X-API-Key", ciToken), http.StatusOK, "example__echo")
}
