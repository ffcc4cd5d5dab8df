// Package swagger2openapi builds mcphub's OpenAPI 3 document (openapi.yaml)
// from the Swagger 2.0 one swag writes from the handlers' annotations
// (docs/swagger.json): kin-openapi's openapi2conv converts it, and Convert
// then says what Swagger 2.0 cannot, so that the document describes what
// the server really sends:
//
//   - servers: the hub's default listen address, as a variable;
//   - an API key sent in the Authorization header (Swagger 2.0's way to say
//     bearer token) becomes an HTTP bearer security scheme, and an operation
//     without security requirements says so (`security: []`: it needs none);
//   - error answers are JSON whatever the operation produces (an SSE
//     endpoint's 400 is application/json, not text/event-stream);
//   - a property marked `extensions:"x-json-string"` in a swag struct tag
//     takes its object or the object JSON-encoded in a string (tool-call
//     arguments, as OpenAI returns them);
//   - conversion leftovers (x-originalParamName) are dropped.
//
// It refuses a document it cannot trust: one that kin-openapi finds
// invalid, or with an object schema that describes nothing (swag logs a
// type it cannot parse and writes an empty object in its place).
//
// The output is deterministic: the same input gives the same bytes.
package swagger2openapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/mcphub/mcphub/pkg/config"
)

// jsonStringExt marks a property that also takes its value JSON-encoded in
// a string.
const jsonStringExt = "x-json-string"

// Convert returns openapi.yaml for the Swagger 2.0 document swagger (JSON).
func Convert(swagger []byte) ([]byte, error) {
	var doc2 openapi2.T
	if err := json.Unmarshal(swagger, &doc2); err != nil {
		return nil, fmt.Errorf("reading the Swagger 2.0 document: %w", err)
	}
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("converting to OpenAPI 3: %w", err)
	}
	if c := doc.Info.Contact; c != nil && c.Name == "" && c.URL == "" && c.Email == "" && len(c.Extensions) == 0 {
		doc.Info.Contact = nil // swag writes an empty one
	}
	doc.Servers = openapi3.Servers{{
		URL:         "http://{listen}",
		Description: "the hub; it also serves this document at /openapi.yaml",
		Variables: map[string]*openapi3.ServerVariable{
			"listen": {
				Default:     config.DefaultListen,
				Description: "the hub's listen address (`listen` in its configuration)",
			},
		},
	}}
	for _, ref := range doc.Components.SecuritySchemes {
		if s := ref.Value; s != nil && s.Type == "apiKey" && s.In == "header" && strings.EqualFold(s.Name, "Authorization") {
			ref.Value = &openapi3.SecurityScheme{Type: "http", Scheme: "bearer", Description: s.Description, Extensions: s.Extensions}
		}
	}
	open := len(doc.Components.SecuritySchemes) > 0 && len(doc.Security) == 0
	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			if open && op.Security == nil {
				op.Security = &openapi3.SecurityRequirements{}
			}
			if err := fixOperation(op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
		}
	}
	names := make([]string, 0, len(doc.Components.Schemas))
	for name := range doc.Components.Schemas {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if err := fixSchema(doc.Components.Schemas[name], name); err != nil {
			return nil, err
		}
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the converted document is not valid OpenAPI: %w", err)
	}
	return marshalYAML(doc)
}

// fixOperation makes every error answer JSON and drops what the conversion
// leaves behind.
func fixOperation(op *openapi3.Operation) error {
	if rb := op.RequestBody; rb != nil && rb.Value != nil {
		delete(rb.Value.Extensions, "x-originalParamName")
	}
	for code, ref := range op.Responses.Map() {
		status, err := strconv.Atoi(code)
		if err != nil || ref.Value == nil || status < 400 {
			continue
		}
		var schema *openapi3.SchemaRef
		for _, mt := range ref.Value.Content {
			if mt.Schema != nil {
				schema = mt.Schema
			}
		}
		if schema == nil {
			return fmt.Errorf("the %s answer has no body schema: every error answer is JSON", code)
		}
		ref.Value.Content = openapi3.NewContentWithJSONSchemaRef(schema)
	}
	return nil
}

