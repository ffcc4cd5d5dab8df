package downstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/internal/rawjson"
	"github.com/mcphub/mcphub/pkg/reqid"
)

// poster sends a Streamable HTTP session's requests itself once the
// handshake is done. mcp-go's transport marshals each request into its
// envelope type, starts a goroutine per request to watch for its own close,
// and decodes every answer into its envelope type again: about a tenth of
// the hub's CPU per call (perf, REST at 16 concurrent). Here the body is
// written in one append, the answer is split in place (internal/rawjson),
// and the session's end cancels the request through context.AfterFunc.
//
// mcp-go keeps the handshake, the notifications the hub sends, and every
// case this path does not own: a 401 or a 404 (mcp-go records that the
// session ended), a session other than the one the handshake gave, and the
// 2026-07-28 protocol. The GET stream is the hub's too (listen.go).
type poster struct {
	client  *httpClient
	url     string
	headers http.Header // configured, canonical keys; applied last, as mcp-go does
	tr      *transport.StreamableHTTP
	// session is the session id the last handshake left, "" for a server
	// that gives none; nil before the first handshake.
	session atomic.Pointer[string]
}

// errHandOver sends a request mcp-go's way: the server turned it away
// (401, 404) before doing anything with it.
var errHandOver = errors.New("request handed over to mcp-go's transport")

// Header values shared by every request (net/http only reads them).
var (
	hdrJSON   = []string{"application/json"}
	hdrAccept = []string{"application/json, text/event-stream"}
	hdrSSE    = []string{"text/event-stream"}
)

func newPoster(client *httpClient, endpoint string, headers map[string]string, tr *transport.StreamableHTTP) *poster {
	h := make(http.Header, len(headers))
	for k, v := range headers {
		h.Set(k, v)
	}
	return &poster{client: client, url: endpoint, headers: h, tr: tr}
}

// do sends a request straight to the client's own transport. http.Client's
// redirect bookkeeping (a copy of the headers and of the URL for each
// request, for redirects MCP servers do not send) was 6 allocations and
// 650 bytes per REST call (BenchmarkCallHandler, 379 → 373) and about 2%
// of the hub's CPU (perf, REST at 16 concurrent). A redirect that comes
// all the same is followed from here (follow), never by sending the
// request to the server that redirected it a second time.
func (p *poster) do(req *http.Request) (*http.Response, error) {
	resp, err := p.client.own.RoundTrip(req)
	if err != nil || !isRedirect(resp) {
		return resp, err
	}
	code, loc := resp.StatusCode, resp.Header.Get("Location")
	drain(resp.Body, 4<<10)
	resp.Body.Close()
	resp, err = p.follow(req, code, loc)
	if err == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusNotFound) {
		// Not handed over to mcp-go (errHandOver) as at the first hop: it
		// would send the request to the server that redirected it again.
		drain(resp.Body, 4<<10)
		resp.Body.Close()
		err = fmt.Errorf("%w: redirected to %s, which answered %d", ErrProtocol, loc, resp.StatusCode)
	}
	if err != nil {
		// The server that redirected had the request: whatever failed
		// after it, it may have acted on it (a 303 may follow an action).
		return nil, mayHaveArrived{err}
	}
	return resp, nil
}

// follow sends req on to loc, where a server redirected it with code:
// once, on the client's own transport, as do sends; a second redirect is a
// protocol error. Only 307 and 308
// keep a POST a POST; after 301, 302 or 303 it would go on as a GET without
// its body, which no JSON-RPC request survives. Credentials do not go to
// another host, as net/http's own redirects drop them.
func (p *poster) follow(req *http.Request, code int, loc string) (*http.Response, error) {
	if code != http.StatusTemporaryRedirect && code != http.StatusPermanentRedirect {
		return nil, fmt.Errorf("%w: redirected with %d to %s: a JSON-RPC request cannot follow it (it would become a GET)", ErrProtocol, code, loc)
	}
	next, err := req.URL.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: redirected to %q: %w", ErrProtocol, loc, err)
	}
	again, ok := rewound(req)
	if !ok {
		return nil, fmt.Errorf("redirected to %s, but the request's body cannot be sent again", loc)
	}
	if again == req { // rewound hands back a request without a body as it is
		c := *req
		again = &c
	}
	again.URL, again.Host = next, ""
	if !sameOrSubdomain(next.Hostname(), req.URL.Hostname()) {
		again.Header = again.Header.Clone()
		for _, h := range []string{"Authorization", "Proxy-Authorization", "Www-Authenticate", "Cookie", "Cookie2"} {
			again.Header.Del(h)
		}
	}
	resp, err := p.client.own.RoundTrip(again)
	if err != nil || !isRedirect(resp) {
		return resp, err
	}
	loc = resp.Header.Get("Location")
	drain(resp.Body, 4<<10)
	resp.Body.Close()
	return nil, fmt.Errorf("%w: redirected again, to %s: the hub follows one redirect", ErrProtocol, loc)
}

