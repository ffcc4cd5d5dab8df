package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
)

var (
	approvalIDPattern = regexp.MustCompile(`^appr_[a-z2-7]{32}$`)
	digestPattern     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// wantPending checks a 202 body (or a call_stream pending event) for tool
// and returns its approval id.
func wantPending(t testing.TB, m map[string]any, tool string) string {
	t.Helper()
	wantKeys(t, m, "success", "status", "id", "data", "error")
	if m["success"] != false || m["status"] != "pending" || m["id"] != "call_1" {
		t.Errorf("pending answer %v, want success false, status pending, id call_1", m)
	}
	d, ok := m["data"].(map[string]any)
	if !ok {
		t.Fatalf("data = %#v, want an object", m["data"])
	}
	wantKeys(t, d, "status", "approval_id", "tool", "server", "digest", "created_at", "expires_at")
	id, _ := d["approval_id"].(string)
	if !approvalIDPattern.MatchString(id) {
		t.Fatalf("approval_id %q, want appr_ and 32 base32 characters", d["approval_id"])
	}
	if d["status"] != "pending" || d["tool"] != tool || d["server"] != "example" {
		t.Errorf("data %v, want pending, tool %s, server example", d, tool)
	}
	if dg, _ := d["digest"].(string); !digestPattern.MatchString(dg) {
		t.Errorf("digest %q, want sha256 hex", d["digest"])
	}
	if msg, _ := m["error"].(string); !strings.Contains(msg, tool) || !strings.Contains(msg, id) || !strings.Contains(msg, "approval") {
		t.Errorf("error %q does not name the tool, the approval and its id", m["error"])
	}
	return id
}

// ttlOf is expires_at - created_at of a pending answer.
func ttlOf(t testing.TB, m map[string]any) time.Duration {
	t.Helper()
	d := m["data"].(map[string]any)
	created, err1 := time.Parse(time.RFC3339Nano, d["created_at"].(string))
	expires, err2 := time.Parse(time.RFC3339Nano, d["expires_at"].(string))
	if err1 != nil || err2 != nil {
		t.Fatalf("times %v, %v: %v %v", d["created_at"], d["expires_at"], err1, err2)
	}
	return expires.Sub(created)
}

func approveJSON(id, tool, args string) string {
	return `{"approval_id":` + quote(id) + `,"tool":` + quote(tool) + `,"arguments":` + args + `}`
}

func (e *env) approve(t testing.TB, body string, wantStatus int) map[string]any {
	t.Helper()
	var m map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/approve", body, wantStatus, &m)
	return m
}

func (e *env) approvalGet(t testing.TB, id string) map[string]any {
	t.Helper()
	var m map[string]any
	e.json(t, http.MethodGet, "/mcp_hub/approvals/"+id, "", http.StatusOK, &m)
	return m
}

func (e *env) approvalState(t testing.TB, id string) string {
	t.Helper()
	return e.approvalGet(t, id)["state"].(string)
}

// approvalList answers GET /mcp_hub/approvals?query as ids and states.
func (e *env) approvalList(t testing.TB, query string) map[string]string {
	t.Helper()
	var m struct {
		Approvals []map[string]any `json:"approvals"`
	}
	r := e.json(t, http.MethodGet, "/mcp_hub/approvals"+query, "", http.StatusOK, &m)
	if m.Approvals == nil {
		t.Fatalf("approvals%s: %s, want an approvals array", query, r.body)
	}
	out := map[string]string{}
	for _, a := range m.Approvals {
		out[a["id"].(string)] = a["state"].(string)
	}
	return out
}

func TestToolsApprovalMarks(t *testing.T) {
	e := startHub(t, api.Options{}, approvalServer())
	for _, path := range []string{"/mcp_hub/tools", "/mcp_hub/tools?server=example"} {
		var m struct {
			Tools []map[string]any `json:"tools"`
			Gated []string         `json:"requires_approval"`
		}
		e.json(t, http.MethodGet, path, "", http.StatusOK, &m)
		if !slices.Equal(m.Gated, []string{"example__delete_note", "example__slow_count"}) {
			t.Errorf("%s: requires_approval = %v", path, m.Gated)
		}
		seen := 0
		for _, tool := range m.Tools {
			fn := tool["function"].(map[string]any)
			desc, _ := fn["description"].(string)
			wantKeys(t, tool, "type", "function") // OpenAI's exact shape: strict APIs refuse more
			switch fn["name"] {
			case "example__delete_note", "example__slow_count":
				seen++
				if !strings.HasSuffix(desc, "(Calls need a person's approval before they run.)") {
					t.Errorf("%s: %v, want the note in the description", path, tool)
				}
			default:
				if strings.Contains(desc, "approval before") {
					t.Errorf("%s: %s's description %q has the approval note", path, fn["name"], desc)
				}
			}
		}
		if seen != 2 || len(m.Tools) != len(exampleTools) {
			t.Errorf("%s: %d tools, %d marked; want %d and 2", path, len(m.Tools), seen, len(exampleTools))
		}
	}
}

func TestApprove(t *testing.T) {
	e := startHub(t, api.Options{}, approvalServer())
	const del, args = "example__delete_note", `{"id":"a1"}`
	wantSuccess(t, e.call(t, callJSON("example__create_note", `{"id":"a1","text":"keep me"}`), http.StatusOK), "example__create_note", "created note a1")
	pending := e.call(t, callJSON(del, args), http.StatusAccepted)
	id := wantPending(t, pending, del)
	if ttl := ttlOf(t, pending); ttl != config.DefaultApprovalTTL {
		t.Errorf("expires %v after creation, want the default TTL %v", ttl, config.DefaultApprovalTTL)
	}

	got := e.approvalGet(t, id)
	wantKeys(t, got, "id", "state", "server", "tool", "name", "arguments", "digest", "created_at", "expires_at")
	if got["id"] != id || got["state"] != "pending" || got["server"] != "example" || got["tool"] != "delete_note" ||
		got["name"] != del || !reflect.DeepEqual(got["arguments"], map[string]any{"id": "a1"}) ||
		got["digest"] != pending["data"].(map[string]any)["digest"] {
		t.Errorf("GET approval %v", got)
	}

	t.Run("list", func(t *testing.T) {
		other := wantPending(t, e.call(t, callJSON(del, `{"id":"zz"}`), http.StatusAccepted), del) // newer
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", []string{other, id}},
			{"?state=pending", []string{other, id}},
			{"?state=PENDING", []string{other, id}},
			{"?state=approved", nil},
			{"?server=example", []string{other, id}},
			{"?server=nope", nil},
			{"?limit=1", []string{other}},
			{"?state=pending&server=example&limit=2", []string{other, id}},
		} {
			var m struct {
				Approvals []struct{ ID string } `json:"approvals"`
			}
			r := e.json(t, http.MethodGet, "/mcp_hub/approvals"+tc.query, "", http.StatusOK, &m)
			var ids []string
			for _, a := range m.Approvals {
				ids = append(ids, a.ID)
			}
			if !reflect.DeepEqual(ids, tc.want) || !bytes.HasPrefix(r.body, []byte(`{"approvals":[`)) {
				t.Errorf("approvals%s: %s, want ids %v, newest first", tc.query, r.body, tc.want)
			}
		}
		for _, tc := range []struct{ query, want string }{
			{"?state=bogus", "want pending, approved, rejected or expired"},
			{"?state=", "unknown approval state"},
			{"?limit=0", "limit must be an integer from 1 to 10000"},
			{"?limit=10001", `got "10001"`},
			{"?limit=ten", `got "ten"`},
		} {
			var m map[string]any
			e.json(t, http.MethodGet, "/mcp_hub/approvals"+tc.query, "", http.StatusBadRequest, &m)
			wantError(t, m, tc.want)
		}
		var m map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/reject", `{"approval_id":"`+other+`"}`, http.StatusOK, &m)
	})

	t.Run("get errors", func(t *testing.T) {
		var m map[string]any
		e.json(t, http.MethodGet, "/mcp_hub/approvals/appr_"+strings.Repeat("a", 32), "", http.StatusNotFound, &m)
		wantError(t, m, "not found", "appr_aaaa")
		e.json(t, http.MethodGet, "/mcp_hub/approvals/appr_"+strings.Repeat("a", 200), "", http.StatusBadRequest, &m)
		wantError(t, m, "205 bytes long")
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			what, body string
			status     int
			want       []string
		}{
			{"other arguments", approveJSON(id, del, `{"id":"todo"}`), 409, []string{"other arguments", "stays pending"}},
			{"extra argument", approveJSON(id, del, `{"id":"a1","force":true}`), 409, []string{"other arguments"}},
			{"other tool", approveJSON(id, "example__echo", `{"id":"a1"}`), 409, []string{"another tool", "stays pending"}},
			{"unknown tool", approveJSON(id, "example__nope", args), 404, []string{"unknown tool", "example__nope"}},
			{"unknown id", approveJSON("appr_"+strings.Repeat("b", 32), del, args), 404, []string{"not found", "appr_bbbb"}},
			{"id too long", approveJSON(id+strings.Repeat("x", 100), del, args), 400, []string{"approval_id is 137 bytes long"}},
			{"approval_id missing", `{"tool":"` + del + `","arguments":` + args + `}`, 400, []string{"approval_id is required"}},
			{"tool missing", `{"approval_id":"` + id + `","arguments":` + args + `}`, 400, []string{"tool is required"}},
			{"empty body", "", 400, []string{"empty body"}},
			{"malformed JSON", `{"approval_id":"` + id + `",`, 400, []string{"invalid JSON body"}},
			{"array body", "[" + approveJSON(id, del, args) + "]", 400, []string{"must be a JSON object", "got an array"}},
			{"arguments a number", approveJSON(id, del, `5`), 400, []string{"invalid arguments", "got number"}},
			{"arguments an array", approveJSON(id, del, `[`+args+`]`), 400, []string{"invalid arguments", "got array"}},
			{"approval_id a number", `{"approval_id":1,"tool":"` + del + `","arguments":` + args + `}`, 400, []string{"field approval_id", "expected a string, got number"}},
			{"tool an object", `{"approval_id":"` + id + `","tool":{},"arguments":` + args + `}`, 400, []string{"field tool", "expected a string, got object"}},
		} {
			t.Run(tc.what, func(t *testing.T) {
				wantError(t, e.approve(t, tc.body, tc.status), tc.want...)
				// Nothing was decided, nothing ran.
				if st := e.approvalState(t, id); st != "pending" {
					t.Fatalf("state %q after a refused approval, want pending", st)
				}
			})
		}
	})

	t.Run("approved once", func(t *testing.T) {
		// The same call in another form: a JSON string, other spacing, the server.tool name.
		m := e.approve(t, approveJSON(id, "example.delete_note", `"{ \"id\" : \"a1\" }"`), http.StatusOK)
		wantKeys(t, m, "success", "tool", "result", "content")
		if m["success"] != true || m["tool"] != del || m["content"] != "deleted note a1" {
			t.Errorf("approve answered %v, want the deletion's result", m)
		}
		wantError(t, e.approve(t, approveJSON(id, del, args), http.StatusConflict), "already approved", "runs its call once")
		var r map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/reject", `{"approval_id":"`+id+`"}`, http.StatusConflict, &r)
		wantError(t, r, "already approved")
		got := e.approvalGet(t, id)
		wantKeys(t, got, "id", "state", "server", "tool", "name", "arguments", "digest", "created_at", "expires_at", "decided_at")
		if got["state"] != "approved" {
			t.Errorf("state %v, want approved", got["state"])
		}
		if list := e.approvalList(t, "?state=approved"); list[id] != "approved" || len(list) != 1 {
			t.Errorf("approved list %v, want only %s", list, id)
		}
		// The note is gone: the deletion ran (once, see TestApproveConcurrent).
		again := wantPending(t, e.call(t, callJSON(del, args), http.StatusAccepted), del)
		m = e.approve(t, approveJSON(again, del, args), http.StatusOK)
		if m["success"] != false || m["content"] != `no note with id "a1"` {
			t.Errorf("second deletion answered %v, want the tool's error", m)
		}
	})
}

