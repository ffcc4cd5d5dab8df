package api

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// Metrics is what the router needs from the metrics registry (pkg/metrics):
// the page it serves at GET /metrics and a report of every request.
type Metrics interface {
	http.Handler
	// RequestDone is told of every request once its answer is written.
	// route is the matched route's pattern (never the raw path, which
	// would make labels unbounded), or "unmatched".
	RequestDone(route, method string, status int, took time.Duration)
}

// unmatchedRoute names requests that matched no route (404, 405).
const unmatchedRoute = "unmatched"

// requestMetrics reports every request to m; with no m it does nothing.
// It runs outside access logging, recovery and the security gate, so that
// it sees the final status of requests that authentication, rate limits or
// recovery answered.
func requestMetrics(m Metrics) gin.HandlerFunc {
	if m == nil {
		return func(c *gin.Context) { c.Next() }
	}
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = unmatchedRoute
		}
		m.RequestDone(route, c.Request.Method, c.Writer.Status(), time.Since(start))
	}
}

// mountMetrics serves m at GET /metrics. It is behind authentication like
// every route but the health check: a scraper sends a token (Prometheus's
// authorization or bearer_token_file settings).
func mountMetrics(r *gin.Engine, m Metrics) {
	if m != nil {
		r.GET("/metrics", gin.WrapH(m))
	}
}
