package rawjson

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestObject(t *testing.T) {
	in := []byte(" {\"a\" : 1 , \"b\":{\"c\":[1,\"]}\\\"\"]},\"d\\u0065\":\"x\\\"y\",\"e\":null,\"f\":true,\"g\":-1.5e3} ")
	ms, ok := Object(in)
	if !ok {
		t.Fatal("not an object")
	}
	want := []struct{ name, value string }{
		{"a", "1"}, {"b", `{"c":[1,"]}\""]}`}, {"de", `"x\"y"`}, {"e", "null"}, {"f", "true"}, {"g", "-1.5e3"},
	}
	if len(ms) != len(want) {
		t.Fatalf("%d members: %q", len(ms), ms)
	}
	for i, w := range want {
		if string(ms[i].Name()) != w.name || string(ms[i].Value) != w.value {
			t.Errorf("member %d: %q = %q, want %q = %q", i, ms[i].Name(), ms[i].Value, w.name, w.value)
		}
	}
	if ms, ok := Object([]byte(`{}`)); !ok || len(ms) != 0 {
		t.Errorf("{}: %q %v", ms, ok)
	}
	for _, notObject := range []string{`[]`, `"{}"`, `1`, ``, `  `} {
		if _, ok := Object([]byte(notObject)); ok {
			t.Errorf("%q taken for an object", notObject)
		}
	}
}

// AppendObject appends to what dst holds, and splitting into a caller's
// stack array allocates nothing.
func TestAppendObject(t *testing.T) {
	in := []byte(`{"a":1,"b":[2],"c":"3"}`)
	ms, ok := AppendObject([]Member{{Key: []byte(`"x"`), Value: []byte(`0`)}}, in)
	if !ok || len(ms) != 4 || string(ms[0].Name()) != "x" || string(ms[3].Name()) != "c" || string(ms[2].Value) != "[2]" {
		t.Fatalf("%q %v", ms, ok)
	}
	if n := testing.AllocsPerRun(100, func() {
		var buf [8]Member
		if ms, ok := AppendObject(buf[:0], in); !ok || len(ms) != 3 {
			t.Fatal("split differs")
		}
	}); n != 0 {
		t.Errorf("%v allocations splitting into a stack array", n)
	}
}

func TestArray(t *testing.T) {
	es, ok := Array([]byte(` [ {"a":"]"} , [1,[2]], "s" ,3,null ] `))
	want := []string{`{"a":"]"}`, `[1,[2]]`, `"s"`, `3`, `null`}
	if !ok || len(es) != len(want) {
		t.Fatalf("%q %v", es, ok)
	}
	for i, w := range want {
		if string(es[i]) != w {
			t.Errorf("element %d = %q, want %q", i, es[i], w)
		}
	}
	if es, ok := Array([]byte(`[]`)); !ok || es == nil || len(es) != 0 {
		t.Errorf("[]: %q %v", es, ok)
	}
	if _, ok := Array([]byte(`{}`)); ok {
		t.Error("{} taken for an array")
	}
}

// FuzzSplit checks Object and Array against encoding/json on every valid
// input: the same members (last key wins, as in a decoded map) and the same
// elements, each byte for byte as encoding/json's RawMessage keeps it.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,"2",{"3":[4]}]`, `{"a":{"b":"\"}"},"a":2}`, `[ ]`, `{"\u0061":[true,false,null]}`, `"x"`, `12`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		var m map[string]json.RawMessage
		if json.Unmarshal(b, &m) == nil && m != nil {
			ms, ok := Object(b)
			if !ok {
				t.Fatalf("%q: not split as an object", b)
			}
			got := map[string][]byte{}
			for _, mm := range ms {
				got[string(mm.Name())] = mm.Value
			}
			if len(got) != len(m) {
				t.Fatalf("%q: %d names, encoding/json %d", b, len(got), len(m))
			}
			for k, v := range m {
				if !bytes.Equal(got[k], v) {
					t.Fatalf("%q: %q = %q, encoding/json %q", b, k, got[k], v)
				}
			}
		} else if _, ok := Object(b); ok {
			t.Fatalf("%q: split as an object", b)
		}
		var a []json.RawMessage
		if json.Unmarshal(b, &a) == nil && a != nil {
			es, ok := Array(b)
			if !ok || len(es) != len(a) {
				t.Fatalf("%q: %d elements (%v), encoding/json %d", b, len(es), ok, len(a))
			}
			for i := range a {
				if !bytes.Equal(es[i], a[i]) {
					t.Fatalf("%q: element %d = %q, encoding/json %q", b, i, es[i], a[i])
				}
			}
		} else if _, ok := Array(b); ok {
			t.Fatalf("%q: split as an array", b)
		}
	})
}