// countingExample serves the example server over Streamable HTTP and
// counts the tools/call requests for tool that reach it.
func countingExample(t testing.TB, tool string) (string, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	inner := exampleserver.NewStreamableHTTPServer(exampleserver.New())
	ts := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			var msg struct {
				Method string `json:"method"`
				Params struct {
					Name string `json:"name"`
				} `json:"params"`
			}
			if json.Unmarshal(body, &msg) == nil && msg.Method == "tools/call" && msg.Params.Name == tool {
				n.Add(1)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		inner.ServeHTTP(w, r)
	}))
	return ts.URL + "/mcp", &n
}

func TestApproveConcurrent(t *testing.T) {
	url, deletes := countingExample(t, "delete_note")
	srv := httpServer("example", url)
	srv.RequireApproval = []string{"delete_*"}
	e := startHub(t, api.Options{}, srv)
	const del, args = "example__delete_note", `{"id":"shopping"}`
	id := wantPending(t, e.call(t, callJSON(del, args), http.StatusAccepted), del)
	if n := deletes.Load(); n != 0 {
		t.Fatalf("%d deletions reached the server before the approval", n)
	}
	const n = 8
	answers := make([]<-chan response, n)
	for i := range answers {
		answers[i] = e.postAsync(t, "/mcp_hub/approve", approveJSON(id, del, args))
	}
	statuses := map[int]int{}
	for _, c := range answers {
		r, m := awaitResponse(t, c, sseWait)
		statuses[r.status]++
		switch r.status {
		case http.StatusOK:
			if m["success"] != true || m["content"] != "deleted note shopping" {
				t.Errorf("the approval that ran answered %v", m)
			}
		case http.StatusConflict:
			wantError(t, m, "already approved")
		}
	}
	if statuses[http.StatusOK] != 1 || statuses[http.StatusConflict] != n-1 {
		t.Errorf("statuses %v, want one 200 and %d 409", statuses, n-1)
	}
	if got := deletes.Load(); got != 1 {
		t.Errorf("the server got %d deletions, want 1", got)
	}
}

