package catalog

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
)

// Build makes a Snapshot of servers, naming tools and prompts as described at
// ExportedName, with sep between server and item name (config's ToolNameSeparator,
// "__" by default; characters OpenAI rejects are sanitized in exported names).
//
// The result does not depend on the order of servers or of their lists:
// everything is sorted by server name then item name, entries sharing a server
// name are merged, and an item a server listed twice is kept once (the one
// whose Raw sorts first). Each item's Server field is set from its
// ServerCatalog. Build does not modify servers, but the snapshot shares the
// Raw and InputSchema bytes with it: callers hand those over and must not
// modify them afterwards.
func Build(servers []ServerCatalog, sep string) *Snapshot {
	s := &Snapshot{sep: sep}
	var nTools, nRes, nTmpl, nPrompts int
	for i := range servers {
		s.servers = append(s.servers, servers[i].Server)
		nTools += len(servers[i].Tools)
		nRes += len(servers[i].Resources)
		nTmpl += len(servers[i].ResourceTemplates)
		nPrompts += len(servers[i].Prompts)
	}
	slices.Sort(s.servers)
	s.servers = slices.Compact(s.servers)

	tools := make([]Tool, 0, nTools)
	resources := make([]Resource, 0, nRes)
	templates := make([]ResourceTemplate, 0, nTmpl)
	prompts := make([]Prompt, 0, nPrompts)
	// In server order: when each server's lists are sorted already (as a
	// caller that rebuilds often keeps them), so is their concatenation,
	// and sortUnique only checks it.
	order := make([]int, len(servers))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(servers[a].Server, servers[b].Server) })
	for _, i := range order {
		sc := &servers[i]
		for _, t := range sc.Tools {
			t.Server = sc.Server
			tools = append(tools, t)
		}
		for _, r := range sc.Resources {
			r.Server = sc.Server
			resources = append(resources, r)
		}
		for _, r := range sc.ResourceTemplates {
			r.Server = sc.Server
			templates = append(templates, r)
		}
		for _, p := range sc.Prompts {
			p.Server = sc.Server
			prompts = append(prompts, p)
		}
	}

	s.buildTools(tools)
	s.buildResources(resources)
	s.templates = sortUnique(templates, compareTemplates, func(a, b *ResourceTemplate) bool { return a.Server == b.Server && a.URITemplate == b.URITemplate })
	s.buildPrompts(prompts)
	return s
}

func (s *Snapshot) buildTools(tools []Tool) {
	tools = sortUnique(tools, compareTools, func(a, b *Tool) bool { return a.Server == b.Server && a.Name == b.Name })
	pairs := make([]QualifiedName, len(tools))
	for i := range tools {
		pairs[i] = QualifiedName{tools[i].Server, tools[i].Name}
	}
	names, collisions := assignNames(pairs, s.sep)
	for i := range tools {
		tools[i].Exported = names[i]
	}
	s.tools, s.collisions = tools, collisions
	s.toolIndex = nameIndex(names, pairs, s.sep)
	s.serverTools = make(map[string]span, len(s.servers))
	for lo := 0; lo < len(tools); {
		hi := lo + 1
		for hi < len(tools) && tools[hi].Server == tools[lo].Server {
			hi++
		}
		s.serverTools[tools[lo].Server] = span{int32(lo), int32(hi)}
		lo = hi
	}
}

func (s *Snapshot) buildPrompts(prompts []Prompt) {
	prompts = sortUnique(prompts, comparePrompts, func(a, b *Prompt) bool { return a.Server == b.Server && a.Name == b.Name })
	pairs := make([]QualifiedName, len(prompts))
	for i := range prompts {
		pairs[i] = QualifiedName{prompts[i].Server, prompts[i].Name}
	}
	names, collisions := assignNames(pairs, s.sep)
	for i := range prompts {
		prompts[i].Exported = names[i]
	}
	s.prompts, s.promptCollisions = prompts, collisions
	s.promptIndex = nameIndex(names, pairs, s.sep)
}

// buildResources indexes resources by URI. A URI is global in MCP, so two
// servers offering one cannot both be addressed by it: the first server in
// name order answers and the clash is reported.
func (s *Snapshot) buildResources(resources []Resource) {
	resources = sortUnique(resources, compareResources, func(a, b *Resource) bool { return a.Server == b.Server && a.URI == b.URI })
	s.resources = resources
	s.resourceIndex = make(map[string]int32, len(resources))
	var shared map[string][]QualifiedName
	for i, r := range resources {
		j, ok := s.resourceIndex[r.URI]
		if !ok {
			s.resourceIndex[r.URI] = int32(i)
			continue
		}
		if shared == nil {
			shared = make(map[string][]QualifiedName)
		}
		if len(shared[r.URI]) == 0 {
			shared[r.URI] = append(shared[r.URI], QualifiedName{resources[j].Server, r.URI})
		}
		shared[r.URI] = append(shared[r.URI], QualifiedName{r.Server, r.URI})
	}
	for uri, members := range shared {
		s.resourceCollisions = append(s.resourceCollisions, Collision{Exported: uri, Members: members})
	}
	slices.SortFunc(s.resourceCollisions, func(a, b Collision) int { return cmp.Compare(a.Exported, b.Exported) })
}

