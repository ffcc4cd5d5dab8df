package mcpserver

import (
	"crypto/sha256"
	"slices"
	"strconv"
)

// mark is what an item was registered from: its small fields by value,
// its large ones (the object as its server sent it, a schema) by the
// identity of their bytes, and a content hash of all of it.
//
// Syncs are frequent (every catalog event) and endpoints many (one per
// server and group besides /mcp), so hashing every item of every endpoint
// on every sync cost seconds of CPU after a 100-server start. The catalog
// keeps an unchanged server's objects across rebuilds, so most items are
// recognised by identity alone; an object parsed anew with the same bytes
// (a re-discovery) is recognised by its hash, so clients hear no
// list_changed for it.
type mark struct {
	server, name string
	flag         bool
	big          [2]bytesID
	fp           fingerprint
}

// fingerprint is a content hash of what an item was registered from.
type fingerprint [sha256.Size]byte

// bytesID identifies a byte slice by its first element and length.
type bytesID struct {
	p *byte
	n int
}

func idOf(b []byte) bytesID {
	if len(b) == 0 {
		return bytesID{}
	}
	return bytesID{&b[0], len(b)}
}

// remark returns the mark of an item made of server, name, flag and up to
// two large parts, and whether it differs from old (had: there was one).
// It hashes only when identity cannot tell.
func remark(old mark, had bool, server, name string, flag bool, big ...[]byte) (mark, bool) {
	m := mark{server: server, name: name, flag: flag}
	for i, b := range big {
		m.big[i] = idOf(b)
	}
	if had && m.server == old.server && m.name == old.name && m.flag == old.flag && m.big == old.big {
		m.fp = old.fp
		return m, false
	}
	h := sha256.New()
	for _, p := range [][]byte{[]byte(server), []byte(name), []byte(strconv.FormatBool(flag))} {
		h.Write(p)
		h.Write([]byte{0})
	}
	for _, b := range big {
		h.Write(b)
		h.Write([]byte{0})
	}
	h.Sum(m.fp[:0])
	return m, !had || m.fp != old.fp
}

// removed lists the names registered but no longer wanted.
func removed(have, want map[string]mark) []string {
	var out []string
	for name := range have {
		if _, ok := want[name]; !ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// sameMarks reports whether two sets of marks have the same content.
func sameMarks(a, b map[string]mark) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w.fp != v.fp {
			return false
		}
	}
	return true
}
