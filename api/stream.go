package api

import (
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/hub"
)

// The events of POST /mcp_hub/call_stream, in the order they can come:
// progress* , [pending, progress*], then exactly one of result, error,
// rejected or expired, after which the stream ends.
const (
	eventProgress = "progress"
	eventPending  = "pending"
	eventResult   = "result"
	eventError    = "error"
	eventRejected = "rejected"
	eventExpired  = "expired"
)

// ProgressEvent is one downstream notifications/progress, as sent.
type ProgressEvent struct {
	Progress float64  `json:"progress" example:"2"`
	Total    *float64 `json:"total,omitempty" example:"5"`
	Message  string   `json:"message,omitempty" example:"step 2 of 5"`
}

// StreamErrorEvent ends a stream that did not produce a result. status is
// the HTTP status /call would have answered with; approval_id names the
// approval request when the call needed one.
type StreamErrorEvent struct {
	Success    bool   `json:"success" example:"false"`
	Status     int    `json:"status" example:"503"`
	Error      string `json:"error" example:"server unavailable: server example is not running"`
	ApprovalID string `json:"approval_id,omitempty"`
}

// callStream godoc
//
//	@Summary		Call a tool, streaming progress
//	@ID				callToolStream
//	@Description	Takes the same body as /mcp_hub/call and answers text/event-stream. Each event is `event: <name>` and `data: <one line of JSON>`: `progress` ({"progress", "total"?, "message"?}) for each downstream progress notification, in order; `pending` (a PendingResponse) when the tool needs approval, after which the stream waits for the decision up to the approval TTL; then one of `result` (a CallResponse), `error`, `rejected` or `expired` ({"success": false, "status": the HTTP status /call would have answered, "error", "approval_id"?}), and the stream ends. Comment lines are heartbeats. Closing the connection cancels the downstream call.
//	@Description	Problems found before the stream starts (bad body, unknown tool) are ordinary JSON errors.
//	@Tags			tools
//	@Security		BearerToken
//	@Security		APIKey
//	@Accept			json
//	@Produce		text/event-stream
//	@Param			call	body		CallRequest		true	"the model's tool call"
//	@Success		200		{string}	string			"an SSE stream of progress, pending, result, error, rejected and expired events"
//	@Failure		400		{object}	ErrorResponse	"bad body or arguments"
//	@Failure		404		{object}	ErrorResponse	"unknown tool"
//	@Failure		413		{object}	ErrorResponse	"body too large"
//	@Failure		503		{object}	ErrorResponse	"the hub is stopping"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/call_stream [post]
func (s *server) callStream(c *gin.Context) {
	req, args, err := decodeCall(c.Request.Body, c.Request.ContentLength)
	if err != nil {
		s.writeError(c, err)
		return
	}
	// An unknown tool is an HTTP error, not a stream with one error event:
	// clients check the status before they read events.
	if _, err := s.hub.LookupTool(req.Function.Name); err != nil {
		s.writeError(c, err)
		return
	}
	ctx := c.Request.Context()
	q := newStreamQueue()
	done := make(chan struct{})
	var res *hub.CallResult
	var callErr error
	var approvalID string // set before done is closed, read after
	// Owned here: the handler returns only after the call ends.
	go func() {
		defer close(done)
		res, callErr = s.hub.Call(ctx, hub.CallRequest{
			Name: req.Function.Name, Arguments: args, Wait: -1,
			OnProgress: func(p hub.Progress) {
				q.push(eventProgress, ProgressEvent{Progress: p.Progress, Total: p.Total, Message: p.Message})
			},
			OnPending: func(r approval.Request) {
				approvalID = r.ID
				q.push(eventPending, pendingResponse(req.ID, &hub.PendingError{Request: r}))
			},
		})
	}()

	w := c.Writer
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events through at once
	w.WriteHeader(http.StatusOK)
	w.Flush()

	heartbeat := time.NewTicker(s.heartbeat)
	defer heartbeat.Stop()
	for {
		select {
		case <-q.ready:
			s.writeEvents(c, q.take())
		case <-heartbeat.C:
			_, _ = w.WriteString(": keepalive\n\n")
			w.Flush()
		case <-done:
			s.writeEvents(c, q.take()) // progress that came before the result
			name, data := s.finalEvent(c, req.ID, approvalID, res, callErr)
			s.writeEvents(c, []streamEvent{{name, data}})
			return
		}
	}
}