// nameIndex maps every exported name, and the aliases "server.name" and
// server+sep+name, to the item's index. Exported names are unique and always
// win; an alias shared by two items maps to ambiguous.
func nameIndex(exported []string, pairs []QualifiedName, sep string) map[string]int32 {
	idx := make(map[string]int32, 3*len(pairs))
	for i, n := range exported {
		idx[n] = int32(i)
	}
	alias := func(key string, i int32) {
		j, ok := idx[key]
		switch {
		case !ok:
			idx[key] = i
		case j == i, j == ambiguous, exported[j] == key:
			// the same item, already ambiguous, or another item's exported name
		default:
			idx[key] = ambiguous
		}
	}
	for i, q := range pairs {
		alias(q.Server+"."+q.Name, int32(i))
		// Clean names make the raw form equal to the exported name, which is
		// already indexed: skip building the same string again.
		if sep != "." && !isJoin(exported[i], q.Server, sep, q.Name) {
			alias(q.Server+sep+q.Name, int32(i))
		}
	}
	return idx
}

// sortUnique returns v sorted by cmpFn, without later elements that are the
// same item. It sorts indexes rather than the structs themselves: swapping
// 128-byte structs full of pointers costs GC write barriers on every move,
// which made sorting the bulk of Build. A v that is sorted and unique
// already is returned as it is (Build's callers keep lists sorted).
func sortUnique[T any](v []T, cmpFn func(a, b *T) int, same func(a, b *T) bool) []T {
	sorted := true
	for i := 1; i < len(v) && sorted; i++ {
		sorted = cmpFn(&v[i-1], &v[i]) < 0 && !same(&v[i-1], &v[i])
	}
	if sorted {
		return v
	}
	order := make([]int32, len(v))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmpFn(&v[a], &v[b]) })
	out := make([]T, 0, len(v))
	for _, i := range order {
		if n := len(out); n > 0 && same(&out[n-1], &v[i]) {
			continue
		}
		out = append(out, v[i])
	}
	return out
}

// The order of a snapshot's lists.
func compareTools(a, b *Tool) int {
	return compareItems(a.Server, b.Server, a.Name, b.Name, a.Raw, b.Raw)
}

func compareResources(a, b *Resource) int {
	return compareItems(a.Server, b.Server, a.URI, b.URI, a.Raw, b.Raw)
}

func compareTemplates(a, b *ResourceTemplate) int {
	return compareItems(a.Server, b.Server, a.URITemplate, b.URITemplate, a.Raw, b.Raw)
}

func comparePrompts(a, b *Prompt) int {
	return compareItems(a.Server, b.Server, a.Name, b.Name, a.Raw, b.Raw)
}

// Sort puts each of the server's lists in the order a snapshot keeps them,
// so that Build, given servers sorted already, only checks the order: for a
// caller that builds snapshots often from the same servers.
func (sc *ServerCatalog) Sort() {
	slices.SortFunc(sc.Tools, byPointer(compareTools))
	slices.SortFunc(sc.Resources, byPointer(compareResources))
	slices.SortFunc(sc.ResourceTemplates, byPointer(compareTemplates))
	slices.SortFunc(sc.Prompts, byPointer(comparePrompts))
}

// byPointer adapts a comparison of pointers to slices.SortFunc's values.
func byPointer[T any](cmp func(a, b *T) int) func(a, b T) int {
	return func(a, b T) int { return cmp(&a, &b) }
}

// compareItems orders by server, then name, then raw bytes (the last only to
// pick a duplicate deterministically). Unlike cmp.Or, it stops at the first
// difference instead of evaluating every comparison.
func compareItems(serverA, serverB, nameA, nameB string, rawA, rawB []byte) int {
	if c := strings.Compare(serverA, serverB); c != 0 {
		return c
	}
	if c := strings.Compare(nameA, nameB); c != 0 {
		return c
	}
	return bytes.Compare(rawA, rawB)
}

// isJoin reports whether s == a+b+c without building the concatenation.
func isJoin(s, a, b, c string) bool {
	return len(s) == len(a)+len(b)+len(c) && s[:len(a)] == a && s[len(a):len(a)+len(b)] == b && s[len(a)+len(b):] == c
}
