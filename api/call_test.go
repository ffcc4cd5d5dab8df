package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

// wantSuccess checks a successful call's shape and returns its result.
func wantSuccess(t testing.TB, m map[string]any, tool, content string) map[string]any {
	t.Helper()
	wantKeys(t, m, "success", "id", "tool", "result", "content")
	if m["success"] != true || m["id"] != "call_1" || m["tool"] != tool || m["content"] != content {
		t.Errorf("answer %v, want success, id call_1, tool %s, content %q", m, tool, content)
	}
	result, ok := m["result"].(map[string]any)
	if !ok {
		t.Fatalf("result = %#v, want the CallToolResult object", m["result"])
	}
	return result
}

func TestCall(t *testing.T) {
	e := startHub(t, api.Options{}, stdioExample("example"), httpServer("web", httpExample(t)))
	for _, server := range []string{"example", "web"} {
		echo := server + "__echo"
		t.Run(server, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct{ what, name, args string }{
				{"object", echo, `{"message":"hi"}`},
				{"JSON string", echo, `"{\"message\":\"hi\"}"`},
				{"JSON string with spaces", echo, `"  {\"message\": \"hi\"}\n"`},
				{"server.tool name", server + ".echo", `{"message":"hi"}`},
			} {
				t.Run(tc.what, func(t *testing.T) {
					result := wantSuccess(t, e.call(t, callJSON(tc.name, tc.args), http.StatusOK), echo, "hi")
					wantKeys(t, result, "content")
					items, _ := result["content"].([]any)
					if len(items) != 1 || items[0].(map[string]any)["text"] != "hi" || items[0].(map[string]any)["type"] != "text" {
						t.Errorf("result.content = %#v, want one text item hi", result["content"])
					}
				})
			}
			t.Run("structured", func(t *testing.T) {
				result := wantSuccess(t, e.call(t, callJSON(server+"__add", `{"a":2,"b":3.5}`), http.StatusOK), server+"__add", "5.5")
				if sc, _ := result["structuredContent"].(map[string]any); sc["sum"] != 5.5 {
					t.Errorf("structuredContent = %#v, want sum 5.5", result["structuredContent"])
				}
			})
			// Absent, null and empty arguments reach the server as {}: the
			// tool runs with its defaults.
			for _, args := range []string{"absent", "null", `""`, `{}`} {
				t.Run("arguments "+args, func(t *testing.T) {
					body := callJSON(server+"__slow_count", args)
					if args == "absent" {
						body = `{"id":"call_1","type":"function","function":{"name":"` + server + `__slow_count"}}`
					}
					wantSuccess(t, e.call(t, body, http.StatusOK), server+"__slow_count", "counted to 5")
				})
			}
			t.Run("type absent", func(t *testing.T) {
				m := e.call(t, `{"id":"call_1","function":{"name":"`+echo+`","arguments":{"message":"hi"}}}`, http.StatusOK)
				wantSuccess(t, m, echo, "hi")
			})
			t.Run("isError", func(t *testing.T) {
				m := e.call(t, callJSON(server+"__fail", `{"message":"it broke"}`), http.StatusOK)
				wantKeys(t, m, "success", "id", "tool", "result", "content", "error")
				if m["success"] != false || m["id"] != "call_1" || m["tool"] != server+"__fail" || m["content"] != "it broke" {
					t.Errorf("answer %v, want success false with the tool's text", m)
				}
				if msg, _ := m["error"].(string); !strings.Contains(msg, "it broke") {
					t.Errorf("error %q does not carry the tool's message", m["error"])
				}
				result, _ := m["result"].(map[string]any)
				if result["isError"] != true {
					t.Errorf("result = %#v, want the result with isError kept", m["result"])
				}
			})
			// Arguments the schema rejects come back from the server as a
			// tool error the model can read, not as an HTTP error.
			t.Run("schema-invalid arguments", func(t *testing.T) {
				m := e.call(t, callJSON(echo, `{"message":5}`), http.StatusOK)
				if m["success"] != false || m["result"].(map[string]any)["isError"] != true {
					t.Errorf("answer %v, want an isError result", m)
				}
			})
		})
	}
}

