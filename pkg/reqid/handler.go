package reqid

import (
	"context"
	"log/slog"
)

// Key is the attribute that names a record's request.
const Key = "request_id"

// Handler adds the request id of the context a record is logged with (see
// With) to the record, as the attribute Key, so that code on a request's
// path only has to log with its context (InfoContext, LogAttrs) for the
// line to say which request it belongs to. Records logged without a
// context, or outside any request, pass unchanged.
//
// The attribute is added where the record is handled: under a logger's
// WithGroup it lands inside the group. Sinks not wrapped in a Handler (the
// audit log) add it themselves.
type Handler struct {
	next slog.Handler
}

// NewHandler wraps next. Wrapping a Handler again returns it as it is, so
// that no line names its request twice.
func NewHandler(next slog.Handler) slog.Handler {
	if h, ok := next.(Handler); ok {
		return h
	}
	return Handler{next: next}
}

// Enabled reports whether next handles level.
func (h Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the request id to r and passes it on.
func (h Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := From(ctx); id != "" {
		// A copy: r may share its attributes with the caller's record.
		r = r.Clone()
		r.AddAttrs(slog.String(Key, id))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a Handler whose next handler has attrs.
func (h Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return Handler{next: h.next.WithAttrs(attrs)}
}

// WithGroup returns a Handler whose next handler opens the group.
func (h Handler) WithGroup(name string) slog.Handler {
	return Handler{next: h.next.WithGroup(name)}
}
