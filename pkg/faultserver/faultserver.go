// Package faultserver is an MCP server that misbehaves on demand, for
// testing how a gateway copes with broken downstream servers.
//
// Otherwise it is an ordinary MCP server with two tools: echo, which always
// works, and work, which reports progress when asked and answers "worked";
// the faults in force apply to work (and to the handshake or the listener).
// Faults are switched at run time without restarting anything:
//
//   - over stdio (ServeStdio, cmd/fault-server without --http), the server
//     reads its faults from a control file (see FileControl and
//     WriteControl) whenever it needs them;
//   - over Streamable HTTP (HTTPServer), with HTTPServer.Set, or from a
//     control file polled by cmd/fault-server --http.
//
// A set of faults is written as a Spec: names separated by spaces, some
// with a value ("slow-start=3s huge=1048576"). Stdio is hand-written
// JSON-RPC, so that every byte of a broken answer is under control; HTTP is
// mcp-go's Streamable HTTP server behind a handler that takes over the
// requests a fault applies to.
package faultserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Name and Version are what the server reports in initialize.
const (
	Name    = "mcphub-faultserver"
	Version = "0.1.0"
)

// The server's tools.
const (
	ToolEcho = "echo" // {"message": string}: answers the message; no fault applies
	ToolWork = "work" // {"label"?: string}: answers "worked[: label]"; the call faults apply
)

// Fault names one misbehaviour.
type Fault string

// Faults of a tools/call of work.
const (
	// Crash: over stdio, write half of the answer and exit with status 2
	// (saying why on stderr); over HTTP, drop the connection in the middle
	// of a JSON response body.
	Crash Fault = "crash"
	// CrashSSE: over HTTP, answer with an SSE stream, send a progress
	// event, and drop the connection; over stdio, Crash.
	CrashSSE Fault = "crash-sse"
	// Hang: never answer, until the fault ends (then answer normally) or
	// the call is cancelled.
	Hang Fault = "hang"
	// NotJSON: answer with a line that is not JSON.
	NotJSON Fault = "not-json"
	// NoID: answer with a JSON-RPC response without an id.
	NoID Fault = "no-id"
	// WrongID: answer with a JSON-RPC response to another request id.
	WrongID Fault = "wrong-id"
	// ResultNotObject: answer with "result": 42.
	ResultNotObject Fault = "result-not-object"
	// ResultNull: answer with "result": null.
	ResultNull Fault = "result-null"
	// Huge[=BYTES]: answer with one valid message of BYTES bytes (default
	// DefaultHugeBytes): one line over stdio; over HTTP a JSON body sent
	// chunked, without Content-Length, so the client must count.
	Huge Fault = "huge"
	// HugeSSE[=BYTES]: over HTTP, the answer as one SSE event of BYTES;
	// over stdio, Huge.
	HugeSSE Fault = "huge-sse"
	// HugeNoID[=BYTES]: a big answer without an id, BYTES long (default
	// DefaultHugeNoIDBytes, under a 16 MiB limit): NoID and Huge at once.
	HugeNoID Fault = "huge-no-id"
	// Stall: send two progress notifications (when the call asked for
	// progress), then nothing, until the fault ends (then finish) or the
	// call is cancelled.
	Stall Fault = "stall"
)

// Faults of the server's start and of its listener.
const (
	// ExitOnStart (stdio): say why on stderr and exit with status 3 before
	// reading anything.
	ExitOnStart Fault = "exit-on-start"
	// SlowStart=DURATION: answer initialize only once DURATION has passed
	// since it arrived. The value in force is read again while waiting, so
	// shortening it (or clearing it) takes effect at once.
	SlowStart Fault = "slow-start"
	// Refuse (HTTP): close the listener and every connection, so that
	// connections are refused; listen on the same address again when the
	// fault ends.
	Refuse Fault = "refuse"
	// Restart=TOKEN (HTTP, for control files): forget every session, as a
	// restarted server would, once per new TOKEN. See HTTPServer.Restart.
	Restart Fault = "restart"
)

// The sizes of Huge (and HugeSSE) and HugeNoID answers without a value.
const (
	DefaultHugeBytes     = 50 << 20
	DefaultHugeNoIDBytes = 15 << 20
)

// callFaults are the faults of a work call, in order of precedence when
// several are set.
var callFaults = []Fault{Crash, CrashSSE, Hang, Stall, NotJSON, NoID, WrongID, ResultNotObject, ResultNull, Huge, HugeSSE, HugeNoID}

var known = map[Fault]string{
	Crash: "", CrashSSE: "", Hang: "", NotJSON: "", NoID: "", WrongID: "",
	ResultNotObject: "", ResultNull: "", Huge: "bytes", HugeSSE: "bytes", HugeNoID: "bytes", Stall: "",
	ExitOnStart: "", SlowStart: "duration", Refuse: "", Restart: "token",
}

// Spec is a set of faults in force, each with its value ("" when it takes
// none). The zero value (nil) is a healthy server.
type Spec map[Fault]string

// ParseSpec reads a Spec: fault names separated by white space, each
// optionally followed by =VALUE. Unknown faults and bad values are errors.
func ParseSpec(s string) (Spec, error) {
	spec := Spec{}
	for _, tok := range strings.Fields(s) {
		name, val, hasVal := strings.Cut(tok, "=")
		f := Fault(name)
		kind, ok := known[f]
		if !ok {
			return nil, fmt.Errorf("unknown fault %q", name)
		}
		switch {
		case kind == "" && hasVal:
			return nil, fmt.Errorf("fault %s takes no value", name)
		case kind == "duration":
			if _, err := time.ParseDuration(val); err != nil {
				return nil, fmt.Errorf("fault %s: want a duration (3s): %w", name, err)
			}
		case kind == "bytes" && hasVal:
			if n, err := strconv.Atoi(val); err != nil || n < 64 {
				return nil, fmt.Errorf("fault %s: want a number of bytes of at least 64, got %q", name, val)
			}
		}
		spec[f] = val
	}
	return spec, nil
}

