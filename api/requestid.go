package api

import (
	"github.com/gin-gonic/gin"

	"github.com/mcphub/mcphub/pkg/reqid"
)

// requestID gives every request an id, first in the chain so that every
// answer carries it (401s and 429s too): the caller's X-Request-ID when it
// is sane (reqid.Valid), otherwise a new one, which replaces an invalid id
// rather than cleaning it. The id is echoed in the answer's X-Request-ID
// and carried in the request's context, where the logs of everything that
// serves the request pick it up (reqid.Handler) and the downstream
// request passes it on: in an X-Request-ID header to HTTP servers, in its
// _meta to a server configured with request_id_meta. /mcp requests take
// the same path: they are routes of this router.
func requestID(c *gin.Context) {
	// By the canonical key: "X-Request-ID" would be canonicalized, a new
	// string, on every request.
	id := reqid.Accept(c.Request.Header.Get(reqid.HeaderKey))
	c.Writer.Header().Set(reqid.HeaderKey, id)
	c.Request = c.Request.WithContext(reqid.With(c.Request.Context(), id))
	c.Next()
}
