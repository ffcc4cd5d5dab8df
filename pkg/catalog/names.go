package catalog

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxNameLen is the longest function name OpenAI accepts.
const MaxNameLen = 64

const (
	// hashHexLen is the length of the suffix hash on the first try; retries
	// (only after a 32-bit clash or an adversarial name) use retryHexLen.
	hashHexLen  = 8
	retryHexLen = 12
	// minServerKeep is how much of the server part survives shortening when
	// the tool part alone would fill the name: enough to tell servers apart
	// by eye, while the tool name, the part the model reads, keeps the rest.
	minServerKeep = 16
)

// ValidName reports whether name is acceptable as an OpenAI function name
// (^[a-zA-Z0-9_-]{1,64}$). It does not allocate.
func ValidName(name string) bool {
	if len(name) == 0 || len(name) > MaxNameLen {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !validByte(name[i]) {
			return false
		}
	}
	return true
}

func validByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// sanitize replaces every rune outside [a-zA-Z0-9_-] by one '_' (one per rune,
// not per byte, so "é" becomes "_", and an invalid UTF-8 byte becomes "_").
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if !validByte(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s // the common case allocates nothing
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r < utf8.RuneSelf && validByte(byte(r)) {
			b.WriteByte(byte(r))
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// ExportedName returns the natural exported name of the pair (server, name)
// joined by sep; Build assigns it unless it collides with another pair's.
//
// OpenAI only accepts function names matching ^[a-zA-Z0-9_-]{1,64}$, while MCP
// names may hold dots, slashes, spaces or any Unicode. The natural name is
// sanitize(server) + sanitize(sep) + sanitize(name), where sanitize replaces
// every other character by one '_'. When that is empty or longer than 64
// bytes, it is cut to 55 bytes (the server part first, but not below 16 bytes,
// then the name part: the model reads the name part) and "_" plus 8 hex digits
// of sha256(server + "\x00" + name) is appended. It depends only on the pair
// and sep, so it is the same across restarts and whatever else the catalog
// holds.
//
// Build then resolves collisions: when distinct pairs share a natural name,
// none of them keeps it; each gets the readable prefix plus its own hash suffix
// (a longer, salted hash if even that is taken), and a Collision records who
// wanted the name. Disambiguated names never equal any natural name in the
// catalog, so a collision never renames a pair that took no part in it.
func ExportedName(server, name, sep string) string {
	s, p, t := sanitize(server), sanitize(sep), sanitize(name)
	if n := len(s) + len(p) + len(t); n > 0 && n <= MaxNameLen {
		return s + p + t
	}
	return compose(s, p, t, hashSuffix(server, name, 0))
}

// disambiguated returns the name given to a colliding pair on the given try.
func disambiguated(server, name, sep string, try int) string {
	return compose(sanitize(server), sanitize(sep), sanitize(name), hashSuffix(server, name, try))
}

// compose joins already sanitized parts and suffix, shortening the parts so
// that the result fits in MaxNameLen.
func compose(s, p, t, suffix string) string {
	budget := MaxNameLen - len(suffix)
	if len(s)+len(p)+len(t) <= budget {
		return s + p + t + suffix
	}
	sKeep := min(len(s), max(minServerKeep, budget-len(p)-len(t)))
	tKeep := budget - sKeep - len(p)
	if tKeep < 0 { // a separator too long to share: cut the whole string
		return (s + p + t)[:budget] + suffix
	}
	return s[:sKeep] + p + t[:tKeep] + suffix
}

// hashSuffix is "_" + hex of sha256 over the raw (unsanitized) pair, so pairs
// that sanitize alike still get different suffixes. Try 0 is the documented
// 8-digit form; later tries salt the hash and use 12 digits.
func hashSuffix(server, name string, try int) string {
	var in [128]byte // stays on the stack for ordinary names
	b := append(in[:0], server...)
	b = append(b, 0)
	b = append(b, name...)
	n := hashHexLen
	if try > 0 {
		b = append(b, 0)
		b = strconv.AppendInt(b, int64(try), 10)
		n = retryHexLen
	}
	sum := sha256.Sum256(b)
	var out [1 + 2*sha256.Size]byte
	out[0] = '_'
	hex.Encode(out[1:], sum[:])
	return string(out[:1+n])
}

// assignNames gives every pair (already sorted by server then name, no
// duplicate pairs) a unique exported name, and reports the collisions sorted
// by contested name. Processing in sorted order makes retries deterministic.
func assignNames(pairs []QualifiedName, sep string) ([]string, []Collision) {
	names := make([]string, len(pairs))
	// taken holds every natural name, contested ones included, so that no
	// disambiguated name can steal a name another pair wants.
	taken := make(map[string]int, len(pairs))
	var contested map[string][]int
	for i, q := range pairs {
		n := ExportedName(q.Server, q.Name, sep)
		names[i] = n
		if j, ok := taken[n]; ok {
			if contested == nil {
				contested = make(map[string][]int)
			}
			if len(contested[n]) == 0 {
				contested[n] = append(contested[n], j)
			}
			contested[n] = append(contested[n], i)
			continue
		}
		taken[n] = i
	}
	if len(contested) == 0 {
		return names, nil
	}
	keys := make([]string, 0, len(contested))
	for k := range contested {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	collisions := make([]Collision, 0, len(keys))
	for _, k := range keys {
		c := Collision{Exported: k}
		for _, i := range contested[k] {
			q := pairs[i]
			c.Members = append(c.Members, q)
			for try := 0; ; try++ {
				n := disambiguated(q.Server, q.Name, sep, try)
				if _, busy := taken[n]; !busy {
					names[i] = n
					taken[n] = i
					break
				}
			}
		}
		collisions = append(collisions, c)
	}
	return names, collisions
}