// TestCallBadInput sends malformed calls, each aimed at deleting the note
// "todo" where the body says anything, and checks both the answer and that
// nothing ran: the note is still there to delete afterwards.
func TestCallBadInput(t *testing.T) {
	e := startHub(t, api.Options{}, stdioExample("example"))
	const del = "example__delete_note"
	valid := callJSON(del, `{"id":"todo"}`)
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	for _, tc := range []struct {
		what   string
		body   string
		status int
		want   []string
	}{
		{"empty body", "", 400, []string{"empty body"}},
		{"blank body", " \n\t", 400, []string{"empty body"}},
		{"not JSON", "delete todo please", 400, []string{"invalid JSON body", "invalid character"}},
		{"truncated", valid[:len(valid)-2], 400, []string{"invalid JSON body", "unexpected end"}},
		{"array body", "[" + valid + "]", 400, []string{"must be a JSON object", "got an array"}},
		{"string body", `"` + del + `"`, 400, []string{"must be a JSON object", "got a string"}},
		{"null body", "null", 400, []string{"must be a JSON object", "got null"}},
		{"trailing garbage", valid + " xyz", 400, []string{"invalid JSON body", "after top-level value"}},
		{"trailing brace", valid + "}", 400, []string{"invalid JSON body", "after top-level value"}},
		{"trailing bracket", valid + "]", 400, []string{"invalid JSON body", "after top-level value"}},
		{"two calls", valid + valid, 400, []string{"invalid JSON body", "after top-level value"}},
		{"function missing", `{"id":"call_1","type":"function"}`, 400, []string{"function is required"}},
		{"function null", `{"id":"call_1","type":"function","function":null}`, 400, []string{"function is required"}},
		{"function a string", `{"type":"function","function":"` + del + `"}`, 400, []string{"field function", "expected an object, got string"}},
		{"name missing", `{"type":"function","function":{"arguments":{"id":"todo"}}}`, 400, []string{"function.name is required"}},
		{"name empty", callJSON("", `{"id":"todo"}`), 400, []string{"function.name is required"}},
		{"name a number", `{"type":"function","function":{"name":5,"arguments":{"id":"todo"}}}`, 400, []string{"function.name", "expected a string, got number"}},
		{"name too long", callJSON(strings.Repeat("n", 5000), `{}`), 400, []string{"function.name is 5000 bytes long", "1024"}},
		{"id a number", `{"id":7,"type":"function","function":{"name":"` + del + `","arguments":{"id":"todo"}}}`, 400, []string{"field id", "expected a string, got number"}},
		{"type not function", `{"type":"tool","function":{"name":"` + del + `","arguments":{"id":"todo"}}}`, 400, []string{`type must be "function"`, `"tool"`}},
		{"arguments array", callJSON(del, `[{"id":"todo"}]`), 400, []string{"invalid arguments", "got array"}},
		{"arguments number", callJSON(del, `42`), 400, []string{"invalid arguments", "got number"}},
		{"arguments boolean", callJSON(del, `true`), 400, []string{"invalid arguments", "got boolean"}},
		{"arguments string holding an array", callJSON(del, `"[{\"id\":\"todo\"}]"`), 400, []string{"invalid arguments", "holds array"}},
		{"arguments string holding a number", callJSON(del, `"7"`), 400, []string{"invalid arguments", "holds number"}},
		{"arguments malformed string", callJSON(del, `"{\"id\":\"todo\""`), 400, []string{"invalid arguments", "does not hold valid JSON"}},
		{"arguments nested too deep", callJSON(del, deep), 400, []string{"invalid JSON body", "exceeded max depth"}},
		{"unknown tool", callJSON("example__nope", `{"id":"todo"}`), 404, []string{"unknown tool", `"example__nope"`}},
		{"unknown server", callJSON("nope.delete_note", `{"id":"todo"}`), 404, []string{"unknown tool", `"nope.delete_note"`}},
		{"wrong separator", callJSON("example-delete_note", `{"id":"todo"}`), 404, []string{"unknown tool"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			wantError(t, e.call(t, tc.body, tc.status), tc.want...)
			// Nothing ran: todo is still there. Put it back for the next case.
			wantSuccess(t, e.call(t, valid, http.StatusOK), del, "deleted note todo")
			wantSuccess(t, e.call(t, callJSON("example__create_note", `{"id":"todo","text":"Write the hub"}`), http.StatusOK),
				"example__create_note", "created note todo")
		})
	}
}

func TestCallBodyLimit(t *testing.T) {
	const limit = 256
	e := startHub(t, api.Options{MaxBodyBytes: limit}, stdioExample("example"))
	const del = "example__delete_note"
	small := callJSON(del, `{"id":"todo"}`)
	big := `{"id":"` + strings.Repeat("x", limit) + `","type":"function","function":{"name":"` + del + `","arguments":{"id":"todo"}}}`
	wantError(t, e.call(t, big, http.StatusRequestEntityTooLarge), "too large", "256 bytes")
	// The rejected call did not run; a call under the limit does.
	wantSuccess(t, e.call(t, small, http.StatusOK), del, "deleted note todo")

	// An exactly-at-the-limit body passes; one byte more does not.
	pad := func(n int) string {
		b := `{"id":"call_1","type":"function","function":{"name":"example__echo","arguments":{"message":"hi"}}}`
		return b[:len(b)-1] + `,"pad":"` + strings.Repeat("p", n-len(b)-9) + `"}`
	}
	if b := pad(limit); len(b) != limit {
		t.Fatalf("padding built %d bytes", len(b))
	}
	wantSuccess(t, e.call(t, pad(limit), http.StatusOK), "example__echo", "hi")
	wantError(t, e.call(t, pad(limit+1), http.StatusRequestEntityTooLarge), "too large")
}

