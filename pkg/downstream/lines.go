package downstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// lines is the transport of a stdio child: JSON-RPC messages one per line
// on its stdin and stdout. It stands in for mcp-go's transport.NewIO, which
// decodes every line it reads up to three times through encoding/json (to
// tell a response from a notification, then into its envelope type) and
// encodes every request through its envelope type: 20% of the hub's CPU per
// stdio call (perf, REST at 16 concurrent). Here each line is split once
// (internal/rawjson) and a request is written in one append.
//
// mcp-go's client still runs over it for the handshake (transport.Interface);
// the hub's own requests go through call. Requests from the server are
// answered here as on the HTTP path (post.go): ping with an empty result,
// anything else with "method not found".
type lines struct {
	in  io.WriteCloser // the child's stdin
	out *bufio.Reader  // the child's stdout, bounded per line by lineLimitReader
	log *slog.Logger

	writeMu sync.Mutex // one line at a time on stdin
	// answers are the hub's answers to the server's requests, written by
	// their own goroutine: the reader must never wait on stdin, or a
	// server writing much while not reading would deadlock with it.
	answers chan []byte

	mu      sync.Mutex
	pending map[string]chan message // raw request id → where its response goes

	notifyMu sync.RWMutex
	notify   func(mcp.JSONRPCNotification)

	done       chan struct{} // closed when the reader stops or Close is called
	readerDone chan struct{} // closed when the reader has returned
	startedOK  atomic.Bool   // set once, by the first Start
	doneOnce   sync.Once
	closeOnce  sync.Once
}

var _ transport.Interface = (*lines)(nil)

func newLines(in io.WriteCloser, out io.Reader, log *slog.Logger) *lines {
	return &lines{
		in: in, out: bufio.NewReaderSize(out, 16<<10), log: log,
		pending: make(map[string]chan message),
		answers: make(chan []byte, 64),
		done:    make(chan struct{}),

		readerDone: make(chan struct{}),
	}
}

// Start starts the reader. It ends when stdout does (the child exited, or
// close of the session closed the pipe); ctx is not needed for that.
func (l *lines) Start(context.Context) error {
	if l.startedOK.CompareAndSwap(false, true) {
		go l.read()
		go l.answer()
	}
	return nil
}

// answer writes the answers to the server's requests until the end.
func (l *lines) answer() {
	for {
		select {
		case b := <-l.answers:
			if err := l.write(b); err != nil {
				l.log.Debug("answer to a server request not sent", "err", err)
			}
		case <-l.done:
			return
		}
	}
}

// Close stops the transport and closes the child's stdin, which asks the
// child to exit; the process itself is the session's to stop.
func (l *lines) Close() error {
	var err error
	l.end()
	l.closeOnce.Do(func() { err = l.in.Close() })
	return err
}

// started reports whether Start ran (and so a reader will close readerDone).
func (l *lines) started() bool { return l.startedOK.Load() }

// end unblocks every waiting request.
func (l *lines) end() { l.doneOnce.Do(func() { close(l.done) }) }

func (l *lines) GetSessionId() string { return "" }

func (l *lines) SetNotificationHandler(h func(mcp.JSONRPCNotification)) {
	l.notifyMu.Lock()
	l.notify = h
	l.notifyMu.Unlock()
}

// SendRequest is mcp-go's entry, used for the handshake.
func (l *lines) SendRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	id, err := json.Marshal(req.ID)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", req.Method, err)
	}
	msg, err := l.roundTrip(ctx, string(id), b)
	if err != nil {
		return nil, err
	}
	resp := &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: req.ID, Result: json.RawMessage(msg.result)}
	if msg.err != nil {
		resp.Error = new(mcp.JSONRPCErrorDetails)
		if err := json.Unmarshal(msg.err, resp.Error); err != nil {
			return nil, fmt.Errorf("%w: %s answered with an error that is not a JSON-RPC error", ErrProtocol, req.Method)
		}
	}
	return resp, nil
}

