package catalog

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// schema holds what mcp-go's typed Tool would lose or rewrite: $schema,
// title, top-level anyOf, definitions, key order, whitespace and escapes.
const schema = `{"$schema": "http://json-schema.org/draft-07/schema#", "title":"T",
  "type":"object", "properties":{"b":{"type":"string","description":"<b> & \u00e9"},"a":{"$ref":"#/definitions/x"}},
  "anyOf":[{"required":["a"]},{"required":["b"]}], "definitions":{"x":{"type":"integer"}}}`

func TestParseTools(t *testing.T) {
	raw := `{"tools":[{"name":"echo","title":"Echo","description":"says it back","inputSchema":` + schema +
		`,"annotations":{"readOnlyHint":true},"_meta":{"k":1}},  {"name":"bare"}], "nextCursor":"page2"}`
	tools, cursor, err := ParseTools("srv", []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if cursor != "page2" || len(tools) != 2 {
		t.Fatalf("cursor %q, %d tools", cursor, len(tools))
	}
	echo := tools[0]
	if echo.Server != "srv" || echo.Name != "echo" || echo.Description != "says it back" || echo.Exported != "" {
		t.Errorf("echo = %+v", echo)
	}
	if string(echo.InputSchema) != schema {
		t.Errorf("InputSchema not byte-exact:\n got %s\nwant %s", echo.InputSchema, schema)
	}
	if want := raw[len(`{"tools":[`):strings.Index(raw, `,  {"name":"bare"}`)]; string(echo.Raw) != want {
		t.Errorf("Raw not byte-exact:\n got %s\nwant %s", echo.Raw, want)
	}
	if tools, _, err := ParseTools("s", []byte(`[{"name":"a","Name":"b","NAME":"c"}]`)); err != nil || tools[0].Name != "a" {
		t.Errorf("case-folded keys changed the name: %+v, %v", tools, err)
	}
	if tools[1].InputSchema != nil || string(tools[1].Raw) != `{"name":"bare"}` {
		t.Errorf("bare = %+v", tools[1])
	}
	// Raw must not alias the caller's buffer, which transports reuse.
	buf := []byte(raw)
	tools, _, _ = ParseTools("srv", buf)
	for i := range buf {
		buf[i] = ' '
	}
	if string(tools[0].InputSchema) != schema {
		t.Error("InputSchema aliases the input buffer")
	}
}

func TestParsePageShapes(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		wantN   int
		cursor  string
		wantErr string // "" = success
	}{
		{"bare array", ` [{"name":"a"},{"name":"b"}] `, 2, "", ""},
		{"empty array", `[]`, 0, "", ""},
		{"null list", `{"tools":null}`, 0, "", ""},
		{"null cursor", `{"tools":[],"nextCursor":null}`, 0, "", ""},
		{"cursor", `{"tools":[{"name":"a"}],"nextCursor":"c"}`, 1, "c", ""},
		{"extra members ignored", `{"tools":[],"_meta":{"x":1}}`, 0, "", ""},
		{"missing list", `{"resources":[]}`, 0, "", `result has no "tools"`},
		{"list not array", `{"tools":{}}`, 0, "", "tools:"},
		{"cursor not string", `{"tools":[],"nextCursor":3}`, 0, "", "nextCursor"},
		{"item not object", `[{"name":"a"},7]`, 0, "", "tools[1]"},
		{"item without name", `[{"description":"x"}]`, 0, "", `tools[0]: missing or empty "name"`},
		{"name not string", `[{"name":1}]`, 0, "", "tools[0]"},
		{"keys are case-sensitive", `[{"NAME":"x"}]`, 0, "", `tools[0]: missing or empty "name"`},
		{"description not string", `[{"name":"a","description":{}}]`, 0, "", `"description"`},
		{"item null", `[null]`, 0, "", "tools[0]"},
		{"malformed", `{"tools":[`, 0, "", "unexpected end"},
		{"empty input", ``, 0, "", "want a result object or an array"},
		{"string", `"tools"`, 0, "", "want a result object or an array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tools, cursor, err := ParseTools("srv", []byte(tt.raw))
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), `"srv"`) {
					t.Fatalf("err = %v, want ErrMalformed naming the server and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(tools) != tt.wantN || cursor != tt.cursor {
				t.Fatalf("got %d tools, cursor %q, err %v", len(tools), cursor, err)
			}
		})
	}
}