// MustParseSpec is ParseSpec for literals in tests; it panics on an error.
func MustParseSpec(s string) Spec {
	spec, err := ParseSpec(s)
	if err != nil {
		panic(err)
	}
	return spec
}

// String writes the spec back in ParseSpec's form, in a stable order.
func (s Spec) String() string {
	parts := make([]string, 0, len(s))
	for f, v := range s {
		if v != "" {
			parts = append(parts, string(f)+"="+v)
		} else {
			parts = append(parts, string(f))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// Has reports whether f is in force.
func (s Spec) Has(f Fault) bool {
	_, ok := s[f]
	return ok
}

// callFault is the fault a work call suffers now, or "".
func (s Spec) callFault() Fault {
	for _, f := range callFaults {
		if s.Has(f) {
			return f
		}
	}
	return ""
}

// slowStart is how long initialize waits; 0 without the fault.
func (s Spec) slowStart() time.Duration {
	v, ok := s[SlowStart]
	if !ok {
		return 0
	}
	d, _ := time.ParseDuration(v) // checked by ParseSpec
	return d
}

// size is a Huge, HugeSSE or HugeNoID answer's size in bytes.
func (s Spec) size(f Fault) int {
	if n, err := strconv.Atoi(s[f]); err == nil {
		return n
	}
	if f == HugeNoID {
		return DefaultHugeNoIDBytes
	}
	return DefaultHugeBytes
}

// pollInterval is how often a waiting fault looks whether it is still in force.
const pollInterval = 20 * time.Millisecond

// waitWhile waits while cond holds for the faults in force, or until ctx
// ends. It reports whether cond stopped holding.
func waitWhile(ctx context.Context, faults func() Spec, cond func(Spec) bool) bool {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for cond(faults()) {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// waitSlowStart holds initialize back as SlowStart asks. It reports false
// if ctx ended first.
func waitSlowStart(ctx context.Context, faults func() Spec) bool {
	start := time.Now()
	return waitWhile(ctx, faults, func(s Spec) bool { return time.Since(start) < s.slowStart() })
}

// The tools, as tools/list sends them.
var toolsJSON = json.RawMessage(`[` +
	`{"name":"echo","description":"Echo the message back. No fault applies to it.",` +
	`"inputSchema":{"type":"object","properties":{"message":{"type":"string","description":"Text to send back."}},"required":["message"]}},` +
	`{"name":"work","description":"Do some work: three progress steps when asked for progress, then \"worked\". The faults in force apply to it.",` +
	`"inputSchema":{"type":"object","properties":{"label":{"type":"string","description":"Added to the answer."}}}}` +
	`]`)

// textResult is a CallToolResult with one text item.
func textResult(text string) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"content": []map[string]any{{"type": "text", "text": text}}})
	return b
}

// workAnswer is what work answers when no fault is in force.
func workAnswer(label string) string {
	if label == "" {
		return "worked"
	}
	return "worked: " + label
}

// progressNotification is one notifications/progress message.
func progressNotification(token json.RawMessage, progress, total int) []byte {
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"method":  "notifications/progress",
		"params": map[string]any{
			"progressToken": token,
			"progress":      progress,
			"total":         total,
			"message":       fmt.Sprintf("step %d of %d", progress, total),
		},
	})
	return b
}

// response is a JSON-RPC response with a result.
func response(id, result json.RawMessage) []byte {
	b, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  json.RawMessage `json:"result"`
	}{"2.0", id, result})
	return b
}

// errorResponse is a JSON-RPC response with an error.
func errorResponse(id json.RawMessage, code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": code, "message": msg},
	})
	return b
}

// malformed is the answer a malformed-answer fault sends to request id, or
// nil when f is not one of them.
func malformed(f Fault, id json.RawMessage) []byte {
	switch f {
	case NotJSON:
		return []byte(`this is not JSON-RPC {"jsonrpc":`)
	case NoID:
		return []byte(`{"jsonrpc":"2.0","result":` + string(textResult("an answer without an id")) + `}`)
	case WrongID:
		return response(json.RawMessage(`"not-`+strings.Trim(string(id), `"`)+`"`), textResult("an answer to another request"))
	case ResultNotObject:
		return response(id, json.RawMessage(`42`))
	case ResultNull:
		return response(id, json.RawMessage(`null`))
	}
	return nil
}

// writeHuge writes an answer of size bytes to request id (without an id
// when id is nil) in pieces, never holding it in memory.
func writeHuge(w io.Writer, id json.RawMessage, size int) error {
	head := `{"jsonrpc":"2.0",`
	if id != nil {
		head += `"id":` + string(id) + `,`
	}
	head += `"result":{"content":[{"type":"text","text":"`
	const tail = `"}]}}`
	if _, err := io.WriteString(w, head); err != nil {
		return err
	}
	chunk := []byte(strings.Repeat("x", 64<<10))
	for n := size - len(head) - len(tail); n > 0; {
		c := chunk[:min(n, len(chunk))]
		if _, err := w.Write(c); err != nil {
			return err
		}
		n -= len(c)
	}
	_, err := io.WriteString(w, tail)
	return err
}

// supportedVersions are the protocol versions the server accepts as asked.
var supportedVersions = map[string]bool{"2024-11-05": true, "2025-03-26": true, "2025-06-18": true, "2025-11-25": true}

const defaultVersion = "2025-11-25"

// JSON-RPC error codes.
const (
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
)