// SendNotification writes one notification.
func (l *lines) SendNotification(ctx context.Context, n mcp.JSONRPCNotification) error {
	select {
	case <-l.done:
		return transport.ErrTransportClosed
	default:
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	return l.write(b)
}

// call sends the hub's request id and returns its result as sent.
func (l *lines) call(ctx context.Context, id int64, method string, params any) (json.RawMessage, error) {
	b, err := requestBody(id, method, params)
	if err != nil {
		return nil, err
	}
	msg, err := l.roundTrip(ctx, strconv.FormatInt(id, 10), b)
	if err != nil {
		return nil, err
	}
	return msg.answer(method, id)
}

// roundTrip writes one request line and waits for the response to it.
func (l *lines) roundTrip(ctx context.Context, id string, b []byte) (message, error) {
	select {
	case <-l.done:
		return message{}, transport.ErrTransportClosed
	default:
	}
	if err := ctx.Err(); err != nil { // a caller that gave up sends nothing: a tool must not run for nobody
		return message{}, err
	}
	ch := answerChans.Get().(chan message)
	l.mu.Lock()
	l.pending[id] = ch
	l.mu.Unlock()
	forget := func() {
		l.mu.Lock()
		delete(l.pending, id)
		l.mu.Unlock()
	}
	if err := l.write(b); err != nil {
		forget()
		return message{}, err
	}
	select {
	case msg := <-ch:
		answerChans.Put(ch)
		return msg, nil
	case <-ctx.Done():
		forget() // ch is not reused: the reader may have taken it already and answer into it
		return message{}, ctx.Err()
	case <-l.done:
		select {
		case msg := <-ch: // answered just before the end
			answerChans.Put(ch)
			return msg, nil
		default:
		}
		forget()
		return message{}, transport.ErrTransportClosed
	}
}

// answerChans are roundTrip's channels, each reused once its answer has
// been taken from it: by then the reader has removed it from pending and
// sent its one message, so nothing else holds it and it is empty. Two
// allocations fewer per call (a channel of messages and its buffer).
var answerChans = sync.Pool{New: func() any { return make(chan message, 1) }}

// write writes b and a newline as one line.
func (l *lines) write(b []byte) error {
	b = append(b, '\n')
	l.writeMu.Lock()
	_, err := l.in.Write(b)
	l.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("write to the server's stdin: %w", err)
	}
	return nil
}

// read reads stdout until it ends, routing each line: a response to its
// request, a notification to the handler, a request from the server to its
// answer. Lines that are not JSON-RPC are skipped, as mcp-go does.
func (l *lines) read() {
	defer close(l.readerDone)
	defer l.end()
	for {
		line, owned, err := readLine(l.out)
		select {
		case <-l.done: // closed: nobody is to hear more, as mcp-go's reader stopped
			return
		default:
		}
		if err != nil {
			if err != io.EOF {
				l.log.Debug("reading the server's stdout stopped", "err", err)
			}
			return
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			continue
		}
		if !owned {
			line = bytes.Clone(line) // the reader's buffer is reused; a response outlives it
		}
		msg, ok := splitMessage(line)
		switch {
		case !ok:
			l.log.Debug("line that is not a JSON-RPC message skipped", "bytes", len(line))
		case msg.method != nil && msg.id == nil:
			l.notifyMu.RLock()
			h := l.notify
			l.notifyMu.RUnlock()
			var n mcp.JSONRPCNotification
			if h != nil && json.Unmarshal(line, &n) == nil {
				h(n)
			}
		case msg.method != nil:
			select {
			case l.answers <- serverAnswer(msg):
			default: // 64 unanswered already: the server is not reading
				l.log.Debug("answer to a server request dropped: the server is not reading its stdin")
			}
		case msg.id != nil:
			key := string(msg.id)
			if len(key) > 1 && key[0] == '"' { // lenient servers quote numeric ids
				if _, err := strconv.ParseInt(key[1:len(key)-1], 10, 64); err == nil {
					key = key[1 : len(key)-1]
				}
			}
			l.mu.Lock()
			ch, ok := l.pending[key]
			delete(l.pending, key)
			l.mu.Unlock()
			if ok {
				ch <- msg
			}
		}
	}
}

// serverAnswer is the hub's answer to a request a server sent it: ping
// gets an empty result; the hub serves servers nothing else.
func serverAnswer(msg message) []byte {
	var b []byte
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = append(b, msg.id...)
	if string(msg.method) == `"ping"` {
		return append(b, `,"result":{}}`...)
	}
	return append(b, `,"error":{"code":-32601,"message":"mcphub does not serve this method to downstream servers"}}`...)
}
