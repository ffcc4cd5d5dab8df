package openai

import (
	"encoding/json"
	"testing"
)

func TestToolMessageContent(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"text", `{"content":[{"type":"text","text":"hello"}]}`, "hello"},
		{"texts joined", `{"content":[{"type":"text","text":"a"},{"type":"text","text":"b\nc"}]}`, "a\nb\nc"},
		{"image", `{"content":[{"type":"image","data":"iVBORw0KGgo=","mimeType":"image/png"}]}`, "[image: image/png, 12 bytes base64]"},
		{"audio", `{"content":[{"type":"audio","data":"UklGRg==","mimeType":"audio/wav"}]}`, "[audio: audio/wav, 8 bytes base64]"},
		{"image without mime", `{"content":[{"type":"image","data":""}]}`, "[image: 0 bytes base64]"},
		{"embedded text resource", `{"content":[{"type":"resource","resource":{"uri":"file:///a.txt","mimeType":"text/plain","text":"line1\nline2"}}]}`,
			"[resource: file:///a.txt, text/plain]\nline1\nline2"},
		{"embedded empty text resource", `{"content":[{"type":"resource","resource":{"uri":"file:///e","text":""}}]}`, "[resource: file:///e]\n"},
		{"embedded blob resource", `{"content":[{"type":"resource","resource":{"uri":"file:///a.bin","mimeType":"application/octet-stream","blob":"AAEC"}}]}`,
			"[resource: file:///a.bin, application/octet-stream, 4 bytes base64]"},
		{"resource link", `{"content":[{"type":"resource_link","uri":"file:///r.md","name":"r.md","mimeType":"text/markdown","description":"d"}]}`,
			"[resource_link: file:///r.md, r.md, text/markdown]"},
		{"mixed", `{"content":[{"type":"text","text":"see"},{"type":"image","data":"AAAA","mimeType":"image/gif"}]}`, "see\n[image: image/gif, 4 bytes base64]"},
		{"unknown type kept as JSON", `{"content":[{"type":"video", "url" : "x"}]}`, `{"type":"video","url":"x"}`},
		{"resource without body kept as JSON", `{"content":[{"type":"resource"}]}`, `{"type":"resource"}`},
		{"item not an object", `{"content":["plain"]}`, `"plain"`},
		{"structured only", `{"content":[],"structuredContent":{ "temp" : 21.5 }}`, `{"temp":21.5}`},
		{"structured ignored when content present", `{"content":[{"type":"text","text":"21.5"}],"structuredContent":{"temp":21.5}}`, "21.5"},
		{"isError text as-is", `{"content":[{"type":"text","text":"boom: not found"}],"isError":true}`, "boom: not found"},
		{"empty", `{"content":[]}`, ""},
		{"null structured", `{"structuredContent":null}`, ""},
		{"not an object", `"just text"`, `"just text"`},
		{"malformed", `{"content":`, `{"content":`},
		{"content not an array", `{"content":"oops"}`, `{"content":"oops"}`},
		{"keys are case-sensitive", `{"content":[{"type":"text","Text":"no","text":"yes"}]}`, "yes"},
		{"text not a string kept as JSON", `{"content":[{"type":"text","text":5}]}`, `{"type":"text","text":5}`},
		{"Content is not content", `{"Content":[{"type":"text","text":"x"}],"structuredContent":{"a":1}}`, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ToolMessageContent(json.RawMessage(tt.in)); got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestReadResult(t *testing.T) {
	for _, tc := range []struct {
		in          string
		with        bool
		wantContent string
		wantIsError bool
		wantErr     bool
	}{
		{`{"content":[{"type":"text","text":"hi"}]}`, true, "hi", false, false},
		{`{"content":[{"type":"text","text":"hi"}]}`, false, "", false, false},
		{`{"content":[{"type":"text","text":"no"}],"isError":true}`, true, "no", true, false},
		{`{"content":[],"isError": true }`, false, "", true, false},
		{`{"isError":false}`, true, "", false, false},
		{`[1]`, true, "", false, true},
		{`"text"`, false, "", false, true},
	} {
		content, isError, err := ReadResult(json.RawMessage(tc.in), tc.with)
		if content != tc.wantContent || isError != tc.wantIsError || (err != nil) != tc.wantErr {
			t.Errorf("ReadResult(%s, %v) = %q, %v, %v", tc.in, tc.with, content, isError, err)
		}
		if tc.with && err == nil && content != ToolMessageContent(json.RawMessage(tc.in)) {
			t.Errorf("ReadResult and ToolMessageContent disagree on %s", tc.in)
		}
	}
}

// ReadResult splits the result on the stack: reading isError allocates
// nothing, and a text result costs only its text and the join.
func TestReadResultAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations are not counted under the race detector (race_on_test.go); make test-allocs counts them")
	}
	in := json.RawMessage(`{"content":[{"type":"text","text":"hi"},{"type":"text","text":"there"}],"isError":false,"_meta":{"k":1}}`)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ReadResult(in, false) }); n != 0 {
		t.Errorf("ReadResult without content: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ReadResult(in, true) }); n > 4 {
		t.Errorf("ReadResult with two text items: %v allocations, want at most 4 (the texts, the parts, the join)", n)
	}
	one := json.RawMessage(`{"content":[{"type":"text","text":"hi"}]}`)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ReadResult(one, true) }); n > 1 {
		t.Errorf("ReadResult with one text item: %v allocations, want at most 1 (the text)", n)
	}
}
