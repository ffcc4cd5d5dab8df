package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/hub"
)

// approvalHub runs the example server over HTTP (so the test sees every
// tools/call on the wire) with delete_* and slow_count needing approval.
func approvalHub(t *testing.T, edit func(*config.Config)) (*hub.Hub, *httpExample) {
	t.Helper()
	ex := newHTTPExample(t)
	srv := httpServer("example", ex.URL)
	srv.RequireApproval = []string{"delete_*", "slow_count"}
	cfg := hubConfig(srv)
	if edit != nil {
		edit(cfg)
	}
	return startHub(t, cfg), ex
}

// wireCalls counts the tools/call requests of tool the server received.
func (ex *httpExample) wireCalls(tool string) int {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	n := 0
	for _, c := range ex.calls {
		if strings.Contains(c, `"name":"`+tool+`"`) {
			n++
		}
	}
	return n
}

func pending(t *testing.T, err error) approval.Request {
	t.Helper()
	var p *hub.PendingError
	if !errors.As(err, &p) || !errors.Is(err, hub.ErrApprovalPending) {
		t.Fatalf("err = %v, want a *hub.PendingError", err)
	}
	return p.Request
}

func requestCall(t *testing.T, h *hub.Hub, name, args string) approval.Request {
	t.Helper()
	res, err := h.Call(context.Background(), hub.CallRequest{Name: name, Arguments: json.RawMessage(args)})
	if res != nil {
		t.Fatalf("a call that needs approval ran: %s", res.Result)
	}
	return pending(t, err)
}

func TestApprovalMarksTools(t *testing.T) {
	t.Parallel()
	h, _ := approvalHub(t, nil)
	body, err := h.ToolsJSON("")
	if err != nil {
		t.Fatal(err)
	}
	// Entries stay in OpenAI's exact shape; the list of gated tools is
	// beside them.
	var list struct {
		Tools []map[string]json.RawMessage `json:"tools"`
		Gated []string                     `json:"requires_approval"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		t.Fatal(err)
	}
	marked := map[string]bool{}
	for _, tl := range list.Tools {
		if len(tl) != 2 || tl["type"] == nil || tl["function"] == nil {
			t.Errorf("entry %v: want exactly type and function", tl)
		}
		var fn struct{ Name, Description string }
		_ = json.Unmarshal(tl["function"], &fn)
		marked[fn.Name] = slices.Contains(list.Gated, fn.Name)
		if marked[fn.Name] != strings.Contains(fn.Description, "approval") {
			t.Errorf("%s: gated %v but description %q", fn.Name, marked[fn.Name], fn.Description)
		}
	}
	want := map[string]bool{"example__delete_note": true, "example__slow_count": true, "example__echo": false, "example__create_note": false}
	for name, w := range want {
		if got, ok := marked[name]; !ok || got != w {
			t.Errorf("%s: in requires_approval = %v (listed %v), want %v", name, got, ok, w)
		}
	}
}

func TestApprovalFlow(t *testing.T) {
	t.Parallel()
	h, ex := approvalHub(t, nil)
	ctx := context.Background()
	call(t, h, "example__create_note", `{"id":"todo","text":"x"}`)

	r := requestCall(t, h, "example__delete_note", `{"id":"todo"}`)
	if !strings.HasPrefix(r.ID, approval.IDPrefix) || len(r.ID) < len(approval.IDPrefix)+26 {
		t.Errorf("id %q: want appr_ and at least 128 random bits", r.ID)
	}
	if r.Server != "example" || r.Tool != "delete_note" || r.Name != "example__delete_note" || r.State(time.Now()) != approval.StatePending {
		t.Errorf("request = %+v", r)
	}
	if d := r.ExpiresAt.Sub(r.CreatedAt); d != config.DefaultApprovalTTL {
		t.Errorf("ttl = %v, want the default %v", d, config.DefaultApprovalTTL)
	}
	if n := ex.wireCalls("delete_note"); n != 0 {
		t.Fatalf("delete_note reached the server %d times before approval", n)
	}
	list, err := h.Approvals(ctx, approval.Filter{State: approval.StatePending})
	if err != nil || len(list) != 1 || list[0].ID != r.ID {
		t.Fatalf("pending list = %+v, %v", list, err)
	}

	// Approvals for another call: nothing runs, the request stays pending.
	for _, bad := range []hub.ApproveRequest{
		{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"other"}`)},
		{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{}`)},
		{ID: r.ID, Name: "example__echo", Arguments: json.RawMessage(`{"id":"todo"}`)},
	} {
		_, err := h.Approve(ctx, bad)
		wantErr(t, err, hub.ErrConflict)
	}
	if _, err := h.Approve(ctx, hub.ApproveRequest{ID: "appr_nope", Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"todo"}`)}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
	if _, err := h.Approve(ctx, hub.ApproveRequest{ID: r.ID, Name: "example__nope", Arguments: json.RawMessage(`{"id":"todo"}`)}); !errors.Is(err, hub.ErrNotFound) {
		t.Errorf("unknown tool: err = %v, want ErrNotFound", err)
	}
	if got, _ := h.Approval(ctx, r.ID); got.State(time.Now()) != approval.StatePending {
		t.Fatalf("after refused approvals the request is %s", got.State(time.Now()))
	}

	// Same call, keys in another order and spaced differently: same digest.
	res, err := h.Approve(ctx, hub.ApproveRequest{ID: r.ID, Name: "example.delete_note", Arguments: json.RawMessage(`{ "id" : "todo" }`), By: "alice"})
	if err != nil {
		t.Fatalf("Approve: %v", err)
	}
	if res.IsError || res.Content != "deleted note todo" {
		t.Errorf("result = %+v", res)
	}
	_, err = h.Approve(ctx, hub.ApproveRequest{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"todo"}`)})
	wantErr(t, err, hub.ErrConflict)
	if n := ex.wireCalls("delete_note"); n != 1 {
		t.Errorf("delete_note ran %d times, want once", n)
	}
	got, err := h.Approval(ctx, r.ID)
	if err != nil || got.State(time.Now()) != approval.StateApproved || got.DecidedBy != "alice" {
		t.Errorf("decided request = %+v, %v", got, err)
	}
	// Tools that need no approval are untouched by all this.
	echo(t, h, "example__echo")
}

func TestApproveConcurrentlyRunsOnce(t *testing.T) {
	t.Parallel()
	h, ex := approvalHub(t, nil)
	call(t, h, "example__create_note", `{"id":"race","text":"x"}`)
	r := requestCall(t, h, "example__delete_note", `{"id":"race"}`)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for range n {
		wg.Go(func() {
			<-start
			_, err := h.Approve(context.Background(), hub.ApproveRequest{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"race"}`)})
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	ok := 0
	for err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, hub.ErrConflict):
			t.Errorf("err = %v, want nil or ErrConflict", err)
		}
	}
	if ok != 1 || ex.wireCalls("delete_note") != 1 {
		t.Errorf("%d approvals succeeded and delete_note ran %d times; want 1 and 1", ok, ex.wireCalls("delete_note"))
	}
}