func TestReject(t *testing.T) {
	e := startHub(t, api.Options{}, approvalServer())
	const del, args = "example__delete_note", `{"id":"todo"}`
	reject := func(t *testing.T, body string, status int) map[string]any {
		t.Helper()
		var m map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/reject", body, status, &m)
		return m
	}
	id := wantPending(t, e.call(t, callJSON(del, args), http.StatusAccepted), del)
	for _, tc := range []struct {
		what, body string
		status     int
		want       []string
	}{
		{"reason too long", `{"approval_id":"` + id + `","reason":"` + strings.Repeat("r", 4097) + `"}`, 400, []string{"reason is 4097 bytes long, the limit is 4096"}},
		{"approval_id missing", `{"reason":"no"}`, 400, []string{"approval_id is required"}},
		{"reason a number", `{"approval_id":"` + id + `","reason":5}`, 400, []string{"field reason", "expected a string, got number"}},
		{"array body", `[{"approval_id":"` + id + `"}]`, 400, []string{"must be a JSON object", "got an array"}},
		{"unknown id", `{"approval_id":"appr_` + strings.Repeat("c", 32) + `"}`, 404, []string{"not found", "appr_cccc"}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			wantError(t, reject(t, tc.body, tc.status), tc.want...)
			if st := e.approvalState(t, id); st != "pending" {
				t.Fatalf("state %q after a refused rejection, want pending", st)
			}
		})
	}

	reason := "not during the freeze " + strings.Repeat(".", 4096-22)
	m := reject(t, `{"approval_id":"`+id+`","reason":"`+reason+`"}`, http.StatusOK)
	wantKeys(t, m, "success", "approval")
	a, _ := m["approval"].(map[string]any)
	wantKeys(t, a, "id", "state", "server", "tool", "name", "arguments", "digest", "created_at", "expires_at", "decided_at", "reason")
	if m["success"] != true || a["id"] != id || a["state"] != "rejected" || a["reason"] != reason {
		t.Errorf("reject answered %v", m)
	}
	wantError(t, e.approve(t, approveJSON(id, del, args), http.StatusConflict), "already rejected")
	wantError(t, reject(t, `{"approval_id":"`+id+`"}`, http.StatusConflict), "already rejected")
	if got := e.approvalGet(t, id); got["state"] != "rejected" || got["reason"] != reason {
		t.Errorf("GET after reject: %v", got)
	}

	// Nothing ran: todo is still there, and a rejection without a reason has none.
	id2 := wantPending(t, e.call(t, callJSON(del, args), http.StatusAccepted), del)
	m = reject(t, `{"approval_id":"`+id2+`"}`, http.StatusOK)
	wantKeys(t, m["approval"].(map[string]any), "id", "state", "server", "tool", "name", "arguments", "digest", "created_at", "expires_at", "decided_at")
	id3 := wantPending(t, e.call(t, callJSON(del, args), http.StatusAccepted), del)
	if m := e.approve(t, approveJSON(id3, del, args), http.StatusOK); m["content"] != "deleted note todo" {
		t.Errorf("approving after two rejections answered %v: the rejected calls ran", m)
	}
}

