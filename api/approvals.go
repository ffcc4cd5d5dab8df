package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/mcphub/mcphub/internal/httpbody"
	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/openai"
)

// PendingResponse answers a call that waits for a person's approval
// (HTTP 202): nothing ran yet. Approve it with POST /mcp_hub/approve.
type PendingResponse struct {
	Success bool        `json:"success" example:"false"`
	Status  string      `json:"status" enums:"pending" example:"pending"`
	ID      string      `json:"id,omitempty" example:"call_abc123"`
	Data    PendingData `json:"data"`
	// Error says, for humans and models, what happened and what to do.
	Error string `json:"error" example:"example__delete_note needs approval"`
}

// PendingData identifies the pending approval request.
type PendingData struct {
	Status     string    `json:"status" enums:"pending" example:"pending"`
	ApprovalID string    `json:"approval_id" example:"appr_3kq5m2x7c4ue6rz2l3n4p5q6r7s8t9vw"`
	Tool       string    `json:"tool" example:"example__delete_note"`
	Server     string    `json:"server" example:"example"`
	Digest     string    `json:"digest" example:"b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"`
	CreatedAt  time.Time `json:"created_at" format:"date-time"`
	ExpiresAt  time.Time `json:"expires_at" format:"date-time"`
}

func pendingResponse(callID string, p *hub.PendingError) PendingResponse {
	r := p.Request
	return PendingResponse{
		Status: "pending", ID: callID,
		Data: PendingData{
			Status: "pending", ApprovalID: r.ID, Tool: r.Name, Server: r.Server, Digest: r.Digest,
			CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt,
		},
		Error: fmt.Sprintf("%s needs a person's approval: approval request %s waits for a decision until %s",
			r.Name, r.ID, r.ExpiresAt.UTC().Format(time.RFC3339)),
	}
}

// ApprovalResponse is one approval request. state is computed when asked:
// pending, approved, rejected or expired.
type ApprovalResponse struct {
	ID        string          `json:"id" example:"appr_3kq5m2x7c4ue6rz2l3n4p5q6r7s8t9vw"`
	State     string          `json:"state" enums:"pending,approved,rejected,expired" example:"pending"`
	Server    string          `json:"server" example:"example"`
	Tool      string          `json:"tool" example:"delete_note"`
	Name      string          `json:"name" example:"example__delete_note"`
	Arguments json.RawMessage `json:"arguments" swaggertype:"object"`
	Digest    string          `json:"digest" example:"b5bb9d8014a0f9b1d61e21e796d78dccdf1352f23cd32812f4850b878ae4944c"`
	Caller    string          `json:"caller,omitempty"`
	CreatedAt time.Time       `json:"created_at" format:"date-time"`
	ExpiresAt time.Time       `json:"expires_at" format:"date-time"`
	DecidedAt *time.Time      `json:"decided_at,omitempty" format:"date-time"`
	DecidedBy string          `json:"decided_by,omitempty"`
	Reason    string          `json:"reason,omitempty"`
}

func approvalResponse(r approval.Request, now time.Time) ApprovalResponse {
	return ApprovalResponse{
		ID: r.ID, State: string(r.State(now)), Server: r.Server, Tool: r.Tool, Name: r.Name,
		Arguments: r.Arguments, Digest: r.Digest, Caller: r.Caller,
		CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, DecidedAt: timePtr(r.DecidedAt),
		DecidedBy: r.DecidedBy, Reason: r.Reason,
	}
}

// ApprovalsResponse lists approval requests, newest first.
type ApprovalsResponse struct {
	Approvals []ApprovalResponse `json:"approvals"`
}

