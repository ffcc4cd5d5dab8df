package api

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "hi", `quote " and \ backslash`, "line\nbreak\t", "<b>&amp;</b>", "\u2028\u2029", "é ü 日本", "\x00\x1f", "bad \xff utf8"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendJSONString([]byte("x"), s)
		if b[0] != 'x' {
			t.Fatal("prefix lost")
		}
		var got string
		if err := json.Unmarshal(b[1:], &got); err != nil {
			t.Fatalf("%q encoded as %s: %v", s, b[1:], err)
		}
		if utf8.ValidString(s) && got != s {
			t.Fatalf("%q round-tripped as %q", s, got)
		}
	})
}
