package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// nodeKind is the shape of a document value.
type nodeKind uint8

const (
	kindNull nodeKind = iota
	kindString
	kindNumber
	kindBool
	kindMap
	kindList
)

func (k nodeKind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindString:
		return "string"
	case kindNumber:
		return "number"
	case kindBool:
		return "boolean"
	case kindMap:
		return "mapping"
	default:
		return "list"
	}
}

// node is a format-neutral document tree. It exists because viper
// lower-cases keys and forgets their order; this keeps both (server, env and
// header names are case-sensitive, servers keep file order) and the line of
// every value for messages.
type node struct {
	kind nodeKind
	line int
	// text is a scalar's literal text (numbers and booleans too).
	text string
	// keys, keyLines and vals hold a mapping in document order.
	keys     []string
	keyLines []int
	vals     []*node
	// items holds a list.
	items []*node
}

// get returns a mapping's value for key and the key's line.
func (n *node) get(key string) (*node, int, bool) {
	if n == nil || n.kind != kindMap {
		return nil, 0, false
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i], n.keyLines[i], true
		}
	}
	return nil, 0, false
}

func (n *node) isScalar() bool { return n.kind != kindMap && n.kind != kindList }

// Limits keep hostile input (alias bombs, deep nesting) cheap to reject.
const (
	maxNodes = 200_000
	maxDepth = 64
)

// parseError is a syntax error with the line it was found on (0 if unknown).
type parseError struct {
	line int
	msg  string
}

func (e *parseError) Error() string { return e.msg }

var errTooLarge = errors.New("document too large (too many values or aliases)")

// parseYAML parses a single YAML document. An empty document is an empty mapping.
func parseYAML(data []byte) (*node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &node{kind: kindMap, line: 1}, nil
		}
		return nil, yamlError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, &parseError{line: extra.Line, msg: "only one YAML document per file is supported"}
	}
	b := yamlBuilder{active: map[*yaml.Node]bool{}}
	root, err := b.convert(&doc, 0)
	if err != nil {
		return nil, err
	}
	if root.kind == kindNull {
		return &node{kind: kindMap, line: root.line}, nil
	}
	return root, nil
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into a parseError carrying its line.
func yamlError(err error) error {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &parseError{line: line, msg: m[2]}
	}
	return &parseError{msg: msg}
}

type yamlBuilder struct {
	count int
	// active holds the alias targets being expanded, to refuse cycles.
	active map[*yaml.Node]bool
}

func (b *yamlBuilder) convert(y *yaml.Node, depth int) (*node, error) {
	b.count++
	if b.count > maxNodes {
		return nil, &parseError{line: y.Line, msg: errTooLarge.Error()}
	}
	if depth > maxDepth {
		return nil, &parseError{line: y.Line, msg: "values nested too deeply"}
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return &node{kind: kindNull, line: y.Line}, nil
		}
		return b.convert(y.Content[0], depth)
	case yaml.AliasNode:
		if y.Alias == nil || b.active[y.Alias] {
			return nil, &parseError{line: y.Line, msg: fmt.Sprintf("alias *%s refers to itself", y.Value)}
		}
		b.active[y.Alias] = true
		defer delete(b.active, y.Alias)
		return b.convert(y.Alias, depth+1)
	case yaml.ScalarNode:
		n := &node{kind: kindString, line: y.Line, text: y.Value}
		switch y.ShortTag() {
		case "!!null":
			n.kind = kindNull
		case "!!bool":
			n.kind = kindBool
		case "!!int", "!!float":
			n.kind = kindNumber
		}
		return n, nil
	case yaml.SequenceNode:
		n := &node{kind: kindList, line: y.Line}
		for _, c := range y.Content {
			item, err := b.convert(c, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, item)
		}
		return n, nil
	case yaml.MappingNode:
		return b.mapping(y, depth)
	}
	return nil, &parseError{line: y.Line, msg: "unsupported YAML node"}
}