func TestParseOtherLists(t *testing.T) {
	res, cur, err := ParseResources("s", []byte(`{"resources":[{"uri":"file:///a","name":"a","mimeType":"text/plain"}],"nextCursor":"n"}`))
	if err != nil || cur != "n" || len(res) != 1 || res[0].URI != "file:///a" || res[0].Name != "a" || res[0].Server != "s" ||
		string(res[0].Raw) != `{"uri":"file:///a","name":"a","mimeType":"text/plain"}` {
		t.Errorf("resources = %+v, %q, %v", res, cur, err)
	}
	if _, _, err := ParseResources("s", []byte(`[{"name":"no uri"}]`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("resource without uri: err = %v", err)
	}
	tmpl, _, err := ParseResourceTemplates("s", []byte(`{"resourceTemplates":[{"uriTemplate":"file:///{p}","name":"t"}]}`))
	if err != nil || len(tmpl) != 1 || tmpl[0].URITemplate != "file:///{p}" || tmpl[0].Name != "t" {
		t.Errorf("templates = %+v, %v", tmpl, err)
	}
	if _, _, err := ParseResourceTemplates("s", []byte(`{"resourceTemplates":[{"uri":"x"}]}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("template without uriTemplate: err = %v", err)
	}
	prompts, _, err := ParsePrompts("s", []byte(`{"prompts":[{"name":"greet","arguments":[{"name":"who"}]}]}`))
	if err != nil || len(prompts) != 1 || prompts[0].Name != "greet" || prompts[0].Exported != "" {
		t.Errorf("prompts = %+v, %v", prompts, err)
	}
	if _, _, err := ParsePrompts("s", []byte(`{"tools":[]}`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("wrong list: err = %v", err)
	}
}

// TestParseToolList: items already split are decoded one by one; a
// malformed one is left out and reported by index, the rest kept, each
// tool's Raw being its item.
func TestParseToolList(t *testing.T) {
	items := []json.RawMessage{
		json.RawMessage(`{"name":"echo","description":"says it back","inputSchema":` + schema + `}`),
		json.RawMessage(`7`),
		json.RawMessage(" {\"name\":\"spaced\"}\n"),
		json.RawMessage(`{"description":"no name"}`),
		json.RawMessage(`{"name":"a","NAME":"b"}`),
		json.RawMessage(`{"name":"bad","description":{}}`),
		json.RawMessage(`null`),
		json.RawMessage(`{"name":`),
	}
	tools, problems := ParseToolList("srv", items)
	var names []string
	for _, tl := range tools {
		names = append(names, tl.Name)
		if tl.Server != "srv" || tl.Exported != "" {
			t.Errorf("tool %+v", tl)
		}
	}
	if strings.Join(names, " ") != "echo spaced a" {
		t.Errorf("tools %q, want echo spaced a", names)
	}
	if string(tools[0].InputSchema) != schema || string(tools[0].Raw) != string(items[0]) || tools[0].Description != "says it back" {
		t.Errorf("echo = %+v", tools[0])
	}
	if string(tools[1].Raw) != `{"name":"spaced"}` {
		t.Errorf("Raw %q: want the item without surrounding whitespace", tools[1].Raw)
	}
	want := []string{"tools[1]: want an object", `tools[3]: missing or empty "name"`, `tools[5]: "description"`, "tools[6]: want an object", "tools[7]:"}
	if len(problems) != len(want) {
		t.Fatalf("problems %v, want %d", problems, len(want))
	}
	for i, err := range problems {
		if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), want[i]) || !strings.Contains(err.Error(), `"srv"`) {
			t.Errorf("problem %v, want ErrMalformed naming the server and containing %q", err, want[i])
		}
	}

	res, problems := ParseResourceList("s", []json.RawMessage{json.RawMessage(`{"uri":"file:///a","name":"a"}`), json.RawMessage(`{"name":"no uri"}`)})
	if len(res) != 1 || res[0].URI != "file:///a" || len(problems) != 1 {
		t.Errorf("resources %+v, problems %v", res, problems)
	}
	tmpl, problems := ParseResourceTemplateList("s", []json.RawMessage{json.RawMessage(`{"uriTemplate":"file:///{p}","name":"t"}`)})
	if len(tmpl) != 1 || tmpl[0].URITemplate != "file:///{p}" || len(problems) != 0 {
		t.Errorf("templates %+v, problems %v", tmpl, problems)
	}
	prompts, problems := ParsePromptList("s", []json.RawMessage{json.RawMessage(`{"name":"greet"}`), json.RawMessage(`[]`)})
	if len(prompts) != 1 || prompts[0].Name != "greet" || len(problems) != 1 {
		t.Errorf("prompts %+v, problems %v", prompts, problems)
	}
}

// TestMemberStrings: members' strings decode exactly as encoding/json's.
func TestMemberStrings(t *testing.T) {
	for _, in := range []string{`""`, `"abc def"`, `"a\"b"`, `"a\\b"`, `"\u00e9"`, `"é"`, "\"a\tb\"", `"<b> & </b>"`, "\"\xff\""} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			continue // not a JSON string; members never holds one
		}
		if s, err := (members{{Key: []byte(`"k"`), Value: []byte(in)}}).str("k"); err != nil || s != want {
			t.Errorf("str(%s) = %q, %v, want %q", in, s, err, want)
		}
	}
}
