// Package reqid carries a request's id through its context, from the HTTP
// layer that accepts or makes it to the hub and the downstream connection
// that serve the request, so that every log line of the request can name
// it (see Handler). It is its own package so that those layers need not
// import the HTTP layer, or each other, to share the id.
package reqid

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// Header is the HTTP header a request id arrives in and is echoed in.
const Header = "X-Request-ID"

// HeaderKey is Header as net/http keys it (http.CanonicalHeaderKey), for
// reading and writing header maps without canonicalizing on each request.
const HeaderKey = "X-Request-Id"

// MaxLen bounds an accepted id. Ids are repeated in every log line of
// their request and sent on to downstream servers: an unbounded one would
// let a caller bloat all of those.
const MaxLen = 128

// encoding is lower-case base32 without padding: 10 random bytes make 16
// characters that are safe in headers, log lines and URLs alike.
var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// New returns a fresh id: 80 random bits, 16 characters. Ids are not
// secrets (they are echoed and logged); they only need to be unique.
func New() string {
	var b [10]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand crashes the program instead)
	return encoding.EncodeToString(b[:])
}

// Valid reports whether id may be used as a request id as it came: 1 to
// MaxLen printable ASCII characters, without spaces. Anything else (control
// characters, non-ASCII) could forge or break log lines and headers, so a
// caller's invalid id is replaced, not cleaned.
func Valid(id string) bool {
	if id == "" || len(id) > MaxLen {
		return false
	}
	for i := range len(id) {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// Accept returns the id a request goes by: the caller's, when it is
// valid, or a new one.
func Accept(incoming string) string {
	if incoming = strings.TrimSpace(incoming); Valid(incoming) {
		return incoming
	}
	return New()
}

type ctxKey struct{}

// idContext is ctx carrying id. It stands in for context.WithValue, which
// would box the id into an interface: an allocation more on every request.
type idContext struct {
	context.Context
	id string
}

func (c *idContext) Value(key any) any {
	if key == (ctxKey{}) {
		return c
	}
	return c.Context.Value(key)
}

// With returns ctx carrying id.
func With(ctx context.Context, id string) context.Context {
	if ctx == nil { // as context.WithValue does: at once, not at the first Done
		panic("reqid.With: nil context")
	}
	return &idContext{Context: ctx, id: id}
}

// From returns the request id ctx carries, or "".
func From(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	if c, ok := ctx.Value(ctxKey{}).(*idContext); ok {
		return c.id
	}
	return ""
}
