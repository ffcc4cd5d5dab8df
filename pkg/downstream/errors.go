package downstream

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotConnected means the server has no live session: it is starting,
// backing off after a failure, or stopped. The error wrapping it says why.
var ErrNotConnected = errors.New("server not connected")

// ErrStopped is returned by calls on a connection that has been stopped.
var ErrStopped = errors.New("connection stopped")

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
