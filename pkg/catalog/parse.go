package catalog

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mcphub/mcphub/internal/rawjson"
)

// ErrMalformed marks a list result that is not valid MCP: not JSON, the list
// missing or not an array, an item that is not an object or has no name.
// The hub treats it as a downstream protocol error.
var ErrMalformed = errors.New("malformed list result")

// ParseTools decodes one page of a tools/list answer. raw is either the
// result object ({"tools":[...],"nextCursor":"..."}) or the bare array;
// nextCursor is "" when absent or for a bare array. Raw and InputSchema are
// copies of the bytes as sent, never re-encoded, so schema keywords a typed
// struct would drop survive. Server fields are set to server. Errors wrap
// ErrMalformed and name the offending item. ParseResources,
// ParseResourceTemplates and ParsePrompts work the same way.
func ParseTools(server string, raw json.RawMessage) (tools []Tool, nextCursor string, err error) {
	return parsePage(server, raw, "tools", decodeTool(server))
}

// ParseToolList decodes tools already split into items, as a client that
// fetched every page of tools/list holds them. Each item must be valid JSON
// (a part of a page that was validated): it is split, not validated again. Unlike ParseTools, an item
// that is malformed is left out and reported (wrapping ErrMalformed and
// naming it), so that one bad tool does not hide the rest of its server.
// The tools keep the items' bytes as their Raw rather than copies: callers
// hand the items over and must not modify them afterwards.
// ParseResourceList, ParseResourceTemplateList and ParsePromptList work the
// same way.
func ParseToolList(server string, items []json.RawMessage) ([]Tool, []error) {
	return parseItems(server, items, "tools", decodeTool(server))
}

// ParseResourceList decodes resources already split into items, like ParseToolList.
func ParseResourceList(server string, items []json.RawMessage) ([]Resource, []error) {
	return parseItems(server, items, "resources", decodeResource(server))
}

// ParseResourceTemplateList decodes resource templates already split into items, like ParseToolList.
func ParseResourceTemplateList(server string, items []json.RawMessage) ([]ResourceTemplate, []error) {
	return parseItems(server, items, "resourceTemplates", decodeResourceTemplate(server))
}

// ParsePromptList decodes prompts already split into items, like ParseToolList.
func ParsePromptList(server string, items []json.RawMessage) ([]Prompt, []error) {
	return parseItems(server, items, "prompts", decodePrompt(server))
}

func decodeTool(server string) func(members, json.RawMessage) (Tool, error) {
	return func(f members, item json.RawMessage) (Tool, error) {
		name, err := f.required("name")
		if err != nil {
			return Tool{}, err
		}
		desc, err := f.str("description")
		if err != nil {
			return Tool{}, err
		}
		schema, _ := f.get("inputSchema")
		return Tool{Server: server, Name: name, Description: desc, InputSchema: schema, Raw: item}, nil
	}
}

func decodeResource(server string) func(members, json.RawMessage) (Resource, error) {
	return func(f members, item json.RawMessage) (Resource, error) {
		uri, err := f.required("uri")
		if err != nil {
			return Resource{}, err
		}
		name, err := f.str("name")
		return Resource{Server: server, URI: uri, Name: name, Raw: item}, err
	}
}

func decodeResourceTemplate(server string) func(members, json.RawMessage) (ResourceTemplate, error) {
	return func(f members, item json.RawMessage) (ResourceTemplate, error) {
		tmpl, err := f.required("uriTemplate")
		if err != nil {
			return ResourceTemplate{}, err
		}
		name, err := f.str("name")
		return ResourceTemplate{Server: server, URITemplate: tmpl, Name: name, Raw: item}, err
	}
}

func decodePrompt(server string) func(members, json.RawMessage) (Prompt, error) {
	return func(f members, item json.RawMessage) (Prompt, error) {
		name, err := f.required("name")
		return Prompt{Server: server, Name: name, Raw: item}, err
	}
}

// ParseResources decodes a page of resources/list, like ParseTools.
func ParseResources(server string, raw json.RawMessage) (resources []Resource, nextCursor string, err error) {
	return parsePage(server, raw, "resources", decodeResource(server))
}

// ParseResourceTemplates decodes a page of resources/templates/list, like ParseTools.
func ParseResourceTemplates(server string, raw json.RawMessage) (templates []ResourceTemplate, nextCursor string, err error) {
	return parsePage(server, raw, "resourceTemplates", decodeResourceTemplate(server))
}

