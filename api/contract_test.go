package api_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

// The contract tests send real requests to the hub with the example server
// and validate each answer against openapi.yaml with kin-openapi: its
// status must be documented for the operation, and its body must match the
// schema of that status and content type. Requests that are meant to be
// valid are validated too, so the documented request schemas accept what
// the server accepts. Every operation of the document must be exercised.

// passthrough are the schemas of objects that carry whatever members their
// MCP server sent. Every other object schema is checked strictly here (no
// member the document does not name), so that the document lists all that
// the server sends; the published document does not promise that.
var passthrough = []string{"ResourceItem", "ResourceTemplateItem", "PromptItem", "PromptArgument"}

var registerSSEDecoder = sync.OnceFunc(func() {
	// The documented body of an event stream is a string: its text.
	openapi3filter.RegisterBodyDecoder("text/event-stream",
		func(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(body)
			return string(b), err
		})
})

// contract validates the answers of one hub against openapi.yaml.
type contract struct {
	e      *env
	doc    *openapi3.T
	router routers.Router
	seen   map[string]bool // operation ids exercised
	// auth checks the credentials of requests; with auth off (the
	// default configuration) the documented schemes are not needed.
	auth openapi3filter.AuthenticationFunc
}

func newContract(t *testing.T, e *env, seen map[string]bool) *contract {
	t.Helper()
	registerSSEDecoder()
	doc := loadSpec(t)
	for name, s := range doc.Components.Schemas {
		if len(s.Value.Properties) > 0 && !slices.Contains(passthrough, name) {
			s.Value.AdditionalProperties = openapi3.AdditionalProperties{Has: new(false)}
		}
	}
	doc.Servers = openapi3.Servers{{URL: e.url}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &contract{e: e, doc: doc, router: router, seen: seen, auth: openapi3filter.NoopAuthenticationFunc}
}

// req is one request of a contract test.
type req struct {
	method, path, body string
	header             http.Header
	// invalid marks a request the test means to be wrong: it is not
	// validated against the document.
	invalid bool
}

func getReq(path string) req             { return req{method: http.MethodGet, path: path} }
func postReq(path, body string) req      { return req{method: http.MethodPost, path: path, body: body} }
func (r req) withHeader(k, v string) req { r.header = http.Header{}; r.header.Set(k, v); return r }
func (r req) bad() req                   { r.invalid = true; return r }

// check sends r, wants status (any, if 0) and validates request and
// answer. An event stream is read to its end, or only to its first event
// when firstEvent.
func (c *contract) check(t testing.TB, r req, status int, firstEvent bool) response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	send := func() *http.Request {
		hr, err := http.NewRequestWithContext(ctx, r.method, c.e.url+r.path, strings.NewReader(r.body))
		if err != nil {
			t.Fatal(err)
		}
		if r.body != "" {
			hr.Header.Set("Content-Type", "application/json")
		}
		for k, vs := range r.header {
			for _, v := range vs {
				hr.Header.Add(k, v)
			}
		}
		return hr
	}
	resp, err := http.DefaultClient.Do(send())
	if err != nil {
		t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	var body []byte
	if firstEvent && resp.StatusCode == http.StatusOK {
		body = readFirstEvent(t, resp.Body)
	} else if body, err = io.ReadAll(resp.Body); err != nil {
		t.Fatalf("%s %s: reading the answer: %v", r.method, r.path, err)
	}
	if status != 0 && resp.StatusCode != status { // 0: any status the document has
		t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, resp.StatusCode, status, body)
	}

	vreq := send()
	route, params, err := c.router.FindRoute(vreq)
	if err != nil {
		t.Fatalf("%s %s: openapi.yaml has no operation for it: %v", r.method, r.path, err)
	}
	c.seen[route.Operation.OperationID] = true
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: c.auth, MultiError: true},
	}
	if !r.invalid {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			t.Errorf("%s %s: the request does not match openapi.yaml: %v\nbody: %s", r.method, r.path, err, r.body)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		t.Errorf("%s %s: the %d answer does not match openapi.yaml: %v\nbody: %s", r.method, r.path, resp.StatusCode, err, body)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

// json checks r and decodes the answer.
func (c *contract) json(t testing.TB, r req, status int) map[string]any {
	t.Helper()
	resp := c.check(t, r, status, false)
	var m map[string]any
	if err := json.Unmarshal(resp.body, &m); err != nil {
		t.Fatalf("%s %s: the answer is not a JSON object: %v: %s", r.method, r.path, err, resp.body)
	}
	return m
}

// schema validates an event's data (JSON) against a component schema.
func (c *contract) schema(t testing.TB, name string, data string) {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("event data is not JSON: %v: %s", err, data)
	}
	if err := c.doc.Components.Schemas[name].Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("event data does not match %s: %v\n%s", name, err, data)
	}
}

