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
	content, _, err := ReadResult(result, true)
	if err != nil { // not an object
		return string(rawjson.TrimSpace(result))
	}
	return content
}

// ErrNotAResult means a tools/call result is not a JSON object.
var ErrNotAResult = errors.New("tools/call result is not an object")

// ReadResult decodes a CallToolResult once for what the hub needs: its
// isError flag and, when withContent is set, ToolMessageContent's text.
func ReadResult(result json.RawMessage, withContent bool) (content string, isError bool, err error) {
	var buf [8]rawjson.Member // the members stay on the stack
	r, ok := decodeObject(buf[:0], result)
	if !ok {
		return "", false, ErrNotAResult
	}
	isError = string(rawjson.TrimSpace(r.get("isError"))) == "true"
	if withContent {
		content = objectContent(r, result)
	}
	return content, isError, nil
}

// objectContent is ToolMessageContent of a decoded result.
func objectContent(r object, result json.RawMessage) string {
	var content [][]byte
	var buf [8][]byte // the items stay on the stack
	items := r.get("content")
	switch rawjson.FirstByte(items) {
	case 0, 'n': // absent or null: no content
	case '[':
		content, _ = rawjson.AppendArray(buf[:0], items) // valid: the whole result was
	default: // not a CallToolResult: show what came
		return string(rawjson.TrimSpace(result))
	}
	if len(content) == 0 {
		if s := rawjson.TrimSpace(r.get("structuredContent")); len(s) > 0 && string(s) != "null" {
			return compactString(s)
		}
		return ""
	}
	if len(content) == 1 { // the usual result: its text as it is
		return contentText(content[0])
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
	var buf, resBuf [8]rawjson.Member
	c, ok := validObject(buf[:0], item) // within the result, checked whole
	if !ok {
		return compactString(item)
	}
	typ := itemType(c.get("type"))
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
		res, ok := validObject(resBuf[:0], c.get("resource"))
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

// itemTypes are the content item types contentText renders.
var itemTypes = [...]string{"text", "image", "audio", "resource", "resource_link"}

// itemType is v when it is one of itemTypes (the constant: no copy of it
// per item), else "".
func itemType(v []byte) string {
	for _, t := range itemTypes {
		if rawjson.StringIs(v, t) {
			return t
		}
	}
	return ""
}

// object is a JSON object's members, in order, each value a subslice of
// the input. Keys match exactly, as MCP's do ("Text" is not "text"), where
// encoding/json's tags would match any letter case; the objects read here
// have a handful of members, which a scan finds sooner than a map built for
// them (a map was two allocations a call).
type object []rawjson.Member

// get is the value of key, nil when absent; the last of a repeated key
// wins, as in a decoded map.
func (o object) get(key string) json.RawMessage {
	for i := len(o) - 1; i >= 0; i-- {
		if string(o[i].Name()) == key {
			return o[i].Value
		}
	}
	return nil
}

// decodeObject splits b, appending to dst, when it is a JSON object; it
// checks b is valid JSON, so the values it holds need no check again
// (validObject).
func decodeObject(dst []rawjson.Member, b []byte) (object, bool) {
	if rawjson.FirstByte(b) != '{' || !json.Valid(b) {
		return nil, false
	}
	return validObject(dst, b)
}

// validObject splits valid JSON into its members, appending to dst.
func validObject(dst []rawjson.Member, b []byte) (object, bool) {
	ms, ok := rawjson.AppendObject(dst, b)
	return object(ms), ok
}

// str returns the member key if it is a JSON string.
func (o object) str(key string) (string, bool) {
	return rawjson.String(o.get(key))
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