// approvals godoc
//
//	@Summary		List approval requests
//	@ID				listApprovals
//	@Description	Calls waiting for a person's approval, and those decided or expired within the last hour, newest first.
//	@Tags			approvals
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Param			state	query		string	false	"only requests in this state"	Enums(pending, approved, rejected, expired)
//	@Param			server	query		string	false	"only this server's requests"
//	@Param			limit	query		int		false	"at most this many"	minimum(1)	maximum(10000)
//	@Success		200		{object}	ApprovalsResponse
//	@Failure		400		{object}	ErrorResponse	"unknown state or bad limit"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/approvals [get]
func (s *server) approvals(c *gin.Context) {
	f := approval.Filter{Server: c.Query("server"), Now: time.Now()}
	if v, ok := c.GetQuery("state"); ok {
		st, err := approval.ParseState(v)
		if err != nil {
			s.writeError(c, fmt.Errorf("%w: state: %w", errBadRequest, err))
			return
		}
		f.State = st
	}
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			s.writeError(c, fmt.Errorf("%w: limit must be an integer from 1 to 10000, got %q", errBadRequest, v))
			return
		}
		f.Limit = n
	}
	list, err := s.hub.Approvals(c.Request.Context(), f)
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := ApprovalsResponse{Approvals: make([]ApprovalResponse, 0, len(list))}
	for _, r := range list {
		out.Approvals = append(out.Approvals, approvalResponse(r, f.Now))
	}
	c.JSON(http.StatusOK, out)
}

// approval godoc
//
//	@Summary		Show one approval request
//	@ID				getApproval
//	@Tags			approvals
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Param			id	path		string	true	"approval id (appr_…)"
//	@Success		200	{object}	ApprovalResponse
//	@Failure		400	{object}	ErrorResponse	"malformed id"
//	@Failure		404	{object}	ErrorResponse	"unknown id"
//	@Failure		500	{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401	{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403	{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429	{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/approvals/{id} [get]
func (s *server) approval(c *gin.Context) {
	r, err := s.hub.Approval(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, approvalResponse(r, time.Now()))
}

// ApproveRequest approves the pending call it repeats. tool and arguments
// must be the pending call's.
type ApproveRequest struct {
	ApprovalID string `json:"approval_id" example:"appr_3kq5m2x7c4ue6rz2l3n4p5q6r7s8t9vw"`
	// Tool is the exported name (server__tool) or the server.tool form.
	Tool string `json:"tool" example:"example__delete_note"`
	// Arguments is a JSON object or a JSON-encoded object string.
	Arguments json.RawMessage `json:"arguments,omitempty" swaggertype:"object" extensions:"x-json-string"`
}

// approve godoc
//
//	@Summary		Approve a pending call and run it
//	@ID				approveCall
//	@Description	Runs the call that POST /mcp_hub/call answered 202 for and answers like /call. The body repeats the call (tool and arguments) with its approval_id; a different tool or different arguments are a 409 and nothing runs. An approval is single-use: of concurrent approvals one runs the call, the others get 409. A caller waiting on the request (call?wait=, call_stream) gets the result too.
//	@Tags			approvals
//	@Security		BearerToken
//	@Security		APIKey
//	@Accept			json
//	@Produce		json
//	@Param			approval	body		ApproveRequest	true	"the pending call and its approval id"
//	@Success		200			{object}	CallResponse	"the call ran; success is false when the tool reported an error (isError)"
//	@Failure		400			{object}	ErrorResponse	"bad body or arguments"
//	@Failure		404			{object}	ErrorResponse	"unknown approval id or tool"
//	@Failure		409			{object}	ErrorResponse	"another call than the pending one, or already decided"
//	@Failure		410			{object}	ErrorResponse	"the request expired"
//	@Failure		413			{object}	ErrorResponse	"body too large"
//	@Failure		502			{object}	ErrorResponse	"downstream protocol error"
//	@Failure		503			{object}	ErrorResponse	"server unavailable; the approval stays pending when the call never reached the server"
//	@Failure		504			{object}	ErrorResponse	"downstream timed out"
//	@Failure		500			{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401			{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403			{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429			{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/approve [post]
func (s *server) approve(c *gin.Context) {
	var body ApproveRequest
	if err := decodeObject(c.Request.Body, c.Request.ContentLength, &body, `{"approval_id","tool","arguments"}`); err != nil {
		s.writeError(c, err)
		return
	}
	switch {
	case body.ApprovalID == "":
		s.writeError(c, fmt.Errorf("%w: approval_id is required", errBadRequest))
		return
	case body.Tool == "":
		s.writeError(c, fmt.Errorf("%w: tool is required: the pending call's tool name", errBadRequest))
		return
	case len(body.Tool) > maxNameBytes:
		s.writeError(c, fmt.Errorf("%w: tool is %d bytes long, the limit is %d", errBadRequest, len(body.Tool), maxNameBytes))
		return
	}
	args, err := openai.DecodeArguments(body.Arguments)
	if err != nil {
		s.writeError(c, fmt.Errorf("%w: %w", errBadRequest, err))
		return
	}
	res, err := s.hub.Approve(c.Request.Context(), hub.ApproveRequest{ID: body.ApprovalID, Name: body.Tool, Arguments: args})
	if err != nil {
		s.writeError(c, err)
		return
	}
	writeCall(c, callResponse("", res))
}