// TestCallDownstreamErrors checks how downstream failures map to statuses:
// a server that went down (503), one that never came up, a call that
// outlives the server's timeout (504), JSON-RPC errors (502, or 400 for
// invalid params) and a result that is not a CallToolResult (502).
func TestCallDownstreamErrors(t *testing.T) {
	gone := serveHTTP(t, exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	tinyURL, _ := tiny(t)
	slow := httpServer("tiny", tinyURL)
	slow.Timeout = time.Second
	e := startHub(t, api.Options{}, slow, httpServer("gone", gone.URL+"/mcp"), downServer(t, "down"))

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		wantError(t, e.call(t, callJSON("tiny__hang", `{}`), http.StatusGatewayTimeout), "timed out", "tiny", "1s")
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %v for a 1s timeout", took)
		}
	})
	for _, tc := range []struct {
		tool   string
		status int
		want   []string
	}{
		// A JSON-RPC error is the server failing, not the tool: 502.
		{"tiny__boom", http.StatusBadGateway, []string{"downstream protocol error", "tiny", "-32603", "boom: the handler failed"}},
		// Invalid params means the caller's arguments were refused: 400.
		{"tiny__bad_params", http.StatusBadRequest, []string{"invalid input", "tiny", "-32602", "argument x: expected a number"}},
		{"tiny__not_object", http.StatusBadGateway, []string{"downstream protocol error", "tiny", "not an object"}},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			wantError(t, e.call(t, callJSON(tc.tool, `{}`), tc.status), tc.want...)
		})
	}
	t.Run("server went down", func(t *testing.T) {
		wantSuccess(t, e.call(t, callJSON("gone__echo", `{"message":"hi"}`), http.StatusOK), "gone__echo", "hi")
		gone.CloseClientConnections()
		gone.Close()
		// Its tools stay listed while it is down; calling one says why it fails.
		wantError(t, e.call(t, callJSON("gone__echo", `{"message":"hi"}`), http.StatusServiceUnavailable), "server unavailable", "gone")
		wantError(t, e.call(t, callJSON("gone.echo", `{"message":"hi"}`), http.StatusServiceUnavailable), "server unavailable", "gone")
	})
	t.Run("server never came up", func(t *testing.T) {
		// The hub never learned down's tools, so it cannot tell down__echo
		// from a typo: 404 today. 503 naming the server would be better
		// (reported against pkg/hub); either must say what was asked for.
		r := e.do(t, http.MethodPost, "/mcp_hub/call", strings.NewReader(callJSON("down__echo", `{"message":"hi"}`)))
		if r.status != http.StatusNotFound && r.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 404 or 503: %s", r.status, r.body)
		}
		t.Logf("a server that never connected: %d %s", r.status, r.body)
		wantJSONType(t, r)
		if !strings.Contains(string(r.body), "down") {
			t.Errorf("error %s does not name the tool or server", r.body)
		}
	})
	// The hub is still healthy where it should be.
	var h map[string]any
	e.json(t, http.MethodGet, "/mcp_hub/health", "", http.StatusOK, &h)
	if h["servers"].(map[string]any)["tiny"] != true {
		t.Errorf("health %v: tiny should be up after its failures", h)
	}
}

func TestCallConcurrent(t *testing.T) {
	e := startHub(t, api.Options{}, stdioExample("example"), httpServer("web", httpExample(t)))
	const n = 50
	var wg sync.WaitGroup
	for _, server := range []string{"example", "web"} {
		for i := range n {
			wg.Go(func() {
				msg := fmt.Sprintf("%s message %d", server, i)
				body := strings.Replace(callJSON(server+"__echo", `{"message":`+quote(msg)+`}`), "call_1", fmt.Sprintf("call_%d", i), 1)
				// Not e.call: t.Fatal must not run outside the test goroutine.
				resp, err := http.Post(e.url+"/mcp_hub/call", "application/json", strings.NewReader(body))
				if err != nil {
					t.Errorf("call %d on %s: %v", i, server, err)
					return
				}
				defer resp.Body.Close()
				var m map[string]any
				if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("call %d on %s: status %d, decode error %v", i, server, resp.StatusCode, err)
					return
				}
				if m["success"] != true || m["content"] != msg || m["id"] != fmt.Sprintf("call_%d", i) {
					t.Errorf("call %d on %s: %v", i, server, m)
				}
			})
		}
	}
	wg.Wait()
}

// TestCallClientGone checks that a caller who hangs up cancels the
// downstream call instead of leaving it running until the server's timeout.
func TestCallClientGone(t *testing.T) {
	url, cancelled := tiny(t)
	e := startHub(t, api.Options{}, httpServer("tiny", url)) // 10s timeout
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/mcp_hub/call", strings.NewReader(callJSON("tiny__hang", `{}`)))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the hanging call answered %d", resp.StatusCode)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the downstream call still runs after the caller left")
	}
	// The connection survives a cancelled call.
	var h map[string]any
	e.json(t, http.MethodGet, "/mcp_hub/health", "", http.StatusOK, &h)
	if h["status"] != "ok" {
		t.Errorf("health %v after a cancelled call", h)
	}
}
