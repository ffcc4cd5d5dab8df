package hub

import (
	"context"
	"log/slog"
)

// scrubHandler removes the servers' configured secrets from log records
// before they are written. Connections log transport errors, and those
// quote endpoints, which may carry a key in their query string. A record's
// message and attributes are scrubbed as it is written, with the config of
// that moment; attributes given to With once, with the config of then.
type scrubHandler struct {
	next  slog.Handler
	scrub func(string) string
}

func (h scrubHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h scrubHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h scrubHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.scrub(v.String()))
	case slog.KindGroup:
		attrs := v.Group()
		scrubbed := make([]any, len(attrs))
		for i, g := range attrs {
			scrubbed[i] = h.attr(g)
		}
		return slog.Group(a.Key, scrubbed...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.scrub(err.Error()))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func (h scrubHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		scrubbed[i] = h.attr(a)
	}
	return scrubHandler{next: h.next.WithAttrs(scrubbed), scrub: h.scrub}
}

func (h scrubHandler) WithGroup(name string) slog.Handler {
	return scrubHandler{next: h.next.WithGroup(name), scrub: h.scrub}
}