// ParsePrompts decodes a page of prompts/list, like ParseTools.
func ParsePrompts(server string, raw json.RawMessage) (prompts []Prompt, nextCursor string, err error) {
	return parsePage(server, raw, "prompts", decodePrompt(server))
}

// members is a JSON object split into its members (rawjson). Items are read
// by exact key rather than through tagged structs because encoding/json
// matches tags case-insensitively: {"name":"a","NAME":"b"} would decode as
// tool "b", and the hub would then call a tool the server does not have.
// A slice looked up from the end (a repeated key counts as its last value,
// as in a decoded map) rather than a map: an item has a handful of members,
// and a start reads thousands of items.
type members []rawjson.Member

// get returns the value of the member key.
func (m members) get(key string) (json.RawMessage, bool) {
	for i := len(m) - 1; i >= 0; i-- {
		if string(m[i].Name()) == key {
			return m[i].Value, true
		}
	}
	return nil, false
}

// str returns the string member key; absent or null is "".
func (m members) str(key string) (string, error) {
	var s string
	if v, ok := m.get(key); ok {
		if s, ok := rawjson.String(v); ok {
			return s, nil
		}
		if err := json.Unmarshal(v, &s); err != nil {
			return "", fmt.Errorf("%q: %v", key, err)
		}
	}
	return s, nil
}

// required is str for a member that must be a non-empty string.
func (m members) required(key string) (string, error) {
	s, err := m.str(key)
	if err == nil && s == "" {
		err = errMissing(key)
	}
	return s, err
}

func errMissing(field string) error { return fmt.Errorf("missing or empty %q", field) }

// parsePage splits a page into raw items (each a fresh copy of its bytes)
// and hands each to decode with its members. A
// missing list key is an error, not an empty page: it usually means the
// wrong result was passed in.
func parsePage[T any](server string, raw json.RawMessage, key string, decode func(f members, item json.RawMessage) (T, error)) ([]T, string, error) {
	fail := func(format string, args ...any) ([]T, string, error) {
		return nil, "", fmt.Errorf("%w: server %q: %s", ErrMalformed, server, fmt.Sprintf(format, args...))
	}
	var (
		items  []json.RawMessage
		cursor string
	)
	switch rawjson.FirstByte(raw) {
	case '[':
		if err := json.Unmarshal(raw, &items); err != nil {
			return fail("%s: %v", key, err)
		}
	case '{':
		var page map[string]json.RawMessage
		if err := json.Unmarshal(raw, &page); err != nil {
			return fail("%v", err)
		}
		list, ok := page[key]
		if !ok {
			return fail("result has no %q", key)
		}
		if err := json.Unmarshal(list, &items); err != nil {
			return fail("%s: %v", key, err)
		}
		if c, ok := page["nextCursor"]; ok {
			if err := json.Unmarshal(c, &cursor); err != nil {
				return fail("nextCursor: %v", err)
			}
		}
	default:
		return fail("want a result object or an array, got %.32q", raw)
	}
	out := make([]T, 0, len(items))
	for i, item := range items {
		v, err := parseItem(item, decode)
		if err != nil {
			return fail("%s[%d]: %v", key, i, err)
		}
		out = append(out, v)
	}
	return out, cursor, nil
}

// parseItems decodes items one by one, leaving out and reporting those that
// are malformed.
func parseItems[T any](server string, items []json.RawMessage, key string, decode func(f members, item json.RawMessage) (T, error)) ([]T, []error) {
	out := make([]T, 0, len(items))
	var problems []error
	for i, item := range items {
		v, err := parseItem(rawjson.TrimSpace(item), decode)
		if err != nil {
			problems = append(problems, fmt.Errorf("%w: server %q: %s[%d]: %v", ErrMalformed, server, key, i, err))
			continue
		}
		out = append(out, v)
	}
	return out, problems
}

// parseItem decodes one item, which must be an object. Its members are
// subslices of item (rawjson), not copies; a key given twice counts as its
// last value, as in a decoded map. The item is valid JSON already (it was
// split out of a validated page), so it is not validated again: rawjson
// only has to see that the object is complete.
func parseItem[T any](item json.RawMessage, decode func(f members, item json.RawMessage) (T, error)) (T, error) {
	var zero T
	if rawjson.FirstByte(item) != '{' {
		return zero, fmt.Errorf("want an object, got %.32s", item)
	}
	ms, ok := rawjson.Object(item)
	if !ok {
		return zero, fmt.Errorf("not a complete JSON object: %.32s", item)
	}
	return decode(members(ms), item)
}