// sentCredentials accepts a request that carries what the security scheme
// names: the document must say where a token goes.
func sentCredentials(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header
	switch s := in.SecurityScheme; {
	case s.Type == "http" && s.Scheme == "bearer":
		if strings.HasPrefix(h.Get("Authorization"), "Bearer ") {
			return nil
		}
	case s.Type == "apiKey" && s.In == "header":
		if h.Get(s.Name) != "" {
			return nil
		}
	default:
		return fmt.Errorf("security scheme %s: not checked by this test", in.SecuritySchemeName)
	}
	return fmt.Errorf("no credentials for %s", in.SecuritySchemeName)
}

// rejectWhenPending rejects the first pending approval request whose
// arguments contain mark, once there is one.
func rejectWhenPending(url, mark string) error {
	for deadline := time.Now().Add(sseWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(url + "/mcp_hub/approvals?state=pending")
		if err != nil {
			return err
		}
		var list api.ApprovalsResponse
		err = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, a := range list.Approvals {
			if strings.Contains(string(a.Arguments), mark) {
				resp, err := http.Post(url+"/mcp_hub/reject", "application/json", strings.NewReader(`{"approval_id":"`+a.ID+`"}`))
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("rejecting %s: status %d", a.ID, resp.StatusCode)
				}
				return nil
			}
		}
	}
	return fmt.Errorf("no call with %q became pending in %v", mark, sseWait)
}

// readFirstEvent reads a stream up to the end of its first event.
func readFirstEvent(t testing.TB, r io.Reader) []byte {
	t.Helper()
	var buf bytes.Buffer
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		buf.WriteString(sc.Text() + "\n")
		if sc.Text() == "" && strings.Contains(buf.String(), "data:") {
			return buf.Bytes()
		}
	}
	t.Fatalf("the stream ended before its first event (%v): %s", sc.Err(), buf.Bytes())
	return nil
}

// sseEvents splits an event stream into (event name, data) pairs.
func sseEvents(stream []byte) [][2]string {
	var out [][2]string
	for _, block := range strings.Split(string(stream), "\n\n") {
		var name, data string
		for _, line := range strings.Split(block, "\n") {
			if v, ok := strings.CutPrefix(line, "event:"); ok {
				name = strings.TrimSpace(v)
			} else if v, ok := strings.CutPrefix(line, "data:"); ok {
				data += strings.TrimSpace(v)
			}
		}
		if name != "" || data != "" {
			out = append(out, [2]string{name, data})
		}
	}
	return out
}