// RejectRequest denies a pending call.
type RejectRequest struct {
	ApprovalID string `json:"approval_id" example:"appr_3kq5m2x7c4ue6rz2l3n4p5q6r7s8t9vw"`
	Reason     string `json:"reason,omitempty" example:"not during the freeze"`
}

// RejectResponse is the rejected request.
type RejectResponse struct {
	Success  bool             `json:"success" example:"true"`
	Approval ApprovalResponse `json:"approval"`
}

// maxReasonBytes bounds a rejection's reason: it is shown to people and
// models, not stored as a document.
const maxReasonBytes = 4096

// reject godoc
//
//	@Summary		Reject a pending call
//	@ID				rejectCall
//	@Description	Denies the call; it never runs. A caller waiting on it gets the rejection (403 on call?wait=, a `rejected` event on call_stream).
//	@Tags			approvals
//	@Security		BearerToken
//	@Security		APIKey
//	@Accept			json
//	@Produce		json
//	@Param			rejection	body		RejectRequest	true	"the approval id and an optional reason"
//	@Success		200			{object}	RejectResponse
//	@Failure		400			{object}	ErrorResponse	"bad body"
//	@Failure		404			{object}	ErrorResponse	"unknown approval id"
//	@Failure		409			{object}	ErrorResponse	"already decided"
//	@Failure		410			{object}	ErrorResponse	"the request expired"
//	@Failure		413			{object}	ErrorResponse	"body too large"
//	@Failure		500			{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401			{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403			{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429			{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/reject [post]
func (s *server) reject(c *gin.Context) {
	var body RejectRequest
	if err := decodeObject(c.Request.Body, c.Request.ContentLength, &body, `{"approval_id","reason"}`); err != nil {
		s.writeError(c, err)
		return
	}
	switch {
	case body.ApprovalID == "":
		s.writeError(c, fmt.Errorf("%w: approval_id is required", errBadRequest))
		return
	case len(body.Reason) > maxReasonBytes:
		s.writeError(c, fmt.Errorf("%w: reason is %d bytes long, the limit is %d", errBadRequest, len(body.Reason), maxReasonBytes))
		return
	}
	r, err := s.hub.Reject(c.Request.Context(), body.ApprovalID, "", body.Reason)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, RejectResponse{Success: true, Approval: approvalResponse(r, time.Now())})
}

// decodeObject reads a JSON object body of the announced size (-1:
// unknown) into v, with errors that say what was wrong; shape describes the
// expected body for the message.
func decodeObject(body io.Reader, size int64, v any, shape string) error {
	raw, err := httpbody.Read(body, size)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return fmt.Errorf("request body too large: the limit is %d bytes: %w", maxErr.Limit, err)
		}
		return fmt.Errorf("%w: reading body: %w", errBadRequest, err)
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0:
		return fmt.Errorf("%w: empty body: expected a JSON object %s", errBadRequest, shape)
	case !json.Valid(raw):
		return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, syntaxError(raw))
	case raw[0] != '{':
		return fmt.Errorf("%w: body must be a JSON object %s, got %s", errBadRequest, shape, jsonKind(raw[0]))
	}
	if f, ok := v.(fastDecoder); ok && f.decodeFast(raw) {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return fmt.Errorf("%w: field %s: expected %s, got %s", errBadRequest, typeErr.Field, goKind(typeErr.Type), typeErr.Value)
		}
		return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, err)
	}
	return nil
}
