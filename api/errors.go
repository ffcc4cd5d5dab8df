package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/mcphub/mcphub/pkg/hub"
)

// ErrorResponse is the body of every error answer.
type ErrorResponse struct {
	Success bool   `json:"success" example:"false"`
	Error   string `json:"error" example:"unknown tool \"nope\""`
}

// errBadRequest marks problems with the request itself found in this layer.
var errBadRequest = errors.New("bad request")

// statusOf maps an error to its HTTP status: the one place that does.
func statusOf(err error) int {
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBadRequest), errors.Is(err, hub.ErrInvalidInput):
		return http.StatusBadRequest
	case errors.Is(err, hub.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, hub.ErrApprovalPending):
		return http.StatusAccepted
	case errors.Is(err, hub.ErrRejected):
		return http.StatusForbidden
	case errors.Is(err, hub.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, hub.ErrExpired):
		return http.StatusGone
	case errors.Is(err, hub.ErrTooManyPending):
		return http.StatusTooManyRequests
	case errors.Is(err, hub.ErrUnavailable), errors.Is(err, hub.ErrStopped):
		return http.StatusServiceUnavailable
	case errors.Is(err, hub.ErrProtocol):
		return http.StatusBadGateway
	case errors.Is(err, hub.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled):
		return 499 // the client went away; nobody reads this
	default:
		return http.StatusInternalServerError
	}
}

// maxErrorBytes bounds an error message in an answer.
const maxErrorBytes = 8 << 10

// writeError answers with the error's status and a JSON body that says what
// was wrong. Unexpected errors are logged and not shown. The text is
// scrubbed of the servers' configured secrets: transport errors quote
// endpoints, which may carry a key in their query string.
func (s *server) writeError(c *gin.Context, err error) {
	status := statusOf(err)
	msg := s.hub.Config().Scrub(err.Error())
	if len(msg) > maxErrorBytes { // a server's text can be anything
		msg = msg[:maxErrorBytes] + "… (truncated)"
	}
	if status == http.StatusInternalServerError {
		s.log.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.FullPath(), "err", msg)
		msg = "internal error"
	}
	c.AbortWithStatusJSON(status, ErrorResponse{Error: msg})
}
