package openai_test

import (
	"encoding/json"
	"testing"

	"github.com/mcphub/mcphub/pkg/openai"
)

// BenchmarkDecodeArguments decodes a call's arguments in both shapes the
// API takes: the object, and OpenAI's JSON string holding it.
func BenchmarkDecodeArguments(b *testing.B) {
	object := json.RawMessage(`{"query":"weather in Paris","units":"metric","days":3,"tags":["a","b"],"deep":{"x":1}}`)
	str, _ := json.Marshal(string(object))
	for _, bc := range []struct {
		name string
		raw  json.RawMessage
	}{{"object", object}, {"string", str}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := openai.DecodeArguments(bc.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkReadResult reads a call's result once: the error flag, and the
// message text when the caller wants it (REST) or not (/mcp).
func BenchmarkReadResult(b *testing.B) {
	result := json.RawMessage(`{"content":[{"type":"text","text":"It is 14 degrees and cloudy in Paris."}],"isError":false}`)
	for _, withContent := range []bool{true, false} {
		name := "no-content"
		if withContent {
			name = "content"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := openai.ReadResult(result, withContent); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
