package catalog

import (
	"encoding/json"
	"strings"
)

// eachProperty calls fn with the name and description ("" if none) of each
// top-level property of a JSON Schema object, in order, and reports whether
// schema looked like JSON. Keys match exactly. It is a small scanner rather
// than encoding/json, which took most of the time of indexing a catalog.
func eachProperty(schema string, fn func(name, desc string)) bool {
	w := jsonWalker{s: schema}
	w.object(func(key string) {
		if key != "properties" {
			w.skip()
			return
		}
		w.object(func(name string) {
			var desc string
			w.object(func(key string) {
				if key == "description" && w.peek() == '"' {
					desc = w.str()
				} else {
					w.skip()
				}
			})
			fn(name, desc)
		})
	})
	return !w.bad && w.peek() == 0
}

// jsonWalker reads JSON one value at a time. It checks the structure
// (brackets, strings, separators) but not literals, numbers or escapes:
// enough to tell a schema from garbage in one pass.
type jsonWalker struct {
	s   string
	bad bool
}

// peek skips whitespace and returns the next byte, or 0 at the end.
func (w *jsonWalker) peek() byte {
	for len(w.s) > 0 {
		switch w.s[0] {
		case ' ', '\t', '\r', '\n':
			w.s = w.s[1:]
		default:
			return w.s[0]
		}
	}
	return 0
}

// object calls member with each key of the object that comes next, with the
// walker at the member's value, which member must consume. A value that is
// not an object is skipped.
func (w *jsonWalker) object(member func(key string)) {
	if w.peek() != '{' {
		w.skip()
		return
	}
	w.s = w.s[1:]
	for !w.bad {
		switch w.peek() {
		case ',':
			w.s = w.s[1:]
		case '"':
			key := w.str()
			if w.peek() != ':' {
				w.bad = true
				return
			}
			w.s = w.s[1:]
			member(key)
		case '}':
			w.s = w.s[1:]
			return
		default:
			w.bad = true
		}
	}
}

// str consumes a string and returns its contents, unescaped.
func (w *jsonWalker) str() string {
	start := w.s
	w.skipString()
	raw := start[:len(start)-len(w.s)]
	if w.bad || strings.IndexByte(raw, '\\') < 0 {
		return strings.TrimSuffix(raw[1:], `"`)
	}
	var s string
	_ = json.Unmarshal([]byte(raw), &s) // an invalid escape leaves "": nothing to index
	return s
}

func (w *jsonWalker) skipString() {
	for i := 1; i < len(w.s); i++ {
		switch w.s[i] {
		case '\\':
			i++
		case '"':
			w.s = w.s[i+1:]
			return
		}
	}
	w.s, w.bad = "", true
}

// skip consumes one value of any kind.
func (w *jsonWalker) skip() {
	switch w.peek() {
	case '"':
		w.skipString()
	case '{', '[':
		for depth := 0; len(w.s) > 0 && !w.bad; {
			switch w.s[0] {
			case '"':
				w.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					w.s = w.s[1:]
					return
				}
			}
			w.s = w.s[1:]
		}
		w.bad = true
	default: // number, true, false, null
		n := len(w.s)
		for len(w.s) > 0 && !strings.ContainsRune(",:{}[]\" \t\r\n", rune(w.s[0])) {
			w.s = w.s[1:]
		}
		w.bad = w.bad || len(w.s) == n
	}
}