func TestApprovalExpiry(t *testing.T) {
	const ttl = 200 * time.Millisecond
	e := startHubConfig(t, api.Options{}, func(c *config.Config) { c.Approval.TTL = ttl }, approvalServer())
	const del, args = "example__delete_note", `{"id":"todo"}`
	pending := e.call(t, callJSON(del, args), http.StatusAccepted)
	id := wantPending(t, pending, del)
	if got := ttlOf(t, pending); got != ttl {
		t.Errorf("expires %v after creation, want %v", got, ttl)
	}
	// A caller waiting longer than the TTL hears that the request expired.
	wantError(t, e.call2(t, "/mcp_hub/call?wait=5s", callJSON(del, `{"id":"welcome"}`), http.StatusGone), "expired")
	deadline := time.Now().Add(sseWait)
	for e.approvalState(t, id) != "expired" {
		if time.Now().After(deadline) {
			t.Fatalf("still not expired after %v", sseWait)
		}
		time.Sleep(10 * time.Millisecond)
	}
	wantError(t, e.approve(t, approveJSON(id, del, args), http.StatusGone), "expired", id)
	var m map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/reject", `{"approval_id":"`+id+`"}`, http.StatusGone, &m)
	wantError(t, m, "expired")
	if list := e.approvalList(t, "?state=expired"); list[id] != "expired" {
		t.Errorf("expired list %v lacks %s", list, id)
	}
	if list := e.approvalList(t, "?state=pending"); len(list) != 0 {
		t.Errorf("pending list %v, want empty", list)
	}
}

