package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDecodeArguments(t *testing.T) {
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	deepObj := strings.Repeat(`{"a":`, 20000) + "1" + strings.Repeat("}", 20000)
	tests := []struct {
		name, in, want string
		wantErr        string // "" = success
	}{
		{"object", `{"a":1,"b":[true]}`, `{"a":1,"b":[true]}`, ""},
		{"object with whitespace", " \n{ \"a\" : 1 }\t", `{ "a" : 1 }`, ""},
		{"string-encoded object", `"{\"a\":1,\"s\":\"x\\\"y\"}"`, `{"a":1,"s":"x\"y"}`, ""},
		{"string-encoded with spaces", `" {\"a\":1} "`, `{"a":1}`, ""},
		{"absent", ``, `{}`, ""},
		{"null", `null`, `{}`, ""},
		{"empty string", `""`, `{}`, ""},
		{"blank string", `"  "`, `{}`, ""},
		{"string holding null", `"null"`, `{}`, ""},
		{"empty object", `{}`, `{}`, ""},
		{"array", `[1,2]`, "", "expected a JSON object or a JSON-encoded object string, got array"},
		{"number", `42`, "", "got number"},
		{"negative number", `-1`, "", "got number"},
		{"boolean", `true`, "", "got boolean"},
		{"malformed object", `{"a":}`, "", "malformed JSON: invalid character '}'"},
		{"truncated", `{"a":1`, "", "malformed JSON"},
		{"two values", `{} {}`, "", "malformed JSON"},
		{"malformed string", `"{\"a\":1}`, "", "malformed JSON string"},
		{"string of array", `"[1,2]"`, "", "the arguments string holds array, expected a JSON object"},
		{"string of number", `"7"`, "", "holds number"},
		{"string of string", `"\"{}\""`, "", "holds string"},
		{"string of malformed JSON", `"{a:1}"`, "", "does not hold valid JSON"},
		{"huge array nesting", deep, "", "malformed JSON"},
		{"huge object nesting", deepObj, "", "malformed JSON"},
		{"huge nesting in a string", mustQuote(deepObj), "", "does not hold valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeArguments(json.RawMessage(tt.in))
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalidArguments) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %.200v, want ErrInvalidArguments containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestToolCallShape(t *testing.T) {
	// What an OpenAI client sends back, bound by the REST layer.
	body := `{"id":"call_1","type":"function","function":{"name":"s__t","arguments":"{\"q\":\"x\"}"}}`
	var tc ToolCall
	if err := json.Unmarshal([]byte(body), &tc); err != nil {
		t.Fatal(err)
	}
	args, err := DecodeArguments(tc.Function.Arguments)
	if err != nil || string(args) != `{"q":"x"}` || tc.ID != "call_1" || tc.Function.Name != "s__t" {
		t.Errorf("tc = %+v, args %s, err %v", tc, args, err)
	}
	// A missing "arguments" member is no arguments.
	tc = ToolCall{}
	_ = json.Unmarshal([]byte(`{"function":{"name":"s__t"}}`), &tc)
	if args, err := DecodeArguments(tc.Function.Arguments); err != nil || string(args) != "{}" {
		t.Errorf("missing arguments: %s, %v", args, err)
	}
}

func mustQuote(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func FuzzDecodeArguments(f *testing.F) {
	for _, seed := range []string{``, `null`, `{}`, `{"a":1}`, `"{\"a\":1}"`, `""`, `[1]`, `"[1]"`, `1`, `{"a":`, `"\u0000"`, `" null "`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := DecodeArguments(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalidArguments) {
				t.Fatalf("error %v does not wrap ErrInvalidArguments", err)
			}
			return
		}
		var obj map[string]json.RawMessage
		if !json.Valid(got) || json.Unmarshal(got, &obj) != nil || obj == nil {
			t.Fatalf("DecodeArguments(%q) = %q: not a JSON object", raw, got)
		}
	})
}
