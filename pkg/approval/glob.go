package approval

import "unicode/utf8"

// qualified is the name server + "." + tool, read in place so matching a
// hub glob against it does not build (allocate) the string.
type qualified struct{ server, tool string }

func (q qualified) len() int { return len(q.server) + 1 + len(q.tool) }

func (q qualified) at(i int) byte {
	switch {
	case i < len(q.server):
		return q.server[i]
	case i == len(q.server):
		return '.'
	}
	return q.tool[i-len(q.server)-1]
}

// runeAt decodes the rune at byte offset i as utf8.DecodeRuneInString would
// in the joined string: a sequence cut short by the end of server decodes
// as RuneError either way, since '.' is no continuation byte.
func (q qualified) runeAt(i int) (rune, int) {
	switch {
	case i < len(q.server):
		return utf8.DecodeRuneInString(q.server[i:])
	case i == len(q.server):
		return '.', 1
	}
	return utf8.DecodeRuneInString(q.tool[i-len(q.server)-1:])
}

// matchQualified reports whether pattern, which must be valid path.Match
// syntax, matches q. It is path.Match (Go 1.26) with the name read through
// q by offset instead of sliced; FuzzMatchQualified checks they agree.
func matchQualified(pattern string, q qualified) bool {
	i, n := 0, q.len()
Pattern:
	for len(pattern) > 0 {
		var star bool
		var chunk string
		star, chunk, pattern = scanChunk(pattern)
		if star && chunk == "" {
			// A trailing * matches the rest unless it holds a '/'.
			for ; i < n; i++ {
				if q.at(i) == '/' {
					return false
				}
			}
			return true
		}
		// The last chunk must use up the name, else a star may still match.
		if t, ok := matchChunk(chunk, q, i); ok && (t == n || len(pattern) > 0) {
			i = t
			continue
		}
		if star {
			// Skip j+1 bytes (never a '/') and try again.
			for j := i; j < n && q.at(j) != '/'; j++ {
				if t, ok := matchChunk(chunk, q, j+1); ok {
					if len(pattern) == 0 && t < n {
						continue
					}
					i = t
					continue Pattern
				}
			}
		}
		return false
	}
	return i == n
}

// scanChunk returns the next chunk of pattern (no stars), whether stars
// come before it, and the rest. Copied from path.
func scanChunk(pattern string) (star bool, chunk, rest string) {
	for len(pattern) > 0 && pattern[0] == '*' {
		pattern = pattern[1:]
		star = true
	}
	inrange := false
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if i+1 < len(pattern) {
				i++
			}
		case '[':
			inrange = true
		case ']':
			inrange = false
		case '*':
			if !inrange {
				return star, pattern[:i], pattern[i:]
			}
		}
	}
	return star, pattern, ""
}

// matchChunk reports whether chunk (literals, classes and '?') matches q
// from offset i, and the offset after the match. A malformed chunk does not
// match; NewPolicy refuses malformed patterns before they get here.
func matchChunk(chunk string, q qualified, i int) (int, bool) {
	n := q.len()
	for len(chunk) > 0 {
		if i >= n {
			return 0, false
		}
		switch chunk[0] {
		case '[':
			r, w := q.runeAt(i)
			i += w
			chunk = chunk[1:]
			negated := false
			if len(chunk) > 0 && chunk[0] == '^' {
				negated = true
				chunk = chunk[1:]
			}
			match, nrange := false, 0
			for {
				if len(chunk) > 0 && chunk[0] == ']' && nrange > 0 {
					chunk = chunk[1:]
					break
				}
				var lo, hi rune
				var ok bool
				if lo, chunk, ok = getEsc(chunk); !ok {
					return 0, false
				}
				hi = lo
				if chunk[0] == '-' {
					if hi, chunk, ok = getEsc(chunk[1:]); !ok {
						return 0, false
					}
				}
				match = match || lo <= r && r <= hi
				nrange++
			}
			if match == negated {
				return 0, false
			}
		case '?':
			if q.at(i) == '/' {
				return 0, false
			}
			_, w := q.runeAt(i)
			i += w
			chunk = chunk[1:]
		case '\\':
			chunk = chunk[1:]
			if len(chunk) == 0 {
				return 0, false
			}
			fallthrough
		default:
			if chunk[0] != q.at(i) {
				return 0, false
			}
			i++
			chunk = chunk[1:]
		}
	}
	return i, true
}

// getEsc reads a possibly escaped character of a class; ok is false for a
// malformed class. Copied from path.
func getEsc(chunk string) (r rune, nchunk string, ok bool) {
	if len(chunk) == 0 || chunk[0] == '-' || chunk[0] == ']' {
		return 0, "", false
	}
	if chunk[0] == '\\' {
		chunk = chunk[1:]
		if len(chunk) == 0 {
			return 0, "", false
		}
	}
	r, w := utf8.DecodeRuneInString(chunk)
	if r == utf8.RuneError && w == 1 {
		return 0, "", false
	}
	nchunk = chunk[w:]
	return r, nchunk, len(nchunk) > 0
}
