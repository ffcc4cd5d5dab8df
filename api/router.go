// Package api is mcphub's REST layer: a thin gin router over the hub.
//
//	@title			mcphub REST API
//	@version		1.0
//	@description	A gateway for the Model Context Protocol: many downstream MCP servers served to LLM apps as OpenAI function tools. Every error answer is JSON: {"success": false, "error": "what was wrong"}. A tool result with isError is not an HTTP error: the call answers 200 with success false, so the model sees what the tool said. Every answer carries an X-Request-ID header: the one the request sent, if it is at most 128 bytes of printable ASCII without spaces, otherwise a new one; it names the request in the hub's logs and goes on to HTTP downstream servers in the same header.
//	@BasePath		/
//
//	@securityDefinitions.apikey	BearerToken
//	@in							header
//	@name						Authorization
//	@description				A token of the configuration's auth section (or MCPHUB_API_TOKEN), sent as "Authorization: Bearer <token>". Needed only when the hub has tokens: with none, auth is off. GET /mcp_hub/health never needs one.
//	@securityDefinitions.apikey	APIKey
//	@in							header
//	@name						X-API-Key
//	@description				The same token, for clients that cannot send Authorization.
//
//	@tag.name			tools
//	@tag.description	The tools of every connected server as OpenAI function schemas: list, search and call them (with progress over SSE).
//	@tag.name			approvals
//	@tag.description	Calls to tools that need a person's approval: list them, approve (and run) or reject them.
//	@tag.name			resources
//	@tag.description	MCP resources and resource templates of every connected server, read through the hub.
//	@tag.name			prompts
//	@tag.description	MCP prompts of every connected server, rendered on their server.
//	@tag.name			servers
//	@tag.description	The downstream MCP servers and their connection state.
//	@tag.name			hub
//	@tag.description	The hub itself: health, refresh and a live stream of its events.
package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	ginSwagger "github.com/swaggo/gin-swagger"

	_ "github.com/mcphub/mcphub/docs" // registers the generated spec with swag
	"github.com/mcphub/mcphub/internal/swaggerui"
	"github.com/mcphub/mcphub/pkg/approval"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/events"
	"github.com/mcphub/mcphub/pkg/hub"
)

// Hub is what the REST layer needs from the core.
type Hub interface {
	ToolsJSON(server string) ([]byte, error)
	Servers() []hub.ServerInfo
	Health() hub.Health
	Refresh(ctx context.Context) (hub.RefreshReport, error)
	Call(ctx context.Context, req hub.CallRequest) (*hub.CallResult, error)
	LookupTool(name string) (catalog.Tool, error)
	Approve(ctx context.Context, req hub.ApproveRequest) (*hub.CallResult, error)
	Reject(ctx context.Context, id, by, reason string) (approval.Request, error)
	Approval(ctx context.Context, id string) (approval.Request, error)
	Approvals(ctx context.Context, f approval.Filter) ([]approval.Request, error)
	Events() *events.Bus
	Config() *config.Config
	SearchToolsJSON(query string, limit int, server string) ([]byte, error)
	Resources(server string) ([]catalog.Resource, error)
	ResourceTemplates(server string) ([]catalog.ResourceTemplate, error)
	ReadResourceFrom(ctx context.Context, uri string, servers ...string) (*hub.ResourceResult, error)
	Prompts(server string) ([]catalog.Prompt, error)
	GetPrompt(ctx context.Context, name string, args map[string]string) (*hub.PromptResult, error)
	NotReady() error
}

// Options configure the router.
type Options struct {
	Logger *slog.Logger
	// MaxBodyBytes, when positive, overrides the configuration's
	// limits.max_body_bytes (default 4 MiB).
	MaxBodyBytes int64
	// OpenAPI is the openapi.yaml document served at /openapi.yaml.
	OpenAPI []byte
	// MCP, when set, serves the aggregated MCP endpoints: /mcp,
	// /mcp/server/{name} and /mcp/group/{name}.
	MCP http.Handler
	// Heartbeat is the interval of comment heartbeats on SSE streams
	// (default 15s), so proxies keep them open and dead peers are noticed.
	Heartbeat time.Duration
	// Metrics, when set, is served at GET /metrics and told of every
	// request (see requestMetrics).
	Metrics Metrics
}

