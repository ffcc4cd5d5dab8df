package downstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mcphub/mcphub/internal/httpbody"
)

// DefaultMaxMessageBytes bounds one message from a downstream server: a
// line on stdio, a JSON response body, an SSE line. mcp-go reads each of
// them whole into memory, so without a bound one server answering with a
// few hundred megabytes (by bug or on purpose) takes the hub's memory with
// it.
const DefaultMaxMessageBytes = 16 << 20

// ErrMessageTooLarge marks a message from the server over the limit.
var ErrMessageTooLarge = errors.New("message from the server over the size limit")

// lineLimitReader fails once one line grows past max bytes. onExceeded, if
// set, is called once with the error (the stdio session dies with it: its
// reader goroutine has stopped).
type lineLimitReader struct {
	r          io.Reader
	max        int
	line       int // bytes of the current line so far
	err        error
	onExceeded func(error)
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.r.Read(p)
	chunk := p[:n]
	for len(chunk) > 0 {
		i := bytes.IndexByte(chunk, '\n')
		if i < 0 {
			l.line += len(chunk)
			break
		}
		l.line += i
		if l.line > l.max {
			break
		}
		l.line = 0
		chunk = chunk[i+1:]
	}
	if l.line > l.max {
		l.err = fmt.Errorf("%w: a message exceeded %d bytes", ErrMessageTooLarge, l.max)
		if l.onExceeded != nil {
			l.onExceeded(l.err)
		}
		return 0, l.err
	}
	return n, err
}

// limitBodies bounds the response bodies of an HTTP server: a JSON body as
// a whole, an SSE stream line by line (a stream lives long; each event is a
// message).
type limitBodies struct {
	next http.RoundTripper
	max  int
	// ownPath skips the id check of big bodies (hasID): the poster's
	// requests (post.go) read the id themselves, and a body without one
	// costs them no more than one with.
	ownPath bool
}

// streamKey carries a request's *streamState to the transport, which
// records there why the SSE stream answering that request ended early.
// mcp-go turns any such read error into "unexpected nil response";
// sendMCPGo uses the state to say what happened instead. It is per
// request, so one call's broken stream is not taken for another's.
type streamKey struct{}

// streamState holds the first read error of the SSE stream that answers
// one request.
type streamState struct{ err atomic.Pointer[error] }

func (s *streamState) fail(err error) { s.err.CompareAndSwap(nil, &err) }

// failure is the recorded error, or nil.
func (s *streamState) failure() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

func withStreamState(ctx context.Context) (context.Context, *streamState) {
	st := new(streamState)
	return context.WithValue(ctx, streamKey{}, st), st
}

// CloseIdleConnections closes the pool's idle connections.
func (t limitBodies) CloseIdleConnections() { closeIdle(t.next) }

// closeIdle passes CloseIdleConnections on to the RoundTripper a wrapper
// wraps. Without it, http.Client.CloseIdleConnections would not reach the
// pool, and a stopped connection's kept-alive connections (a socket and 8 KB
// of buffers each) would stay open until their idle timeout.
func closeIdle(next http.RoundTripper) {
	if c, ok := next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (t limitBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if mediaType(resp.Header.Get("Content-Type")) == "text/event-stream" {
		st, _ := req.Context().Value(streamKey{}).(*streamState)
		resp.Body = &limitedBody{Reader: &lineLimitReader{r: resp.Body, max: t.max}, c: resp.Body, st: st}
		return resp, nil
	}
	if resp.ContentLength > int64(t.max) {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: the response announces %d bytes, the limit is %d", ErrMessageTooLarge, resp.ContentLength, t.max)
	}
	// A JSON body is read whole here (mcp-go reads it whole anyway), so
	// that a big one can be checked before mcp-go sees it: given a body
	// without an id, mcp-go formats the whole of it into its error with
	// %v, about twenty times its size in memory.
	body, err := httpbody.Read(&totalLimitReader{r: resp.Body, left: int64(t.max) + 1, max: t.max}, resp.ContentLength)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > bigBody && !t.ownPath && !hasID(body) {
		return nil, fmt.Errorf("%w: a %d-byte response without a JSON-RPC id", ErrProtocol, len(body))
	}
	resp.Body = bufferedBody{bytes.NewReader(body), body}
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// bigBody is the size from which a JSON body is checked for an id, on
// mcp-go's paths.
const bigBody = 256 << 10

// hasID reports whether a JSON-RPC message (or each message of a batch)
// has an id, or is not JSON at all (mcp-go reports that itself, briefly).
func hasID(body []byte) bool {
	var msg struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		return true
	}
	return len(msg.ID) > 0 && string(msg.ID) != "null"
}

type limitedBody struct {
	io.Reader
	c    io.Closer
	st   *streamState // nil for streams that answer no request (GET)
	once sync.Once
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err != nil && err != io.EOF && b.st != nil {
		b.st.fail(err)
	}
	return n, err
}

func (b *limitedBody) Close() error {
	var err error
	b.once.Do(func() { err = b.c.Close() })
	return err
}

// totalLimitReader fails once more than max bytes were read.
type totalLimitReader struct {
	r    io.Reader
	left int64
	max  int
}

func (l *totalLimitReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("%w: a response exceeded %d bytes", ErrMessageTooLarge, l.max)
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left <= 0 {
		return n, fmt.Errorf("%w: a response exceeded %d bytes", ErrMessageTooLarge, l.max)
	}
	return n, err
}