// sameOrSubdomain is net/http's test for keeping credentials on a
// redirect: host is from, or a subdomain of it. An IPv6 address or a zone
// (":" or "%") has no subdomains: only itself.
func sameOrSubdomain(host, from string) bool {
	host, from = strings.ToLower(host), strings.ToLower(from)
	if host == from {
		return true
	}
	if strings.ContainsAny(host, ":%") {
		return false
	}
	return strings.HasSuffix(host, "."+from)
}

// isRedirect reports a response http.Client would follow.
func isRedirect(resp *http.Response) bool {
	switch resp.StatusCode {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return resp.Header.Get("Location") != ""
	}
	return false
}

// handshakeDone records the session the handshake left.
func (p *poster) handshakeDone() {
	id := p.tr.GetSessionId()
	p.session.Store(&id)
}

// postable returns the poster when this path may send now: after a handshake on a
// protocol before 2026-07-28, on the session that handshake gave (mcp-go
// forgets an ended session's id; that and re-initialising stay its own).
func (s *session) postable() *poster {
	p := s.post
	if p == nil {
		return nil
	}
	sid := p.session.Load()
	if sid == nil || *sid != p.tr.GetSessionId() {
		return nil
	}
	if init := s.init.Load(); init == nil || mcp.IsModernProtocol(init.ProtocolVersion) {
		return nil
	}
	return p
}

// newPost builds a request on the session: its id and protocol version,
// then the configured headers.
func (s *session) newPost(ctx context.Context, p *poster, method string, body []byte, accept []string) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, p.url, rd)
	if err != nil {
		return nil, err
	}
	h := req.Header
	if body != nil {
		h["Content-Type"] = hdrJSON
	}
	h["Accept"] = accept
	if sid := *p.session.Load(); sid != "" {
		h[transport.HeaderKeySessionID] = []string{sid}
	}
	if init := s.init.Load(); init != nil && init.ProtocolVersion != "" {
		h[transport.HeaderKeyProtocolVersion] = []string{init.ProtocolVersion}
	}
	if id := reqid.From(ctx); id != "" {
		h[reqid.HeaderKey] = []string{id} // before the configured headers: one of theirs wins
	}
	for k, v := range p.headers {
		h[k] = v
	}
	return req, nil
}

// requestIDHeaders does for mcp-go's transports (legacy SSE, and the
// Streamable HTTP requests the poster hands over) what newPost does: the
// hub's request id (see reqid) in a header on every HTTP request made for
// a hub request, so that a server's logs can name it at no cost to the
// server. Nil when the configured headers set that header: theirs wins.
func requestIDHeaders(configured map[string]string) transport.HTTPHeaderFunc {
	for k := range configured {
		if http.CanonicalHeaderKey(k) == reqid.HeaderKey {
			return nil
		}
	}
	return func(ctx context.Context) map[string]string {
		if id := reqid.From(ctx); id != "" {
			return map[string]string{reqid.HeaderKey: id}
		}
		return nil
	}
}

