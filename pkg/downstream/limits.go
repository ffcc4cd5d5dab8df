package downstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
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
	// hit records when an SSE stream last went over the limit: mcp-go
	// turns that read error into "unexpected nil response", and the
	// connection uses the time to say why (see Conn.classify).
	hit *atomic.Int64
}

func (t limitBodies) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.Body == nil {
		return resp, err
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt == "text/event-stream" {
		lr := &lineLimitReader{r: resp.Body, max: t.max}
		if t.hit != nil {
			lr.onExceeded = func(error) { t.hit.Store(time.Now().UnixNano()) }
		}
		resp.Body = &limitedBody{Reader: lr, c: resp.Body}
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
	body, err := io.ReadAll(&totalLimitReader{r: resp.Body, left: int64(t.max) + 1, max: t.max})
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > bigBody && !hasID(body) {
		return nil, fmt.Errorf("%w: a %d-byte response without a JSON-RPC id", ErrProtocol, len(body))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// bigBody is the size from which a JSON body is checked for an id.
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
	once sync.Once
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
