package hub

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
)

// auditor writes the audit log: one record per call and per approval
// decision, to its own sink (Options.Audit). Arguments are recorded by
// digest only: they may hold secrets, and the digest is enough to match a
// record with an approval request.
type auditor struct {
	log *slog.Logger // nil: auditing is off
}

// call records a finished call attempt.
func (a auditor) call(ctx context.Context, caller string, t catalog.Tool, args json.RawMessage, start time.Time, res *CallResult, err error) {
	if a.log == nil {
		return
	}
	outcome := "ok"
	var pending *PendingError
	switch {
	case errors.As(err, &pending):
		outcome = "pending"
	case err != nil:
		outcome = "error"
	case res.IsError:
		outcome = "tool_error"
	}
	attrs := []slog.Attr{
		slog.String("caller", caller), slog.String("server", t.Server), slog.String("tool", t.Name),
		slog.String("args_digest", digestOf(args)), slog.String("outcome", outcome),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
	}
	if pending != nil {
		attrs = append(attrs, slog.String("approval_id", pending.Request.ID))
	} else if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "call", attrs...)
}

// decision records an approval decision (approved, rejected, expired,
// reopened).
func (a auditor) decision(ctx context.Context, what string, r approval.Request) {
	if a.log == nil {
		return
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "approval",
		slog.String("decision", what), slog.String("approval_id", r.ID),
		slog.String("caller", r.Caller), slog.String("decided_by", r.DecidedBy), slog.String("reason", r.Reason),
		slog.String("server", r.Server), slog.String("tool", r.Tool), slog.String("args_digest", r.Digest))
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