// postRequest sends one request over this path. An error wrapping errHandOver
// means the request went nowhere and mcp-go's transport should send it.
func (s *session) postRequest(ctx context.Context, p *poster, id int64, method string, params any) (json.RawMessage, error) {
	body, err := requestBody(id, method, params)
	if err != nil {
		return nil, err
	}
	// The session's end ends the request, as mcp-go's close does.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()

	req, err := s.newPost(ctx, p, http.MethodPost, body, hdrAccept)
	if err != nil {
		return nil, err
	}
	resp, err := p.do(req)
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", method, err)
	}
	// Cancel before closing, as mcp-go does (its #768): on HTTP/2 a Close
	// of a stream the server keeps open can block until the context ends.
	defer func() { cancel(); resp.Body.Close() }()

	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusNotFound:
		return nil, errHandOver
	case code != http.StatusOK && code != http.StatusAccepted:
		// A JSON-RPC error may come with any status; anything else is the
		// status and what the server said.
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if msg, ok := splitMessage(b); ok && msg.isResponse() {
			return msg.answer(method, id)
		}
		return nil, fmt.Errorf("%s failed with HTTP status %d: %s", method, code, truncate(b, 256))
	}

	switch ct := resp.Header.Get("Content-Type"); mediaType(ct) {
	case "application/json":
		b, err := bodyBytes(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("%w: reading the answer to %s: %w", ErrNotConnected, method, err)
		}
		msg, ok := splitMessage(b)
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: the answer to %s is not a JSON object: %s", ErrProtocol, method, truncate(b, 128))
		case !msg.isResponse():
			return nil, fmt.Errorf("%w: the answer to %s has no JSON-RPC id: %s", ErrProtocol, method, truncate(b, 128))
		}
		return msg.answer(method, id)
	case "text/event-stream":
		return s.readAnswer(ctx, p, resp.Body, id, method)
	default:
		return nil, fmt.Errorf("%w: %s was answered with content type %q", ErrProtocol, method, truncate(ct, 64))
	}
}

