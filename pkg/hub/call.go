package hub

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/downstream"
	"github.com/mcphub/mcphub/pkg/openai"
)

// Progress is one progress notification from a downstream tool call.
type Progress = downstream.Progress

// CallRequest is one tool call.
type CallRequest struct {
	// Name is the exported name, or the "server.tool" form.
	Name string
	// Arguments is a JSON object; nil and null mean {}. A JSON string
	// holding an object (OpenAI's tool-call form) is accepted too.
	Arguments json.RawMessage
	// OnProgress, when set, receives the call's progress notifications in
	// order. It runs on the downstream reader goroutine and must not block.
	OnProgress func(Progress)
	// Caller names who makes the call (an auth token's name), for the
	// approval record and the logs.
	Caller string
	// Wait applies to tools that need approval. Zero: answer
	// *PendingError at once. Positive: wait that long for the decision
	// (then *PendingError). Negative: wait until decided or expired.
	Wait time.Duration
	// OnPending, when set and Wait is not zero, is told the approval
	// request before the wait begins.
	OnPending func(approval.Request)
	// NoContent skips rendering CallResult.Content, for callers that pass
	// the result on as it is (MCP clients).
	NoContent bool
	// Claim is for callers that cannot wait for a decision (MCP clients):
	// if the same call (tool and arguments) was approved and run since this
	// caller last asked, its result is returned; a new pending request's
	// result is kept for the caller's next identical call.
	Claim bool
}

// CallResult is a completed tool call.
type CallResult struct {
	Server string
	Tool   string // the tool's name on its server
	Name   string // the exported name
	// Result is the MCP CallToolResult exactly as the server sent it.
	Result json.RawMessage
	// IsError is the result's isError flag: the tool failed, the call did not.
	IsError bool
	// Content is the result as text for an OpenAI role=tool message.
	Content string
}

// LookupTool finds a tool by its exported or "server.tool" name.
func (h *Hub) LookupTool(name string) (catalog.Tool, error) {
	if h.ctx.Err() != nil {
		return catalog.Tool{}, ErrStopped // the catalog is empty: say why
	}
	t, ok := h.view.Load().snap.Tool(name)
	if !ok {
		return catalog.Tool{}, fmt.Errorf("%w: unknown tool %q", ErrNotFound, name)
	}
	return t, nil
}

// Call runs a tool on its server. ctx is the caller's: when it ends, the
// downstream call is cancelled. Arguments that are not a JSON object (or
// null, or a JSON string holding an object, as OpenAI sends them) are
// ErrInvalidInput. A tool that needs approval does not run: see
// CallRequest.Wait and Approve.
func (h *Hub) Call(ctx context.Context, req CallRequest) (*CallResult, error) {
	if h.ctx.Err() != nil {
		// After Stop the catalog is empty: say why, not "unknown tool".
		return nil, ErrStopped
	}
	start := time.Now()
	v := h.view.Load()
	t, conn, args, err := h.resolve(v, req.Name, req.Arguments)
	if err != nil {
		h.observeCall(t, start, false, 0, nil, err)
		return nil, err
	}
	if req.Caller == "" {
		req.Caller = CallerFrom(ctx)
	}
	var res *CallResult
	if v.policy.Requires(t.Server, t.Name) {
		// requestApproval reports the call itself: held, claimed or refused.
		res, err = h.requestApproval(ctx, t, args, req)
	} else {
		var down time.Duration
		res, down, err = h.run(ctx, t, conn, args, req.OnProgress, !req.NoContent)
		h.observeCall(t, start, true, down, res, err)
	}
	h.recordCall(ctx, req.Caller, t, args, start, res, err)
	return res, err
}

// NeedsApproval reports whether calls of a tool wait for a person.
func (h *Hub) NeedsApproval(t catalog.Tool) bool {
	return h.view.Load().policy.Requires(t.Server, t.Name)
}

// resolve finds a call's tool and connection and checks its arguments.
func (h *Hub) resolve(v *view, name string, arguments json.RawMessage) (catalog.Tool, *downstream.Conn, json.RawMessage, error) {
	t, ok := v.snap.Tool(name)
	if !ok {
		return t, nil, nil, fmt.Errorf("%w: unknown tool %q", ErrNotFound, name)
	}
	conn, ok := v.conns[t.Server]
	if !ok {
		return t, nil, nil, fmt.Errorf("%w: server %s is not running", ErrUnavailable, t.Server)
	}
	// Checked here, not left to the server: malformed JSON would otherwise
	// fail while encoding the request (a 502 that also probes a healthy
	// connection), and null would reach servers that reject it.
	args, err := openai.DecodeArguments(arguments)
	if err != nil {
		return t, nil, nil, fmt.Errorf("%w: tool %s: %w", ErrInvalidInput, name, err)
	}
	return t, conn, args, nil
}

// run makes the downstream call. down is the time spent waiting for the
// server, for metrics.
func (h *Hub) run(ctx context.Context, t catalog.Tool, conn *downstream.Conn, args json.RawMessage, onProgress func(Progress), withContent bool) (_ *CallResult, down time.Duration, _ error) {
	began := time.Now()
	raw, err := conn.CallTool(ctx, t.Name, args, onProgress)
	down = time.Since(began)
	if err != nil {
		return nil, down, h.callError(ctx, t.Server, conn, err)
	}
	// One decode for the flag and the text.
	content, isError, err := openai.ReadResult(raw, withContent)
	if err != nil {
		return nil, down, fmt.Errorf("%w: server %s: %w", ErrProtocol, t.Server, err)
	}
	return &CallResult{
		Server:  t.Server,
		Tool:    t.Name,
		Name:    t.Exported,
		Result:  raw,
		IsError: isError,
		Content: content,
	}, down, nil
}

// callError classifies a failed call. A connection that the hub closed
// while the call ran (Stop, or a Reload that restarted or removed its
// server) fails in transport-specific ways: a write to a closed pipe, or the
// server's own -32603 "context canceled" when its stdin closes. Whatever
// the form, the call did not finish because the hub closed the connection:
// for the caller the server is unavailable (or the hub stopped), and a retry
// reaches the new connection.
func (h *Hub) callError(ctx context.Context, server string, conn *downstream.Conn, err error) error {
	if ctx.Err() == nil {
		if h.ctx.Err() != nil {
			return fmt.Errorf("%w: server %s: %w", ErrStopped, server, err)
		}
		if h.state.Load().conns[server] != conn {
			return fmt.Errorf("%w: server %s was restarted or removed during the call: %w", ErrUnavailable, server, err)
		}
	}
	return wrapDownstream(server, err)
}

// ToolsJSON returns the pre-rendered OpenAI tool list, {"tools":[...]}, for
// every server or for one, with "requires_approval" (the exported names of
// the tools whose calls wait for a person) beside "tools" when there are any.
func (h *Hub) ToolsJSON(server string) ([]byte, error) {
	v := h.view.Load()
	if server == "" {
		return v.tools, nil
	}
	if b, ok := v.serverTools[server]; ok {
		return b, nil
	}
	if _, ok := h.Config().Server(server); ok {
		return []byte(`{"tools":[]}`), nil // configured, nothing discovered yet
	}
	return nil, fmt.Errorf("%w: unknown server %q", ErrNotFound, server)
}

// Snapshot is the current catalog.
func (h *Hub) Snapshot() *catalog.Snapshot { return h.view.Load().snap }
