package approval

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds nesting, as encoding/json does, so hostile input cannot
// exhaust the stack.
const maxDepth = 10000

// Digest returns the canonical form of the JSON value args and the sha256
// of that form in lower-case hex. Two spellings of the same value give the
// same digest:
//
//   - insignificant whitespace is removed;
//   - object keys are sorted by the bytes of their UTF-8 (recursively);
//   - strings are re-encoded: only '"', '\\' and control characters are
//     escaped (as \b \f \n \r \t or \u00xx), everything else is written as
//     UTF-8, so "\u00e9" and "é" are the same; invalid UTF-8 becomes U+FFFD;
//   - numbers are kept exactly as written, never converted to floating
//     point, so large integers survive, and 1, 1.0 and 1e0 are different
//     values (as they may well be to the tool).
//
// Empty input (or only whitespace) stands for no arguments and is the same
// as {}; null is kept as null. An object with a duplicate key is refused:
// tools would disagree on which value counts, and the approver must see
// exactly what runs. The format resembles RFC 8785 but is not it (keys are
// not sorted by UTF-16 and numbers are not reformatted).
func Digest(args json.RawMessage) (canonical json.RawMessage, digest string, err error) {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	v, err := readValue(dec, 0)
	if err != nil {
		return nil, "", fmt.Errorf("approval: arguments: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "", errors.New("approval: arguments: unexpected data after the JSON value")
	}
	var b bytes.Buffer
	b.Grow(len(args))
	writeValue(&b, v)
	sum := sha256.Sum256(b.Bytes())
	return b.Bytes(), hex.EncodeToString(sum[:]), nil
}

// member is one object member, in document order until sorted.
type member struct {
	key string
	val any
}

// object is a decoded JSON object; other values decode to string,
// json.Number, bool, nil and []any.
type object []member

func readValue(dec *json.Decoder, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil // string, json.Number, bool or nil
	}
	if depth >= maxDepth {
		return nil, errors.New("values nested too deeply")
	}
	switch d {
	case '[':
		var items []any
		for dec.More() {
			v, err := readValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		return items, closing(dec)
	case '{':
		var obj object
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := tok.(string) // Token allows only strings here
			v, err := readValue(dec, depth+1)
			if err != nil {
				return nil, err
			}
			obj = append(obj, member{key, v})
		}
		if err := closing(dec); err != nil {
			return nil, err
		}
		slices.SortStableFunc(obj, func(a, b member) int { return strings.Compare(a.key, b.key) })
		for i := 1; i < len(obj); i++ {
			if obj[i].key == obj[i-1].key {
				return nil, fmt.Errorf("duplicate key %q", obj[i].key)
			}
		}
		return obj, nil
	}
	return nil, fmt.Errorf("unexpected %v", d)
}

// closing reads the ']' or '}' that ends a list or object.
func closing(dec *json.Decoder) error {
	if _, err := dec.Token(); err != nil {
		if errors.Is(err, io.EOF) {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

func writeValue(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if v {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case json.Number:
		b.WriteString(string(v))
	case string:
		writeString(b, v)
	case []any:
		b.WriteByte('[')
		for i, item := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeValue(b, item)
		}
		b.WriteByte(']')
	case object:
		b.WriteByte('{')
		for i, m := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, m.key)
			b.WriteByte(':')
			writeValue(b, m.val)
		}
		b.WriteByte('}')
	}
}

// writeString writes s as a JSON string, escaping only what JSON requires.
func writeString(b *bytes.Buffer, s string) {
	const hexDigits = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, w := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && w == 1 {
				b.WriteRune(utf8.RuneError) // the decoder already does this; be sure
			} else {
				b.WriteString(s[i : i+w])
			}
			i += w
			continue
		}
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 {
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&0xf])
			} else {
				b.WriteByte(c)
			}
		}
		i++
	}
	b.WriteByte('"')
}