func TestApprovalStoreFull(t *testing.T) {
	e := startHubConfig(t, api.Options{}, func(c *config.Config) { c.Approval.MaxPending = 1 }, approvalServer())
	const del = "example__delete_note"
	id := wantPending(t, e.call(t, callJSON(del, `{"id":"todo"}`), http.StatusAccepted), del)
	wantError(t, e.call(t, callJSON(del, `{"id":"welcome"}`), http.StatusTooManyRequests), "1 calls already wait for approval")
	// Tools that need no approval still run.
	wantSuccess(t, e.call(t, callJSON("example__echo", `{"message":"hi"}`), http.StatusOK), "example__echo", "hi")
	var m map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/reject", `{"approval_id":"`+id+`"}`, http.StatusOK, &m)
	wantPending(t, e.call(t, callJSON(del, `{"id":"welcome"}`), http.StatusAccepted), del)
}

func TestCallWait(t *testing.T) {
	e := startHub(t, api.Options{}, approvalServer())
	const del = "example__delete_note"
	t.Run("bad wait", func(t *testing.T) {
		for _, tc := range []struct{ wait, want string }{
			{"abc", `wait must be a duration such as 30s or a number of seconds, got "abc"`},
			{"-1s", `wait must be positive, got "-1s"`},
			{"0", `wait must be positive, got "0"`},
			{"2h", `wait is at most 1h0m0s, got "2h"`},
		} {
			wantError(t, e.call2(t, "/mcp_hub/call?wait="+tc.wait, callJSON(del, `{"id":"todo"}`), http.StatusBadRequest), tc.want)
		}
		if list := e.approvalList(t, "?state=pending"); len(list) != 0 {
			t.Errorf("refused calls left pending requests: %v", list)
		}
	})
	t.Run("approved while waiting", func(t *testing.T) {
		args := `{"id":"shopping"}`
		c := e.postAsync(t, "/mcp_hub/call?wait=5s", callJSON(del, args))
		id := e.pendingWith(t, del, args)
		m := e.approve(t, approveJSON(id, del, args), http.StatusOK)
		if m["content"] != "deleted note shopping" {
			t.Errorf("approve answered %v", m)
		}
		r, w := awaitResponse(t, c, sseWait)
		if r.status != http.StatusOK {
			t.Fatalf("waiting call: %d %s, want 200", r.status, r.body)
		}
		wantSuccess(t, w, del, "deleted note shopping")
	})
	t.Run("rejected while waiting", func(t *testing.T) {
		args := `{"id":"welcome"}`
		c := e.postAsync(t, "/mcp_hub/call?wait=30", callJSON(del, args)) // seconds
		id := e.pendingWith(t, del, args)
		var m map[string]any
		e.json(t, http.MethodPost, "/mcp_hub/reject", `{"approval_id":"`+id+`","reason":"keep it"}`, http.StatusOK, &m)
		r, w := awaitResponse(t, c, sseWait)
		if r.status != http.StatusForbidden {
			t.Fatalf("waiting call: %d %s, want 403", r.status, r.body)
		}
		wantError(t, w, "rejected", id, "keep it")
	})
	t.Run("no decision in time", func(t *testing.T) {
		start := time.Now()
		m := e.call2(t, "/mcp_hub/call?wait=100ms", callJSON(del, `{"id":"todo"}`), http.StatusAccepted)
		id := wantPending(t, m, del)
		if took := time.Since(start); took < 100*time.Millisecond || took > 5*time.Second {
			t.Errorf("answered after %v, want after the 100ms wait", took)
		}
		if st := e.approvalState(t, id); st != "pending" {
			t.Errorf("state %q, want pending", st)
		}
	})
}

