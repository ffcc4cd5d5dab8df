// Package httpbody reads an HTTP body whole (a request's, or a downstream
// server's JSON answer), in one allocation when its length was announced:
// io.ReadAll starts at 512 bytes and grows, which was about 2% of the hub's
// CPU on a call's path (pprof, /mcp at 16 concurrent).
package httpbody

import "io"

// prealloc bounds what an announced length alone makes Read allocate
// before the bytes arrive: a client that announces a big body and sends it
// slowly, on many connections (or a server, its answer), must not make the
// hub hold memory it was never sent. Calls are far smaller; a body
// announced bigger is read as it comes.
const prealloc = 64 << 10

// Read reads body to its end, as io.ReadAll does (what was read comes with
// an error). size is the length the body's request or response announced
// (its ContentLength; -1 or 0 when unknown).
func Read(body io.Reader, size int64) ([]byte, error) {
	if size <= 0 || size > prealloc {
		return io.ReadAll(body)
	}
	b := make([]byte, 0, size+1) // one more: room to see the end without growing
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		switch {
		case err == io.EOF:
			return b, nil
		case err != nil:
			return b, err
		case len(b) == cap(b): // longer than announced
			rest, err := io.ReadAll(body)
			return append(b, rest...), err
		}
	}
}
