package downstream

import (
	"context"
	"encoding/json"
	"fmt"
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
		var res map[string]json.RawMessage
		if err := json.Unmarshal(raw, &res); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrProtocol, method, err)
		}
		var items []json.RawMessage
		if v, ok := res[field]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &items); err != nil {
				return nil, fmt.Errorf("%w: %s: %s is not an array", ErrProtocol, method, field)
			}
		}
		all = append(all, items...)
		cursor = ""
		if v, ok := res["nextCursor"]; ok && string(v) != "null" {
			if err := json.Unmarshal(v, &cursor); err != nil {
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
