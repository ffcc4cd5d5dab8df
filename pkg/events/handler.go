package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/r3labs/sse/v2"
)

const (
	defaultHeartbeat    = 15 * time.Second
	defaultWriteTimeout = 10 * time.Second

	// streamID names the only stream of each connection's own sse.Server.
	streamID = "events"
)

// Why a stream ended; logged, and visible through context.Cause.
var (
	errSlowClient = errors.New("client too slow: its stream buffer is full")
	errLagged     = errors.New("subscription lagged")
	errBusClosed  = errors.New("event bus closed")
	errServeDone  = errors.New("r3labs ServeHTTP returned")
)

// HandlerOptions configures Bus.Handler.
type HandlerOptions struct {
	Heartbeat    time.Duration // comment heartbeat interval (default 15s)
	WriteTimeout time.Duration // per-write deadline (default 10s)
	Buffer       int           // per-subscriber queue (default 256)
	Logger       *slog.Logger  // default: the bus's logger
	// Retry, if positive, is sent as the SSE `retry:` field of the first
	// event: how long clients wait before reconnecting (browsers default to
	// about 3s).
	Retry time.Duration
}

// Handler serves the bus as text/event-stream: each event as `id: <ID>`,
// `event: <Type>`, `data: <the Event as one line of JSON:
// {"id","type","time","data"}>`, preceded by one StreamStart event. It
// honours the Last-Event-ID header (and a `last_event_id` query parameter for
// clients that cannot set headers, e.g. browser EventSource on first connect);
// a non-numeric value is a 400 with a JSON body {"success":false,"error":"..."}
// saying what was wrong. It also accepts an optional `types` query parameter
// (comma-separated Type list) to filter; an unknown type is a 400 JSON error
// naming it. It returns when the client goes away, the subscriber lags (the
// client then reconnects and replays), or the bus closes. Sets Cache-Control
// no-cache and X-Accel-Buffering: no.
func (b *Bus) Handler(opts HandlerOptions) http.Handler {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = defaultHeartbeat
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.Buffer <= 0 {
		opts.Buffer = defaultBuffer
	}
	if opts.Logger == nil {
		opts.Logger = b.log
	}
	h := &handler{bus: b, opts: opts, heartbeat: &sse.Event{Comment: []byte("keepalive")}}
	if opts.Retry > 0 {
		h.retry = []byte(strconv.FormatInt(opts.Retry.Milliseconds(), 10))
	}
	return h
}

type handler struct {
	bus       *Bus
	opts      HandlerOptions
	heartbeat *sse.Event // read-only, shared by every stream
	retry     []byte
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	after, resumed, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	filter, err := parseTypes(r.URL.Query()["types"])
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !canFlush(w) {
		h.opts.Logger.Error("events: the ResponseWriter cannot flush; cannot stream")
		writeError(w, http.StatusInternalServerError, "streaming is not supported by this server")
		return
	}

	sub := h.bus.subscribe(after, resumed, h.opts.Buffer)
	defer sub.Close()
	if sub.busClosed {
		writeError(w, http.StatusServiceUnavailable, "the event bus is closed")
		return
	}
	start, err := h.startEvent(sub, after, resumed)
	if err != nil {
		h.opts.Logger.Error("events: cannot open stream", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}

	// One sse.Server and Stream per connection: r3labs's fan-out blocks on
	// its slowest subscriber, so never let it serve two clients. The buffer
	// holds the replay, the StreamStart event, a heartbeat and Buffer live
	// events; when it is full the client is too slow (see pump).
	srv := sse.New()
	// AutoReplay's EventLog grows forever, and its Add rewrites the ID of
	// each event it logs: our events are shared by every stream. The Bus
	// ring replays instead. EncodeBase64 stays off too (it rewrites Data), and
	// so does EventTTL: it compares against a timestamp only EventLog.Add
	// sets, so without AutoReplay it would drop every event.
	srv.AutoReplay = false
	srv.AutoStream = false
	srv.BufferSize = sub.replayed + 2 + h.opts.Buffer
	srv.Headers["X-Accel-Buffering"] = "no"
	srv.CreateStream(streamID)

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	req := r.Clone(ctx)
	req.URL.RawQuery = "stream=" + streamID // all r3labs reads from the query
	req.Header.Del("Last-Event-ID")         // handled above; r3labs would 400 on values it cannot parse
	dw := newDeadlineWriter(w, h.opts.WriteTimeout, cancel)

	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		h.pump(ctx, cancel, srv, sub, filter, dw.registered, start)
	}()

	h.opts.Logger.Debug("events: stream opened", "remote", r.RemoteAddr, "after", after, "resumed", resumed)
	srv.ServeHTTP(dw, req) // returns once its subscriber has deregistered (ctx cancelled)
	cancel(errServeDone)
	<-pumpDone
	// Safe now: the subscriber has left the stream, so nothing can block on
	// the stream goroutine's deregister channel.
	srv.RemoveStream(streamID)
	dw.finish()

	if dw.status != http.StatusOK {
		h.opts.Logger.Error("events: r3labs refused the stream", "status", dw.status)
	}
	if dw.noDeadline {
		h.opts.Logger.Warn("events: the ResponseWriter does not support write deadlines; a stuck client could hold its stream until TCP gives up")
	}
	cause := context.Cause(ctx)
	level := slog.LevelDebug
	if errors.Is(cause, errSlowClient) || errors.Is(cause, errLagged) {
		level = slog.LevelInfo // the client will reconnect and replay; worth knowing if it repeats
	}
	h.opts.Logger.Log(r.Context(), level, "events: stream closed", "remote", r.RemoteAddr, "reason", cause)
}

