package mcpserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/internal/httpbody"
	"github.com/mcphub/mcphub/internal/loopback"
	"github.com/mcphub/mcphub/internal/rawjson"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/hub"
)

// The fast path answers the two commonest requests an MCP client makes,
// a plain tools/call and tools/list, without mcp-go's server. Per POST that
// server starts a goroutine, makes channels and contexts, decodes the
// request into typed structs and re-encodes the answer through them: about
// 40% of what a call through /mcp cost, and a re-encoding of every schema
// on every tools/list. Here a call's result is written as the downstream
// sent it, and the tool list is rendered once per catalog change from the
// tools as their servers sent them (typed structs would drop fields they do
// not know).
//
// "Plain" is narrow on purpose; anything else goes to mcp-go, which stays
// the reference: a POST with a JSON body holding one request (no batch) on
// an initialised session of a pre-2026 protocol, without _meta (so no
// progress token); for tools/call no task or multi-round-trip fields and a
// tool this endpoint serves that needs no approval (approval may ask the
// person through elicitation, which needs mcp-go's stream); for
// tools/list no cursor, on an endpoint that lists the tools themselves
// (not expose: search).

// serveFast answers r when it is a plain tools/call or tools/list, and
// reports whether it did; when it did not, r is left for mcp-go as it
// arrived.
func (ep *endpoint) serveFast(w http.ResponseWriter, r *http.Request, ls *liveSession) (handled bool) {
	if cs := ls.session(); cs == nil || !cs.Initialized() || !isJSON(r.Header.Get("Content-Type")) ||
		!legacyProtocol(r.Header.Get(mcp.HeaderProtocolVersion)) {
		return false
	}
	body, err := httpbody.Read(r.Body, r.ContentLength)
	// mcp-go reads the body again: it gets the same bytes, and the same
	// error (a body over the limit must fail there just as it would have).
	r.Body = &replayBody{Reader: bytes.NewReader(body), err: err}
	if err != nil {
		return false
	}
	req, ok := parsePlain(body)
	if !ok {
		return false
	}
	defer func() {
		// As mcp-go's WithRecovery does: the client gets an error, the
		// connection stays.
		if v := recover(); v != nil {
			ep.srv.log.Error("panic answering an MCP request", "method", req.Method, "panic", v)
			writeJSONRPC(w, req.ID, "error", mcp.JSONRPCErrorDetails{Code: mcp.INTERNAL_ERROR, Message: fmt.Sprintf("internal error: %v", v)})
			handled = true
		}
	}()
	switch req.Method {
	case string(mcp.MethodToolsCall):
		return ep.fastCall(w, r, req)
	case string(mcp.MethodToolsList):
		return ep.fastList(w, req)
	}
	return false
}

// plainRequest is a JSON-RPC request the fast path may answer.
type plainRequest struct {
	ID     json.RawMessage `json:"id"` // as sent: a string or a number
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
}

// parsePlain splits body when it is one JSON-RPC 2.0 request with an id
// and its members spelled exactly so (json.Unmarshal, and so mcp-go, would
// also take other letter case: those go to mcp-go, as does anything else).
func parsePlain(body []byte) (plainRequest, bool) {
	var req plainRequest
	if !json.Valid(body) {
		return req, false
	}
	var buf [8]rawjson.Member // the members stay on the stack
	members, ok := rawjson.AppendObject(buf[:0], body)
	if !ok {
		return req, false
	}
	version := false
	for _, m := range members {
		switch string(m.Name()) {
		case "jsonrpc":
			version = string(m.Value) == `"`+mcp.JSONRPC_VERSION+`"`
		case "id":
			req.ID = m.Value
		case "method":
			if req.Method, ok = rawjson.String(m.Value); !ok {
				return req, false
			}
		case "params":
			req.Params = m.Value
		default:
			return req, false
		}
	}
	if !version || !isID(req.ID) {
		return plainRequest{}, false
	}
	return req, true
}

// callParams are a plain tools/call's params: a name and the arguments as
// sent (nil when absent, as mcp-go leaves them). Any other member (_meta,
// task, inputResponses, requestState, or one the hub does not know) sends
// the call to mcp-go.
func callParams(raw json.RawMessage) (name string, args json.RawMessage, ok bool) {
	var buf [8]rawjson.Member // the members stay on the stack
	members, ok := rawjson.AppendObject(buf[:0], raw)
	if !ok {
		return "", nil, false
	}
	for _, m := range members {
		switch string(m.Name()) {
		case "name":
			if name, ok = rawjson.String(m.Value); !ok {
				return "", nil, false
			}
		case "arguments":
			args = m.Value
		default:
			return "", nil, false
		}
	}
	return name, args, name != ""
}

