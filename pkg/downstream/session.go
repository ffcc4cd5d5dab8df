package downstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/config"
)

// firstRequestID keeps the hub's raw request ids apart from the ones mcp-go's
// client numbers from 1 for initialize.
const firstRequestID = 1 << 32

// session is one live connection to a server: a started transport on which
// the handshake succeeded. Requests bypass mcp-go's typed client, so results
// reach callers exactly as the server sent them and no schema field is lost:
// over stdio and Streamable HTTP they go out on the hub's own paths (lines.go,
// post.go), over legacy SSE through mcp-go's transport raw.
type session struct {
	srv    config.Server
	log    *slog.Logger
	client *client.Client
	tr     transport.Interface
	proc   *process // stdio only
	post   *poster  // Streamable HTTP only: see post.go
	lines  *lines   // stdio only: see lines.go
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup // best-effort sends that must end before close returns
	bgMu   sync.Mutex     // orders bg.Add against close
	closed bool

	init     atomic.Pointer[mcp.InitializeResult] // replaced by reinitialize
	nextID   atomic.Int64
	lastSeen atomic.Int64 // unix nanos of the last successful exchange

	maxMessage    int           // bytes; see lineLimitReader
	clientVersion string        // the hub's version, in initialize's clientInfo
	listenRetry   time.Duration // Options.ListenRetry
	dead          chan struct{} // closed when the transport is known to be gone
	deadOnce      sync.Once
	deadErr       error

	// reinitMu serialises re-initialisation after the server forgot the
	// session (Streamable HTTP 404); generation tells late callers it is done.
	reinitMu   sync.Mutex
	generation atomic.Int64

	progress sync.Map // progress token (string) → func(Progress)

	listen listener // Streamable HTTP before 2026-07-28: see listen.go

	onListChanged func(kind string)
}

