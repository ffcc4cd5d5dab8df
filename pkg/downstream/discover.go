package downstream

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/mcphub/mcphub/internal/rawjson"
)

// maxPages stops a server whose cursors never end from holding discovery forever.
const maxPages = 1000

// discovered holds every item a server listed, each exactly as sent.
type discovered struct {
	Tools             []json.RawMessage
	Resources         []json.RawMessage
	ResourceTemplates []json.RawMessage
	Prompts           []json.RawMessage
}

// discover lists everything the server's capabilities announce, following
// every pagination cursor.
func (s *session) discover(ctx context.Context) (*discovered, error) {
	var d discovered
	caps := s.init.Load().Capabilities
	lists := []struct {
		enabled bool
		method  string
		field   string
		into    *[]json.RawMessage
	}{
		{caps.Tools != nil, "tools/list", "tools", &d.Tools},
		{caps.Resources != nil, "resources/list", "resources", &d.Resources},
		{caps.Resources != nil, "resources/templates/list", "resourceTemplates", &d.ResourceTemplates},
		{caps.Prompts != nil, "prompts/list", "prompts", &d.Prompts},
	}
	for _, l := range lists {
		if !l.enabled {
			continue
		}
		items, err := s.listAll(ctx, l.method, l.field)
		if err != nil {
			return nil, err
		}
		*l.into = items
	}
	return &d, nil
}

func (s *session) listAll(ctx context.Context, method, field string) ([]json.RawMessage, error) {
	var all []json.RawMessage
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		if page == maxPages {
			return nil, fmt.Errorf("%w: %s: more than %d pages", ErrProtocol, method, maxPages)
		}
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		raw, err := s.request(ctx, method, params)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", method, err)
		}
		// One scan splits the page (exact keys, the last of a repeated
		// one wins, as in a decoded map); the items are subslices of it,
		// which the catalog keeps as sent. The result is valid JSON
		// already: post.go validated the message, and mcp-go decoded it
		// with encoding/json, which checks the whole of it.
		members, ok := rawjson.Object(raw)
		if !ok {
			return nil, fmt.Errorf("%w: %s: the result is not an object", ErrProtocol, method)
		}
		var list, next []byte
		for _, m := range members {
			switch string(m.Name()) {
			case field:
				list = m.Value
			case "nextCursor":
				next = m.Value
			}
		}
		if list != nil && string(list) != "null" {
			items, ok := rawjson.Array(list)
			if !ok {
				return nil, fmt.Errorf("%w: %s: %s is not an array", ErrProtocol, method, field)
			}
			for _, it := range items { // [][]byte to []json.RawMessage
				all = append(all, it)
			}
		}
		cursor = ""
		if next != nil && string(next) != "null" {
			if err := json.Unmarshal(next, &cursor); err != nil {
				return nil, fmt.Errorf("%w: %s: nextCursor is not a string", ErrProtocol, method)
			}
		}
		if cursor == "" {
			return all, nil
		}
		if seen[cursor] {
			return nil, fmt.Errorf("%w: %s: cursor %q repeats", ErrProtocol, method, cursor)
		}
		seen[cursor] = true
	}
}
