package openai

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mcphub/mcphub/internal/rawjson"
)

// ErrInvalidArguments marks tool-call arguments that are not a JSON object.
// The API maps it to 400.
var ErrInvalidArguments = errors.New("invalid arguments")

// ToolCall is one entry of an assistant message's "tool_calls".
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function and carries its arguments as sent: OpenAI
// sends a JSON string holding an object; other clients send the object.
// Pass Arguments to DecodeArguments.
type FunctionCall struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// DecodeArguments returns the arguments object to forward to an MCP server.
// raw may be a JSON object, or a JSON string whose content is a JSON object
// (how OpenAI returns tool-call arguments). Absent, null, "" and a string
// holding only whitespace or null mean no arguments and give {}, because MCP
// servers reject a call without an object. Anything else is an error
// wrapping ErrInvalidArguments that says what was found. The result may share
// memory with raw.
func DecodeArguments(raw json.RawMessage) (json.RawMessage, error) {
	raw = rawjson.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	if raw[0] != '"' {
		if err := checkJSON(raw); err != nil {
			return nil, fmt.Errorf("%w: malformed JSON: %v", ErrInvalidArguments, err)
		}
		if raw[0] != '{' {
			return nil, fmt.Errorf("%w: expected a JSON object or a JSON-encoded object string, got %s", ErrInvalidArguments, kind(raw[0]))
		}
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("%w: malformed JSON string: %v", ErrInvalidArguments, err)
	}
	inner := rawjson.TrimSpace([]byte(s))
	if len(inner) == 0 || string(inner) == "null" {
		return json.RawMessage("{}"), nil
	}
	if err := checkJSON(inner); err != nil {
		return nil, fmt.Errorf("%w: the arguments string does not hold valid JSON: %v", ErrInvalidArguments, err)
	}
	if inner[0] != '{' {
		return nil, fmt.Errorf("%w: the arguments string holds %s, expected a JSON object", ErrInvalidArguments, kind(inner[0]))
	}
	return inner, nil
}

// checkJSON validates b and describes the first problem. The scanner behind
// it is iterative with a depth limit, so hostile nesting cannot exhaust the
// stack.
func checkJSON(b []byte) error {
	if json.Valid(b) {
		return nil
	}
	var v json.RawMessage
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%v (at byte %d)", se, se.Offset)
	}
	if err == nil { // cannot happen: Valid and Unmarshal share the scanner
		err = errors.New("invalid JSON")
	}
	return err
}
