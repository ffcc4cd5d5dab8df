// Package openai turns MCP tools into OpenAI function-calling schemas and
// decodes the arguments OpenAI-style clients send back. It does no I/O.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mcphub/mcphub/internal/rawjson"
	"github.com/mcphub/mcphub/pkg/catalog"
)

// ErrInvalidSchema marks an inputSchema that cannot serve as function
// parameters (not JSON, not an object, a root type other than object).
var ErrInvalidSchema = errors.New("input schema unusable as function parameters")

// ErrInvalidName marks a tool whose exported name OpenAI would reject, or
// that another tool in the same list already uses.
var ErrInvalidName = errors.New("invalid function name")

// Function is the "function" member of a Chat Completions tool.
type Function struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// ToolSchema is one entry of a Chat Completions "tools" array.
type ToolSchema struct {
	Type     string   `json:"type"` // always "function"
	Function Function `json:"function"`
}

// ApprovalNote ends the description of a tool that needs approval, so the
// model can tell its user that the call waits for a person.
const ApprovalNote = "(Calls need a person's approval before they run.)"

// SkippedTool is a tool RenderTools left out, and why.
type SkippedTool struct {
	Server, Name, Exported string
	Err                    error
}

// Parameters returns inputSchema as OpenAI function parameters: "$schema" is
// removed, "type":"object" is added first when absent, and "properties":{}
// right after "type" when absent or null. Only the top-level object is
// rewritten; its key order and every member value are kept byte for byte
// (unknown keywords, "anyOf", "$defs", "title"… included), because
// decoding into a map would reorder keys and re-encode strings. An absent or
// null schema means "no arguments". Errors wrap ErrInvalidSchema.
func Parameters(inputSchema json.RawMessage) (json.RawMessage, error) {
	return parameters(inputSchema, false)
}

// parameters is Parameters, optionally compacting nested values as well.
// Compacting validates too, so the rendering path scans each schema once
// instead of twice (validate, then compact into the body).
func parameters(inputSchema json.RawMessage, compact bool) (json.RawMessage, error) {
	in := rawjson.TrimSpace(inputSchema)
	if len(in) == 0 || string(in) == "null" {
		return json.RawMessage(`{"type":"object","properties":{}}`), nil
	}
	if compact {
		var buf bytes.Buffer
		buf.Grow(len(in))
		if json.Compact(&buf, in) != nil {
			return nil, fmt.Errorf("%w: not valid JSON", ErrInvalidSchema)
		}
		in = buf.Bytes()
	} else if !json.Valid(in) {
		return nil, fmt.Errorf("%w: not valid JSON", ErrInvalidSchema)
	}
	if in[0] != '{' {
		return nil, fmt.Errorf("%w: root is %s, want an object", ErrInvalidSchema, kind(in[0]))
	}
	members, _ := rawjson.Object(in) // valid, and an object: checked above
	out := make([]rawjson.Member, 0, len(members)+2)
	hasType, hasProps := false, false
	for _, m := range members {
		// switch string(b) does not allocate: the compiler compares in place.
		switch string(m.Name()) {
		case "$schema":
			continue // it only names the dialect; OpenAI's parameters shape has no place for it
		case "type":
			if string(m.Value) != `"object"` {
				var t string
				if json.Unmarshal(m.Value, &t) != nil || t != "object" {
					return nil, fmt.Errorf("%w: root type is %.40s, want \"object\"", ErrInvalidSchema, m.Value)
				}
			}
			hasType = true
		case "properties":
			switch rawjson.FirstByte(m.Value) {
			case '{':
			case 'n':
				m.Value = []byte("{}")
			default:
				return nil, fmt.Errorf("%w: \"properties\" is %s, want an object", ErrInvalidSchema, kind(rawjson.FirstByte(m.Value)))
			}
			hasProps = true
		}
		out = append(out, m)
	}
	if !hasType {
		out = append([]rawjson.Member{{Key: []byte(`"type"`), Value: []byte(`"object"`)}}, out...)
	}
	if !hasProps {
		at := 0
		for i, m := range out {
			if string(m.Name()) == "type" {
				at = i + 1
				break
			}
		}
		out = append(out[:at], append([]rawjson.Member{{Key: []byte(`"properties"`), Value: []byte("{}")}}, out[at:]...)...)
	}
	size := 2
	for _, m := range out {
		size += len(m.Key) + len(m.Value) + 2
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	for i, m := range out {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, m.Key...)
		buf = append(buf, ':')
		buf = append(buf, m.Value...)
	}
	return append(buf, '}'), nil
}

