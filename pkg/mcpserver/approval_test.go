package mcpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
)

// gatedEnv is a hub whose only server, "example", is an HTTP example
// server (which counts the calls it runs) with delete_* gated.
func gatedEnv(t *testing.T) (*env, *httpExample) {
	t.Helper()
	ex := newHTTPExample(t)
	return newEnv(t, hubConfig(gatedExample(httpServer("example", ex.URL)))), ex
}

func approvals(t *testing.T, h *hub.Hub, st approval.State) []approval.Request {
	t.Helper()
	list, err := h.Approvals(ctxFor(t), approval.Filter{State: st})
	if err != nil {
		t.Fatalf("Approvals: %v", err)
	}
	return list
}

func TestApprovalWithoutElicitation(t *testing.T) {
	e, ex := gatedEnv(t)
	c := connect(t, e.url("/mcp"), clientOpts{})
	args := map[string]any{"id": "n9"}
	if res := c.call(t, "example__create_note", map[string]any{"id": "n9", "text": "keep"}); res.IsError {
		t.Fatalf("create_note: %q", textOf(t, res))
	}

	res := c.call(t, "example__delete_note", args)
	id := pendingID(t, res)
	if text := textOf(t, res); !strings.Contains(text, "example__delete_note") || !strings.Contains(text, "approv") {
		t.Errorf("pending answer does not say what to do: %q", text)
	}
	if n := ex.callsOf(exampleserver.ToolDeleteNote); n != 0 {
		t.Fatalf("a gated call reached the server (%d calls)", n)
	}
	if got := readText(t, c, "note://n9"); got != "keep" {
		t.Fatalf("note://n9 is %q before approval", got)
	}
	pending := approvals(t, e.hub, approval.StatePending)
	if len(pending) != 1 || pending[0].ID != id || pending[0].Tool != exampleserver.ToolDeleteNote {
		t.Fatalf("pending approvals: %+v, want %s", pending, id)
	}

	// Approving runs the call.
	out, err := e.hub.Approve(ctxFor(t), hub.ApproveRequest{ID: id, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"n9"}`), By: "test"})
	if err != nil || out.IsError || out.Content != "deleted note n9" {
		t.Fatalf("Approve: %+v, %v", out, err)
	}
	if n := ex.callsOf(exampleserver.ToolDeleteNote); n != 1 {
		t.Fatalf("%d delete_note calls after the approval, want 1", n)
	}

	// Another call (other arguments) does not take that result.
	pendingID(t, c.call(t, "example__delete_note", map[string]any{"id": "todo"}))

	// The same call again returns the approved call's result, without
	// running it again.
	res = c.call(t, "example__delete_note", args)
	if res.IsError || textOf(t, res) != "deleted note n9" {
		t.Fatalf("second call after approval: isError=%v %q, want the approved result", res.IsError, textOf(t, res))
	}
	if n := ex.callsOf(exampleserver.ToolDeleteNote); n != 1 {
		t.Errorf("%d delete_note calls after claiming the result, want 1", n)
	}

	// A third call asks again.
	third := pendingID(t, c.call(t, "example__delete_note", args))
	if third == id {
		t.Errorf("third call reused approval request %s", id)
	}
	if n := ex.callsOf(exampleserver.ToolDeleteNote); n != 1 {
		t.Errorf("%d delete_note calls after the third call, want 1", n)
	}
}

// elicitor answers elicitations with a fixed result and records them.
type elicitor struct {
	mu     sync.Mutex
	asked  []mcp.ElicitationRequest
	result *mcp.ElicitationResult
	err    error
}

func (el *elicitor) Elicit(_ context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	el.mu.Lock()
	defer el.mu.Unlock()
	el.asked = append(el.asked, req)
	return el.result, el.err
}

func (el *elicitor) requests() []mcp.ElicitationRequest {
	el.mu.Lock()
	defer el.mu.Unlock()
	return append([]mcp.ElicitationRequest(nil), el.asked...)
}

func answer(action mcp.ElicitationResponseAction, content any) *mcp.ElicitationResult {
	return &mcp.ElicitationResult{ElicitationResponse: mcp.ElicitationResponse{Action: action, Content: content}}
}

func TestApprovalWithElicitation(t *testing.T) {
	tests := []struct {
		name     string
		el       *elicitor
		ran      bool
		state    approval.State // of the request afterwards
		wantText string
	}{
		{"accept", &elicitor{result: answer(mcp.ElicitationResponseActionAccept, map[string]any{"approve": true})},
			true, approval.StateApproved, "deleted note todo"},
		{"decline", &elicitor{result: answer(mcp.ElicitationResponseActionDecline, nil)},
			false, approval.StateRejected, "declined"},
		{"accept-without-yes", &elicitor{result: answer(mcp.ElicitationResponseActionAccept, map[string]any{"approve": false})},
			false, approval.StateRejected, "declined"},
		{"cancel", &elicitor{result: answer(mcp.ElicitationResponseActionCancel, nil)},
			false, approval.StatePending, "still pending"},
		{"client-error", &elicitor{err: errors.New("no person here")},
			false, approval.StatePending, "appr_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, ex := gatedEnv(t)
			c := connect(t, e.url("/mcp"), clientOpts{elicit: tc.el})
			res := c.call(t, "example__delete_note", map[string]any{"id": "todo"})
			text := textOf(t, res)
			if res.IsError == tc.ran || !strings.Contains(text, tc.wantText) {
				t.Errorf("call: isError=%v %q, want ran=%v and %q", res.IsError, text, tc.ran, tc.wantText)
			}
			asked := tc.el.requests()
			if len(asked) != 1 {
				t.Fatalf("the client was asked %d times, want 1", len(asked))
			}
			msg := asked[0].Params.Message
			if !strings.Contains(msg, "example__delete_note") || !strings.Contains(msg, `"todo"`) || approvalID.FindString(msg) == "" {
				t.Errorf("elicitation message %q does not name the call and its request", msg)
			}
			want := 0
			if tc.ran {
				want = 1
			}
			if n := ex.callsOf(exampleserver.ToolDeleteNote); n != want {
				t.Errorf("%d delete_note calls reached the server, want %d", n, want)
			}
			list := approvals(t, e.hub, tc.state)
			if len(list) != 1 || list[0].Tool != exampleserver.ToolDeleteNote ||
				!strings.Contains(msg, list[0].ID) {
				t.Fatalf("%s approvals: %+v", tc.state, list)
			}
			if tc.state != approval.StatePending && list[0].DecidedBy == "" {
				t.Errorf("decision by nobody: %+v", list[0])
			}
			if tc.ran {
				if _, err := tryRead(t, c, "note://todo"); err == nil {
					t.Error("note://todo still exists after an approved delete")
				}
			} else if got := readText(t, c, "note://todo"); got != "Write the hub" {
				t.Errorf("note://todo is %q", got)
			}
		})
	}
}

// TestElicitationOnlyForCapableClients: the same gated call from a client
// without elicitation answers at once, even while another session with
// elicitation is connected.
func TestElicitationOnlyForCapableClients(t *testing.T) {
	e, _ := gatedEnv(t)
	el := &elicitor{result: answer(mcp.ElicitationResponseActionDecline, nil)}
	_ = connect(t, e.url("/mcp"), clientOpts{elicit: el})
	plain := connect(t, e.url("/mcp"), clientOpts{})
	pendingID(t, plain.call(t, "example__delete_note", map[string]any{"id": "todo"}))
	if n := len(el.requests()); n != 0 {
		t.Errorf("the other session was asked %d times", n)
	}
}