// requestBody is the JSON-RPC request, written in one go.
func requestBody(id int64, method string, params any) ([]byte, error) {
	var ps []byte
	if params != nil {
		var err error
		if ps, err = json.Marshal(params); err != nil {
			return nil, fmt.Errorf("encode %s params: %w", method, err)
		}
	}
	// The envelope is 45 bytes and a 19-digit id at most; +1 for the
	// newline the stdio transport appends, so that neither reallocates.
	b := make([]byte, 0, 72+len(method)+len(ps))
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"method":`...)
	b = strconv.AppendQuote(b, method) // methods are the hub's own ASCII names
	if ps != nil {
		b = append(b, `,"params":`...)
		b = append(b, ps...)
	}
	return append(b, '}'), nil
}

// bodyBytes is a JSON body's bytes: limitBodies has read it whole already.
func bodyBytes(body io.Reader) ([]byte, error) {
	if b, ok := body.(bufferedBody); ok {
		return b.b, nil
	}
	return io.ReadAll(body)
}

// mediaType is a Content-Type's media type, lower case, without
// parameters: all the hub looks at, for less than mime.ParseMediaType.
func mediaType(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	for i := 0; i < len(ct); i++ {
		if 'A' <= ct[i] && ct[i] <= 'Z' {
			return strings.ToLower(ct)
		}
	}
	return ct
}

// message is one JSON-RPC message, split into its raw members.
type message struct {
	id, method, result, err []byte
}

func splitMessage(b []byte) (message, bool) {
	var m message
	if !json.Valid(b) {
		return m, false
	}
	var buf [8]rawjson.Member // the members stay on the stack
	members, ok := rawjson.AppendObject(buf[:0], b)
	if !ok {
		return m, false
	}
	for _, mb := range members {
		switch string(mb.Name()) {
		case "id":
			if string(mb.Value) != "null" {
				m.id = mb.Value
			}
		case "method":
			m.method = mb.Value
		case "result":
			m.result = mb.Value
		case "error":
			if string(mb.Value) != "null" { // some JSON-RPC libraries send "error":null with a result
				m.err = mb.Value
			}
		}
	}
	return m, true
}

func (m message) isResponse() bool { return m.method == nil && m.id != nil }

// answer is the response's result or error, if it answers request id.
func (m message) answer(method string, id int64) (json.RawMessage, error) {
	if !sameID(m.id, id) {
		return nil, fmt.Errorf("%w: %s answered with id %s, the request had id %d", ErrProtocol, method, truncate(m.id, 64), id)
	}
	if m.err != nil {
		var e RPCError
		if err := json.Unmarshal(m.err, &e); err != nil {
			return nil, fmt.Errorf("%w: %s answered with an error that is not a JSON-RPC error: %s", ErrProtocol, method, truncate(m.err, 128))
		}
		if string(e.Data) == "null" {
			e.Data = nil // as rawData has it for mcp-go's path
		}
		return nil, &e
	}
	if len(m.result) == 0 {
		return nil, fmt.Errorf("%w: %s returned no result", ErrProtocol, method)
	}
	return m.result, nil
}

// sameID reports whether a response's raw id is the request's: the number
// as the hub wrote it, or (from lenient servers) that number as a string.
func sameID(raw []byte, id int64) bool {
	var buf [24]byte
	want := strconv.AppendInt(buf[:0], id, 10)
	if len(raw) > 1 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	return bytes.Equal(raw, want)
}

// Stream resumption, as mcp-go does it (SEP-1699): a server may end a
// request's stream before the answer once it sent an event id, and the
// client reopens it with a GET carrying Last-Event-ID.
const (
	defaultResumeDelay = time.Second
	minResumeDelay     = 10 * time.Millisecond
	maxResumes         = 100
)

// sseCursor is where a request's stream stopped.
type sseCursor struct {
	lastID string
	retry  time.Duration // 0: none given
}

// readAnswer reads the event stream answering request id: notifications go
// to the session's handler, requests from the server are answered, and the
// first response ends it (one with another id is a protocol error, as in
// the JSON case and as mcp-go had it).
//
// A resumption the server refuses (404, 405: it forgot the session or the
// stream) fails the call with ErrNotConnected. mcp-go re-initialised and
// sent the call again, which could run a tool twice; here the supervisor's
// probe finds the lost session and re-initialises it for the next call.
func (s *session) readAnswer(ctx context.Context, p *poster, body io.Reader, id int64, method string) (json.RawMessage, error) {
	var cur sseCursor
	release := func() {}
	defer func() { release() }()
	for resumes := 0; ; resumes++ {
		res, done, err := s.readEvents(ctx, body, &cur, id, method)
		if done || err != nil {
			if err != nil && ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var rpcErr *RPCError
			switch {
			case err == nil || errors.As(err, &rpcErr) || errors.Is(err, ErrProtocol):
				return res, err
			default:
				return nil, streamBroke(method, err)
			}
		}
		if cur.lastID == "" || resumes == maxResumes {
			return nil, fmt.Errorf("%w: the event stream answering %s ended without the response", ErrProtocol, method)
		}
		release()
		var rb io.ReadCloser
		rb, release, err = s.resume(ctx, p, &cur)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("%w: resuming the event stream answering %s: %w", ErrNotConnected, method, err)
		}
		body = rb
	}
}

// resume waits the time the server asked for and reopens the stream on a
// connection of its own; release ends it.
func (s *session) resume(ctx context.Context, p *poster, cur *sseCursor) (body io.ReadCloser, release func(), err error) {
	delay := defaultResumeDelay
	if cur.retry > 0 {
		delay = max(cur.retry, minResumeDelay)
	}
	if waitClosed(ctx.Done(), delay) {
		return nil, func() {}, ctx.Err()
	}
	ctx, cancel := context.WithCancel(ctx)
	resp, _, err := s.openStream(ctx, p, cur.lastID)
	if err != nil {
		cancel()
		return nil, func() {}, err
	}
	return resp.Body, func() { cancel(); resp.Body.Close() }, nil
}

// openStream opens an event stream with a GET on the session: the
// standalone GET stream (listen.go), or, after lastID, a request's stream
// the server ended early. status is the HTTP status (0: none); the caller
// closes the body of a stream it got.
func (s *session) openStream(ctx context.Context, p *poster, lastID string) (resp *http.Response, status int, err error) {
	req, err := s.newPost(ctx, p, http.MethodGet, nil, hdrSSE)
	if err != nil {
		return nil, 0, err
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	if resp, err = p.client.Do(req); err != nil {
		return nil, 0, err
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || mediaType(ct) != "text/event-stream" {
		drain(resp.Body, 4<<10)
		resp.Body.Close()
		return nil, resp.StatusCode, fmt.Errorf("HTTP status %d, content type %q", resp.StatusCode, truncate(ct, 64))
	}
	return resp, resp.StatusCode, nil
}

// drain reads up to n bytes of a body about to be closed, so that its
// connection can be kept alive.
func drain(body io.Reader, n int64) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, n))
}

// readEvents reads one stream until the response to request id (done), its
// end (neither done nor an error) or a read error. The SSE fields are
// parsed as mcp-go does; an event's id counts once it is dispatched.
func (s *session) readEvents(ctx context.Context, body io.Reader, cur *sseCursor, id int64, method string) (json.RawMessage, bool, error) {
	br := bufio.NewReaderSize(body, 16<<10)
	var data []byte
	var eventID string
	hasID, hasData := false, false
	for {
		line, owned, err := readLine(br)
		if err != nil {
			if err == io.EOF {
				if hasData { // an unfinished event: used, but its id not kept
					if res, ok, aerr := s.dispatch(ctx, data, id, method); ok || aerr != nil {
						return res, ok, aerr
					}
				}
				return nil, false, nil
			}
			return nil, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if hasID {
				cur.lastID = eventID
				hasID = false
			}
			if hasData {
				res, ok, aerr := s.dispatch(ctx, data, id, method)
				if ok || aerr != nil {
					return res, ok, aerr
				}
				data, hasData = nil, false
			}
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			switch {
			case hasData && len(data)+1+len(value) > s.maxMessage:
				// Each line is bounded (lineLimitReader); so is the event.
				return nil, false, fmt.Errorf("%w: an event exceeded %d bytes", ErrMessageTooLarge, s.maxMessage)
			case hasData:
				data = append(append(data, '\n'), value...)
			case owned:
				data = value // a long line is ours already: no second copy of megabytes
			default:
				data = append([]byte(nil), value...)
			}
			hasData = true
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				eventID, hasID = string(value), true
			}
		case "retry":
			if ms, err := strconv.ParseUint(string(value), 10, 31); err == nil {
				cur.retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// readLine reads one line. A line that fits the reader's buffer is returned
// in it (valid until the next read); a longer one is gathered in chunks and
// copied once into a slice of its own (owned), so that a message near the
// size limit costs twice its size at most, as bufio.Reader.ReadString does,
// not the sum of append's doublings.
func readLine(br *bufio.Reader) (line []byte, owned bool, err error) {
	line, err = br.ReadSlice('\n')
	if !errors.Is(err, bufio.ErrBufferFull) {
		return line, false, err
	}
	var chunks [][]byte
	n := 0
	for errors.Is(err, bufio.ErrBufferFull) {
		chunks = append(chunks, bytes.Clone(line))
		n += len(line)
		line, err = br.ReadSlice('\n')
	}
	if err != nil && err != io.EOF {
		return nil, false, err
	}
	full := make([]byte, 0, n+len(line))
	for _, c := range chunks {
		full = append(full, c...)
	}
	return append(full, line...), true, err
}

// dispatch handles one event's data: a response ends the stream (ok); a
// notification goes to the session, a request from the server is
// answered, anything else (an event without data, as a server primes a
// stream with; something that is not JSON-RPC) is skipped as mcp-go does.
func (s *session) dispatch(ctx context.Context, data []byte, id int64, method string) (json.RawMessage, bool, error) {
	if len(data) == 0 {
		return nil, false, nil
	}
	msg, ok := splitMessage(data)
	if !ok {
		s.log.Debug("event that is not a JSON-RPC message skipped", "method", method, "bytes", len(data))
		return nil, false, nil
	}
	switch {
	case msg.method != nil && msg.id == nil:
		var n mcp.JSONRPCNotification
		if err := json.Unmarshal(data, &n); err == nil {
			s.handleNotification(n)
		}
	case msg.method != nil:
		s.answerServer(ctx, s.postable(), msg)
	case msg.id != nil && id == noRequest:
		// A response on the GET stream answers nothing the hub asked
		// there: skipped, as mcp-go does.
		s.log.Debug("response on the GET stream skipped", "id", truncate(msg.id, 64))
	case msg.id != nil:
		res, err := msg.answer(method, id)
		return res, true, err
	}
	return nil, false, nil
}

// answerServer answers a request the server sent on a call's stream: a
// ping with an empty result, anything else (sampling, elicitation, roots)
// with "method not found", since the hub offers none of them to servers.
// It answers before reading on, as mcp-go does without a handler: the
// server waits for the answer anyway, and a server sending requests
// without end gets them answered one at a time.
func (s *session) answerServer(ctx context.Context, p *poster, msg message) {
	if p == nil { // the session changed under the call: nobody to answer
		return
	}
	b := serverAnswer(msg)
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := s.newPost(ctx, p, http.MethodPost, b, hdrAccept)
	if err != nil {
		return
	}
	resp, err := p.client.Do(req)
	if err != nil {
		s.log.Debug("answer to a server request not sent", "err", err)
		return
	}
	drain(resp.Body, 64<<10)
	cancel()
	resp.Body.Close()
}

// bufferedBody is a JSON response body limitBodies read whole; postRequest takes
// its bytes without reading them again.
type bufferedBody struct {
	*bytes.Reader
	b []byte
}

func (bufferedBody) Close() error { return nil }