// Progress is one notifications/progress from a downstream call.
type Progress struct {
	Progress float64  `json:"progress"`
	Total    *float64 `json:"total,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// openSession starts the transport and performs the handshake. ctx bounds
// only the handshake; the session lives until close.
func openSession(ctx context.Context, parent context.Context, srv config.Server, httpClient *httpClient, opts Options, log *slog.Logger, onListChanged func(string)) (*session, error) {
	sctx, cancel := context.WithCancel(parent)
	s := &session{srv: srv, log: log, ctx: sctx, cancel: cancel, dead: make(chan struct{}), onListChanged: onListChanged,
		maxMessage: opts.MaxMessageBytes, clientVersion: opts.ClientVersion, listenRetry: opts.ListenRetry}
	s.nextID.Store(firstRequestID)

	tr, err := s.newTransport(httpClient)
	if err != nil {
		cancel()
		return nil, err
	}
	s.tr = tr
	s.client = client.NewClient(tr, client.WithProtocolVersion(srv.ProtocolVersion))
	if s.proc != nil {
		go func() {
			select {
			case <-s.proc.exited:
				s.markDead(s.proc.exitError())
			case <-sctx.Done():
			}
		}()
	}
	// The transport's lifetime is the session's, never the handshake's.
	if err := s.client.Start(sctx); err != nil {
		s.close()
		return nil, fmt.Errorf("start transport: %w", err)
	}
	s.client.OnNotification(s.handleNotification)
	s.client.OnConnectionLost(func(err error) { s.markDead(fmt.Errorf("connection lost: %w", err)) })

	if err := s.initialize(ctx); err != nil {
		s.close()
		return nil, err
	}
	if s.post != nil && !mcp.IsModernProtocol(srv.ProtocolVersion) {
		// The GET stream is how list_changed reaches the hub between calls;
		// 2026-07-28 has none.
		s.startListening()
	}
	return s, nil
}

func (s *session) newTransport(httpClient *httpClient) (transport.Interface, error) {
	log := s.log.With("component", "transport")
	switch s.srv.Transport {
	case config.TransportStdio:
		p, err := startProcess(s.srv)
		if err != nil {
			return nil, err
		}
		s.proc = p
		// lines leaves process management to us; stderr is drained by
		// process. Each line is read whole: a line over the limit ends the
		// session (the reader stops) instead of the hub's memory.
		out := &lineLimitReader{r: p.stdout, max: s.maxMessage, onExceeded: s.markDead}
		s.lines = newLines(p.stdin, out, log)
		return s.lines, nil
	case config.TransportSSE:
		return transport.NewSSE(s.srv.Endpoint,
			transport.WithHTTPClient(httpClient.Client),
			transport.WithHeaders(s.srv.Headers),
			transport.WithHeaderFunc(requestIDHeaders(s.srv.Headers)),
			transport.WithEndpointTimeout(s.srv.Timeout),
			// Calls carry their own deadline; this only backs it up.
			transport.WithResponseTimeout(24*time.Hour),
			transport.WithSSELogger(log))
	case config.TransportStreamableHTTP:
		// No WithContinuousListening: the hub keeps the GET stream itself
		// (listen.go), once the handshake is done.
		tr, err := transport.NewStreamableHTTP(s.srv.Endpoint,
			transport.WithHTTPBasicClient(httpClient.Client),
			transport.WithHTTPHeaders(s.srv.Headers),
			transport.WithHTTPHeaderFunc(requestIDHeaders(s.srv.Headers)),
			transport.WithHTTPLogger(log))
		if err != nil {
			return nil, err
		}
		s.post = newPoster(httpClient, s.srv.Endpoint, s.srv.Headers, tr)
		return tr, nil
	default:
		return nil, fmt.Errorf("unknown transport %q", s.srv.Transport)
	}
}

// httpClient is one HTTP server's connection pool as its two request paths
// take it: mcp-go's transports through the embedded client, the hub's own
// poster straight through own.
type httpClient struct {
	*http.Client
	// own is the client's transport without sessionEnds (the poster sends
	// no DELETE) and without limitBodies' id check, which would scan a big
	// body a second time before the poster reads its id.
	own http.RoundTripper
}

// newHTTPClient gives each HTTP server its own connection pool, sized for
// concurrent calls: Go's default of two idle connections per host makes every
// extra concurrent call open (and later TIME-WAIT) a fresh TCP connection.
//
// HTTP/2 is only ever negotiated over TLS, so it is set up only for an https
// endpoint: for plain http it would cost each server an unused HTTP/2
// transport (about 1.4 KB). Plain http without a proxy goes through
// inlineTransport (inline.go), everything else through that Transport.
func newHTTPClient(endpoint string, headers map[string]string, maxMessage int) *httpClient {
	u, err := url.Parse(endpoint)
	overTLS := err != nil || !strings.EqualFold(u.Scheme, "http") // when in doubt, as before
	limited := limitBodies{max: maxMessage, next: newInlineTransport(&http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     overTLS,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	})}
	own := limited
	own.ownPath = true
	return &httpClient{Client: &http.Client{Transport: sessionEnds{headers: headers, next: limited}, CheckRedirect: oneRedirect}, own: own}
}

// oneRedirect is the poster's redirect rule (see poster.follow) for the
// requests that go through http.Client (the handshake, notifications,
// requests handed to mcp-go, the GET stream): one redirect, and none that
// would turn a POST into a GET without its body. net/http drops the
// credentials on the way to another host by itself.
func oneRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > 1 {
		return fmt.Errorf("%w: redirected again, to %s: the hub follows one redirect", ErrProtocol, req.URL.Redacted())
	}
	if req.Method != via[0].Method {
		return fmt.Errorf("%w: a redirect to %s would send the %s as a %s", ErrProtocol, req.URL.Redacted(), via[0].Method, req.Method)
	}
	return nil
}

// sessionEndTimeout bounds the DELETE that ends a Streamable HTTP session.
// It is a courtesy (the server expires the session anyway), so a server that
// does not answer it must not hold up a reconnect, a reload or the hub's
// shutdown for the five seconds mcp-go allows it.
const sessionEndTimeout = time.Second

// sessionEnds completes mcp-go's session-ending DELETE, the only one of its
// requests sent without the server's configured headers (a server that
// requires auth refuses it, and the session lingers there until it expires),
// and bounds it by sessionEndTimeout.
type sessionEnds struct {
	next    http.RoundTripper
	headers map[string]string
}

func (t sessionEnds) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodDelete {
		return t.next.RoundTrip(req)
	}
	ctx, cancel := context.WithTimeout(req.Context(), sessionEndTimeout)
	req = req.Clone(ctx) // a RoundTripper must not change its caller's request
	for k, v := range t.headers {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

func (t sessionEnds) CloseIdleConnections() { closeIdle(t.next) }

// cancelOnClose ends a request's context once its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func (s *session) initialize(ctx context.Context) error {
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = s.srv.ProtocolVersion
	req.Params.ClientInfo = mcp.Implementation{Name: "mcphub", Version: s.clientVersion}
	res, err := s.client.Initialize(ctx, req)
	if err != nil {
		return fmt.Errorf("initialize: %w", s.childError(err))
	}
	s.init.Store(res)
	if s.post != nil {
		s.post.handshakeDone()
	}
	s.touch()
	return nil
}

// childError replaces a pipe error (closed transport, EPIPE, closed file)
// with the reason a stdio child died, when it did: that is what a person
// needs to see. Other errors pass through.
func (s *session) childError(err error) error {
	if s.proc == nil || !(errors.Is(err, transport.ErrTransportClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed)) {
		return err
	}
	select {
	case <-s.proc.exited:
		return s.proc.exitError()
	case <-time.After(500 * time.Millisecond):
		return err
	}
}

func (s *session) touch() { s.lastSeen.Store(time.Now().UnixNano()) }

func (s *session) markDead(err error) {
	s.deadOnce.Do(func() {
		s.deadErr = err
		close(s.dead)
	})
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// close ends the session and, for stdio, the child's whole process group.
func (s *session) close() {
	if s.post != nil {
		// Requests on the hub's own path end now, not after mcp-go's
		// Close, whose DELETE may take up to sessionEndTimeout.
		s.cancel()
	}
	if s.tr != nil {
		_ = s.tr.Close()
	}
	if s.listen.done != nil {
		<-s.listen.done // its context is the session's, cancelled above
	}
	if s.proc != nil {
		s.proc.stop() // closes stdout: the stdio reader returns
	}
	if s.lines != nil && s.lines.started() {
		<-s.lines.readerDone // nothing reaches the session's handlers after close
	}
	s.cancel()
	s.bgMu.Lock()
	s.closed = true
	s.bgMu.Unlock()
	s.bg.Wait()
}

// request sends one JSON-RPC request and returns its raw result. A
// Streamable HTTP session the server forgot (404) is re-initialised and the
// request retried once, for every caller alike: the supervisor's pings and
// re-discoveries as much as calls, which would otherwise race it (one
// re-initialising while the other declares the session dead and closes it
// under the first).
func (s *session) request(ctx context.Context, method string, params any) (json.RawMessage, error) {
	gen := s.generation.Load()
	res, err := s.send(ctx, method, params)
	if !errors.Is(err, transport.ErrSessionTerminated) {
		return res, err
	}
	if rerr := s.reinitialize(ctx, gen); rerr != nil {
		return nil, fmt.Errorf("%w: session expired and re-initialize failed: %w", ErrNotConnected, rerr)
	}
	if s.onListChanged != nil {
		s.onListChanged("session") // the server restarted: what it offers may have changed
	}
	return s.send(ctx, method, params)
}

// send is one attempt of request.
func (s *session) send(ctx context.Context, method string, params any) (json.RawMessage, error) {
	if s.isDead() {
		return nil, fmt.Errorf("%w: %w", ErrNotConnected, s.deadErr)
	}
	if err := ctx.Err(); err != nil { // the caller gave up: nothing to send, nothing to cancel
		return nil, err
	}
	n := s.nextID.Add(1)
	var res json.RawMessage
	var err error
	switch p := s.postable(); {
	case p != nil:
		res, err = s.postRequest(ctx, p, n, method, params)
		if errors.Is(err, errHandOver) {
			res, err = s.sendMCPGo(ctx, n, method, params)
		}
	case s.lines != nil:
		res, err = s.lines.call(ctx, n, method, params)
	default:
		res, err = s.sendMCPGo(ctx, n, method, params)
	}
	var rpcErr *RPCError
	switch {
	case err == nil || errors.As(err, &rpcErr): // an error answer is an answer: the server is there
		s.touch()
		return res, err
	case ctx.Err() != nil:
		s.cancelRequest(mcp.NewRequestId(n), ctx.Err())
		return nil, ctx.Err()
	case errors.Is(err, ErrProtocol) || errors.Is(err, ErrNotConnected):
		return nil, err
	case s.isDead(): // say why the transport failed: e.g. a message over the limit
		return nil, transportLost(s.deadErr)
	default:
		return nil, s.childError(err)
	}
}

// transportLost classifies why a transport failed: a message over the limit
// is the server's fault (ErrProtocol), anything else leaves it unreachable.
func transportLost(err error) error {
	if errors.Is(err, ErrMessageTooLarge) {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return fmt.Errorf("%w: %w", ErrNotConnected, err)
}

// streamBroke is transportLost for the event stream answering one request.
func streamBroke(method string, err error) error {
	if errors.Is(err, ErrMessageTooLarge) {
		return transportLost(err)
	}
	return fmt.Errorf("%w: the event stream answering %s broke: %w", ErrNotConnected, method, err)
}

// sendMCPGo is send through mcp-go's transport: legacy SSE, and the
// Streamable HTTP cases post.go hands over.
func (s *session) sendMCPGo(ctx context.Context, n int64, method string, params any) (json.RawMessage, error) {
	id := mcp.NewRequestId(n)
	sendCtx, stream := withStreamState(ctx)
	resp, err := s.tr.SendRequest(sendCtx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: id, Method: method, Params: params,
	})
	if err != nil {
		if serr := stream.failure(); serr != nil && ctx.Err() == nil {
			return nil, streamBroke(method, serr)
		}
		return nil, err
	}
	// mcp-go takes an HTTP body as the answer whatever id it carries: an
	// answer to another request must not become this call's result.
	if resp.ID.String() != id.String() {
		return nil, fmt.Errorf("%w: %s answered with id %s, the request had id %s", ErrProtocol, method, truncate(resp.ID.String(), 64), id.String())
	}
	if resp.Error != nil {
		return nil, &RPCError{Code: resp.Error.Code, Message: resp.Error.Message, Data: rawData(resp.Error.Data)}
	}
	if len(resp.Result) == 0 {
		return nil, fmt.Errorf("%w: %s returned no result", ErrProtocol, method)
	}
	return resp.Result, nil
}

// cancelRequest tells the server to stop work on a request the caller gave
// up on. The spec asks for it on every transport: a dropped HTTP connection
// is not a cancellation.
func (s *session) cancelRequest(id mcp.RequestId, reason error) {
	n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{
		Method: string(mcp.MethodNotificationCancelled),
		Params: mcp.NotificationParams{AdditionalFields: map[string]any{"requestId": id, "reason": reason.Error()}},
	}}
	// Off the caller's path: it already has its answer, and a peer that does
	// not read must not hold it up.
	s.background(func(ctx context.Context) {
		if err := s.tr.SendNotification(ctx, n); err != nil {
			s.log.Debug("cancel notification not sent", "err", err)
		}
	})
}

// background runs a best-effort send of at most two seconds that close
// waits for; after close it does nothing.
func (s *session) background(send func(ctx context.Context)) {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, 2*time.Second)
		defer cancel()
		send(ctx)
	}()
}

func rawData(v any) json.RawMessage {
	if v == nil {
		return nil
	}
	if raw, ok := v.(json.RawMessage); ok {
		return raw
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	return b
}

// handleNotification runs on the transport's reader goroutine: it must not block.
func (s *session) handleNotification(n mcp.JSONRPCNotification) {
	switch n.Method {
	case string(mcp.MethodNotificationProgress):
		tok := tokenString(n.Params.AdditionalFields["progressToken"])
		if fn, ok := s.progress.Load(tok); ok {
			fn.(func(Progress))(progressFrom(n.Params.AdditionalFields))
		}
	case string(mcp.MethodNotificationToolsListChanged):
		s.onListChanged("tools")
	case string(mcp.MethodNotificationResourcesListChanged):
		s.onListChanged("resources")
	case string(mcp.MethodNotificationPromptsListChanged):
		s.onListChanged("prompts")
	}
}

func tokenString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	case json.Number:
		return t.String()
	default:
		return fmt.Sprint(t)
	}
}

func progressFrom(f map[string]any) Progress {
	var p Progress
	if v, ok := f["progress"].(float64); ok {
		p.Progress = v
	}
	if v, ok := f["total"].(float64); ok {
		p.Total = &v
	}
	if v, ok := f["message"].(string); ok {
		p.Message = v
	}
	return p
}
