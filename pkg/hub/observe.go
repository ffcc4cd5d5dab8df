package hub

import (
	"context"
	"errors"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
)

// Observer is told what the hub did, for metrics. Its methods run on the
// call path (CallDone after every call) and must be quick and must not
// block; the hub never waits for anything else on their behalf.
//
// What is state rather than an event (servers up, pending approvals, the
// catalog's size) is not pushed: an observer reads it from the hub when it
// needs it (Servers, Approvals, Events), so it cannot drift.
type Observer interface {
	// CallDone reports one call's disposition. Every Call counts once:
	// run (ok, tool_error or the error it failed with), held for approval
	// (pending), or refused before it could run. A held call counts once
	// more: with its result when Approve runs it, or rejected / expired
	// when its caller waited for a decision that was no.
	CallDone(CallStats)
	// ApprovalDecided reports an approval request decided: "approved",
	// "rejected", "expired" (by nobody, at its TTL) or "reopened" (an
	// approved call that never reached its server is pending again).
	ApprovalDecided(decision string)
	// RefreshDone reports a refresh pass, periodic or asked for.
	RefreshDone(RefreshReport)
}

// CallStats is one call for an Observer.
type CallStats struct {
	// Server and Tool are the tool's own names; both are empty when the
	// name the caller sent matched no tool (it is not reported: it is
	// whatever the caller sent, so it would make labels unbounded).
	Server, Tool string
	// Outcome is one of the Outcome constants.
	Outcome string
	// Ran is true when the call reached its server; the durations are
	// set only then.
	Ran bool
	// Total is the whole call as the hub saw it; Downstream is the part
	// spent waiting for the server. Total - Downstream is what the hub
	// added (lookup, argument checks, result decoding).
	Total, Downstream time.Duration
}

// The outcomes a call is reported with: a fixed set, so that metrics
// labelled by outcome stay bounded.
const (
	OutcomeOK             = "ok"
	OutcomeToolError      = "tool_error" // the tool answered isError
	OutcomePending        = "pending"    // held for approval
	OutcomeClaimed        = "claimed"    // got the result of an earlier approved run (MCP clients)
	OutcomeInvalid        = "invalid"
	OutcomeNotFound       = "not_found"
	OutcomeUnavailable    = "unavailable"
	OutcomeProtocol       = "protocol"
	OutcomeTimeout        = "timeout"
	OutcomeCanceled       = "canceled" // the caller went away
	OutcomeStopped        = "stopped"
	OutcomeTooManyPending = "too_many_pending"
	OutcomeRejected       = "rejected"
	OutcomeExpired        = "expired"
	OutcomeError          = "error" // anything else
)

// Outcomes lists every outcome a call can be reported with.
var Outcomes = []string{
	OutcomeOK, OutcomeToolError, OutcomePending, OutcomeClaimed, OutcomeInvalid, OutcomeNotFound,
	OutcomeUnavailable, OutcomeProtocol, OutcomeTimeout, OutcomeCanceled, OutcomeStopped,
	OutcomeTooManyPending, OutcomeRejected, OutcomeExpired, OutcomeError,
}

// outcome names a call's result: the one place the hub's errors become
// outcome strings.
func outcome(res *CallResult, err error) string {
	switch {
	case err == nil && res != nil && res.IsError:
		return OutcomeToolError
	case err == nil:
		return OutcomeOK
	case errors.Is(err, ErrApprovalPending):
		return OutcomePending
	case errors.Is(err, ErrInvalidInput):
		return OutcomeInvalid
	case errors.Is(err, ErrNotFound):
		return OutcomeNotFound
	case errors.Is(err, ErrUnavailable):
		return OutcomeUnavailable
	case errors.Is(err, ErrProtocol):
		return OutcomeProtocol
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return OutcomeTimeout
	case errors.Is(err, ErrStopped):
		return OutcomeStopped
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, ErrTooManyPending), errors.Is(err, approval.ErrFull):
		return OutcomeTooManyPending
	case errors.Is(err, ErrRejected):
		return OutcomeRejected
	case errors.Is(err, ErrExpired):
		return OutcomeExpired
	}
	return OutcomeError
}

// observeCall reports a call that went as far as running (ran) or ended
// before. start is when the hub took the call, down the downstream part.
func (h *Hub) observeCall(t catalog.Tool, start time.Time, ran bool, down time.Duration, res *CallResult, err error) {
	s := CallStats{Server: t.Server, Tool: t.Name, Outcome: outcome(res, err), Ran: ran}
	if ran {
		s.Total, s.Downstream = time.Since(start), down
	}
	h.observer.CallDone(s)
}

// nopObserver is the Observer of a hub given none.
type nopObserver struct{}

func (nopObserver) CallDone(CallStats)        {}
func (nopObserver) ApprovalDecided(string)    {}
func (nopObserver) RefreshDone(RefreshReport) {}
