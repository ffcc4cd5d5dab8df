package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mcphub/mcphub/internal/rawjson"
	"github.com/mcphub/mcphub/pkg/catalog"
)

func TestParameters(t *testing.T) {
	// nested is kept byte for byte, whitespace, escapes and key order included.
	const nested = `{ "b" : {"type":"string","description":"<b> & \u00e9 \"q\""},
		"a":{"$ref":"#/$defs/x", "title":"A"} }`
	tests := []struct {
		name, in, want string
		wantErr        string // "" = success
	}{
		{"absent", ``, `{"type":"object","properties":{}}`, ""},
		{"null", ` null `, `{"type":"object","properties":{}}`, ""},
		{"empty object", `{}`, `{"type":"object","properties":{}}`, ""},
		{"complete, order kept", `{"type":"object","properties":` + nested + `,"required":["a"]}`,
			`{"type":"object","properties":` + nested + `,"required":["a"]}`, ""},
		{"$schema removed", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{}}`,
			`{"type":"object","properties":{}}`, ""},
		{"missing type added first", `{"title":"T","properties":{"x":{}}}`,
			`{"type":"object","title":"T","properties":{"x":{}}}`, ""},
		{"missing properties added after type", `{"title":"T","type":"object","required":[]}`,
			`{"title":"T","type":"object","properties":{},"required":[]}`, ""},
		{"null properties", `{"type":"object","properties":null}`, `{"type":"object","properties":{}}`, ""},
		{"anyOf, $defs and title kept", `{"title":"T","anyOf":[{"required":["a"]},{"required":["b"]}],"$defs":{"x":{"type":"integer"}},"properties":` + nested + `}`,
			`{"type":"object","title":"T","anyOf":[{"required":["a"]},{"required":["b"]}],"$defs":{"x":{"type":"integer"}},"properties":` + nested + `}`, ""},
		{"unknown keywords kept", `{"type":"object","properties":{},"x-vendor":{"k":[1,2.5e3,true,null]},"additionalProperties":false}`,
			`{"type":"object","properties":{},"x-vendor":{"k":[1,2.5e3,true,null]},"additionalProperties":false}`, ""},
		{"escaped type key and value", `{"\u0074ype":"\u006fbject"}`, `{"\u0074ype":"\u006fbject","properties":{}}`, ""},
		{"top-level whitespace dropped", "{\n  \"type\" : \"object\" ,\n  \"properties\" : {\"a\": 1}\n}\n",
			`{"type":"object","properties":{"a": 1}}`, ""},
		{"array root", `[]`, "", "root is array"},
		{"string root", `"object"`, "", "root is string"},
		{"boolean root", `true`, "", "root is boolean"},
		{"other type", `{"type":"array","items":{}}`, "", `root type is "array"`},
		{"type list", `{"type":["object","null"]}`, "", "root type is"},
		{"properties not object", `{"properties":[]}`, "", `"properties" is array`},
		{"malformed", `{"type":"object",`, "", "not valid JSON"},
		{"trailing garbage", `{} {}`, "", "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parameters(json.RawMessage(tt.in))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidSchema containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
		})
	}
}

func TestParametersDoesNotAliasInput(t *testing.T) {
	in := []byte(`{"type":"object","properties":{"a":{}}}`)
	out, err := Parameters(in)
	if err != nil {
		t.Fatal(err)
	}
	copy(in, bytes.Repeat([]byte(" "), len(in)))
	if string(out) != `{"type":"object","properties":{"a":{}}}` {
		t.Errorf("output changed with the input: %s", out)
	}
}

func TestFromTool(t *testing.T) {
	ts, err := FromTool(catalog.Tool{Server: "s", Name: "t.x", Exported: "s__t_x", Description: "d",
		InputSchema: json.RawMessage(`{"$schema":"x","properties":{}}`)})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(ts)
	if want := `{"type":"function","function":{"name":"s__t_x","description":"d","parameters":{"type":"object","properties":{}}}}`; string(got) != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	for _, bad := range []catalog.Tool{
		{Server: "s", Name: "t", Exported: ""},
		{Server: "s", Name: "t", Exported: "s.t"},
	} {
		if _, err := FromTool(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("FromTool(%+v): err = %v, want ErrInvalidName", bad, err)
		}
	}
	if _, err := FromTool(catalog.Tool{Server: "s", Name: "t", Exported: "s__t", InputSchema: json.RawMessage(`[]`)}); !errors.Is(err, ErrInvalidSchema) ||
		!strings.Contains(err.Error(), `"t" on "s"`) {
		t.Errorf("err = %v, want ErrInvalidSchema naming the tool", err)
	}
}

func TestRenderTools(t *testing.T) {
	snap := catalog.Build([]catalog.ServerCatalog{{Server: "s", Tools: []catalog.Tool{
		{Name: "a", Description: "x < y && \"z\"\n", InputSchema: json.RawMessage("{\"properties\": {\"q\": {\"type\": \"string\", \"description\": \"<tag>\"}}}")},
		{Name: "b", InputSchema: json.RawMessage(`{"type":"string"}`)},
		{Name: "c"},
	}}}, "__")
	tools := append(snap.Tools(), catalog.Tool{Server: "s", Name: "a-again", Exported: "s__a"})
	body, skipped := RenderTools(tools, nil)
	want := `{"tools":[` +
		`{"type":"function","function":{"name":"s__a","description":"x < y && \"z\"\n","parameters":{"type":"object","properties":{"q":{"type":"string","description":"<tag>"}}}}},` +
		`{"type":"function","function":{"name":"s__c","parameters":{"type":"object","properties":{}}}}]}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	var decoded struct{ Tools []ToolSchema }
	if err := json.Unmarshal(body, &decoded); err != nil || len(decoded.Tools) != 2 {
		t.Errorf("body does not decode: %v", err)
	}
	if len(skipped) != 2 || skipped[0].Name != "b" || !errors.Is(skipped[0].Err, ErrInvalidSchema) ||
		skipped[1].Name != "a-again" || !errors.Is(skipped[1].Err, ErrInvalidName) {
		t.Errorf("skipped = %+v", skipped)
	}
	if body, skipped := RenderTools(nil, nil); string(body) != `{"tools":[]}` || skipped != nil {
		t.Errorf("empty: %s %v", body, skipped)
	}
}

func TestRenderToolsMarksApproval(t *testing.T) {
	snap := catalog.Build([]catalog.ServerCatalog{{Server: "s", Tools: []catalog.Tool{
		{Name: "delete", Description: "Delete it."}, {Name: "quiet"}, {Name: "read", Description: "Read it."},
	}}}, "__")
	needs := func(t *catalog.Tool) bool { return t.Name != "read" }
	body, _ := RenderTools(snap.Tools(), needs)
	want := `{"tools":[` +
		`{"type":"function","function":{"name":"s__delete","description":"Delete it. ` + ApprovalNote + `","parameters":{"type":"object","properties":{}}}},` +
		`{"type":"function","function":{"name":"s__quiet","description":"` + ApprovalNote + `","parameters":{"type":"object","properties":{}}}},` +
		`{"type":"function","function":{"name":"s__read","description":"Read it.","parameters":{"type":"object","properties":{}}}}]}`
	if string(body) != want {
		t.Errorf("body\n got %s\nwant %s", body, want)
	}
	if !json.Valid(body) {
		t.Error("body is not valid JSON")
	}
}

func BenchmarkRenderTools(b *testing.B) {
	var servers []catalog.ServerCatalog
	for s := range 100 {
		sc := catalog.ServerCatalog{Server: fmt.Sprintf("server-%03d", s)}
		for i := range 50 {
			sc.Tools = append(sc.Tools, catalog.Tool{
				Name:        fmt.Sprintf("tool.%03d", i),
				Description: "Searches the index and returns the best matches, with <em>highlights</em>.",
				InputSchema: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
					"properties":{"query":{"type":"string","description":"what to find"},
					"limit":{"type":"integer","minimum":1,"maximum":100}},"required":["query"]}`),
			})
		}
		servers = append(servers, sc)
	}
	tools := catalog.Build(servers, "__").Tools()
	b.ReportAllocs()
	for b.Loop() {
		body, skipped := RenderTools(tools, nil)
		if len(skipped) != 0 || len(body) == 0 {
			b.Fatal("render failed")
		}
	}
}

// FuzzParameters guards the hand-written top-level scanner: it must never
// panic, and success must mean a valid object whose type is "object".
func FuzzParameters(f *testing.F) {
	for _, seed := range []string{``, `{}`, `{"type":"object"}`, `{"tYpe":"000000"}`, `{"a":"}\"{","b":[{"c":"]"}],"n":-1.5e3}`, `{"$schema":1,"properties":null}`, `[]`, `{"\"":1}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Parameters(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("error %v does not wrap ErrInvalidSchema", err)
			}
			return
		}
		// A map, not a struct: struct tags would also match "tYpe".
		var root map[string]json.RawMessage
		var typ string
		err = json.Unmarshal(out, &root)
		if err == nil {
			err = json.Unmarshal(root["type"], &typ)
		}
		if err != nil || typ != "object" || rawjson.FirstByte(root["properties"]) != '{' {
			t.Fatalf("Parameters(%q) = %q: not an object schema (%v)", in, out, err)
		}
	})
}
