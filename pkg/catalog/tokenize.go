package catalog

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokenizer splits text into search terms. A word is a run of letters,
// digits and combining marks; everything else separates words, so snake_case,
// kebab-case and dotted.names split. Words are further split where case or
// digits change: "createIssue" → create, issue; "HTTPServer" → http, server;
// "ec2Instance" → ec, 2, instance; but "listAPIs" → list, apis (not ap, is).
// An apostrophe between letters is dropped ("user's" → users). Han, hiragana
// and katakana are written without spaces, so each of those characters is a
// term of its own. Terms are lower-cased; stop words (isStopWord, checked
// before stemming) and terms longer than maxTermBytes are dropped; the rest
// are stemmed (see stem). The same tokenizer reads tools and queries.
type tokenizer struct {
	text string
	buf  []byte
}

// next returns the next term, valid until the following call, or false when
// the text is used up.
func (t *tokenizer) next() ([]byte, bool) {
	for {
		w, ok := t.word()
		if !ok {
			return nil, false
		}
		if len(w) <= maxTermBytes && !isStopWord(w) {
			return stem(w), true
		}
	}
}

// word returns the next lower-cased word, before stop words and stemming.
// It works on locals and stores them back once: this loop is most of the
// time spent indexing.
func (t *tokenizer) word() ([]byte, bool) {
	text, buf, i := t.text, t.buf[:0], 0
	prev := kindSep // the kind of the word's last letter or digit; kindSep before the word
loop:
	for i < len(text) {
		r, n := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(text[i:])
		}
		switch kind := runeKind(r); {
		case kind == kindIdeograph:
			if prev == kindSep { // else it is the next word
				buf, i, prev = utf8.AppendRune(buf, r), i+n, kindLetter
			}
			break loop
		case kind != kindSep:
			if prev != kindSep && splitBefore(prev, kind, text[i+n:]) {
				break loop
			}
			switch {
			case r >= utf8.RuneSelf:
				buf = utf8.AppendRune(buf, unicode.ToLower(r))
			case kind == kindUpper:
				buf = append(buf, byte(r)+'a'-'A')
			default:
				buf = append(buf, byte(r))
			}
			i += n
			if kind != kindMark || prev == kindSep {
				prev = kind
			}
			if prev == kindLower || prev == kindUpper { // lower case after a letter never splits
				j := i
				for j < len(text) && 'a' <= text[j] && text[j] <= 'z' {
					j++
				}
				if j > i {
					buf, i, prev = append(buf, text[i:j]...), j, kindLower
				}
			}
		case prev != kindSep && (r == '\'' || r == '’') && isLetterKind(prev) &&
			i+n < len(text) && isLetterKind(runeKind(firstRuneOf(text[i+n:]))):
			i += n // elided: "user's", "don't"
		case prev != kindSep:
			i += n
			break loop
		default:
			i += n
		}
	}
	t.text, t.buf = text[i:], buf
	return buf, prev != kindSep
}

// Rune kinds, for splitting words. Letters without case (most scripts) are
// kindLetter; kindMark is a combining mark, part of the letter before it.
const (
	kindSep uint8 = iota
	kindLower
	kindUpper
	kindDigit
	kindLetter
	kindMark
	kindIdeograph
)

var asciiKind = func() (k [utf8.RuneSelf]uint8) {
	for c := range utf8.RuneSelf {
		switch {
		case 'a' <= c && c <= 'z':
			k[c] = kindLower
		case 'A' <= c && c <= 'Z':
			k[c] = kindUpper
		case '0' <= c && c <= '9':
			k[c] = kindDigit
		}
	}
	return k
}()

func runeKind(r rune) uint8 {
	switch {
	case r < utf8.RuneSelf:
		return asciiKind[r]
	case unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r):
		return kindIdeograph
	case unicode.IsNumber(r):
		return kindDigit
	case unicode.IsUpper(r):
		return kindUpper
	case unicode.IsLower(r):
		return kindLower
	case unicode.IsLetter(r):
		return kindLetter
	case unicode.IsMark(r):
		return kindMark
	}
	return kindSep
}

func isLetterKind(k uint8) bool { return k == kindLower || k == kindUpper || k == kindLetter }

func firstRune(s string) (rune, int) {
	if s[0] < utf8.RuneSelf {
		return rune(s[0]), 1
	}
	return utf8.DecodeRuneInString(s)
}

func firstRuneOf(s string) rune {
	r, _ := firstRune(s)
	return r
}

