package catalog

import (
	"slices"
	"strings"
	"testing"
)

func TestEachProperty(t *testing.T) {
	tests := []struct {
		schema string
		want   []string // name, description, name, description…
		ok     bool
	}{
		{`{"type":"object","properties":{"b":{"type":"string","description":"B"},"a":{"description":"A","enum":["x","}"]}}}`,
			[]string{"b", "B", "a", "A"}, true},
		{`{"required":["a"],"properties":{"a":{}},"additionalProperties":false}`, []string{"a", ""}, true},
		{`{"properties":{"a\u0062":{"description":"line\none \"quoted\""}}}`, []string{"ab", "line\none \"quoted\""}, true},
		{` { "properties" : { "a" : { "description" : "A" } } } `, []string{"a", "A"}, true},
		{`{"PROPERTIES":{"a":{}},"properties":{"b":{"Description":"no"}}}`, []string{"b", ""}, true},
		{`{"properties":{"a":true,"b":{"description":5},"c":{"description":null}}}`, []string{"a", "", "b", "", "c", ""}, true},
		{`{"properties":{"nested":{"properties":{"deep":{}}}}}`, []string{"nested", ""}, true},
		{`{"properties":[{"a":1}]}`, nil, true},
		{`"a string"`, nil, true},
		{`null`, nil, true},
		{``, nil, false},
		{`{"properties":`, nil, false},
		{`{"properties":{"a":{}}`, []string{"a", ""}, false},
		{`{"properties":{"a":{}}} trailing`, []string{"a", ""}, false},
		{`{"a" 1}`, nil, false},
		{`{"a":"unterminated}`, nil, false},
	}
	for _, tt := range tests {
		var got []string
		ok := eachProperty(tt.schema, func(name, desc string) { got = append(got, name, desc) })
		if ok != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("eachProperty(%s) = %q, %v; want %q, %v", tt.schema, got, ok, tt.want, tt.ok)
		}
	}
}

func terms(text string) []string {
	var out []string
	tk := tokenizer{text: text}
	for {
		tok, ok := tk.next()
		if !ok {
			return out
		}
		out = append(out, string(tok))
	}
}

func TestTokenizer(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"createIssue", []string{"creat", "issu"}},
		{"create_issue", []string{"creat", "issu"}},
		{"create-issue", []string{"creat", "issu"}},
		{"create.issue", []string{"creat", "issu"}},
		{"Create Issues", []string{"creat", "issu"}},
		{"github__createIssue", []string{"github", "creat", "issu"}},
		{"HTTPServer", []string{"http", "server"}},
		{"listAPIs", []string{"list", "api"}},
		{"getURLsFor", []string{"get", "url"}},
		{"HTTPService", []string{"http", "servic"}},
		{"ec2Instance", []string{"ec", "2", "instanc"}},
		{"v1.2.3", []string{"v", "1", "2", "3"}},
		{"s3", []string{"s", "3"}},
		{"user's files", []string{"user", "fil"}},
		{"don’t", []string{"dont"}},
		{"The issues of the day", []string{"issu", "day"}},
		{"Ünïcode STRASSE Straße", []string{"ünïcode", "strass", "straße"}},
		{"nai\u0308ve", []string{"nai\u0308ve"}},
		{"日本語のファイル", []string{"日", "本", "語", "の", "フ", "ァ", "イ", "ル"}},
		{"file名前", []string{"fil", "名", "前"}},
		{"bad\xffutf8", []string{"bad", "utf", "8"}},
		{strings.Repeat("x", maxTermBytes+1) + " kept", []string{"kept"}},
		{strings.Repeat("x", maxTermBytes), []string{strings.Repeat("x", maxTermBytes)}},
		{"", nil},
		{"  -- __ ", nil},
	}
	for _, tt := range tests {
		if got := terms(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("terms(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStem(t *testing.T) {
	// Each group must share one root.
	groups := [][]string{
		{"issue", "issues"},
		{"create", "creates", "created", "creating"},
		{"query", "queries"},
		{"directory", "directories"},
		{"copy", "copied", "copies"},
		{"run", "running"},
		{"map", "mapped", "mapping"},
		{"add", "adding", "added"},
		{"set", "setting", "settings"},
		{"address", "addresses"},
		{"box", "boxes"},
		{"cache", "caches", "cached"},
		{"message", "messages"},
		{"list", "lists", "listed", "listing"},
		{"file", "files", "filed"},
		{"status", "statuses"},
		{"bus", "buses"},
		{"api", "apis"},
		{"call", "calls", "called", "calling"},
		{"commit", "commits", "committed"},
	}
	for _, g := range groups {
		root := string(stem([]byte(g[0])))
		for _, w := range g[1:] {
			if got := string(stem([]byte(w))); got != root {
				t.Errorf("stem(%q) = %q, want %q like stem(%q)", w, got, root, g[0])
			}
		}
	}
	// Words that only look inflected stay whole.
	for _, w := range []string{"string", "analysis", "class", "status", "thing", "seed", "need", "ünïcodes", "id", "use"} {
		if got := string(stem([]byte(w))); got != w {
			t.Errorf("stem(%q) = %q, want it unchanged", w, got)
		}
	}
}
