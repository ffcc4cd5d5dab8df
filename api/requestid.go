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
// serves the request pick it up (reqid.Handler) and the downstream call
// passes it on in its _meta. /mcp requests take the same path: they are
// routes of this router.
func requestID(c *gin.Context) {
	id := reqid.Accept(c.GetHeader(reqid.Header))
	c.Header(reqid.Header, id)
	c.Request = c.Request.WithContext(reqid.With(c.Request.Context(), id))
	c.Next()
}