// mapping converts a YAML mapping, applying merge keys ("<<: *base"):
// explicit keys win over merged ones, earlier merged mappings over later.
func (b *yamlBuilder) mapping(y *yaml.Node, depth int) (*node, error) {
	n := &node{kind: kindMap, line: y.Line}
	explicit := map[string]int{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		k := y.Content[i]
		if k.Kind != yaml.ScalarNode {
			return nil, &parseError{line: k.Line, msg: "mapping keys must be strings"}
		}
		if isMergeKey(k) {
			continue
		}
		if first, dup := explicit[k.Value]; dup {
			return nil, &parseError{line: k.Line, msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, first)}
		}
		explicit[k.Value] = k.Line
	}
	added := map[string]bool{}
	for i := 0; i+1 < len(y.Content); i += 2 {
		k, v := y.Content[i], y.Content[i+1]
		if !isMergeKey(k) {
			val, err := b.convert(v, depth+1)
			if err != nil {
				return nil, err
			}
			n.keys, n.keyLines, n.vals = append(n.keys, k.Value), append(n.keyLines, k.Line), append(n.vals, val)
			continue
		}
		src, err := b.convert(v, depth+1)
		if err != nil {
			return nil, err
		}
		sources := []*node{src}
		if src.kind == kindList {
			sources = src.items
		}
		for _, s := range sources {
			if s.kind != kindMap {
				return nil, &parseError{line: k.Line, msg: "merge key value must be a mapping or a list of mappings"}
			}
			for j, key := range s.keys {
				if _, ok := explicit[key]; ok || added[key] {
					continue
				}
				added[key] = true
				n.keys, n.keyLines, n.vals = append(n.keys, key), append(n.keyLines, s.keyLines[j]), append(n.vals, s.vals[j])
			}
		}
	}
	return n, nil
}

func isMergeKey(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge"
}

// parseJSON parses one JSON value with a token decoder, which (unlike
// json.Unmarshal into a map) keeps key order and gives offsets for lines.
func parseJSON(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonBuilder{dec: dec, data: data, line: 1}
	root, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &parseError{line: p.lineAt(dec.InputOffset()), msg: "unexpected data after the top-level value"}
	}
	return root, nil
}

type jsonBuilder struct {
	dec   *json.Decoder
	data  []byte
	count int
	// off and line cache the last lineAt answer; offsets only grow.
	off  int64
	line int
}

func (p *jsonBuilder) lineAt(off int64) int {
	off = min(max(off, p.off), int64(len(p.data)))
	p.line += bytes.Count(p.data[p.off:off], []byte{'\n'})
	p.off = off
	return p.line
}

func (p *jsonBuilder) fail(err error) error {
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		return &parseError{line: p.lineAt(syn.Offset), msg: syn.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &parseError{line: p.lineAt(int64(len(p.data))), msg: "unexpected end of JSON input"}
	}
	return &parseError{line: p.lineAt(p.dec.InputOffset()), msg: err.Error()}
}

func (p *jsonBuilder) value(depth int) (*node, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.fail(err)
	}
	return p.fromToken(tok, depth)
}

func (p *jsonBuilder) fromToken(tok json.Token, depth int) (*node, error) {
	line := p.lineAt(p.dec.InputOffset())
	p.count++
	if p.count > maxNodes {
		return nil, &parseError{line: line, msg: errTooLarge.Error()}
	}
	if depth > maxDepth {
		return nil, &parseError{line: line, msg: "values nested too deeply"}
	}
	switch t := tok.(type) {
	case nil:
		return &node{kind: kindNull, line: line}, nil
	case bool:
		return &node{kind: kindBool, line: line, text: strconv.FormatBool(t)}, nil
	case json.Number:
		return &node{kind: kindNumber, line: line, text: t.String()}, nil
	case string:
		return &node{kind: kindString, line: line, text: t}, nil
	case json.Delim:
		if t == '[' {
			return p.list(line, depth)
		}
		if t == '{' {
			return p.object(line, depth)
		}
	}
	return nil, &parseError{line: line, msg: fmt.Sprintf("unexpected %v", tok)}
}

func (p *jsonBuilder) list(line, depth int) (*node, error) {
	n := &node{kind: kindList, line: line}
	for p.dec.More() {
		item, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, item)
	}
	if _, err := p.dec.Token(); err != nil { // the closing ']'
		return nil, p.fail(err)
	}
	return n, nil
}

func (p *jsonBuilder) object(line, depth int) (*node, error) {
	n := &node{kind: kindMap, line: line}
	seen := map[string]int{}
	for p.dec.More() {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, p.fail(err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, &parseError{line: p.lineAt(p.dec.InputOffset()), msg: "object keys must be strings"}
		}
		keyLine := p.lineAt(p.dec.InputOffset())
		// Unlike encoding/json, refuse duplicates: "last wins" inside one
		// file is almost always a copy-paste mistake.
		if first, dup := seen[key]; dup {
			return nil, &parseError{line: keyLine, msg: fmt.Sprintf("duplicate key %q (first at line %d)", key, first)}
		}
		seen[key] = keyLine
		val, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		n.keys, n.keyLines, n.vals = append(n.keys, key), append(n.keyLines, keyLine), append(n.vals, val)
	}
	if _, err := p.dec.Token(); err != nil { // the closing '}'
		return nil, p.fail(err)
	}
	return n, nil
}
