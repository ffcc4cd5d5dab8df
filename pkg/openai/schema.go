// Package openai turns MCP tools into OpenAI function-calling schemas and
// decodes the arguments OpenAI-style clients send back. It does no I/O.
package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

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
	in := trimSpace(inputSchema)
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
	members := splitObject(in)
	out := make([]member, 0, len(members)+2)
	hasType, hasProps := false, false
	for _, m := range members {
		// switch string(b) does not allocate: the compiler compares in place.
		switch string(m.name()) {
		case "$schema":
			continue // it only names the dialect; OpenAI's parameters shape has no place for it
		case "type":
			if string(m.value) != `"object"` {
				var t string
				if json.Unmarshal(m.value, &t) != nil || t != "object" {
					return nil, fmt.Errorf("%w: root type is %.40s, want \"object\"", ErrInvalidSchema, m.value)
				}
			}
			hasType = true
		case "properties":
			switch firstByte(m.value) {
			case '{':
			case 'n':
				m.value = []byte("{}")
			default:
				return nil, fmt.Errorf("%w: \"properties\" is %s, want an object", ErrInvalidSchema, kind(firstByte(m.value)))
			}
			hasProps = true
		}
		out = append(out, m)
	}
	if !hasType {
		out = append([]member{{key: []byte(`"type"`), value: []byte(`"object"`)}}, out...)
	}
	if !hasProps {
		at := 0
		for i, m := range out {
			if string(m.name()) == "type" {
				at = i + 1
				break
			}
		}
		out = append(out[:at], append([]member{{key: []byte(`"properties"`), value: []byte("{}")}}, out[at:]...)...)
	}
	size := 2
	for _, m := range out {
		size += len(m.key) + len(m.value) + 2
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	for i, m := range out {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, m.key...)
		buf = append(buf, ':')
		buf = append(buf, m.value...)
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

// member is one top-level member of a JSON object, as raw bytes.
type member struct{ key, value []byte }

// name returns the unquoted key. Keys with escapes are rare in schemas, so
// only they pay for json.Unmarshal; the others are a subslice.
func (m member) name() []byte {
	if bytes.IndexByte(m.key, '\\') < 0 {
		return m.key[1 : len(m.key)-1]
	}
	var s string
	_ = json.Unmarshal(m.key, &s) // the object was validated
	return []byte(s)
}

// splitObject splits a validated JSON object into its top-level members.
// Validation first lets the scanner stay simple: it only has to find where
// strings and nested values end.
func splitObject(b []byte) []member {
	// Schemas rarely have more than 8 top-level keywords; b is trimmed, so
	// the object starts at 0.
	out := make([]member, 0, 8)
	i := 1
	for {
		i = skipSpace(b, i)
		if b[i] == '}' {
			return out
		}
		if b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		k := i
		i = skipValue(b, i)
		key := b[k:i]
		i = skipSpace(b, i) + 1 // past ':'
		i = skipSpace(b, i)
		v := i
		i = skipValue(b, i)
		out = append(out, member{key: key, value: b[v:i]})
	}
}

// skipValue returns the index just past the valid JSON value starting at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null: runs until a delimiter
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return i
			}
		}
		return i
	}
}

// skipString returns the index just past the string whose quote is at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// trimSpace cuts JSON whitespace (only these four bytes, unlike
// bytes.TrimSpace) from both ends of b.
func trimSpace(b []byte) []byte {
	b = b[skipSpace(b, 0):]
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

// firstByte returns the first non-whitespace byte of b, or 0 when there is none.
func firstByte(b []byte) byte {
	if i := skipSpace(b, 0); i < len(b) {
		return b[i]
	}
	return 0
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
