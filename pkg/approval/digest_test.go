package approval

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestDigestCanonical(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"a":1,"b":2}`, `{"a":1,"b":2}`},
		{"{ \"b\" : 2 ,\n\t\"a\": 1 }", `{"a":1,"b":2}`},
		{`{"z":{"y":[3,{"d":null,"c":true}],"x":false},"a":[]}`, `{"a":[],"z":{"x":false,"y":[3,{"c":true,"d":null}]}}`},
		{`{"n":12345678901234567890123,"f":1.50,"e":-1E+3}`, `{"e":-1E+3,"f":1.50,"n":12345678901234567890123}`},
		{`"\u00e9\u0041\/\u2028<&>"`, "\"\u00e9A/\u2028<&>\""},
		{`"tab\there \"q\" back\\slash \u0001 \u001f \u007f"`, "\"tab\\there \\\"q\\\" back\\\\slash \\u0001 \\u001f \u007f\""},
		{`"\ud800"`, "\"\ufffd\""},
		{`{"b":1,"B":2,"é":3,"a":4}`, `{"B":2,"a":4,"b":1,"é":3}`},
		{"", `{}`},
		{"  \n ", `{}`},
		{"null", `null`},
		{" [ 1 , \"x\" ] ", `[1,"x"]`},
	}
	for _, tt := range tests {
		canon, digest, err := Digest(json.RawMessage(tt.in))
		if err != nil {
			t.Errorf("Digest(%q): %v", tt.in, err)
			continue
		}
		if string(canon) != tt.want {
			t.Errorf("Digest(%q) canonical = %s, want %s", tt.in, canon, tt.want)
		}
		if len(digest) != 64 || strings.ToLower(digest) != digest {
			t.Errorf("digest %q is not lower-case sha256 hex", digest)
		}
	}
}

func TestDigestSameAndDifferent(t *testing.T) {
	digest := func(s string) string {
		t.Helper()
		_, d, err := Digest(json.RawMessage(s))
		if err != nil {
			t.Fatalf("Digest(%q): %v", s, err)
		}
		return d
	}
	same := [][2]string{
		{`{"a":1,"b":2}`, `{ "b":2, "a":1 }`},
		{`{"s":"é"}`, `{"s":"\u00e9"}`},
		{``, `{}`},
		{`{"a":{"c":1,"b":2}}`, `{"a":{"b":2,"c":1}}`},
	}
	for _, p := range same {
		if digest(p[0]) != digest(p[1]) {
			t.Errorf("%s and %s differ", p[0], p[1])
		}
	}
	different := [][2]string{
		{`{"a":1}`, `{"a":1.0}`}, // numbers are kept as written
		{`{"a":1}`, `{"a":"1"}`},
		{`[1,2]`, `[2,1]`},
		{`{}`, `null`},
		{`{"a":0}`, `{"a":-0}`},
	}
	for _, p := range different {
		if digest(p[0]) == digest(p[1]) {
			t.Errorf("%s and %s have the same digest", p[0], p[1])
		}
	}
}

func TestDigestErrors(t *testing.T) {
	for _, in := range []string{
		`{"a":1,"a":2}`,
		`{"a":{"b":1,"b":1}}`,
		`{"a":1`,
		`{"a" 1}`,
		`[1,]`,
		`{} {}`,
		`{}x`,
		`01`,
		`NaN`,
		`'a'`,
		strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1),
	} {
		if c, d, err := Digest(json.RawMessage(in)); err == nil {
			t.Errorf("Digest(%.40q) = %s, %s; want an error", in, c, d)
		}
	}
	deep := strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth)
	if _, _, err := Digest(json.RawMessage(deep)); err != nil {
		t.Errorf("nesting at the limit: %v", err)
	}
}

// decodeNumbers is json.Unmarshal into any, numbers kept as json.Number.
func decodeNumbers(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// permuted writes v (as readValue decodes it) with object members in
// reverse order and whitespace everywhere: the same value, spelled otherwise.
func permuted(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case []any:
		b.WriteString("[ ")
		for i, item := range v {
			if i > 0 {
				b.WriteString(" ,\n")
			}
			permuted(b, item)
		}
		b.WriteString(" ]")
	case object:
		b.WriteString("{\t")
		for i := len(v) - 1; i >= 0; i-- {
			key, _ := json.Marshal(v[i].key) // encoding/json's escapes, not ours
			b.Write(key)
			b.WriteString(" : ")
			permuted(b, v[i].val)
			if i > 0 {
				b.WriteString(" , ")
			}
		}
		b.WriteString(" }")
	case string:
		s, _ := json.Marshal(v)
		b.Write(s)
	default:
		writeValue(b, v)
	}
}

// FuzzDigest: Digest never panics; what it accepts is valid JSON with the
// same value; its canonical form is a fixed point; and respelling the
// value (key order, whitespace, string escapes) keeps the digest.
func FuzzDigest(f *testing.F) {
	for _, seed := range []string{
		`{"a":1,"b":2}`, `{ "b":2, "a":1 }`, `{"x":[1,{"z":null,"y":"\u00e9\n"}],"w":1e400}`,
		`[]`, `""`, `"\ud800\udc00"`, `{"a":1,"a":2}`, `{"<":"&>"}`, "", "null", "[[[[", `{"":{"":""}}`,
		"\"\xff\xfe\"", `-0.0E-0`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		canon, digest, err := Digest(in)
		if err != nil {
			if len(bytes.TrimSpace(in)) > 0 && json.Valid(in) && !strings.Contains(err.Error(), "duplicate key") &&
				!strings.Contains(err.Error(), "nested too deeply") {
				t.Fatalf("Digest refused valid JSON %q: %v", in, err)
			}
			return
		}
		if !json.Valid(canon) {
			t.Fatalf("canonical form %q of %q is not JSON", canon, in)
		}
		if len(bytes.TrimSpace(in)) > 0 {
			a, errA := decodeNumbers(in)
			b, errB := decodeNumbers(canon)
			if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
				t.Fatalf("canonical form %q of %q is another value", canon, in)
			}
		}
		canon2, digest2, err := Digest(canon)
		if err != nil || !bytes.Equal(canon, canon2) || digest != digest2 {
			t.Fatalf("Digest(canonical) = %q, %s, %v; want %q, %s", canon2, digest2, err, canon, digest)
		}
		dec := json.NewDecoder(bytes.NewReader(canon))
		dec.UseNumber()
		v, err := readValue(dec, 0)
		if err != nil {
			t.Fatal(err)
		}
		var p bytes.Buffer
		permuted(&p, v)
		if _, digest3, err := Digest(p.Bytes()); err != nil || digest3 != digest {
			t.Fatalf("respelled %q: digest %s, %v; want %s", p.Bytes(), digest3, err, digest)
		}
	})
}
