package hub

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/reqid"
)

// recordCall reports a finished call attempt twice: one line in the hub's
// log (at debug, like the access log: at info a busy hub would write a line
// per call; the audit log is the record to keep) with the request id its
// context carries, and one record in the audit log. Both name the outcome
// as the calls_total metric does (outcome), except a claimed result (an MCP
// client taking the result of an approved run), recorded by that result.
func (h *Hub) recordCall(ctx context.Context, caller string, t catalog.Tool, args json.RawMessage, start time.Time, res *CallResult, err error) {
	took := time.Since(start)
	c := callRecord{outcome: outcome(res, err)}
	if err != nil { // pending is declared here: errors.As makes it escape, an allocation on every call
		var pending *PendingError
		if errors.As(err, &pending) {
			c.approvalID = pending.Request.ID
		} else {
			// Scrubbed here because the audit sink is not the hub's scrubbed
			// log: downstream errors quote endpoints, which may carry keys.
			c.err = h.Config().Scrub(err.Error())
		}
	}
	if h.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []slog.Attr{
			slog.String("server", t.Server), slog.String("tool", t.Name),
			slog.String("outcome", c.outcome), slog.Float64("duration_ms", durationMS(took)),
		}
		if caller != "" { // with auth on: the token's name
			attrs = append(attrs, slog.String("caller", caller))
		}
		if c.approvalID != "" {
			attrs = append(attrs, slog.String("approval_id", c.approvalID))
		}
		if c.err != "" {
			attrs = append(attrs, slog.String("err", c.err))
		}
		h.log.LogAttrs(ctx, slog.LevelDebug, "tool call", attrs...)
	}
	h.audit.call(ctx, caller, t, args, took, c)
}

// callRecord is how a call attempt ended.
type callRecord struct {
	outcome    string // one of the Outcome constants
	approvalID string // pending
	err        string // error, scrubbed
}

func durationMS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// auditor writes the audit log: one record per call and per approval
// decision, to its own sink (Options.Audit). Arguments are recorded by
// digest only: they may hold secrets, and the digest is enough to match a
// record with an approval request. Records made for a request carry its
// request_id, added here because the sink is not wrapped in a
// reqid.Handler the way the hub's log is.
type auditor struct {
	log *slog.Logger // nil: auditing is off
}

// call records a finished call attempt.
func (a auditor) call(ctx context.Context, caller string, t catalog.Tool, args json.RawMessage, took time.Duration, c callRecord) {
	if a.log == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("caller", caller), slog.String("server", t.Server), slog.String("tool", t.Name),
		slog.String("args_digest", digestOf(args)), slog.String("outcome", c.outcome),
		slog.Float64("duration_ms", durationMS(took)),
	}
	if c.approvalID != "" {
		attrs = append(attrs, slog.String("approval_id", c.approvalID))
	} else if c.err != "" {
		attrs = append(attrs, slog.String("error", c.err))
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "call", withRequestID(ctx, attrs)...)
}

// withRequestID appends the request id ctx carries, if any.
func withRequestID(ctx context.Context, attrs []slog.Attr) []slog.Attr {
	if id := reqid.From(ctx); id != "" {
		attrs = append(attrs, slog.String(reqid.Key, id))
	}
	return attrs
}

// decision records an approval decision (approved, rejected, expired,
// reopened).
func (a auditor) decision(ctx context.Context, what string, r approval.Request) {
	if a.log == nil {
		return
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "approval", withRequestID(ctx, []slog.Attr{
		slog.String("decision", what), slog.String("approval_id", r.ID),
		slog.String("caller", r.Caller), slog.String("decided_by", r.DecidedBy), slog.String("reason", r.Reason),
		slog.String("server", r.Server), slog.String("tool", r.Tool), slog.String("args_digest", r.Digest),
	})...)
}

func digestOf(args json.RawMessage) string {
	if len(args) == 0 {
		args = json.RawMessage("{}")
	}
	_, d, err := approval.Digest(args)
	if err != nil {
		return ""
	}
	return d
}