func TestRejectAndExpire(t *testing.T) {
	t.Parallel()
	h, ex := approvalHub(t, func(c *config.Config) { c.Approval.TTL = 300 * time.Millisecond })
	ctx := context.Background()
	sub := h.Events().Subscribe(0, 64)
	defer sub.Close()

	r := requestCall(t, h, "example__delete_note", `{"id":"a"}`)
	got, err := h.Reject(ctx, r.ID, "bob", "not today")
	if err != nil || got.State(time.Now()) != approval.StateRejected || got.Reason != "not today" {
		t.Fatalf("Reject = %+v, %v", got, err)
	}
	_, err = h.Approve(ctx, hub.ApproveRequest{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"a"}`)})
	wantErr(t, err, hub.ErrConflict)
	_, err = h.Reject(ctx, r.ID, "", "")
	wantErr(t, err, hub.ErrConflict)

	e := requestCall(t, h, "example__delete_note", `{"id":"b"}`)
	// The sweeper announces the expiry; the request stays visible.
	ev := nextEvent(t, sub, func(ev events.Event) bool {
		return ev.Type == events.ApprovalDecided && strings.Contains(string(ev.Data), e.ID)
	})
	if !strings.Contains(string(ev.Data), `"state":"expired"`) {
		t.Errorf("expiry event = %s", ev.Data)
	}
	_, err = h.Approve(ctx, hub.ApproveRequest{ID: e.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"b"}`)})
	wantErr(t, err, hub.ErrExpired)
	list, _ := h.Approvals(ctx, approval.Filter{State: approval.StateExpired})
	if len(list) != 1 || list[0].ID != e.ID {
		t.Errorf("expired list = %+v", list)
	}
	if n := ex.wireCalls("delete_note"); n != 0 {
		t.Errorf("delete_note ran %d times", n)
	}
}