// FromTool converts one catalog tool (built by catalog.Build, so Exported is
// set) into a Chat Completions tool.
func FromTool(t catalog.Tool) (ToolSchema, error) {
	return fromTool(&t, false)
}

func fromTool(t *catalog.Tool, compact bool) (ToolSchema, error) {
	if !catalog.ValidName(t.Exported) {
		return ToolSchema{}, fmt.Errorf("tool %q on %q: %w: %q", t.Name, t.Server, ErrInvalidName, t.Exported)
	}
	params, err := parameters(t.InputSchema, compact)
	if err != nil {
		return ToolSchema{}, fmt.Errorf("tool %q on %q: %w", t.Name, t.Server, err)
	}
	return ToolSchema{
		Type:     "function",
		Function: Function{Name: t.Exported, Description: t.Description, Parameters: params},
	}, nil
}

// RenderTools renders the complete body {"tools":[...]} once, so a request
// for the tool list is a single write. A tool that cannot be converted, or
// whose exported name an earlier tool already used, is left out and
// reported; that is never fatal for the others. Parameters are compacted
// (whitespace only: strings inside them are not re-escaped).
//
// needsApproval, when not nil, marks tools whose calls wait for a person's
// approval: the description says so, for the model. The entries stay in
// OpenAI's exact shape (strict APIs refuse unknown fields), so the
// machine-readable list of such tools is the caller's to add beside
// "tools".
func RenderTools(tools []catalog.Tool, needsApproval func(*catalog.Tool) bool) (body []byte, skipped []SkippedTool) {
	size := 16
	for i := range tools {
		size += len(tools[i].Exported) + len(tools[i].Description) + len(tools[i].InputSchema) + 64
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	// An Encoder with HTML escaping off keeps "<", ">" and "&" readable in
	// descriptions; its trailing newline is cut after each string.
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	writeString := func(s string) {
		_ = enc.Encode(s) // a string always encodes; the writer is a bytes.Buffer
		buf.Truncate(buf.Len() - 1)
	}
	seen := make(map[string]struct{}, len(tools))
	buf.WriteString(`{"tools":[`)
	n := 0
	for i := range tools {
		t := &tools[i]
		ts, err := fromTool(t, true)
		if _, dup := seen[t.Exported]; err == nil && dup {
			err = fmt.Errorf("tool %q on %q: %w: %q is already used", t.Name, t.Server, ErrInvalidName, t.Exported)
		}
		if err != nil {
			skipped = append(skipped, SkippedTool{Server: t.Server, Name: t.Name, Exported: t.Exported, Err: err})
			continue
		}
		seen[t.Exported] = struct{}{}
		if n > 0 {
			buf.WriteByte(',')
		}
		n++
		approval := needsApproval != nil && needsApproval(t)
		buf.WriteString(`{"type":"function","function":{"name":`)
		writeString(ts.Function.Name)
		if desc := ts.Function.Description; desc != "" || approval {
			if approval {
				desc = strings.TrimSpace(desc + " " + ApprovalNote)
			}
			buf.WriteString(`,"description":`)
			writeString(desc)
		}
		buf.WriteString(`,"parameters":`)
		buf.Write(ts.Function.Parameters)
		buf.WriteString("}}")
	}
	buf.WriteString("]}")
	return buf.Bytes(), skipped
}

// kind names the JSON type of a value from its first byte, for error messages.
func kind(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case 0:
		return "empty"
	default:
		return "number"
	}
}
