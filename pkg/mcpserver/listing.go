package mcpserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/openai"
)

// toolListing is an endpoint's tools/list result for one state of its
// catalog, rendered on first use from the tools as their servers sent
// them: the same members mcp-go would list (exported name, the approval
// note, input and output schemas as sent), and every other member kept.
type toolListing struct {
	tools []listedTool // sorted by exported name, as mcp-go lists them

	once sync.Once
	body []byte
	err  error
}

type listedTool struct {
	tool  catalog.Tool
	gated bool
}

// render returns {"tools":[…]}; it is computed once.
func (l *toolListing) render() ([]byte, error) {
	l.once.Do(func() {
		var buf bytes.Buffer
		buf.WriteString(`{"tools":[`)
		for i, lt := range l.tools {
			b, err := listedJSON(lt.tool, lt.gated)
			if err != nil {
				l.err = fmt.Errorf("tool %s: %w", lt.tool.Exported, err)
				return
			}
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(b)
		}
		buf.WriteString(`]}`)
		l.body = buf.Bytes()
	})
	return l.body, l.err
}

// listedJSON is a tool's object as its server sent it, under its exported
// name, with what toMCPTool changes changed alike.
func listedJSON(t catalog.Tool, gated bool) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(t.Raw, &m); err != nil {
		return nil, err
	}
	set := func(k string, v any) error {
		b, err := json.Marshal(v)
		m[k] = b
		return err
	}
	if err := set("name", t.Exported); err != nil {
		return nil, err
	}
	if gated {
		var desc string
		_ = json.Unmarshal(m["description"], &desc) // absent or not a string: none
		if err := set("description", strings.TrimSpace(desc+" "+openai.ApprovalNote)); err != nil {
			return nil, err
		}
	}
	m["inputSchema"] = t.InputSchema
	if absent(t.InputSchema) {
		m["inputSchema"] = json.RawMessage(`{"type":"object"}`)
	}
	if absent(m["outputSchema"]) {
		delete(m, "outputSchema")
	}
	return json.Marshal(m)
}