func TestString(t *testing.T) {
	for in, want := range map[string]string{
		`"plain"`: "plain", ` "a b" `: "a b", `"é"`: "é", `"x\"y"`: `x"y`, `"\u0041"`: "A", `""`: "",
	} {
		if got, ok := String([]byte(in)); !ok || got != want {
			t.Errorf("String(%s) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{`1`, `null`, `{}`, ``, `"`} {
		if got, ok := String([]byte(in)); ok {
			t.Errorf("String(%s) = %q, want not a string", in, got)
		}
	}
}

// A plain string costs only its copy; StringIs compares without one.
func TestStringAllocations(t *testing.T) {
	v := []byte(`"resource_link"`)
	if n := testing.AllocsPerRun(100, func() { _, _ = String(v) }); n > 1 {
		t.Errorf("String of a plain string: %v allocations, want at most 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = StringIs(v, "resource_link") }); n != 0 {
		t.Errorf("StringIs: %v allocations, want 0", n)
	}
	for _, tc := range []struct {
		v    string
		s    string
		want bool
	}{
		{`"text"`, "text", true}, {` "text" `, "text", true}, {`"t\u0065xt"`, "text", true},
		{`"texts"`, "text", false}, {`"Text"`, "text", false}, {`text`, "text", false}, {`1`, "1", false}, {`""`, "", true},
	} {
		if got := StringIs([]byte(tc.v), tc.s); got != tc.want {
			t.Errorf("StringIs(%s, %q) = %v", tc.v, tc.s, got)
		}
	}
}

// TestStringAsEncodingJSON: String decodes exactly as encoding/json does,
// the fast path included.
func TestStringAsEncodingJSON(t *testing.T) {
	for _, in := range []string{`""`, `"abc def"`, `"a\"b"`, `"a\\b"`, `"\u00e9"`, `"é"`, "\"a\tb\"", `"<b> & </b>"`, "\"\xff\""} {
		var want string
		if err := json.Unmarshal([]byte(in), &want); err != nil {
			continue // not a JSON string
		}
		if got, ok := String([]byte(in)); !ok || got != want {
			t.Errorf("String(%s) = %q, %v; encoding/json %q", in, got, ok, want)
		}
	}
}

// FuzzInvalid feeds any bytes, valid JSON or not: the split may be wrong
// for invalid input, but it must end, without a panic, in parts of the input.
func FuzzInvalid(f *testing.F) {
	for _, s := range []string{`{"a":1`, `["\`, `{::::}`, `[::]`, `{,,,}`, `[,,]`, `{"a"`, `{"a":`, `{1:2}`, `[{]`, `{"a":}`, `["x",`, `{"\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ms, _ := Object(b)
		for _, m := range ms {
			_ = m.Name()
			if len(m.Value) > len(b) || len(m.Key) > len(b) {
				t.Fatalf("%q: a part longer than the input", b)
			}
		}
		es, _ := Array(b)
		for _, e := range es {
			if len(e) > len(b) {
				t.Fatalf("%q: a part longer than the input", b)
			}
		}
		_, _ = String(b)
		_ = TrimSpace(b)
		_ = FirstByte(b)
	})
}