// fastCall answers a plain tools/call.
func (ep *endpoint) fastCall(w http.ResponseWriter, r *http.Request, req plainRequest) bool {
	name, args, ok := callParams(req.Params)
	if !ok || !ep.serves(name) {
		return false
	}
	t, ok := ep.srv.hub.Snapshot().Tool(name)
	if !ok {
		return false
	}
	if sc := ep.currentScope(); sc.expose == config.ExposeSearch || !sc.keepsTool(&t) || ep.srv.hub.NeedsApproval(t) {
		return false
	}

	ctx := r.Context()
	res, err := ep.srv.hub.Call(ctx, hub.CallRequest{Name: name, Arguments: args, Claim: true, NoContent: true})
	if ctx.Err() != nil {
		return true // the client is gone; mcp-go answers nothing either
	}
	if err == nil && rawjson.FirstByte(res.Result) == '{' {
		writeResult(w, req.ID, res.Result)
		return true
	}
	// Rare outcomes take the typed route the slow path takes.
	var out *mcp.CallToolResult
	if pending, ok := asPending(err); ok {
		// The tool became gated after the check (a reload): no session
		// here to ask through, so the answer names the approval request.
		out, err = ep.askApproval(ctx, pending.Request, name, args, nil)
	} else {
		out, err = ep.toolResult(res, err)
	}
	if err != nil {
		writeJSONRPC(w, req.ID, "error", mcp.JSONRPCErrorDetails{Code: mcp.INTERNAL_ERROR, Message: err.Error()})
		return true
	}
	writeJSONRPC(w, req.ID, "result", out)
	return true
}

// fastList answers a plain tools/list from the rendered listing.
func (ep *endpoint) fastList(w http.ResponseWriter, req plainRequest) bool {
	if !absent(req.Params) {
		var p struct {
			Cursor json.RawMessage `json:"cursor"`
			Meta   json.RawMessage `json:"_meta"`
		}
		if req.Params[0] != '{' || json.Unmarshal(req.Params, &p) != nil || !absent(p.Cursor) || !absent(p.Meta) {
			return false
		}
	}
	l := ep.listing.Load()
	if l == nil {
		return false
	}
	body, err := l.render()
	if err != nil {
		return false // mcp-go lists what it has
	}
	writeResult(w, req.ID, body)
	return true
}

// isID reports whether raw is a JSON-RPC request id the fast path echoes:
// a string or a number.
func isID(raw json.RawMessage) bool {
	if len(raw) == 0 {
		return false
	}
	c := raw[0]
	return c == '"' || c == '-' || c >= '0' && c <= '9'
}

func absent(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// isJSON reports whether a Content-Type is exactly JSON; anything fancier
// is left to mcp-go's full parse.
func isJSON(ct string) bool {
	return ct == "application/json" || strings.HasPrefix(ct, "application/json;")
}

// legacyProtocol reports whether the request's protocol version header
// names a version with sessions (before 2026-07-28), or is absent.
func legacyProtocol(v string) bool {
	return v == "" || mcp.IsValidProtocolVersion(v) && !mcp.IsModernProtocol(v)
}

// rebinding reports whether mcp-go's DNS-rebinding guard would refuse r: it
// arrived on loopback under a Host that is not. mcp-go then answers it.
func (ep *endpoint) rebinding(r *http.Request) bool {
	if ep.srv.opts.DisableLocalhostProtection {
		return false
	}
	la, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return ok && la != nil && loopback.Addr(la) && !loopback.Host(r.Host)
}

// writeResult writes a JSON-RPC response around a result already encoded,
// without copying it.
func writeResult(w http.ResponseWriter, id, result json.RawMessage) {
	writeResponse(w, id, "result", result)
}

// writeJSONRPC writes a JSON-RPC response whose result or error is encoded
// here.
func writeJSONRPC(w http.ResponseWriter, id json.RawMessage, field string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		field = "error"
		b, _ = json.Marshal(mcp.JSONRPCErrorDetails{Code: mcp.INTERNAL_ERROR, Message: "encoding the result: " + err.Error()})
	}
	writeResponse(w, id, field, b)
}

// writeResponse writes {"jsonrpc":"2.0","id":id,field:value} as mcp-go
// does for a JSON answer: status 200, one object and a newline.
func writeResponse(w http.ResponseWriter, id json.RawMessage, field string, value []byte) {
	head := make([]byte, 0, 40+len(id))
	head = append(head, `{"jsonrpc":"2.0","id":`...)
	head = append(head, id...)
	head = append(head, `,"`...)
	head = append(head, field...)
	head = append(head, `":`...)
	const tail = "}\n"
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(head)+len(value)+len(tail)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(head)
	_, _ = w.Write(value)
	_, _ = io.WriteString(w, tail)
}

// replayBody gives mcp-go a body the fast path already read.
type replayBody struct {
	*bytes.Reader
	err error // the error the first read ended with, after the bytes
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if errors.Is(err, io.EOF) && b.err != nil {
		return n, b.err
	}
	return n, err
}

func (b *replayBody) Close() error { return nil }