// fixSchema checks that the component schema says something and rewrites
// x-json-string properties.
func fixSchema(ref *openapi3.SchemaRef, name string) error {
	s := ref.Value
	if s == nil {
		return fmt.Errorf("schema %s: no value", name)
	}
	if s.Type.Is(openapi3.TypeObject) && len(s.Properties) == 0 && s.AdditionalProperties.Schema == nil &&
		s.AdditionalProperties.Has == nil && len(s.OneOf)+len(s.AnyOf)+len(s.AllOf) == 0 {
		return fmt.Errorf("schema %s is an object with no properties: swag could not parse the type "+
			"(run `go tool swag init` without -q to see why)", name)
	}
	props := make([]string, 0, len(s.Properties))
	for p := range s.Properties {
		props = append(props, p)
	}
	slices.Sort(props)
	for _, p := range props {
		prop := s.Properties[p]
		if prop.Ref != "" || prop.Value == nil {
			continue
		}
		v, ok := prop.Value.Extensions[jsonStringExt]
		if !ok {
			continue
		}
		if v != true {
			return fmt.Errorf("schema %s, property %s: %s must be true, is %v", name, p, jsonStringExt, v)
		}
		delete(prop.Value.Extensions, jsonStringExt)
		s.Properties[p] = orJSONString(prop.Value)
	}
	return nil
}

// orJSONString is s, or a string holding s's value as JSON.
func orJSONString(s *openapi3.Schema) *openapi3.SchemaRef {
	value := *s
	value.Description = ""
	str := openapi3.NewStringSchema()
	str.Description = "the same, JSON-encoded in a string"
	return openapi3.NewSchemaRef("", &openapi3.Schema{
		Description: s.Description,
		OneOf:       openapi3.SchemaRefs{openapi3.NewSchemaRef("", &value), openapi3.NewSchemaRef("", str)},
	})
}

// keyOrder ranks the keys of the mappings people read first; other keys
// follow in sorted order.
var keyOrder = map[string][]string{
	"root":      {"openapi", "info", "servers", "security", "tags", "paths", "components"},
	"info":      {"title", "version", "description"},
	"operation": {"tags", "summary", "operationId", "description", "security", "parameters", "requestBody", "responses"},
	"tag":       {"name", "description"},
	"server":    {"url", "description"},
}

// marshalYAML writes doc as YAML, indented by two, with the keys of each
// mapping sorted (by keyOrder where it has a rank).
func marshalYAML(doc *openapi3.T) ([]byte, error) {
	js, err := json.Marshal(doc) // map keys come out sorted
	if err != nil {
		return nil, err
	}
	var root yaml.Node
	if err := yaml.Unmarshal(js, &root); err != nil {
		return nil, err
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 {
		return nil, errors.New("marshalling: unexpected YAML node")
	}
	top := root.Content[0]
	plainStyle(top)
	reorder(top, keyOrder["root"])
	if info := lookup(top, "info"); info != nil {
		reorder(info, keyOrder["info"])
	}
	for _, list := range []string{"tags", "servers"} {
		if seq := lookup(top, list); seq != nil {
			for _, item := range seq.Content {
				reorder(item, keyOrder[strings.TrimSuffix(list, "s")])
			}
		}
	}
	if paths := lookup(top, "paths"); paths != nil {
		for i := 1; i < len(paths.Content); i += 2 {
			item := paths.Content[i]
			for j := 1; j < len(item.Content); j += 2 {
				if item.Content[j].Kind == yaml.MappingNode {
					reorder(item.Content[j], keyOrder["operation"])
				}
			}
		}
	}
	var buf bytes.Buffer
	buf.WriteString("# Generated by `make docs` from the handlers' swag annotations (api/*.go):\n" +
		"# docs/swagger.json converted to OpenAPI 3 by internal/swagger2openapi. Do not edit.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// plainStyle gives every node YAML's block style, as read from JSON they
// are all flow style and quoted. The encoder still quotes a string that
// would read as another type; one of several lines becomes a literal block.
func plainStyle(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && strings.Contains(n.Value, "\n") {
		n.Style = yaml.LiteralStyle
	}
	for _, c := range n.Content {
		plainStyle(c)
	}
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// reorder moves the ranked keys of mapping m to the front, in rank order;
// the others keep their order.
func reorder(m *yaml.Node, ranked []string) {
	if m.Kind != yaml.MappingNode {
		return
	}
	rank := func(key string) int {
		if i := slices.Index(ranked, key); i >= 0 {
			return i
		}
		return len(ranked)
	}
	type pair struct{ k, v *yaml.Node }
	pairs := make([]pair, 0, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		pairs = append(pairs, pair{m.Content[i], m.Content[i+1]})
	}
	slices.SortStableFunc(pairs, func(a, b pair) int { return rank(a.k.Value) - rank(b.k.Value) })
	m.Content = m.Content[:0]
	for _, p := range pairs {
		m.Content = append(m.Content, p.k, p.v)
	}
}
