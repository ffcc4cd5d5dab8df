package mcpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/mcpserver"
)

// serveEndpoints serves h's MCP endpoints with opts until the test ends:
// the HTTP server closes first, then the endpoints stop.
func serveEndpoints(t *testing.T, h *hub.Hub, opts mcpserver.Options) (*mcpserver.Server, *httptest.Server) {
	t.Helper()
	opts.Logger, opts.Version = quietLogger(), "test"
	srv := mcpserver.New(h, opts)
	srv.Start()
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Stop(ctx); err != nil {
			t.Errorf("mcpserver Stop: %v", err)
		}
	})
	return srv, ts
}

// endpointsURL serves h's MCP endpoints with opts and returns /mcp's URL.
func endpointsURL(t *testing.T, h *hub.Hub, opts mcpserver.Options) string {
	t.Helper()
	_, ts := serveEndpoints(t, h, opts)
	return ts.URL + "/mcp"
}

// rawSession is an MCP session spoken in plain HTTP, so a test sees the
// exact status, headers and bytes an endpoint answers with.
type rawSession struct {
	url string
	id  string
}

func openRaw(t *testing.T, url string) *rawSession {
	t.Helper()
	s := &rawSession{url: url}
	res, body := s.post(t, `{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("initialize: %d %s", res.StatusCode, body)
	}
	s.id = res.Header.Get("Mcp-Session-Id")
	if s.id == "" {
		t.Fatal("initialize: no Mcp-Session-Id")
	}
	if res, body := s.post(t, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil); res.StatusCode != http.StatusAccepted {
		t.Fatalf("notifications/initialized: %d %s", res.StatusCode, body)
	}
	return s
}

// post sends body with the session's headers, then hdr (an empty value
// deletes a header).
func (s *rawSession) post(t *testing.T, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

// toolCall is a tools/call request body.
func toolCall(id, name, args string) string {
	p := fmt.Sprintf(`{"name":%q`, name)
	if args != "" {
		p += `,"arguments":` + args
	}
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"method":"tools/call","params":%s}}`, id, p)
}

// TestFastPathAnswersAsMCPGo sends the same tool calls to an endpoint with
// the fast path and to one without, on the same hub: the answers must be
// the same JSON, whatever the id, the arguments or the outcome.
func TestFastPathAnswersAsMCPGo(t *testing.T) {
	web := httpServer("web", newHTTPExample(t).URL)
	web.RequireApproval = []string{"delete_*"} // listed with the approval note
	e := newEnv(t, hubConfig(stdioExample("example"), web))
	fast := openRaw(t, e.url("/mcp"))
	slow := openRaw(t, endpointsURL(t, e.hub, mcpserver.Options{NoFastPath: true}))

	for _, tc := range []struct{ name, body string }{
		{"echo", toolCall("1", "example__echo", `{"message":"hi ✓ \"quoted\""}`)},
		{"http downstream", toolCall("2", "web__echo", `{"message":"over http"}`)},
		{"string id", toolCall(`"abc-1"`, "example__add", `{"a":2,"b":3}`)},
		{"big integers", toolCall("3", "example__add", `{"a":9007199254740993,"b":0}`)},
		{"tool error", toolCall("4", "example__fail", `{"message":"it broke"}`)},
		{"no arguments", toolCall("5", "example__echo", "")},
		{"null arguments", toolCall("6", "example__echo", "null")},
		{"bad arguments", toolCall("7", "example__add", `{"a":"x"}`)},
		{"unknown tool", toolCall("8", "example__nope", `{}`)},
		{"filtered server's tool", toolCall("9", "gone__echo", `{}`)},
		{"tools/list", `{"jsonrpc":"2.0","id":10,"method":"tools/list"}`},
		{"tools/list with empty params", `{"jsonrpc":"2.0","id":"l","method":"tools/list","params":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fres, fbody := fast.post(t, tc.body, nil)
			sres, sbody := slow.post(t, tc.body, nil)
			if fres.StatusCode != sres.StatusCode || fres.Header.Get("Content-Type") != sres.Header.Get("Content-Type") {
				t.Errorf("fast %d %q, mcp-go %d %q", fres.StatusCode, fres.Header.Get("Content-Type"), sres.StatusCode, sres.Header.Get("Content-Type"))
			}
			if !jsonEqual(t, fbody, sbody) {
				t.Errorf("fast answered %s\nmcp-go answered %s", fbody, sbody)
			}
		})
	}
}

// TestFastPathKeepsResultAsSent checks the result reaches the client as
// the downstream sent it, fields mcp-go's types do not know included.
func TestFastPathKeepsResultAsSent(t *testing.T) {
	ex := newHTTPExample(t)
	extra := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if !bytes.Contains(body, []byte(`"tools/call"`)) {
			ex.serve(w, r)
			return
		}
		rec := httptest.NewRecorder()
		ex.serve(rec, r)
		out := bytes.Replace(rec.Body.Bytes(), []byte(`"result":{`), []byte(`"result":{"vendor/extra":{"kept":[1,2]},`), 1)
		w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
		w.WriteHeader(rec.Code)
		_, _ = w.Write(out)
	}))
	t.Cleanup(extra.Close)
	e := newEnv(t, hubConfig(httpServer("web", extra.URL)))
	s := openRaw(t, e.url("/mcp"))

	res, body := s.post(t, toolCall("1", "web__echo", `{"message":"raw"}`), nil)
	var got struct {
		ID     int `json:"id"`
		Result struct {
			Extra   json.RawMessage `json:"vendor/extra"`
			Content []mcp.TextContent
		} `json:"result"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	if string(got.Result.Extra) != `{"kept":[1,2]}` || got.ID != 1 || len(got.Result.Content) != 1 || got.Result.Content[0].Text != "raw" {
		t.Errorf("answer %s: want the downstream's result with its vendor/extra field", body)
	}
}

// TestFastPathListsToolsAsSent checks tools/list keeps members of a tool
// object that mcp-go's types do not know.
func TestFastPathListsToolsAsSent(t *testing.T) {
	ex := newRewritingExample(t, func(body []byte) []byte {
		return bytes.ReplaceAll(body, []byte(`"name":"echo"`), []byte(`"name":"echo","vendor/extra":{"kept":true}`))
	})
	e := newEnv(t, hubConfig(httpServer("web", ex.URL)))
	s := openRaw(t, e.url("/mcp"))

	res, body := s.post(t, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil)
	var got struct {
		Result struct {
			Tools []map[string]json.RawMessage `json:"tools"`
		} `json:"result"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(body, &got) != nil {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	found := false
	for _, tool := range got.Result.Tools {
		if string(tool["name"]) == `"web__echo"` {
			found = true
			if string(tool["vendor/extra"]) != `{"kept":true}` {
				t.Errorf("web__echo listed as %s: want its vendor/extra member", body)
			}
		}
	}
	if !found {
		t.Errorf("no web__echo in %s", body)
	}
}

// TestFastPathLeavesTheRestToMCPGo checks requests the fast path must not
// answer get mcp-go's answer, by comparing with an endpoint without it.
func TestFastPathLeavesTheRestToMCPGo(t *testing.T) {
	gated := stdioExample("gated")
	gated.RequireApproval = []string{"echo"}
	e := newEnv(t, hubConfig(stdioExample("example"), gated))
	fastURL, slowURL := e.url("/mcp"), endpointsURL(t, e.hub, mcpserver.Options{NoFastPath: true})
	fast, slow := openRaw(t, fastURL), openRaw(t, slowURL)
	echo := toolCall("1", "example__echo", `{"message":"x"}`)

	for _, tc := range []struct {
		name string
		body string
		hdr  map[string]string
	}{
		{"progress token", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"example__slow_count","arguments":{"count":2,"delay_ms":1},"_meta":{"progressToken":"p"}}}`, nil},
		{"batch", "[" + echo + "]", nil},
		{"notification", `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"example__echo","arguments":{"message":"x"}}}`, nil},
		{"not JSON", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`, nil},
		{"null id", toolCall("null", "example__echo", `{"message":"x"}`), nil},
		{"gated tool", toolCall("1", "gated__echo", `{"message":"x"}`), nil},
		{"task", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"example__echo","arguments":{"message":"x"},"task":{"ttl":1000}}}`, nil},
		{"unknown session", echo, map[string]string{"Mcp-Session-Id": "mcp-session-nope"}},
		{"never-issued session", echo, map[string]string{"Mcp-Session-Id": "mcp-session-9b2f0a4c-2d1e-4d8e-9a51-0c3c1b7e5f11"}},
		{"no session", echo, map[string]string{"Mcp-Session-Id": ""}},
		{"unsupported protocol version", echo, map[string]string{"Mcp-Protocol-Version": "1999-01-01"}},
		{"modern protocol version", echo, map[string]string{"Mcp-Protocol-Version": mcp.ProtocolVersion20260728}},
		{"not JSON content", echo, map[string]string{"Content-Type": "text/plain"}},
		{"foreign Host on loopback", echo, map[string]string{"Host": "evil.example"}},
		{"tools/list with a cursor", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":"ZXhhbXBsZV9fZWNobw=="}}`, nil},
		{"tools/list with _meta", `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"x":1}}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fres, fbody := fast.post(t, tc.body, tc.hdr)
			sres, sbody := slow.post(t, tc.body, tc.hdr)
			if fres.StatusCode != sres.StatusCode || fres.Header.Get("Content-Type") != sres.Header.Get("Content-Type") {
				t.Fatalf("fast %d %q %s\nmcp-go %d %q %s", fres.StatusCode, fres.Header.Get("Content-Type"), fbody,
					sres.StatusCode, sres.Header.Get("Content-Type"), sbody)
			}
			if json.Valid(fbody) && json.Valid(sbody) && !jsonEqual(t, normalised(fbody), normalised(sbody)) {
				t.Errorf("fast answered %s\nmcp-go answered %s", fbody, sbody)
			}
		})
	}
}

// normalised blanks what differs between two endpoints by design: the
// approval request id a gated call gets.
func normalised(b []byte) []byte {
	var v any
	_ = json.Unmarshal(b, &v)
	out, _ := json.Marshal(v)
	return approvalID.ReplaceAll(out, []byte("APPROVAL-ID"))
}