// pump moves the StreamStart event, then the subscription's events, into the
// connection's r3labs stream. It never blocks on the client: if the stream
// buffer is full it ends the request, and the client resumes with
// Last-Event-ID.
func (h *handler) pump(ctx context.Context, cancel context.CancelCauseFunc, srv *sse.Server,
	sub *Subscription, filter map[Type]bool, registered <-chan struct{}, start *sse.Event,
) {
	// Events published into a stream before its subscriber registered are
	// dropped by r3labs, so wait for registration.
	select {
	case <-registered:
	case <-ctx.Done():
		return
	}
	if !srv.TryPublish(streamID, start) {
		cancel(errSlowClient)
		return
	}

	tick := time.NewTicker(h.opts.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-sub.C():
			if !ok {
				if sub.Lagged() {
					cancel(errLagged)
				} else {
					cancel(errBusClosed)
				}
				return
			}
			if filter != nil && !filter[ev.Type] {
				continue
			}
			// Never send an event without data or comment: r3labs's
			// ServeHTTP returns on one without deregistering.
			wire, err := ev.sse()
			if err != nil {
				cancel(fmt.Errorf("encode event %d: %w", ev.ID, err))
				return
			}
			if !srv.TryPublish(streamID, wire) {
				cancel(errSlowClient)
				return
			}
		case <-tick.C:
			if !srv.TryPublish(streamID, h.heartbeat) {
				cancel(errSlowClient)
				return
			}
		}
	}
}

// startEvent builds the StreamStart event: its ID is the position the stream
// resumes from, so a client that disconnects before any hub event still
// reconnects with a Last-Event-ID.
func (h *handler) startEvent(sub *Subscription, after uint64, resumed bool) (*sse.Event, error) {
	missed, reset := sub.Missed()
	info := StreamInfo{
		Resumed: resumed,
		After:   after,
		LastID:  sub.lastID,
		Missed:  missed,
		Reset:   reset,
		Resync:  missed > 0 || reset,
		Started: h.bus.Started(),
	}
	data, err := json.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("encode stream start: %w", err)
	}
	ev := Event{ID: sub.start, Type: StreamStart, Time: time.Now().UTC(), Data: data}
	wire, err := ev.sse()
	if err != nil {
		return nil, fmt.Errorf("encode stream start: %w", err)
	}
	wire.Retry = h.retry
	return wire, nil
}

// lastEventID reads the resume position: the Last-Event-ID header, else the
// last_event_id query parameter. resumed is false if neither was sent.
func lastEventID(r *http.Request) (after uint64, resumed bool, err error) {
	name, v := "Last-Event-ID header", r.Header.Get("Last-Event-ID")
	if v == "" {
		name, v = "last_event_id parameter", r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	after, err = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("invalid %s %q: want a non-negative integer event ID", name, v)
	}
	return after, true, nil
}

// parseTypes reads the `types` filter (comma-separated, may repeat); nil
// means every type.
func parseTypes(values []string) (map[Type]bool, error) {
	var filter map[Type]bool
	for _, v := range values {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			t := Type(name)
			if !knownTypes[t] {
				return nil, fmt.Errorf("unknown event type %q in types parameter", name)
			}
			if filter == nil {
				filter = make(map[Type]bool)
			}
			filter[t] = true
		}
	}
	return filter, nil
}

// canFlush reports whether w, or a writer it wraps, can flush.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch w.(type) {
		case http.Flusher, interface{ FlushError() error }:
			return true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return false
		}
		w = u.Unwrap()
	}
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(code)
	// The client may be gone; nothing useful to do with the error.
	_ = json.NewEncoder(w).Encode(struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
	}{false, msg})
}
