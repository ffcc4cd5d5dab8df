package hub

import "context"

// callerKey is the context key of the caller's name.
type callerKey struct{}

// WithCaller records who makes the requests under ctx (an auth token's
// name). The hub reads it when a request does not name its caller, so
// every entry point (REST, MCP) records the same identity on approvals and
// in the audit log.
func WithCaller(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, callerKey{}, name)
}

// CallerFrom returns the caller recorded by WithCaller, or "".
func CallerFrom(ctx context.Context) string {
	name, _ := ctx.Value(callerKey{}).(string)
	return name
}
