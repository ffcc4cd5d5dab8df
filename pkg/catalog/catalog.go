// Package catalog holds immutable snapshots of what the hub can reach: the
// tools, resources, resource templates and prompts of every downstream server,
// under exported names that OpenAI accepts. It does no I/O; the hub builds a
// new Snapshot whenever a server's lists change and swaps it in atomically, so
// readers never lock.
package catalog

import "encoding/json"

// Tool is one downstream tool exactly as its server sent it.
type Tool struct {
	Server      string          // server name (config name, unique)
	Name        string          // the tool's name on its server
	Exported    string          // unique, OpenAI-valid name (filled by Build)
	Description string          // the tool's description, for function schemas
	InputSchema json.RawMessage // inputSchema exactly as sent (never re-encoded through typed structs)
	Raw         json.RawMessage // the whole tool object as sent (title, annotations, outputSchema, _meta…)
}

// Resource is one downstream resource; Raw is the object as sent.
type Resource struct {
	Server, URI, Name string
	Raw               json.RawMessage
}

// ResourceTemplate is one downstream resource template; Raw is the object as sent.
type ResourceTemplate struct {
	Server, URITemplate, Name string
	Raw                       json.RawMessage
}

// Prompt is one downstream prompt. Exported follows the same rule as tool
// names, in a namespace of its own.
type Prompt struct {
	Server, Name, Exported string
	Raw                    json.RawMessage
}

// ServerCatalog is what one server offered at its last discovery.
type ServerCatalog struct {
	Server            string
	Tools             []Tool
	Resources         []Resource
	ResourceTemplates []ResourceTemplate
	Prompts           []Prompt
}

// QualifiedName names an item by its server and its name there (for
// resources, Name is the URI).
type QualifiedName struct{ Server, Name string }

// Collision records distinct items that wanted the same exported name (or,
// for resources, the same URI).
type Collision struct {
	Exported string          // the contested name, which none of the members got
	Members  []QualifiedName // sorted by server, then name
}

// Snapshot is an immutable view of the whole catalog, built by Build.
//
// A nil or zero Snapshot is empty and safe to query. Methods returning slices
// return the snapshot's own backing arrays (capacity-capped, so append copies)
// to keep reads allocation-free: callers must not modify the elements, nor the
// bytes of their Raw and InputSchema fields. All methods are safe for
// concurrent use.
type Snapshot struct {
	sep     string
	servers []string

	tools       []Tool
	toolIndex   map[string]int32 // exported, "server.tool" and server+sep+tool → index; ambiguous aliases are -1
	serverTools map[string]span
	collisions  []Collision

	resources          []Resource
	resourceIndex      map[string]int32
	resourceCollisions []Collision
	templates          []ResourceTemplate

	prompts          []Prompt
	promptIndex      map[string]int32
	promptCollisions []Collision

	search searchState // the search index, built on first Search (search.go)
}

// span is the half-open range of one server's items in a sorted slice.
type span struct{ lo, hi int32 }

// ambiguous marks an alias key that two items share, so it resolves to none:
// guessing could call the wrong tool.
const ambiguous = -1

// Separator returns the separator the snapshot was built with.
func (s *Snapshot) Separator() string {
	if s == nil {
		return ""
	}
	return s.sep
}

// Servers returns the server names, sorted, including servers that offered nothing.
func (s *Snapshot) Servers() []string {
	if s == nil {
		return nil
	}
	return capped(s.servers)
}

// Tools returns every tool, sorted by server name then tool name.
func (s *Snapshot) Tools() []Tool {
	if s == nil {
		return nil
	}
	return capped(s.tools)
}

// ServerTools returns one server's tools, sorted by name (nil if none).
func (s *Snapshot) ServerTools(server string) []Tool {
	if s == nil {
		return nil
	}
	sp, ok := s.serverTools[server]
	if !ok {
		return nil
	}
	return s.tools[sp.lo:sp.hi:sp.hi]
}

// Tool finds a tool by its exported name, by the seed form "server.tool", or
// by server+sep+tool with the raw (unsanitized) names. The exported name
// always wins; an alias that two tools share finds neither. It is one map
// lookup and does not allocate.
func (s *Snapshot) Tool(name string) (Tool, bool) {
	if s == nil {
		return Tool{}, false
	}
	i, ok := s.toolIndex[name]
	if !ok || i < 0 {
		return Tool{}, false
	}
	return s.tools[i], true
}

// Collisions returns the tool-name collisions, sorted by contested name.
func (s *Snapshot) Collisions() []Collision {
	if s == nil {
		return nil
	}
	return capped(s.collisions)
}

// Resources returns every resource, sorted by server name then URI.
func (s *Snapshot) Resources() []Resource {
	if s == nil {
		return nil
	}
	return capped(s.resources)
}

// Resource finds a resource by URI. When several servers offer the same URI
// the first server in name order answers, and ResourceCollisions reports it.
func (s *Snapshot) Resource(uri string) (Resource, bool) {
	if s == nil {
		return Resource{}, false
	}
	i, ok := s.resourceIndex[uri]
	if !ok {
		return Resource{}, false
	}
	return s.resources[i], true
}

// ResourceCollisions returns URIs offered by more than one server; Exported
// is the URI and each member's Name is the URI too.
func (s *Snapshot) ResourceCollisions() []Collision {
	if s == nil {
		return nil
	}
	return capped(s.resourceCollisions)
}

// ResourceTemplates returns every resource template, sorted by server name then URI template.
func (s *Snapshot) ResourceTemplates() []ResourceTemplate {
	if s == nil {
		return nil
	}
	return capped(s.templates)
}

// Prompts returns every prompt, sorted by server name then prompt name.
func (s *Snapshot) Prompts() []Prompt {
	if s == nil {
		return nil
	}
	return capped(s.prompts)
}

// Prompt finds a prompt by the same three forms as Tool.
func (s *Snapshot) Prompt(name string) (Prompt, bool) {
	if s == nil {
		return Prompt{}, false
	}
	i, ok := s.promptIndex[name]
	if !ok || i < 0 {
		return Prompt{}, false
	}
	return s.prompts[i], true
}

// PromptCollisions returns the prompt-name collisions, sorted by contested name.
func (s *Snapshot) PromptCollisions() []Collision {
	if s == nil {
		return nil
	}
	return capped(s.promptCollisions)
}

// capped returns v with its capacity cut to its length, so a caller's append
// reallocates instead of writing into the snapshot.
func capped[T any](v []T) []T {
	if v == nil {
		return nil
	}
	return v[:len(v):len(v)]
}