// Approving right as the request expires either runs the call or says it
// expired; never both, never neither.
func TestApproveRacesExpiry(t *testing.T) {
	t.Parallel()
	const ttl = 40 * time.Millisecond
	h, ex := approvalHub(t, func(c *config.Config) { c.Approval.TTL = ttl })
	ran, expired := 0, 0
	for i := range 20 {
		r := requestCall(t, h, "example__delete_note", `{"id":"x"}`)
		time.Sleep(ttl - time.Duration(i%5)*time.Millisecond)
		_, err := h.Approve(context.Background(), hub.ApproveRequest{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"x"}`)})
		switch {
		case err == nil:
			ran++
		case errors.Is(err, hub.ErrExpired):
			expired++
		default:
			t.Fatalf("err = %v", err)
		}
	}
	if n := ex.wireCalls("delete_note"); n != ran {
		t.Errorf("%d approvals ran but the server saw %d calls (%d expired)", ran, n, expired)
	}
}

func TestCallWaitsForDecision(t *testing.T) {
	t.Parallel()
	h, ex := approvalHub(t, nil)
	ctx := context.Background()

	type outcome struct {
		res      *hub.CallResult
		err      error
		progress []hub.Progress
	}
	waitCall := func(name, args string, wait time.Duration) (<-chan approval.Request, <-chan outcome) {
		ids := make(chan approval.Request, 1)
		out := make(chan outcome, 1)
		go func() {
			var mu sync.Mutex
			var progress []hub.Progress
			res, err := h.Call(ctx, hub.CallRequest{
				Name: name, Arguments: json.RawMessage(args), Wait: wait,
				OnPending: func(r approval.Request) { ids <- r },
				OnProgress: func(p hub.Progress) {
					mu.Lock()
					progress = append(progress, p)
					mu.Unlock()
				},
			})
			mu.Lock()
			out <- outcome{res, err, progress}
			mu.Unlock()
		}()
		return ids, out
	}

	t.Run("approved: the waiter gets the result and every progress", func(t *testing.T) {
		ids, out := waitCall("example__slow_count", `{"count":5,"delay_ms":10}`, -1)
		r := <-ids
		var approverProgress []hub.Progress
		res, err := h.Approve(ctx, hub.ApproveRequest{ID: r.ID, Name: "example__slow_count", Arguments: json.RawMessage(`{"delay_ms":10,"count":5}`),
			OnProgress: func(p hub.Progress) { approverProgress = append(approverProgress, p) }})
		if err != nil {
			t.Fatal(err)
		}
		o := <-out
		if o.err != nil || o.res.Content != res.Content {
			t.Fatalf("waiter got %+v, %v; approver got %q", o.res, o.err, res.Content)
		}
		for _, got := range [][]hub.Progress{o.progress, approverProgress} {
			if len(got) != 5 {
				t.Fatalf("progress = %+v, want 5 notifications", got)
			}
			for i, p := range got {
				if p.Progress != float64(i+1) {
					t.Errorf("progress %d = %v, want %d (in order)", i, p.Progress, i+1)
				}
			}
		}
		if n := ex.wireCalls("slow_count"); n != 1 {
			t.Errorf("slow_count ran %d times", n)
		}
	})
	t.Run("rejected", func(t *testing.T) {
		ids, out := waitCall("example__delete_note", `{"id":"w"}`, time.Minute)
		r := <-ids
		if _, err := h.Reject(ctx, r.ID, "carol", "no"); err != nil {
			t.Fatal(err)
		}
		o := <-out
		wantErr(t, o.err, hub.ErrRejected)
		if !strings.Contains(o.err.Error(), "carol") || !strings.Contains(o.err.Error(), "no") {
			t.Errorf("rejection does not say who and why: %v", o.err)
		}
	})
	t.Run("wait ends first: still pending", func(t *testing.T) {
		_, out := waitCall("example__delete_note", `{"id":"w"}`, 50*time.Millisecond)
		o := <-out
		r := pending(t, o.err)
		if got, _ := h.Approval(ctx, r.ID); got.State(time.Now()) != approval.StatePending {
			t.Errorf("state = %s", got.State(time.Now()))
		}
	})
	if n := ex.wireCalls("delete_note"); n != 0 {
		t.Errorf("delete_note ran %d times", n)
	}
}

func TestApprovalExpiresWhileWaiting(t *testing.T) {
	t.Parallel()
	h, _ := approvalHub(t, func(c *config.Config) { c.Approval.TTL = 100 * time.Millisecond })
	_, err := h.Call(context.Background(), hub.CallRequest{Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"x"}`), Wait: -1})
	wantErr(t, err, hub.ErrExpired)
}

