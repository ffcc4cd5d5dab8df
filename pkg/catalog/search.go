package catalog

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// Search ranks tools with BM25F (Robertson and Zaragoza's field-weighted
// Okapi BM25): a term's occurrences in a tool's fields are length-normalised
// per field, weighted, summed, and only then saturated, so a word that appears
// in both the name and the description counts once, strongly, instead of
// twice. The index is built on the first search of a snapshot and never
// changes afterwards, so queries only read it.
//
// Fields and weights (relative to the description):
//
//	name         3    the tool's name on its server: what the model calls
//	server       2    the server's name ("github"), b = 0: every tool of a server shares it
//	description  1
//	parameters   0.5  names and descriptions of the input schema's top-level properties
//
// The exported name is not indexed on its own: it is server, separator and
// name, so its words are already there, and a disambiguating hash suffix
// would only add noise.

const (
	// DefaultSearchLimit is the number of results when the caller gives no limit.
	DefaultSearchLimit = 10
	// MaxQueryBytes bounds the query: longer ones are cut there (at a
	// character boundary; a word cut in half is searched as it is left).
	// Relevance comes from a few words, and the bound caps the work an
	// untrusted query can ask for.
	MaxQueryBytes = 1000

	bm25K1 = 1.2
	// maxTermBytes drops longer runs of letters and digits (base64, hashes):
	// nobody searches for them and they would bloat the dictionary.
	maxTermBytes = 64
)

// searchField is one of the indexed parts of a tool.
type searchField uint8

const (
	fieldName searchField = iota
	fieldServer
	fieldDesc
	fieldParams
	numFields // fits in the two low bits of an indexEntry
)

var (
	fieldWeight = [numFields]float64{fieldName: 3, fieldServer: 2, fieldDesc: 1, fieldParams: 0.5}
	fieldB      = [numFields]float64{fieldName: 0.75, fieldServer: 0, fieldDesc: 0.75, fieldParams: 0.75}
)

// SearchResult is one ranked tool. Scores are only comparable within one
// query's results. Tool shares its Raw and InputSchema bytes with the
// snapshot, which callers must not modify (see Snapshot).
type SearchResult struct {
	Tool  Tool
	Score float64
}

// Search ranks the snapshot's tools by relevance to query and returns at most
// limit of them, best first (limit <= 0 means DefaultSearchLimit). Tools that
// match no word of the query are left out, so an empty query, or one made only
// of stop words, finds nothing. Equal scores are ordered by exported name, so
// results are stable.
//
// The query is split into words like the tools are (see tokenizer), so
// "createIssue", "create_issue" and "Create issues" ask the same thing; a
// word repeated in the query counts once. The first call on a snapshot builds
// its index (some 10µs per tool; concurrent first calls wait for it); later
// calls only read it. Safe for concurrent use.
func (s *Snapshot) Search(query string, limit int) []SearchResult {
	return s.SearchFunc(query, limit, nil)
}

// SearchFunc is Search restricted to the tools for which keep returns true
// (all of them if keep is nil): one server's tools, or those an allow list
// permits; the limit counts kept tools only. keep sees only tools that match
// the query, gets a pointer into the snapshot (it must not modify the tool)
// and may be called concurrently by concurrent searches.
func (s *Snapshot) SearchFunc(query string, limit int, keep func(*Tool) bool) []SearchResult {
	if s == nil || len(s.tools) == 0 || strings.TrimSpace(query) == "" {
		return nil
	}
	if limit <= 0 {
		limit = DefaultSearchLimit
	}
	limit = min(limit, len(s.tools))
	s.search.once.Do(func() { s.search.index = newSearchIndex(s.tools) })
	return s.search.index.search(s.tools, truncateQuery(query), limit, keep)
}

// searchState is the snapshot's search index, built on first use: most
// snapshots are replaced before anyone searches them, and Build stays cheap.
type searchState struct {
	once  sync.Once
	index *searchIndex
}

// searchIndex is an inverted index from terms to the tools containing them.
// Each posting carries the term's whole contribution to that tool's score,
// so a query only adds numbers up.
type searchIndex struct {
	terms    map[string]int32 // term → id
	offsets  []int32          // postings of term t are postings[offsets[t]:offsets[t+1]], by tool
	postings []posting
	rank     []int32   // tool index → position in exported-name order, for ties
	scratch  sync.Pool // *queryScratch
}

type posting struct {
	tool   int32
	impact float32 // idf × saturated weighted term frequency; always > 0
}