// splitBefore reports whether a word boundary falls before a rune of the
// given kind, after one of kind prev; rest is the text after the rune.
func splitBefore(prev, kind uint8, rest string) bool {
	switch {
	case kind == kindMark:
		return false
	case (prev == kindDigit) != (kind == kindDigit):
		return true // ec2, v1
	case kind != kindUpper:
		return false
	case prev == kindLower:
		return true // createIssue
	case prev != kindUpper || rest == "":
		return false
	}
	// Inside capitals, the last one starts a new word when lower case
	// follows (HTTPServer), unless that is a plural "s" (APIs, URLsFor).
	next, n := firstRune(rest)
	switch {
	case runeKind(next) != kindLower:
		return false
	case next != 's':
		return true
	case len(rest) == n:
		return false
	}
	return runeKind(firstRuneOf(rest[n:])) == kindLower // HTTPService
}

// isStopWord reports whether w is one of the words dropped from all fields
// and from queries: they are in most descriptions and in most questions ("how
// do I create an issue"). Verbs that name tool actions (get, list, find,
// show) are deliberately absent. "not" is here because stem("note") is "not".
func isStopWord(w []byte) bool {
	switch string(w) {
	case "a", "about", "an", "and", "any", "are", "as", "at", "be", "been", "but", "by",
		"can", "could", "do", "does", "for", "from", "has", "have", "he", "her", "his", "how",
		"i", "if", "in", "into", "is", "it", "its", "me", "my", "no", "not", "of", "on", "or",
		"our", "please", "she", "should", "so", "than", "that", "the", "their", "them", "then",
		"there", "these", "they", "this", "those", "to", "us", "was", "we", "were", "what",
		"when", "where", "which", "while", "who", "whom", "why", "will", "with", "would",
		"you", "your":
		return true
	}
	return false
}

// stem reduces an English word to a crude root, in place, so that plurals,
// "-ing" and "-ed" forms meet their base word. It is a tiny suffix stripper,
// not Porter's algorithm, and leaves alone words with anything but ASCII
// letters and words shorter than four letters. In order:
//
//  1. plurals: "-ies" → "-y" (queries → query), "-sses" → "-ss"; a final "s"
//     is dropped unless the word ends in "ss", "us" or "sis" (class, status,
//     analysis). "-ied" → "-y" (copied → copy).
//  2. "-ing" and "-ed" are dropped when at least three letters with a vowel
//     are left, and a doubled final consonant other than l, s, z is undone
//     (running → run, mapped → map, but adding → add).
//  3. a final "e" is dropped from words of four letters or more, so that the
//     base and the stripped forms meet: create, creates, created, creating →
//     creat; issue, issues → issu; cache, caches → cach.
//
// The roots are not words, but queries go through the same function.
func stem(w []byte) []byte {
	if len(w) < 4 {
		return w
	}
	switch w[len(w)-1] {
	case 's', 'd', 'g', 'e': // every rule below ends in one of these
	default:
		return w
	}
	for _, c := range w {
		if c < 'a' || c > 'z' {
			return w
		}
	}
	switch n := len(w); {
	case n >= 5 && (hasSuffix(w, "ies") || hasSuffix(w, "ied")):
		w = append(w[:n-3], 'y')
	case hasSuffix(w, "sses"):
		w = w[:n-2]
	case hasSuffix(w, "ss"), hasSuffix(w, "us"), hasSuffix(w, "sis"):
	case w[n-1] == 's':
		w = w[:n-1]
	}
	for _, suffix := range [...]string{"ing", "ed"} {
		if n := len(w) - len(suffix); n >= 3 && hasSuffix(w, suffix) && hasVowel(w[:n]) {
			w = w[:n]
			if n >= 4 && w[n-1] == w[n-2] && !hasVowel(w[n-1:]) && !strings.ContainsRune("lsz", rune(w[n-1])) {
				w = w[:n-1]
			}
			break
		}
	}
	if n := len(w); n >= 4 && w[n-1] == 'e' {
		w = w[:n-1]
	}
	return w
}

// hasSuffix is strings.HasSuffix for a byte slice, without converting it.
func hasSuffix(w []byte, suffix string) bool {
	return len(w) >= len(suffix) && string(w[len(w)-len(suffix):]) == suffix
}

func hasVowel(w []byte) bool {
	for _, c := range w {
		switch c {
		case 'a', 'e', 'i', 'o', 'u', 'y':
			return true
		}
	}
	return false
}