func TestStopAnswersWaitingCalls(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"drain", "stop"} {
		t.Run(how, func(t *testing.T) {
			h, _ := approvalHub(t, nil)
			ids := make(chan approval.Request, 1)
			errc := make(chan error, 1)
			go func() {
				_, err := h.Call(context.Background(), hub.CallRequest{Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"x"}`),
					Wait: -1, OnPending: func(r approval.Request) { ids <- r }})
				errc <- err
			}()
			<-ids
			if how == "drain" {
				h.Drain()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := h.Stop(ctx); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-errc:
				wantErr(t, err, hub.ErrStopped)
			case <-time.After(5 * time.Second):
				t.Fatal("a call waiting for approval still waits after " + how)
			}
		})
	}
}

func TestApprovalStoreFull(t *testing.T) {
	t.Parallel()
	h, _ := approvalHub(t, func(c *config.Config) { c.Approval.MaxPending = 2 })
	requestCall(t, h, "example__delete_note", `{"id":"1"}`)
	r := requestCall(t, h, "example__delete_note", `{"id":"2"}`)
	_, err := h.Call(context.Background(), hub.CallRequest{Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"3"}`)})
	wantErr(t, err, hub.ErrTooManyPending)
	// A decision frees a place.
	if _, err := h.Reject(context.Background(), r.ID, "", ""); err != nil {
		t.Fatal(err)
	}
	requestCall(t, h, "example__delete_note", `{"id":"3"}`)
}

func TestApprovalPolicyFollowsReload(t *testing.T) {
	t.Parallel()
	h, ex := approvalHub(t, nil)
	cfg := *h.Config()
	cfg.Servers = append([]config.Server(nil), cfg.Servers...)
	cfg.Servers[0].RequireApproval = nil
	cfg.Approval.Require = []string{"example.echo"}
	if _, err := h.Reload(context.Background(), &cfg); err != nil {
		t.Fatal(err)
	}
	requestCall(t, h, "example__echo", `{"message":"x"}`)
	call(t, h, "example__create_note", `{"id":"n","text":"x"}`)
	if res := call(t, h, "example__delete_note", `{"id":"n"}`); res.IsError {
		t.Errorf("delete_note after the reload: %s", res.Content)
	}
	body, _ := h.ToolsJSON("example")
	if !strings.Contains(string(body), `"name":"example__echo","description":"Echo`) || !strings.HasSuffix(string(body), `,"requires_approval":["example__echo"]}`) {
		t.Errorf("tool list after the reload does not mark only echo: %s", body)
	}
	if n := ex.wireCalls("echo"); n != 0 {
		t.Errorf("echo ran %d times without approval", n)
	}
}

// nextEvent returns the first event from sub that match accepts.
func nextEvent(t *testing.T, sub *events.Subscription, match func(events.Event) bool) events.Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-sub.C():
			if !ok {
				t.Fatal("event subscription ended")
			}
			if match(*ev) {
				return *ev
			}
		case <-timeout:
			t.Fatal("no matching event within 10s")
		}
	}
}

// A caller that cannot wait (an MCP client) gets the approved call's result
// by making the same call again, once.
func TestClaimApprovedResult(t *testing.T) {
	t.Parallel()
	h, ex := approvalHub(t, nil)
	ctx := context.Background()
	call(t, h, "example__create_note", `{"id":"c","text":"x"}`)
	claim := func(args string) (*hub.CallResult, error) {
		return h.Call(ctx, hub.CallRequest{Name: "example__delete_note", Arguments: json.RawMessage(args), Claim: true})
	}
	_, err := claim(`{"id":"c"}`)
	r := pending(t, err)
	approved, err := h.Approve(ctx, hub.ApproveRequest{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"c"}`)})
	if err != nil {
		t.Fatal(err)
	}
	// Other arguments are another call: a new request.
	_, err = claim(`{"id":"other"}`)
	pending(t, err)
	// The same call, spelled differently, collects the result once.
	got, err := claim(` { "id" : "c" } `)
	if err != nil || got.Content != approved.Content {
		t.Fatalf("claim = %+v, %v; want the approved result %q", got, err, approved.Content)
	}
	_, err = claim(`{"id":"c"}`)
	pending(t, err)
	if n := ex.wireCalls("delete_note"); n != 1 {
		t.Errorf("delete_note ran %d times, want once", n)
	}
	// Without Claim nothing is kept or collected.
	_, err = h.Call(ctx, hub.CallRequest{Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"c"}`)})
	pending(t, err)
}