// finalEvent is the event that ends a stream.
func (s *server) finalEvent(c *gin.Context, callID, approvalID string, res *hub.CallResult, err error) (string, any) {
	if err == nil {
		return eventResult, callResponse(callID, res)
	}
	ev := StreamErrorEvent{Status: statusOf(err), Error: s.hub.Config().Scrub(err.Error()), ApprovalID: approvalID}
	switch {
	case errors.Is(err, hub.ErrRejected):
		return eventRejected, ev
	case errors.Is(err, hub.ErrExpired):
		return eventExpired, ev
	case ev.Status == http.StatusInternalServerError:
		s.log.ErrorContext(c.Request.Context(), "streamed call failed", "path", c.FullPath(), "err", err)
		ev.Error = "internal error"
	}
	return eventError, ev
}

func (s *server) writeEvents(c *gin.Context, evs []streamEvent) {
	for _, ev := range evs {
		c.SSEvent(ev.name, ev.data)
	}
	if len(evs) > 0 {
		c.Writer.Flush()
	}
}

type streamEvent struct {
	name string
	data any
}

// maxQueuedProgress bounds the progress events queued for a client that
// reads slower than the tool reports. Beyond it, the newest progress
// replaces the last queued one: progress is a state, so the client still
// sees where the call is, in order, and memory stays bounded.
const maxQueuedProgress = 4096

// streamQueue hands events from the downstream reader goroutine, which
// must never block, to the handler that writes them.
type streamQueue struct {
	mu     sync.Mutex
	events []streamEvent
	ready  chan struct{} // has a value while events is not empty
}

func newStreamQueue() *streamQueue { return &streamQueue{ready: make(chan struct{}, 1)} }

func (q *streamQueue) push(name string, data any) {
	q.mu.Lock()
	if n := len(q.events); n >= maxQueuedProgress && name == eventProgress && q.events[n-1].name == eventProgress {
		q.events[n-1].data = data
	} else {
		q.events = append(q.events, streamEvent{name, data})
	}
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *streamQueue) take() []streamEvent {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs := q.events
	q.events = nil
	return evs
}

// eventsHandler godoc
//
//	@Summary		Live hub events (SSE)
//	@ID				streamEvents
//	@Description	A text/event-stream of hub events: server_status, tools_changed, resources_changed, prompts_changed, refresh, approval_pending, approval_decided, config_reloaded, config_error. Each event is `id: <id>`, `event: <type>` and `data: {"id", "type", "time", "data"}` (one line of JSON). The first event of every stream is `stream_start`, whose data says where the stream resumes and whether the client must re-read state (`resync`).
//	@Description	Each event has an increasing numeric id; reconnect with Last-Event-ID (or ?last_event_id=) to replay what was missed from the recent history. `types` filters by event type. A client that reads too slowly is disconnected (it reconnects and replays) so it never holds the hub up. Comment lines are heartbeats.
//	@Tags			hub
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		text/event-stream
//	@Param			Last-Event-ID	header		string	false	"replay events after this id"
//	@Param			last_event_id	query		string	false	"the same, for clients that cannot set headers"
//	@Param			types			query		string	false	"comma-separated event types to receive"
//	@Success		200				{string}	string			"an SSE stream of hub events"
//	@Failure		400				{object}	ErrorResponse	"bad Last-Event-ID or unknown event type"
//	@Failure		503				{object}	ErrorResponse	"the hub is stopping"
//	@Failure		500				{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401				{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403				{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429				{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/events [get]
func (s *server) eventsHandler(h http.Handler) gin.HandlerFunc {
	return gin.WrapH(h)
}
