package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/mcphub/mcphub/internal/rawjson"
)

// ToolMessageContent renders an MCP CallToolResult as the text of an OpenAI
// role=tool message. Text items are joined with "\n"; binary items become a
// compact bracketed summary (the model cannot use base64 and it would eat the
// context window), e.g. "[image: image/png, 1234 bytes base64]"; an embedded
// text resource is its header line then its text. When there is no content
// but structuredContent is present, it is that JSON. isError results render
// the same way: the caller reports failure separately. A result that is not
// a JSON object is returned as its raw text, so nothing the server said is
// lost.
func ToolMessageContent(result json.RawMessage) string {
	r, ok := decodeObject(result)
	if !ok {
		return string(rawjson.TrimSpace(result))
	}
	return objectContent(r, result)
}

// ErrNotAResult means a tools/call result is not a JSON object.
var ErrNotAResult = errors.New("tools/call result is not an object")

// ReadResult decodes a CallToolResult once for what the hub needs: its
// isError flag and, when withContent is set, ToolMessageContent's text.
func ReadResult(result json.RawMessage, withContent bool) (content string, isError bool, err error) {
	r, ok := decodeObject(result)
	if !ok {
		return "", false, ErrNotAResult
	}
	isError = string(rawjson.TrimSpace(r["isError"])) == "true"
	if withContent {
		content = objectContent(r, result)
	}
	return content, isError, nil
}

// objectContent is ToolMessageContent of a decoded result.
func objectContent(r object, result json.RawMessage) string {
	var content [][]byte
	switch rawjson.FirstByte(r["content"]) {
	case 0, 'n': // absent or null: no content
	case '[':
		content, _ = rawjson.Array(r["content"]) // valid: the whole result was
	default: // not a CallToolResult: show what came
		return string(rawjson.TrimSpace(result))
	}
	if len(content) == 0 {
		if s := rawjson.TrimSpace(r["structuredContent"]); len(s) > 0 && string(s) != "null" {
			return compactString(s)
		}
		return ""
	}
	parts := make([]string, 0, len(content))
	for _, item := range content {
		parts = append(parts, contentText(item))
	}
	return strings.Join(parts, "\n")
}

// contentText renders one content item. Unknown or malformed items are
// passed on as compact JSON rather than dropped.
func contentText(item json.RawMessage) string {
	c, ok := validObject(item) // within the result, checked whole
	if !ok {
		return compactString(item)
	}
	typ, _ := c.str("type")
	switch typ {
	case "text":
		if text, ok := c.str("text"); ok {
			return text
		}
	case "image", "audio":
		data, _ := c.str("data")
		mime, _ := c.str("mimeType")
		return summary(typ, mime, base64Size(data))
	case "resource":
		res, ok := validObject(c["resource"])
		if !ok {
			break
		}
		uri, _ := res.str("uri")
		mime, _ := res.str("mimeType")
		if text, ok := res.str("text"); ok {
			return summary("resource", uri, mime) + "\n" + text
		}
		blob, _ := res.str("blob")
		return summary("resource", uri, mime, base64Size(blob))
	case "resource_link":
		uri, _ := c.str("uri")
		name, _ := c.str("name")
		mime, _ := c.str("mimeType")
		return summary("resource_link", uri, name, mime)
	}
	return compactString(item)
}

// object is a decoded JSON object. Content is read through a map rather than
// tagged structs because encoding/json matches tags case-insensitively, and
// MCP keys are exact ("Text" is not "text").
type object map[string]json.RawMessage

// decodeObject decodes b when it is a JSON object; it checks b is valid
// JSON, so the values it holds need no check again (validObject).
func decodeObject(b []byte) (object, bool) {
	if rawjson.FirstByte(b) != '{' || !json.Valid(b) {
		return nil, false
	}
	return validObject(b)
}

// validObject splits valid JSON into its members (the last of a repeated
// key wins, as in a decoded map), each a subslice of b.
func validObject(b []byte) (object, bool) {
	ms, ok := rawjson.Object(b)
	if !ok {
		return nil, false
	}
	o := make(object, len(ms))
	for _, m := range ms {
		o[string(m.Name())] = m.Value
	}
	return o, true
}

// str returns the member key if it is a JSON string.
func (o object) str(key string) (string, bool) {
	return rawjson.String(o[key])
}

// summary writes "[kind: a, b, c]", leaving out empty fields.
func summary(kind string, fields ...string) string {
	var b strings.Builder
	b.WriteString("[")
	b.WriteString(kind)
	sep := ": "
	for _, f := range fields {
		if f == "" {
			continue
		}
		b.WriteString(sep)
		b.WriteString(f)
		sep = ", "
	}
	b.WriteString("]")
	return b.String()
}

func base64Size(data string) string {
	return strconv.Itoa(len(data)) + " bytes base64"
}

func compactString(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(rawjson.TrimSpace(b))
	}
	return buf.String()
}