// NewRouter builds the HTTP handler for h.
func NewRouter(h Hub, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 15 * time.Second
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	s := &server{hub: h, log: opts.Logger, maxBody: opts.MaxBodyBytes, heartbeat: opts.Heartbeat,
		sec: &security{config: h.Config}}
	// requestID comes first so every answer and log line has the id.
	// accessLog runs outside recovery so a recovered panic is logged with
	// its 500; every body is size-limited, not only those read today.
	// CORS answers preflights before authentication (browsers send them
	// without credentials); rate limits count authenticated callers.
	r.Use(requestID, requestMetrics(opts.Metrics), s.accessLog, s.recovery, s.sec.cors, s.limitBody, s.sec.authenticate, s.sec.rateLimit)
	r.NoRoute(func(c *gin.Context) {
		c.JSON(http.StatusNotFound, ErrorResponse{Error: "no such endpoint: " + c.Request.Method + " " + c.Request.URL.Path})
	})
	r.NoMethod(func(c *gin.Context) {
		c.JSON(http.StatusMethodNotAllowed, ErrorResponse{Error: "method " + c.Request.Method + " not allowed on " + c.Request.URL.Path})
	})

	g := r.Group("/mcp_hub")
	g.GET("/tools", s.tools)
	g.GET("/servers", s.servers)
	g.GET("/health", s.health)
	g.POST("/refresh", s.refresh)
	g.POST("/call", s.call)
	g.POST("/call_stream", s.callStream)
	g.POST("/approve", s.approve)
	g.POST("/reject", s.reject)
	g.GET("/approvals", s.approvals)
	g.GET("/approvals/:id", s.approval)
	g.GET("/resources", s.resources)
	g.GET("/resource_templates", s.resourceTemplates)
	g.POST("/resources/read", s.readResource)
	g.GET("/prompts", s.prompts)
	g.POST("/prompts/get", s.getPrompt)
	g.GET("/events", s.eventsHandler(h.Events().Handler(events.HandlerOptions{Heartbeat: opts.Heartbeat, Logger: opts.Logger})))

	if opts.MCP != nil {
		// Any method: Streamable HTTP uses POST, GET (the listening
		// stream) and DELETE (ending a session).
		r.Any("/mcp", gin.WrapH(opts.MCP))
		r.Any("/mcp/*endpoint", gin.WrapH(opts.MCP))
	}
	r.GET("/readyz", s.readyz)
	r.GET("/swagger/*any", ginSwagger.WrapHandler(swaggerui.Handler()))
	for _, p := range []string{"/swagger", "/docs"} {
		r.GET(p, func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/swagger/index.html") })
	}
	mountMetrics(r, opts.Metrics)
	if len(opts.OpenAPI) > 0 {
		r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", opts.OpenAPI) })
	}
	return r
}

type server struct {
	hub       Hub
	log       *slog.Logger
	maxBody   int64 // 0: the configuration's limit
	sec       *security
	heartbeat time.Duration
}

// recovery turns a handler panic into a 500 instead of a dropped connection.
func (s *server) recovery(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(c.Request.Context(), "handler panic", "path", c.Request.URL.Path, "panic", v)
			if c.Writer.Written() {
				// Part of an answer is out: a JSON error appended to it
				// would look like a success. Drop the connection instead.
				panic(http.ErrAbortHandler)
			}
			c.AbortWithStatusJSON(http.StatusInternalServerError, ErrorResponse{Error: "internal error"})
		}
	}()
	c.Next()
}

func (s *server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	// With the request's context: the line names its request (reqid).
	s.log.LogAttrs(c.Request.Context(), slog.LevelDebug, "http", slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path), slog.Int("status", c.Writer.Status()), slog.Duration("took", time.Since(start)))
}

func (s *server) limitBody(c *gin.Context) {
	limit := s.maxBody
	if limit <= 0 {
		limit = s.hub.Config().Limits.MaxBodyBytes
	}
	if limit <= 0 {
		limit = config.DefaultMaxBodyBytes
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	c.Next()
}