// queryScratch is one query's working memory, pooled so that queries do not
// allocate it. Only touched scores are ever non-zero, and only they are
// reset, so a query costs its postings, not the catalog.
type queryScratch struct {
	score   []float64 // by tool index
	touched []int32   // tools with a non-zero score
	heap    []int32   // see best
	ids     []int32   // the query's term ids
	buf     []byte    // the tokenizer's
}

// indexEntry is term<<2 | field: one occurrence of a term in a tool.
type indexEntry uint32

// indexBuilder collects the occurrences of every tool's terms.
type indexBuilder struct {
	terms   map[string]int32
	entries []indexEntry
	lens    [numFields]int32 // terms per field of the tool being added
	params  []string         // scratch for addSchema
	tk      tokenizer
}

func newSearchIndex(tools []Tool) *searchIndex {
	b := indexBuilder{terms: make(map[string]int32, 4*len(tools))}
	start := make([]int32, len(tools)+1) // tool i's entries are entries[start[i]:start[i+1]]
	lens := make([][numFields]int32, len(tools))
	for i := range tools {
		t := &tools[i]
		b.lens = [numFields]int32{}
		b.add(t.Name, fieldName)
		b.add(t.Server, fieldServer)
		b.add(t.Description, fieldDesc)
		b.addSchema(t.InputSchema)
		lens[i] = b.lens
		start[i+1] = int32(len(b.entries))
	}
	offsets, postings := b.postings(start, lens)
	return &searchIndex{terms: b.terms, offsets: offsets, postings: postings, rank: exportedRank(tools)}
}

// postings groups the collected occurrences by term, each term's postings in
// tool order, and turns them into score contributions.
func (b *indexBuilder) postings(start []int32, lens [][numFields]int32) (offsets []int32, postings []posting) {
	nTools, nTerms := len(lens), len(b.terms)
	var avg [numFields]float64
	for i := range lens {
		for f := range numFields {
			avg[f] += float64(lens[i][f]) / float64(nTools)
		}
	}
	// Count the tools holding each term (its document frequency) to lay out
	// the postings.
	offsets = make([]int32, nTerms+1)
	seen := make([]int32, nTerms) // term → 1 + the last tool counted
	for i := range nTools {
		for _, e := range b.entries[start[i]:start[i+1]] {
			if t := e >> 2; seen[t] != int32(i)+1 {
				seen[t] = int32(i) + 1
				offsets[t+1]++
			}
		}
	}
	idf := make([]float64, nTerms)
	for t := range nTerms {
		df := float64(offsets[t+1])
		idf[t] = math.Log(1 + (float64(nTools)-df+0.5)/(df+0.5)) // Lucene's form: positive even for terms in every tool
		offsets[t+1] += offsets[t]
	}

	// Sum each tool's weighted, length-normalised occurrences per term. A
	// tool's entries come field by field, and within a field each adds the
	// same weight, so the sums do not depend on the order of schema
	// properties.
	postings = make([]posting, offsets[nTerms])
	next := slices.Clone(offsets[:nTerms])
	tf := make([]float64, nTerms) // the current tool's, zero elsewhere
	var terms []int32             // the current tool's distinct terms
	for i := range nTools {
		var w [numFields]float64
		for f := range numFields {
			norm := 1.0
			if avg[f] > 0 {
				norm = 1 - fieldB[f] + fieldB[f]*float64(lens[i][f])/avg[f]
			}
			w[f] = fieldWeight[f] / norm
		}
		terms = terms[:0]
		for _, e := range b.entries[start[i]:start[i+1]] {
			if tf[e>>2] == 0 {
				terms = append(terms, int32(e>>2))
			}
			tf[e>>2] += w[e&3]
		}
		for _, t := range terms {
			impact := float32(idf[t] * tf[t] * (bm25K1 + 1) / (tf[t] + bm25K1))
			postings[next[t]] = posting{int32(i), max(impact, math.SmallestNonzeroFloat32)}
			next[t]++
			tf[t] = 0
		}
	}
	return offsets, postings
}

// exportedRank returns each tool's position in exported-name order.
func exportedRank(tools []Tool) []int32 {
	order := make([]int32, len(tools))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return strings.Compare(tools[a].Exported, tools[b].Exported) })
	rank := make([]int32, len(tools))
	for pos, i := range order {
		rank[i] = int32(pos)
	}
	return rank
}