// call2 posts a call to path (with its query) and decodes the answer.
func (e *env) call2(t testing.TB, path, body string, wantStatus int) map[string]any {
	t.Helper()
	var m map[string]any
	e.json(t, http.MethodPost, path, body, wantStatus, &m)
	return m
}

// TestCallWaitShutdown checks that a call waiting for a decision is
// answered promptly when the hub drains or stops, and stays pending.
func TestCallWaitShutdown(t *testing.T) {
	for _, how := range []string{"drain", "stop"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			e := startHub(t, api.Options{}, approvalServer())
			const del, args = "example__delete_note", `{"id":"todo"}`
			c := e.postAsync(t, "/mcp_hub/call?wait=1h", callJSON(del, args))
			id := e.pendingWith(t, del, args)
			if how == "drain" {
				e.hub.Drain()
			} else {
				if err := e.hub.Stop(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			r, m := awaitResponse(t, c, 5*time.Second)
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("waiting call: %d %s, want 503", r.status, r.body)
			}
			wantError(t, m, "hub stopped", id)
			if st := e.approvalState(t, id); st != "pending" {
				t.Errorf("state %q, want pending", st)
			}
		})
	}
}

// TestApproveServerDown: an approval the server cannot take now is not
// used up (the approve godoc: "503 ... the approval stays pending"),
// whether or not the hub has noticed the server is gone.
func TestApproveServerDown(t *testing.T) {
	gone := serveHTTP(t, exampleserver.NewStreamableHTTPServer(exampleserver.New()))
	srv := httpServer("example", gone.URL+"/mcp")
	srv.RequireApproval = []string{"delete_*"}
	e := startHub(t, api.Options{}, srv)
	const del = "example__delete_note"
	first := wantPending(t, e.call(t, callJSON(del, `{"id":"todo"}`), http.StatusAccepted), del)
	second := wantPending(t, e.call(t, callJSON(del, `{"id":"welcome"}`), http.StatusAccepted), del)
	gone.CloseClientConnections()
	gone.Close()
	for _, tc := range []struct {
		what, id, args string
		wait           bool // until the hub has seen the server go
	}{
		{"just gone", first, `{"id":"todo"}`, false},
		{"known down", second, `{"id":"welcome"}`, true},
	} {
		t.Run(tc.what, func(t *testing.T) {
			if tc.wait { // a failed call makes the hub notice
				e.call(t, callJSON("example__echo", `{"message":"hi"}`), http.StatusServiceUnavailable)
			}
			for deadline := time.Now().Add(sseWait); tc.wait && e.hub.Servers()[0].Healthy; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the hub still thinks the server is up")
				}
			}
			wantError(t, e.approve(t, approveJSON(tc.id, del, tc.args), http.StatusServiceUnavailable), "server unavailable", "example")
			if st := e.approvalState(t, tc.id); st != "pending" {
				t.Errorf("state %q after a 503, want pending: the call never ran, yet its approval is used up", st)
			}
		})
	}
}
