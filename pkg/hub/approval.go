package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/events"
)

// retention is how long decided and expired requests stay visible in
// GET /mcp_hub/approvals (the store also bounds how many it keeps).
const retention = time.Hour

// sweepInterval is how often expired requests are found and announced.
const sweepInterval = time.Second

// PendingError is Call's answer for a tool that needs a person's approval:
// the call did not run. errors.Is(err, ErrApprovalPending) holds.
type PendingError struct {
	Request approval.Request
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("%s: %s needs approval: request %s waits for a decision until %s",
		ErrApprovalPending, e.Request.Name, e.Request.ID, e.Request.ExpiresAt.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrApprovalPending) true.
func (e *PendingError) Is(target error) bool { return target == ErrApprovalPending }

// ApproveRequest approves a pending call and runs it. Name and Arguments
// must be the pending call's: approving is for one exact call.
type ApproveRequest struct {
	ID        string
	Name      string // exported or "server.tool"
	Arguments json.RawMessage
	By        string // who decided, when auth knows
	// OnProgress receives the call's progress notifications; see CallRequest.
	OnProgress func(Progress)
}

// policyOf builds the approval policy of a validated configuration.
func policyOf(cfg *config.Config) (*approval.Policy, error) {
	servers := make(map[string]approval.ServerRule, len(cfg.Servers))
	for _, s := range cfg.Servers {
		servers[s.Name] = approval.ServerRule{Mode: approval.Mode(s.Approval), Require: s.RequireApproval}
	}
	return approval.NewPolicy(cfg.Approval.Default == config.ApprovalAlways, cfg.Approval.Require, servers)
}

// waiter is a caller holding its request open until the pending call it
// made is decided (POST /call?wait=, /call_stream). The approval that runs
// the call hands it the progress and the outcome.
type waiter struct {
	onProgress func(Progress)
	done       chan struct{} // closed once res or err is set
	res        *CallResult
	err        error
}

// waiters maps pending request ids to the callers waiting on them.
type waiters struct {
	mu sync.Mutex
	m  map[string]*waiter
}

func (ws *waiters) add(id string, w *waiter) {
	ws.mu.Lock()
	ws.m[id] = w
	ws.mu.Unlock()
}

// take removes and returns id's waiter, or nil.
func (ws *waiters) take(id string) *waiter {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	w := ws.m[id]
	delete(ws.m, id)
	return w
}

// requestApproval records a call that needs approval. With req.Wait zero
// it answers *PendingError at once; otherwise it waits for the decision
// (up to req.Wait, or the request's expiry if req.Wait is negative) and
// answers with the outcome of the call the approval ran.
func (h *Hub) requestApproval(ctx context.Context, t catalog.Tool, args json.RawMessage, req CallRequest) (*CallResult, error) {
	cfg := h.Config().Approval
	// The request first: it computes the arguments' digest, which a claim
	// matches by.
	r, err := approval.NewRequest(approval.Call{
		Server: t.Server, Tool: t.Name, Name: t.Exported, Arguments: args, Caller: req.Caller,
	}, time.Now(), cfg.TTL)
	if err != nil {
		h.observer.CallDone(CallStats{Server: t.Server, Tool: t.Name, Outcome: OutcomeInvalid})
		return nil, fmt.Errorf("%w: tool %s: %w", ErrInvalidInput, t.Exported, err)
	}
	if req.Claim {
		if res, id, ok := h.claims.take(t.Server, t.Name, r.Digest); ok {
			h.log.InfoContext(ctx, "returning the result of an approved call to its caller", "id", id, "server", t.Server, "tool", t.Name)
			h.observer.CallDone(CallStats{Server: t.Server, Tool: t.Name, Outcome: OutcomeClaimed})
			return res, nil
		}
	}
	var w *waiter
	if req.Wait != 0 {
		// Registered before anyone can know the id: an approval cannot
		// run the call without telling this caller.
		w = &waiter{onProgress: req.OnProgress, done: make(chan struct{})}
		h.waiters.add(r.ID, w)
		defer h.waiters.take(r.ID)
	}
	if err := h.approvals.Create(ctx, r); err != nil {
		h.observer.CallDone(CallStats{Server: t.Server, Tool: t.Name, Outcome: outcome(nil, err)})
		if errors.Is(err, approval.ErrFull) {
			return nil, fmt.Errorf("%w: %d calls already wait for approval; decide or let some expire first", ErrTooManyPending, cfg.MaxPending)
		}
		return nil, fmt.Errorf("recording approval request: %w", err)
	}
	if req.Claim {
		h.claims.expect(r)
	}
	h.log.InfoContext(ctx, "call waits for approval", "id", r.ID, "server", t.Server, "tool", t.Name, "caller", r.Caller, "expires_at", r.ExpiresAt)
	h.publishApproval(events.ApprovalPending, r)
	h.observer.CallDone(CallStats{Server: t.Server, Tool: t.Name, Outcome: OutcomePending})
	if w == nil {
		return nil, &PendingError{Request: r}
	}
	if req.OnPending != nil {
		req.OnPending(r)
	}
	res, err := h.awaitDecision(ctx, r, w, req.Wait)
	if errors.Is(err, ErrRejected) || errors.Is(err, ErrExpired) {
		// The caller waited for a decision that was no: the call counts
		// once more, as an approved one does with its result.
		h.observer.CallDone(CallStats{Server: t.Server, Tool: t.Name, Outcome: outcome(nil, err)})
	}
	return res, err
}

func (h *Hub) awaitDecision(ctx context.Context, r approval.Request, w *waiter, wait time.Duration) (*CallResult, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if wait > 0 {
		wctx, cancel = context.WithTimeout(wctx, wait)
		defer cancel()
	}
	defer context.AfterFunc(h.waitCtx, cancel)()

	decided, err := h.approvals.Wait(wctx, r.ID)
	if err != nil && wctx.Err() == nil {
		return nil, fmt.Errorf("waiting for approval %s: %w", r.ID, err)
	}
	switch {
	case h.waitCtx.Err() != nil && decided.Decision == "":
		return nil, fmt.Errorf("%w: the hub is shutting down; approval request %s stays pending", ErrStopped, r.ID)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	}
	switch decided.State(time.Now()) {
	case approval.StatePending: // the caller's wait ended first
		return nil, &PendingError{Request: decided}
	case approval.StateRejected:
		return nil, rejectedError(decided)
	case approval.StateExpired:
		return nil, fmt.Errorf("%w: approval request %s expired at %s without a decision",
			ErrExpired, r.ID, decided.ExpiresAt.UTC().Format(time.RFC3339))
	}
	// Approved: the approval is running the call and hands over its outcome.
	select {
	case <-w.done:
		return w.res, w.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-h.ctx.Done():
		return nil, fmt.Errorf("%w: stopped while approved call %s ran", ErrStopped, r.ID)
	}
}

func rejectedError(r approval.Request) error {
	msg := fmt.Sprintf("%s: approval request %s for %s was rejected", ErrRejected, r.ID, r.Name)
	if r.DecidedBy != "" {
		msg += " by " + r.DecidedBy
	}
	if r.Reason != "" {
		msg += ": " + r.Reason
	}
	return &decisionError{msg: msg}
}

// decisionError carries a rejection's text while staying ErrRejected.
type decisionError struct{ msg string }

func (e *decisionError) Error() string        { return e.msg }
func (e *decisionError) Is(target error) bool { return target == ErrRejected }

// Approve approves a pending call and runs it, once: of concurrent
// approvals of one request, one runs the call and the others get
// ErrConflict. A name or arguments other than the pending call's are
// ErrConflict too, and leave the request pending. A caller waiting on the
// request gets the call's progress and outcome as well.
//
// The call runs under ctx, the approver's: if the approver goes away the
// call is cancelled, and a waiting caller gets that error.
func (h *Hub) Approve(ctx context.Context, a ApproveRequest) (*CallResult, error) {
	if h.ctx.Err() != nil {
		return nil, ErrStopped
	}
	if err := checkID(a.ID); err != nil {
		return nil, err
	}
	if a.By == "" {
		a.By = CallerFrom(ctx)
	}
	v := h.view.Load()
	t, conn, args, err := h.resolve(v, a.Name, a.Arguments)
	if err != nil {
		return nil, err
	}
	_, digest, err := approval.Digest(args)
	if err != nil {
		return nil, fmt.Errorf("%w: arguments: %w", ErrInvalidInput, err)
	}
	// A server that cannot take the call now must not use the approval up
	// (and if it fails the call undelivered, the approval is undone below).
	if st := conn.Status(); !st.Healthy() {
		return nil, fmt.Errorf("%w: server %s is %s (%s); the approval stays pending", ErrUnavailable, t.Server, st.State, st.LastError)
	}
	r, err := h.approvals.Decide(ctx, a.ID, approval.Decision{Verdict: approval.Approved, By: a.By}, time.Now(),
		func(r approval.Request) error { return r.Matches(t.Server, t.Name, digest) })
	if err != nil {
		return nil, decideError(a.ID, r, err)
	}
	h.log.InfoContext(ctx, "call approved", "id", r.ID, "server", r.Server, "tool", r.Tool, "by", r.DecidedBy)
	h.audit.decision(ctx, "approved", r)
	h.observer.ApprovalDecided("approved")
	h.publishApproval(events.ApprovalDecided, r)

	w := h.waiters.take(r.ID)
	onProgress := a.OnProgress
	if w != nil && w.onProgress != nil {
		onProgress = func(p Progress) {
			if a.OnProgress != nil {
				a.OnProgress(p)
			}
			w.onProgress(p)
		}
	}
	start := time.Now()
	res, down, err := h.run(ctx, t, conn, args, onProgress, true)
	h.observeCall(t, start, true, down, res, err)
	h.recordCall(ctx, r.Caller, t, args, start, res, err)
	if err != nil && downstream.NotDelivered(err) {
		// The server went away between the health check and the call: the
		// call certainly did not run, so the approval is not used up.
		if reopened, rerr := h.approvals.Reopen(ctx, r.ID, time.Now()); rerr == nil {
			h.log.InfoContext(ctx, "approved call not delivered; request pending again", "id", r.ID, "err", err)
			h.audit.decision(ctx, "reopened", reopened)
			h.observer.ApprovalDecided("reopened")
			h.publishApproval(events.ApprovalPending, reopened)
			err = fmt.Errorf("%w; the call did not reach the server and approval request %s is pending again", err, r.ID)
		}
	}
	if err == nil {
		h.claims.deliver(r, res, h.Config().Approval.MaxPending)
	}
	if w != nil {
		w.res, w.err = res, err
		close(w.done)
	}
	return res, err
}

// Reject denies a pending call; a caller waiting on it gets ErrRejected.
func (h *Hub) Reject(ctx context.Context, id, by, reason string) (approval.Request, error) {
	if err := checkID(id); err != nil {
		return approval.Request{}, err
	}
	if by == "" {
		by = CallerFrom(ctx)
	}
	r, err := h.approvals.Decide(ctx, id, approval.Decision{Verdict: approval.Rejected, By: by, Reason: reason}, time.Now(), nil)
	if err != nil {
		return r, decideError(id, r, err)
	}
	h.log.InfoContext(ctx, "call rejected", "id", r.ID, "server", r.Server, "tool", r.Tool, "by", r.DecidedBy)
	h.audit.decision(ctx, "rejected", r)
	h.observer.ApprovalDecided("rejected")
	h.publishApproval(events.ApprovalDecided, r)
	return r, nil
}

// Approval returns one approval request.
func (h *Hub) Approval(ctx context.Context, id string) (approval.Request, error) {
	if err := checkID(id); err != nil {
		return approval.Request{}, err
	}
	r, err := h.approvals.Get(ctx, id)
	if errors.Is(err, approval.ErrNotFound) {
		return r, fmt.Errorf("%w: approval request %q", ErrNotFound, id)
	}
	return r, err
}

// Approvals lists approval requests, newest first: pending ones and those
// decided or expired within the last hour.
func (h *Hub) Approvals(ctx context.Context, f approval.Filter) ([]approval.Request, error) {
	return h.approvals.List(ctx, f)
}

// checkID rejects what cannot be an approval id before it reaches the
// store (and an error message).
func checkID(id string) error {
	const maxID = 64
	switch {
	case id == "":
		return fmt.Errorf("%w: approval_id is required", ErrInvalidInput)
	case len(id) > maxID:
		return fmt.Errorf("%w: approval_id is %d bytes long; ids are %q followed by 32 characters", ErrInvalidInput, len(id), approval.IDPrefix)
	}
	return nil
}

// decideError gives a store error from Decide one of the hub's kinds.
func decideError(id string, r approval.Request, err error) error {
	switch {
	case errors.Is(err, approval.ErrNotFound):
		return fmt.Errorf("%w: approval request %q", ErrNotFound, id)
	case errors.Is(err, approval.ErrExpired):
		return fmt.Errorf("%w: approval request %s expired at %s", ErrExpired, id, r.ExpiresAt.UTC().Format(time.RFC3339))
	case errors.Is(err, approval.ErrAlreadyDecided):
		return fmt.Errorf("%w: approval request %s was already %s at %s; an approval runs its call once",
			ErrConflict, id, r.Decision, r.DecidedAt.UTC().Format(time.RFC3339))
	case errors.Is(err, approval.ErrMismatch):
		return fmt.Errorf("%w: %w; nothing ran and the request stays pending", ErrConflict, err)
	}
	return err
}

// sweepLoop announces requests that expired without a decision. It is
// owned by the hub and ends with it.
func (h *Hub) sweepLoop() {
	defer close(h.sweepDone)
	t := time.NewTicker(sweepInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case now := <-t.C:
			expired, err := h.approvals.Sweep(h.ctx, now)
			if err != nil {
				h.log.Warn("sweeping approval requests", "err", err)
			}
			for _, r := range expired {
				h.log.Info("approval request expired", "id", r.ID, "server", r.Server, "tool", r.Tool)
				h.audit.decision(h.ctx, "expired", r)
				h.observer.ApprovalDecided("expired")
				h.publishApproval(events.ApprovalDecided, r)
			}
			h.claims.sweep(now, retention)
		}
	}
}

// newApprovalStore is the default store: in memory, bounded.
func newApprovalStore(cfg *config.Config) approval.Store {
	return approval.NewMemoryStore(cfg.Approval.MaxPending, retention)
}

// limitSetter is a store whose limit follows config reloads.
type limitSetter interface{ SetMaxPending(n int) }

var _ limitSetter = (*approval.MemoryStore)(nil)
