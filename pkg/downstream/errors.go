package downstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// ErrNotConnected means the server has no live session: it is starting,
// backing off after a failure, or stopped. The error wrapping it says why.
var ErrNotConnected = errors.New("server not connected")

// ErrStopped is returned by calls on a connection that has been stopped.
var ErrStopped = errors.New("connection stopped")

// errNoSession marks a request refused before it was sent: the connection
// had no live session.
var errNoSession = errors.New("no live session")

// NotDelivered reports whether err means a request certainly never reached
// the server: the connection had no session or was stopped, the connection
// could not be opened (dial failure, refused), the write to a dead stdio
// child failed (EPIPE), or an HTTP request could not be written whole
// (inline.go, on its own path and on net/http's Transport), unless a server
// had it before and redirected it (mayHaveArrived). Whatever the request
// asked for did not happen, so a caller may undo what it recorded for it
// without risking a second run. Anything else (a reset or EOF while the
// answer was awaited, a timeout) may have come after the server acted.
func NotDelivered(err error) bool {
	var arrived mayHaveArrived
	if errors.As(err, &arrived) {
		return false
	}
	if errors.Is(err, errNoSession) || errors.Is(err, ErrStopped) || errors.Is(err, errRequestNotSent) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) || serverClosedIdle(err) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// mayHaveArrived is an error met after a server had the request and
// answered it with a redirect (post.go): whatever failed on the way to the
// next one, that server may have acted on it (a 303 may follow an action).
type mayHaveArrived struct{ error }

func (e mayHaveArrived) Unwrap() error { return e.error }

// ErrProtocol marks an answer that is not valid MCP: malformed JSON-RPC, a
// result that does not decode, a pagination loop.
var ErrProtocol = errors.New("downstream protocol error")

// RPCError is a JSON-RPC error object returned by the downstream server.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// JSON-RPC error codes the hub treats specially.
const (
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
)

func (e *RPCError) Error() string {
	return fmt.Sprintf("downstream error %d: %s", e.Code, e.Message)
}

// truncate cuts s to at most n bytes for an error message: text a server
// sent can be arbitrarily long. A body is converted only as far as it is
// kept: one quoted in an error may weigh megabytes.
func truncate[T string | []byte](s T, n int) string {
	if len(s) <= n {
		return string(s)
	}
	return string(s[:n]) + "…"
}

// serverClosedIdle reports net/http's error for a pooled connection the
// server closed just before the request was written (the error value is
// unexported): the request never left. Only net/http's Transport (https,
// proxies) gives it; inline.go peeks at a pooled connection before reusing
// it, and reports a write that failed as errRequestNotSent (never left) and
// a break after the write as errClosedIdle (may have been acted on).
func serverClosedIdle(err error) bool {
	return err != nil && strings.Contains(err.Error(), "http: server closed idle connection")
}