func TestContract(t *testing.T) {
	seen := map[string]bool{}
	const del = "example__delete_note"
	limit := int64(64 << 10)
	tinyURL, _ := tiny(t)
	tinySrv := httpServer("tiny", tinyURL)
	tinySrv.Timeout = time.Second // tiny__hang times out: 504
	gone := serveHTTP(t, exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	e := startHubConfig(t, api.Options{MaxBodyBytes: limit, Heartbeat: 50 * time.Millisecond}, nil,
		approvalServer(), httpServer("gone", gone.URL+"/mcp"), tinySrv)
	c := newContract(t, e, seen)
	big := callJSON("example__echo", `{"message":"`+strings.Repeat("x", int(limit))+`"}`)

	t.Run("tools", func(t *testing.T) {
		if m := c.json(t, getReq("/mcp_hub/tools"), http.StatusOK); len(m["tools"].([]any)) == 0 {
			t.Error("no tools")
		}
		c.check(t, getReq("/mcp_hub/tools?server=example"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/tools?q=echo+message&limit=3"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/tools?q="+strings.Repeat("x", 1001)).bad(), http.StatusBadRequest, false)
		c.check(t, getReq("/mcp_hub/tools?q=echo&limit=0").bad(), http.StatusBadRequest, false)
		c.check(t, getReq("/mcp_hub/tools?server=nope"), http.StatusNotFound, false)
	})
	t.Run("servers and health", func(t *testing.T) {
		c.check(t, getReq("/mcp_hub/servers"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/health"), http.StatusOK, false)
		c.check(t, getReq("/readyz"), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/refresh", ""), http.StatusOK, false)
	})
	t.Run("call", func(t *testing.T) {
		c.check(t, postReq("/mcp_hub/call", callJSON("example__echo", `{"message":"hi"}`)), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/call", callJSON("example__add", `"{\"a\":1,\"b\":2}"`)), http.StatusOK, false)
		if m := c.json(t, postReq("/mcp_hub/call", callJSON("example__fail", `{}`)), http.StatusOK); m["success"] != false {
			t.Errorf("a tool error answered %v, want success false", m)
		}
		c.check(t, postReq("/mcp_hub/call", callJSON(del, `{"id":"todo"}`)), http.StatusAccepted, false)
		c.check(t, postReq("/mcp_hub/call?wait=50ms", callJSON(del, `{"id":"todo"}`)), http.StatusAccepted, false)
		c.check(t, postReq("/mcp_hub/call?wait=forever", callJSON("example__echo", `{}`)).bad(), http.StatusBadRequest, false)
		c.check(t, postReq("/mcp_hub/call", `{"function":`).bad(), http.StatusBadRequest, false)
		c.check(t, postReq("/mcp_hub/call", `{"function":{"arguments":{}}}`).bad(), http.StatusBadRequest, false)
		c.check(t, postReq("/mcp_hub/call", callJSON("tiny__bad_params", `{}`)), http.StatusBadRequest, false)
		c.check(t, postReq("/mcp_hub/call", callJSON("nope__nothing", `{}`)), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/call", big), http.StatusRequestEntityTooLarge, false)
		c.check(t, postReq("/mcp_hub/call", callJSON("tiny__boom", `{}`)), http.StatusBadGateway, false)
		c.check(t, postReq("/mcp_hub/call", callJSON("tiny__hang", `{}`)), http.StatusGatewayTimeout, false)
	})
	t.Run("call_stream", func(t *testing.T) {
		s := c.check(t, postReq("/mcp_hub/call_stream", callJSON("example__echo", `{"message":"hi"}`)), http.StatusOK, false)
		evs := sseEvents(s.body)
		if len(evs) == 0 || evs[len(evs)-1][0] != "result" {
			t.Fatalf("events %v, want a result last", evs)
		}
		c.schema(t, "CallResponse", evs[len(evs)-1][1])
		// A tool that needs approval: the stream starts with pending.
		s = c.check(t, postReq("/mcp_hub/call_stream", callJSON("example__slow_count", `{"count":2,"delay_ms":1}`)), http.StatusOK, true)
		if evs := sseEvents(s.body); len(evs) != 1 || evs[0][0] != "pending" {
			t.Fatalf("first events %v, want pending", evs)
		} else {
			c.schema(t, "PendingResponse", evs[0][1])
		}
		c.check(t, postReq("/mcp_hub/call_stream", `[]`).bad(), http.StatusBadRequest, false)
		c.check(t, postReq("/mcp_hub/call_stream", callJSON("nope__nothing", `{}`)), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/call_stream", big), http.StatusRequestEntityTooLarge, false)
	})
	t.Run("approvals", func(t *testing.T) {
		pendingID := func(t *testing.T, args string) string {
			m := c.json(t, postReq("/mcp_hub/call", callJSON(del, args)), http.StatusAccepted)
			return m["data"].(map[string]any)["approval_id"].(string)
		}
		id := pendingID(t, `{"id":"shopping"}`)
		c.check(t, getReq("/mcp_hub/approvals"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/approvals?state=pending&server=example&limit=10"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/approvals?state=bogus").bad(), http.StatusBadRequest, false)
		c.check(t, getReq("/mcp_hub/approvals/"+id), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/approvals/appr_"+strings.Repeat("a", 32)), http.StatusNotFound, false)
		c.check(t, getReq("/mcp_hub/approvals/"+strings.Repeat("x", 65)), http.StatusBadRequest, false)

		c.check(t, postReq("/mcp_hub/approve", approveJSON(id, del, `{"id":"other"}`)), http.StatusConflict, false)
		c.check(t, postReq("/mcp_hub/approve", approveJSON(id, del, `{"id":"shopping"}`)), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/approve", approveJSON(id, del, `{"id":"shopping"}`)), http.StatusConflict, false)
		c.check(t, postReq("/mcp_hub/approve", approveJSON("appr_"+strings.Repeat("b", 32), del, `{}`)), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/approve", `{"tool":"`+del+`"}`).bad(), http.StatusBadRequest, false)
		c.check(t, postReq("/mcp_hub/approve", `{"approval_id":"x","tool":"`+del+`","arguments":"`+strings.Repeat("y", int(limit))+`"}`),
			http.StatusRequestEntityTooLarge, false)

		id = pendingID(t, `{"id":"welcome"}`)
		c.check(t, postReq("/mcp_hub/reject", `{"approval_id":"`+id+`","reason":"not now"}`), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/reject", `{"approval_id":"`+id+`"}`), http.StatusConflict, false)
		c.check(t, postReq("/mcp_hub/reject", `{"approval_id":"appr_`+strings.Repeat("c", 32)+`"}`), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/reject", `{"reason":"no id"}`).bad(), http.StatusBadRequest, false)

		// A caller that waits hears the rejection: 403.
		rejected := make(chan error, 1)
		go func() { rejected <- rejectWhenPending(e.url, "waiting") }()
		c.check(t, postReq("/mcp_hub/call?wait=20s", callJSON(del, `{"id":"waiting"}`)), http.StatusForbidden, false)
		if err := <-rejected; err != nil {
			t.Error(err)
		}
	})
	t.Run("resources and prompts", func(t *testing.T) {
		c.check(t, getReq("/mcp_hub/resources"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/resources?server=nope"), http.StatusNotFound, false)
		c.check(t, getReq("/mcp_hub/resource_templates"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/resource_templates?server=nope"), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/resources/read", `{"uri":"note://welcome"}`), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/resources/read", `{"uri":"note://welcome","server":"example"}`), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/resources/read", `{"uri":"nothing://here"}`), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/resources/read", `{}`).bad(), http.StatusBadRequest, false)
		c.check(t, getReq("/mcp_hub/prompts"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/prompts?server=nope"), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/prompts/get", `{"name":"example__greet","arguments":{"name":"Ada"}}`), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/prompts/get", `{"name":"example__nope"}`), http.StatusNotFound, false)
		c.check(t, postReq("/mcp_hub/prompts/get", `{"name":"example__greet","arguments":{"name":1}}`).bad(), http.StatusBadRequest, false)
	})
	t.Run("events", func(t *testing.T) {
		s := c.check(t, getReq("/mcp_hub/events"), http.StatusOK, true)
		if evs := sseEvents(s.body); len(evs) != 1 || evs[0][0] != "stream_start" {
			t.Errorf("first events %v, want stream_start", evs)
		}
		c.check(t, getReq("/mcp_hub/events?last_event_id=0"), http.StatusOK, true)
		c.check(t, getReq("/mcp_hub/events?types=server_status,tools_changed").withHeader("Last-Event-ID", "1"), http.StatusOK, true)
		c.check(t, getReq("/mcp_hub/events?types=bogus"), http.StatusBadRequest, false)
		c.check(t, getReq("/mcp_hub/events").withHeader("Last-Event-ID", "x"), http.StatusBadRequest, false)
	})
	t.Run("server unavailable", func(t *testing.T) {
		gone.CloseClientConnections()
		gone.Close()
		c.check(t, postReq("/mcp_hub/call", callJSON("gone__echo", `{"message":"hi"}`)), http.StatusServiceUnavailable, false)
		c.check(t, postReq("/mcp_hub/resources/read", `{"uri":"note://welcome","server":"gone"}`), http.StatusServiceUnavailable, false)
		c.check(t, postReq("/mcp_hub/prompts/get", `{"name":"gone__greet","arguments":{"name":"Ada"}}`), http.StatusServiceUnavailable, false)
	})

	t.Run("expired", func(t *testing.T) {
		const ttl = 200 * time.Millisecond
		e := startHubConfig(t, api.Options{}, func(c *config.Config) { c.Approval.TTL = ttl }, approvalServer())
		c := newContract(t, e, seen)
		m := c.json(t, postReq("/mcp_hub/call", callJSON(del, `{"id":"todo"}`)), http.StatusAccepted)
		id := m["data"].(map[string]any)["approval_id"].(string)
		c.check(t, postReq("/mcp_hub/call?wait=5s", callJSON(del, `{"id":"welcome"}`)), http.StatusGone, false)
		for deadline := time.Now().Add(sseWait); e.approvalState(t, id) != "expired"; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("still not expired after %v", sseWait)
			}
		}
		c.check(t, postReq("/mcp_hub/approve", approveJSON(id, del, `{"id":"todo"}`)), http.StatusGone, false)
		c.check(t, postReq("/mcp_hub/reject", `{"approval_id":"`+id+`"}`), http.StatusGone, false)

		// A stopped hub answers 503 where it would do work.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.hub.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		c.check(t, postReq("/mcp_hub/refresh", ""), http.StatusServiceUnavailable, false)
		c.check(t, postReq("/mcp_hub/call", callJSON("example__echo", `{}`)), http.StatusServiceUnavailable, false)
		c.check(t, postReq("/mcp_hub/call_stream", callJSON("example__echo", `{}`)), http.StatusServiceUnavailable, false)
		c.check(t, postReq("/mcp_hub/approve", approveJSON(id, del, `{"id":"todo"}`)), http.StatusServiceUnavailable, false)
		c.check(t, postReq("/mcp_hub/resources/read", `{"uri":"note://welcome"}`), http.StatusServiceUnavailable, false)
		c.check(t, postReq("/mcp_hub/prompts/get", `{"name":"example__greet","arguments":{"name":"Ada"}}`), http.StatusServiceUnavailable, false)
		c.check(t, getReq("/mcp_hub/events"), http.StatusServiceUnavailable, false)
	})

	t.Run("auth and rate limits", func(t *testing.T) {
		const token, viewer, greedy = "contract-token-0123456789", "viewer-token-0123456789", "greedy-token-0123456789"
		e := startHubConfig(t, api.Options{}, func(c *config.Config) {
			c.Auth = config.Auth{
				Tokens: []config.Token{{Name: "contract", Token: token}, {Name: "viewer", Token: viewer}, {Name: "greedy", Token: greedy}},
				Rules:  []config.AuthRule{{Prefix: "/mcp_hub/approve", Tokens: []string{"contract"}}},
			}
			c.Limits.Rate = config.RateLimit{PerSecond: 1, Burst: 10}
		}, approvalServer())
		c := newContract(t, e, seen)
		c.auth = sentCredentials
		c.check(t, getReq("/mcp_hub/health"), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/tools").bad(), http.StatusUnauthorized, false)
		c.check(t, getReq("/mcp_hub/tools").withHeader("Authorization", "Bearer nope").bad(), http.StatusUnauthorized, false)
		c.check(t, getReq("/mcp_hub/tools").withHeader("Authorization", "Bearer "+token), http.StatusOK, false)
		c.check(t, getReq("/mcp_hub/servers").withHeader("X-API-Key", viewer), http.StatusOK, false)
		c.check(t, postReq("/mcp_hub/approve", approveJSON("appr_"+strings.Repeat("e", 32), del, `{}`)).withHeader("X-API-Key", viewer),
			http.StatusForbidden, false)
		for i := 0; ; i++ {
			r := c.check(t, getReq("/mcp_hub/approvals").withHeader("X-API-Key", greedy), 0, false)
			if r.status == http.StatusTooManyRequests {
				break
			}
			if r.status != http.StatusOK || i > 100 {
				t.Fatalf("request %d: status %d, want 200 until the rate limit answers 429", i, r.status)
			}
		}
	})

	t.Run("internal errors", func(t *testing.T) {
		// Every handler of a hub that panics answers a documented 500.
		c := newContract(t, &env{url: serveRouter(t, panicHub{})}, map[string]bool{})
		for _, op := range specOperations(c.doc) {
			method, path, _ := strings.Cut(op, " ")
			path = strings.ReplaceAll(path, "{id}", "appr_"+strings.Repeat("d", 32))
			r := req{method: method, path: path, invalid: true}
			if method == http.MethodPost {
				r.body = `{"id":"call_1","function":{"name":"example__echo","arguments":{}},"approval_id":"appr_x","tool":"example__echo","uri":"note://welcome","name":"example__greet"}`
			}
			status := http.StatusInternalServerError
			if path == "/mcp_hub/events" {
				status = http.StatusServiceUnavailable // panicHub's bus is closed
			}
			c.check(t, r, status, false)
		}
	})

	// Last, and a subtest so that -run TestContract/call skips it.
	t.Run("every operation", func(t *testing.T) {
		for _, op := range specOperations(c.doc) {
			method, path, _ := strings.Cut(op, " ")
			if id := c.doc.Paths.Value(path).GetOperation(method).OperationID; !seen[id] {
				t.Errorf("%s (%s) has no contract test: add its requests to TestContract", op, id)
			}
		}
	})
}
