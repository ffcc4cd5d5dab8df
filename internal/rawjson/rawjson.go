// Package rawjson splits JSON already known to be valid into its raw parts
// (an object's members, an array's elements) without decoding them: one
// scan that only finds where strings and nested values end, and parts that
// are subslices of the input. The hub reads large lists (5000 tool objects
// at a start) and keeps each part's bytes as sent; encoding/json would scan
// every byte several times and copy every part.
//
// The input must be valid JSON (json.Valid, or bytes encoding/json has
// decoded): the scanner does not check it. Given anything else it may split
// wrongly or report ok=false, but it neither panics nor loops (FuzzInvalid).
package rawjson

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Member is one member of an object: its key as written (quoted, escapes
// kept) and its value's bytes.
type Member struct{ Key, Value []byte }

// Name returns the unquoted key, as encoding/json decodes it. Keys with
// escapes (or bytes that are not UTF-8, which it replaces) are rare, so
// only they pay for json.Unmarshal; the others are a subslice.
func (m Member) Name() []byte {
	if bytes.IndexByte(m.Key, '\\') < 0 && utf8.Valid(m.Key) {
		return m.Key[1 : len(m.Key)-1]
	}
	var s string
	_ = json.Unmarshal(m.Key, &s) // valid: the object was
	return []byte(s)
}

// Object splits a valid JSON value into its members, in order; ok is false
// when the value is not an object.
func Object(b []byte) (members []Member, ok bool) {
	return AppendObject(make([]Member, 0, 8), b)
}

// AppendObject is Object appending to dst: a caller that only reads the
// members can split into an array of its own stack (var buf [8]Member;
// AppendObject(buf[:0], b)), which on the call path saves an allocation per
// object.
func AppendObject(dst []Member, b []byte) (members []Member, ok bool) {
	b = TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	members = dst
	for i := 1; ; {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == '}' {
			return members, true
		}
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		k := i
		i = skipValue(b, i)
		key := b[k:i]
		i = skipSpace(b, skipSpace(b, i)+1) // past ':'
		v := i
		i = skipValue(b, i)
		if i <= k || i > len(b) || len(key) < 2 { // invalid input: stop instead of panicking or looping
			return nil, false
		}
		members = append(members, Member{Key: key, Value: b[v:i:i]})
	}
}

// Array splits a valid JSON value into its elements, in order; ok is false
// when the value is not an array.
func Array(b []byte) (elems [][]byte, ok bool) {
	return AppendArray([][]byte{}, b)
}

// AppendArray is Array appending to dst, as AppendObject is Object.
func AppendArray(dst [][]byte, b []byte) (elems [][]byte, ok bool) {
	b = TrimSpace(b)
	if len(b) == 0 || b[0] != '[' {
		return nil, false
	}
	elems = dst
	for i := 1; ; {
		i = skipSpace(b, i)
		if i < len(b) && b[i] == ']' {
			return elems, true
		}
		if i < len(b) && b[i] == ',' {
			i = skipSpace(b, i+1)
		}
		v := i
		i = skipValue(b, i)
		if i <= v { // invalid input: stop instead of panicking or looping
			return nil, false
		}
		elems = append(elems, b[v:i:i])
	}
}

// TrimSpace cuts JSON whitespace (only these four bytes, unlike
// bytes.TrimSpace) from both ends of b.
func TrimSpace(b []byte) []byte {
	b = b[skipSpace(b, 0):]
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// FirstByte returns the first non-whitespace byte of b, or 0 when there is
// none.
func FirstByte(b []byte) byte {
	if i := skipSpace(b, 0); i < len(b) {
		return b[i]
	}
	return 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value starting at i.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	default: // number, true, false, null: runs until a delimiter
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n', ':':
				return i
			}
		}
		return i
	}
}

// skipString returns the index just past the string whose quote is at i.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return min(i, len(b)) // unterminated (invalid input), perhaps after a lone '\\'
}

// StringIs reports whether v is a JSON string whose value is s. A plain one
// is compared in place, without the copy String makes.
func StringIs(v []byte, s string) bool {
	v = TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 {
		return string(v[1:len(v)-1]) == s
	}
	got, ok := String(v)
	return ok && got == s
}

// String decodes a valid JSON string value; ok is false when the value is
// not a string. A plain one (printable ASCII, no escapes: most names and
// short texts) is copied out directly; others go through json.Unmarshal.
func String(v []byte) (s string, ok bool) {
	v = TrimSpace(v)
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	body := v[1 : len(v)-1]
	plain := true
	for _, c := range body {
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(body), true
	}
	// A variable of this path's own: Unmarshal's &s of the named result
	// moved it to the heap on every call, the plain ones too.
	var decoded string
	if json.Unmarshal(v, &decoded) != nil {
		return "", false
	}
	return decoded, true
}