// add records the terms of text as occurrences in field f.
func (b *indexBuilder) add(text string, f searchField) {
	b.tk.text = text
	for {
		tok, ok := b.tk.next()
		if !ok {
			return
		}
		id, ok := b.terms[string(tok)]
		if !ok {
			id = int32(len(b.terms))
			b.terms[string(tok)] = id
		}
		b.entries = append(b.entries, indexEntry(id)<<2|indexEntry(f))
		b.lens[f]++
	}
}

// addSchema indexes the names and descriptions of the schema's top-level
// properties. A schema that is not JSON contributes nothing; one that is JSON
// but not the expected shape (a boolean property schema, a numeric
// description) contributes what can be read.
func (b *indexBuilder) addSchema(raw json.RawMessage) {
	b.params = b.params[:0]
	if !eachProperty(string(raw), func(name, desc string) { b.params = append(b.params, name, desc) }) {
		return
	}
	for _, text := range b.params {
		b.add(text, fieldParams)
	}
}

func (x *searchIndex) search(tools []Tool, query string, limit int, keep func(*Tool) bool) []SearchResult {
	sc, _ := x.scratch.Get().(*queryScratch)
	if sc == nil {
		sc = &queryScratch{score: make([]float64, len(tools))}
	}

	// Collect the query's known terms, once each, in a fixed order: the
	// order of additions decides the last bits of a float sum, and equal
	// tools must get equal scores.
	ids := sc.ids[:0]
	tk := tokenizer{text: query, buf: sc.buf}
	for {
		tok, ok := tk.next()
		if !ok {
			break
		}
		if id, ok := x.terms[string(tok)]; ok {
			ids = append(ids, id)
		}
	}
	sc.ids, sc.buf = ids, tk.buf // keep what grew for the next query
	slices.Sort(ids)
	ids = slices.Compact(ids)

	for _, id := range ids {
		for _, p := range x.postings[x.offsets[id]:x.offsets[id+1]] {
			if sc.score[p.tool] == 0 {
				sc.touched = append(sc.touched, p.tool)
			}
			sc.score[p.tool] += float64(p.impact)
		}
	}
	var out []SearchResult
	if top := sc.best(x.rank, tools, limit, keep); len(top) > 0 {
		out = make([]SearchResult, len(top))
		for i, t := range top {
			out[i] = SearchResult{Tool: tools[t], Score: sc.score[t]}
		}
	}
	for _, t := range sc.touched {
		sc.score[t] = 0
	}
	sc.touched = sc.touched[:0]
	// Not deferred: if keep panics, the dirty scratch must not be reused.
	x.scratch.Put(sc)
	return out
}

// best returns the best limit touched tools that keep accepts, best first,
// using a heap of the limit best so far whose root is the worst.
func (sc *queryScratch) best(rank []int32, tools []Tool, limit int, keep func(*Tool) bool) []int32 {
	better := func(a, b int32) bool {
		if sa, sb := sc.score[a], sc.score[b]; sa != sb {
			return sa > sb
		}
		return rank[a] < rank[b]
	}
	heap := sc.heap[:0]
	for _, t := range sc.touched {
		if keep != nil && !keep(&tools[t]) {
			continue
		}
		if len(heap) < limit {
			heap = append(heap, t)
			for i := len(heap) - 1; i > 0; { // sift up
				p := (i - 1) / 2
				if !better(heap[p], heap[i]) {
					break
				}
				heap[p], heap[i] = heap[i], heap[p]
				i = p
			}
			continue
		}
		if !better(t, heap[0]) {
			continue
		}
		heap[0] = t
		for i := 0; ; { // sift down
			w, l, r := i, 2*i+1, 2*i+2
			if l < len(heap) && better(heap[w], heap[l]) {
				w = l
			}
			if r < len(heap) && better(heap[w], heap[r]) {
				w = r
			}
			if w == i {
				break
			}
			heap[i], heap[w] = heap[w], heap[i]
			i = w
		}
	}
	slices.SortFunc(heap, func(a, b int32) int {
		switch {
		case better(a, b):
			return -1
		case better(b, a):
			return 1
		}
		return 0
	})
	sc.heap = heap // keep the grown array for the next query
	return heap
}

// truncateQuery cuts query to MaxQueryBytes without splitting a character.
func truncateQuery(query string) string {
	if len(query) <= MaxQueryBytes {
		return query
	}
	i := MaxQueryBytes
	for i > MaxQueryBytes-utf8.UTFMax && !utf8.RuneStart(query[i]) {
		i--
	}
	return query[:i]
}
