package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/mcphub/mcphub/internal/rawjson"
	"github.com/mcphub/mcphub/pkg/catalog"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/openai"
)

// ToolsResponse is the OpenAI tool list (the handler serves it pre-rendered).
type ToolsResponse struct {
	Tools []ToolSchema `json:"tools"`
	// RequiresApproval names the listed tools whose calls wait for a
	// person's approval; absent when there are none. The entries of tools
	// stay in OpenAI's exact shape, so the array can be passed to the model
	// as is.
	RequiresApproval []string `json:"requires_approval,omitempty" example:"example__delete_note"`
}

// ToolSchema is one tool in OpenAI's Chat Completions "tools" shape.
type ToolSchema struct {
	Type     string         `json:"type" enums:"function" example:"function"`
	Function FunctionSchema `json:"function"`
}

// FunctionSchema describes one function; parameters is the server's input
// schema (a JSON Schema object).
type FunctionSchema struct {
	Name        string         `json:"name" example:"example__echo"`
	Description string         `json:"description,omitempty" example:"Echo a message back"`
	Parameters  map[string]any `json:"parameters"`
}

// tools godoc
//
//	@Summary		List tools as OpenAI function schemas
//	@ID				listTools
//	@Description	Every tool of every connected server, named server__tool (OpenAI-valid), ready to pass to a chat completion as `tools`.
//	@Description	With `q`, only the tools most relevant to it, best first (BM25 over names, server, descriptions and parameters; words match in any form: "createIssue", "create_issue", "create issues"): a short list for a model that cannot take every tool. Tools matching no word of `q` are left out.
//	@Tags			tools
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Param			server	query		string	false	"only this server's tools"
//	@Param			q		query		string	false	"search: rank tools by relevance to these words (at most 1000 bytes)"
//	@Param			limit	query		int		false	"with q: at most this many tools (default 10)"	minimum(1)	maximum(100)
//	@Success		200		{object}	ToolsResponse
//	@Failure		400		{object}	ErrorResponse	"q too long or bad limit"
//	@Failure		404		{object}	ErrorResponse	"unknown server"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/tools [get]
func (s *server) tools(c *gin.Context) {
	var body []byte
	var err error
	q := c.Query("q")
	if len(q) > catalog.MaxQueryBytes { // before trimming: the bound is on what was sent
		s.writeError(c, fmt.Errorf("%w: q is %d bytes long, the limit is %d", errBadRequest, len(q), catalog.MaxQueryBytes))
		return
	}
	if q = strings.TrimSpace(q); q == "" {
		body, err = s.hub.ToolsJSON(c.Query("server"))
	} else {
		const maxLimit = 100
		limit := catalog.DefaultSearchLimit
		if v, ok := c.GetQuery("limit"); ok {
			if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxLimit {
				s.writeError(c, fmt.Errorf("%w: limit must be an integer from 1 to %d, got %q", errBadRequest, maxLimit, v))
				return
			}
		}
		body, err = s.hub.SearchToolsJSON(q, limit, c.Query("server"))
	}
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", body)
}

// ServerResponse describes one configured server.
type ServerResponse struct {
	Name              string     `json:"name" example:"example"`
	Transport         string     `json:"transport" enums:"stdio,sse,streamable-http" example:"stdio"`
	Endpoint          string     `json:"endpoint,omitempty" example:"http://localhost:8000/mcp"`
	Command           string     `json:"command,omitempty" example:"./bin/example-server"`
	Enabled           bool       `json:"enabled"`
	Healthy           bool       `json:"healthy"`
	Status            string     `json:"status" enums:"connecting,ready,backoff,stopped,disabled"`
	LastError         string     `json:"last_error"`
	Tools             int        `json:"tools"`
	Resources         int        `json:"resources"`
	ResourceTemplates int        `json:"resource_templates"`
	Prompts           int        `json:"prompts"`
	LastSeen          *time.Time `json:"last_seen" format:"date-time" extensions:"x-nullable"` // null until the server answered once
	Since             *time.Time `json:"since,omitempty" format:"date-time"`
	NextRetry         *time.Time `json:"next_retry,omitempty" format:"date-time"`
	Failures          int        `json:"failures"`   // consecutive failed connection attempts
	Reconnects        int        `json:"reconnects"` // sessions lost since the hub started: a crash loop shows here
	ServerInfo        *Impl      `json:"server_info,omitempty"`
	ProtocolVersion   string     `json:"protocol_version,omitempty" example:"2025-11-25"`
}

// Impl names a server implementation, from its initialize result.
type Impl struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// servers godoc
//
//	@Summary		List downstream servers
//	@ID				listServers
//	@Description	Every configured server with its connection state, last error and what it offers.
//	@Tags			servers
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Success		200	{array}		ServerResponse
//	@Failure		500	{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401	{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403	{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429	{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/servers [get]
func (s *server) servers(c *gin.Context) {
	infos := s.hub.Servers()
	out := make([]ServerResponse, 0, len(infos))
	for _, i := range infos {
		r := ServerResponse{
			Name: i.Name, Transport: string(i.Transport), Endpoint: i.Endpoint, Command: i.Command,
			Enabled: i.Enabled, Healthy: i.Healthy, Status: i.Status, LastError: i.LastError,
			Tools: i.Tools, Resources: i.Resources, ResourceTemplates: i.ResourceTemplates, Prompts: i.Prompts,
			LastSeen: timePtr(i.LastSeen), Since: timePtr(i.Since), NextRetry: timePtr(i.NextRetry),
			Failures: i.Failures, Reconnects: i.Reconnects, ProtocolVersion: i.ProtocolVersion,
		}
		if i.ServerName != "" {
			r.ServerInfo = &Impl{Name: i.ServerName, Version: i.ServerVersion}
		}
		out = append(out, r)
	}
	c.JSON(http.StatusOK, out)
}

// HealthResponse summarises the hub's health.
type HealthResponse struct {
	Status  string          `json:"status" enums:"ok,degraded" example:"ok"`
	Servers map[string]bool `json:"servers"`
}

// health godoc
//
//	@Summary		Hub health
//	@ID				getHealth
//	@Description	Answers 200 while the hub runs; `status` is "degraded" when an enabled server is down.
//	@Tags			hub
//	@Produce		json
//	@Success		200	{object}	HealthResponse
//	@Failure		500	{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Router			/mcp_hub/health [get]
func (s *server) health(c *gin.Context) {
	h := s.hub.Health()
	c.JSON(http.StatusOK, HealthResponse{Status: h.Status, Servers: h.Servers})
}

// ReadyResponse is the readiness probe's answer when the hub is ready; when
// it is not, the answer is a 503 ErrorResponse saying what it waits for.
type ReadyResponse struct {
	Ready bool `json:"ready" example:"true"`
}

// readyz godoc
//
//	@Summary		Readiness probe
//	@ID				getReadyz
//	@Description	200 once the first discovery pass has finished: every enabled server has ended its first connection attempt, connected or not (a down server shows in `/mcp_hub/servers`; it does not hold the hub unready). 503 before that and once the hub stops. Needs no token. Use `/mcp_hub/health` for liveness.
//	@Tags			hub
//	@Produce		json
//	@Success		200	{object}	ReadyResponse
//	@Failure		503	{object}	ErrorResponse	"not ready yet, or stopping; error says what it waits for"
//	@Failure		500	{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Router			/readyz [get]
func (s *server) readyz(c *gin.Context) {
	if err := s.hub.NotReady(); err != nil {
		c.JSON(http.StatusServiceUnavailable, ErrorResponse{Error: "not ready: " + err.Error()})
		return
	}
	c.JSON(http.StatusOK, ReadyResponse{Ready: true})
}

// RefreshResponse reports one refresh pass.
type RefreshResponse struct {
	Refreshed  bool                    `json:"refreshed" example:"true"`
	StartedAt  time.Time               `json:"started_at" format:"date-time"`
	DurationMS float64                 `json:"duration_ms"`
	Changed    []string                `json:"changed"`
	Config     *ConfigReloadResponse   `json:"config,omitempty"`
	Servers    []ServerRefreshResponse `json:"servers"`
}

// ConfigReloadResponse reports a config reload done by a refresh.
type ConfigReloadResponse struct {
	Reloaded  bool     `json:"reloaded"`
	Error     string   `json:"error,omitempty"`
	Added     []string `json:"added"`
	Removed   []string `json:"removed"`
	Restarted []string `json:"restarted"`
}

// ServerRefreshResponse is one server's refresh outcome.
type ServerRefreshResponse struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	Changed bool   `json:"changed"`
	Error   string `json:"error,omitempty"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// refresh godoc
//
//	@Summary		Refresh now
//	@ID				refresh
//	@Description	Re-reads the config files if they changed, pings and re-discovers every server, reconnects those that are down, and answers when done.
//	@Tags			hub
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Success		200	{object}	RefreshResponse
//	@Failure		503	{object}	ErrorResponse	"the hub is stopping or stopped"
//	@Failure		500	{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401	{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403	{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429	{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/refresh [post]
func (s *server) refresh(c *gin.Context) {
	r, err := s.hub.Refresh(c.Request.Context())
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := RefreshResponse{
		Refreshed: true, StartedAt: r.StartedAt,
		DurationMS: float64(r.Duration.Microseconds()) / 1000,
		Changed:    nonNil(r.Changed()),
		Servers:    make([]ServerRefreshResponse, 0, len(r.Servers)),
	}
	if r.Config != nil {
		out.Config = &ConfigReloadResponse{
			Reloaded: r.Config.Reloaded, Error: r.Config.Error,
			Added: nonNil(r.Config.Added), Removed: nonNil(r.Config.Removed), Restarted: nonNil(r.Config.Restarted),
		}
	}
	for _, sr := range r.Servers {
		out.Servers = append(out.Servers, ServerRefreshResponse{Name: sr.Server, Healthy: sr.Healthy, Changed: sr.Changed, Error: s.hub.Config().Scrub(sr.Error)})
	}
	c.JSON(http.StatusOK, out)
}

// CallRequest is an OpenAI tool call, as a model returns it.
type CallRequest struct {
	ID       string       `json:"id,omitempty" example:"call_abc123"`
	Type     string       `json:"type,omitempty" enums:"function" example:"function"`
	Function CallFunction `json:"function"`
}

// CallFunction names the tool and carries its arguments.
type CallFunction struct {
	// Name is the exported name (server__tool) or the server.tool form.
	Name string `json:"name" example:"example__echo"`
	// Arguments is a JSON object or a JSON-encoded object string (as OpenAI returns it).
	Arguments json.RawMessage `json:"arguments,omitempty" swaggertype:"object" extensions:"x-json-string"`
}

// CallResponse is a finished call. success is false when the tool reported
// an error (isError); the result is kept so the model can see it.
type CallResponse struct {
	Success bool            `json:"success" example:"true"`
	ID      string          `json:"id,omitempty" example:"call_abc123"`
	Tool    string          `json:"tool" example:"example__echo"`
	Result  json.RawMessage `json:"result" swaggertype:"object"`
	Content string          `json:"content" example:"hi"`
	// Error is set when success is false: what the tool reported.
	Error string `json:"error,omitempty"`
}

// call godoc
//
//	@Summary		Call a tool
//	@ID				callTool
//	@Description	Takes an OpenAI tool call ({"id","type":"function","function":{"name","arguments"}}) and runs it on the owning server. `result` is the MCP CallToolResult as the server sent it; `content` is text for the role=tool message.
//	@Description	A tool that needs a person's approval does not run: the answer is 202 with an approval id (approve it with POST /mcp_hub/approve). With `wait`, the request is held until the call is decided (then it answers like an approved call, 403 if rejected, 410 if it expired) or the wait ends (then 202).
//	@Tags			tools
//	@Security		BearerToken
//	@Security		APIKey
//	@Accept			json
//	@Produce		json
//	@Param			wait	query		string			false	"for tools that need approval: how long to wait for the decision (Go duration such as 30s, or seconds; at most the approval TTL)"
//	@Param			call	body		CallRequest		true	"the model's tool call"
//	@Success		200		{object}	CallResponse	"the call ran; success is false when the tool reported an error (isError)"
//	@Success		202		{object}	PendingResponse	"the tool needs approval; nothing ran"
//	@Failure		400		{object}	ErrorResponse	"bad body, arguments or wait"
//	@Failure		403		{object}	ErrorResponse	"rejected while the caller waited, or the token may not use this path (auth rules)"
//	@Failure		404		{object}	ErrorResponse	"unknown tool"
//	@Failure		410		{object}	ErrorResponse	"the approval request expired while the caller waited"
//	@Failure		413		{object}	ErrorResponse	"body too large"
//	@Failure		429		{object}	ErrorResponse	"too many calls already wait for approval, or rate limit exceeded (limits.rate; see Retry-After)"
//	@Failure		502		{object}	ErrorResponse	"downstream protocol error"
//	@Failure		503		{object}	ErrorResponse	"server unavailable"
//	@Failure		504		{object}	ErrorResponse	"downstream timed out"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Router			/mcp_hub/call [post]
func (s *server) call(c *gin.Context) {
	wait, err := parseWait(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	req, args, err := decodeCall(c.Request.Body, c.Request.ContentLength)
	if err != nil {
		s.writeError(c, err)
		return
	}
	res, err := s.hub.Call(c.Request.Context(), hub.CallRequest{Name: req.Function.Name, Arguments: args, Wait: wait})
	if err != nil {
		var pending *hub.PendingError
		if errors.As(err, &pending) {
			c.JSON(http.StatusAccepted, pendingResponse(req.ID, pending))
			return
		}
		s.writeError(c, err)
		return
	}
	writeCall(c, callResponse(req.ID, res))
}

// writeCall writes a call's answer. It is written by hand rather than by
// c.JSON because result is the server's CallToolResult: encoding/json would
// re-validate, compact and HTML-escape it, the largest cost of a call with
// a big result. The bytes came from a JSON decoder (mcp-go read the
// response), so they are valid JSON as they are.
func writeCall(c *gin.Context, r CallResponse) {
	result := r.Result
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	buf := make([]byte, 0, len(result)+len(r.Content)+len(r.Error)+96)
	buf = append(buf, `{"success":`...)
	buf = strconv.AppendBool(buf, r.Success)
	if r.ID != "" {
		buf = append(buf, `,"id":`...)
		buf = appendJSONString(buf, r.ID)
	}
	buf = append(buf, `,"tool":`...)
	buf = appendJSONString(buf, r.Tool)
	buf = append(buf, `,"result":`...)
	buf = append(buf, result...)
	buf = append(buf, `,"content":`...)
	buf = appendJSONString(buf, r.Content)
	if r.Error != "" {
		buf = append(buf, `,"error":`...)
		buf = appendJSONString(buf, r.Error)
	}
	buf = append(buf, '}')
	c.Writer.Header()["Content-Type"] = jsonContentType
	c.Status(http.StatusOK)
	_, _ = c.Writer.Write(buf)
}

// jsonContentType is writeCall's Content-Type, one slice for every answer
// (gin's c.Data makes one each time). Its capacity is its length, so a
// later Header().Add appends to a copy, never into it.
var jsonContentType = []string{"application/json; charset=utf-8"}

// appendJSONString appends s as a JSON string, without HTML escaping.
func appendJSONString(buf []byte, s string) []byte {
	plain := utf8.ValidString(s)
	for i := 0; plain && i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c == 0xE2 { // 0xE2: U+2028/2029 start with it
			plain = false
		}
	}
	if plain {
		buf = append(buf, '"')
		buf = append(buf, s...)
		return append(buf, '"')
	}
	b, _ := marshal(s) // a string always encodes
	return append(buf, b...)
}

// callResponse is a finished call's answer.
func callResponse(callID string, res *hub.CallResult) CallResponse {
	out := CallResponse{Success: !res.IsError, ID: callID, Tool: res.Name, Result: res.Result, Content: res.Content}
	if res.IsError {
		out.Error = "tool reported an error: " + res.Content
	}
	return out
}

// maxWait bounds ?wait= whatever the approval TTL: a request held longer
// than this is better served by call_stream or the events stream.
const maxWait = time.Hour

// parseWait reads ?wait=: a Go duration ("30s") or whole seconds ("30").
func parseWait(c *gin.Context) (time.Duration, error) {
	if c.Request.URL.RawQuery == "" { // the usual call: no query for gin to parse into its cache
		return 0, nil
	}
	v, ok := c.GetQuery("wait")
	if !ok || v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return 0, fmt.Errorf("%w: wait must be a duration such as 30s or a number of seconds, got %q", errBadRequest, v)
		}
		d = time.Duration(n) * time.Second
	}
	switch {
	case d <= 0:
		return 0, fmt.Errorf("%w: wait must be positive, got %q", errBadRequest, v)
	case d > maxWait:
		return 0, fmt.Errorf("%w: wait is at most %s, got %q", errBadRequest, maxWait, v)
	}
	return d, nil
}

// maxNameBytes bounds function.name. Exported names are at most 64
// characters and "server.tool" names a few hundred; anything longer is not a
// tool name, and echoing it back in a 404 would only amplify the request.
const maxNameBytes = 1024

// callBody is the wire form of CallRequest. function is a pointer so that a
// missing or null function is told apart from one without a name.
type callBody struct {
	ID       string        `json:"id"`
	Type     string        `json:"type"`
	Function *CallFunction `json:"function"`
}

// fastDecoder is a body type that can take the usual shape of its JSON
// (exact keys, expected kinds) from one split of the bytes, without
// encoding/json's reflection: the call body is on every call's path.
// decodeFast reports false for anything else (other keys or key case, null,
// other kinds), which then goes through json.Unmarshal and its errors.
type fastDecoder interface {
	decodeFast(raw []byte) bool
}

func (b *callBody) decodeFast(raw []byte) bool {
	var buf, fnBuf [8]rawjson.Member // the members stay on the stack
	members, ok := rawjson.AppendObject(buf[:0], raw)
	if !ok {
		return false
	}
	var out callBody
	for _, m := range members {
		switch string(m.Name()) {
		case "id":
			if out.ID, ok = rawjson.String(m.Value); !ok {
				return false
			}
		case "type":
			if out.Type, ok = rawjson.String(m.Value); !ok {
				return false
			}
		case "function":
			fn, ok := rawjson.AppendObject(fnBuf[:0], m.Value)
			if !ok {
				return false
			}
			if out.Function == nil { // a repeated key merges, as in encoding/json
				out.Function = new(CallFunction)
			}
			for _, f := range fn {
				switch string(f.Name()) {
				case "name":
					if out.Function.Name, ok = rawjson.String(f.Value); !ok {
						return false
					}
				case "arguments":
					out.Function.Arguments = json.RawMessage(f.Value)
				default:
					return false
				}
			}
		default:
			return false
		}
	}
	*b = out
	return true
}

// decodeCall reads and checks a call body of the announced size (-1:
// unknown). On success the name is non-empty and the arguments are one JSON
// object.
func decodeCall(body io.Reader, size int64) (CallRequest, json.RawMessage, error) {
	var req CallRequest
	var b callBody
	if err := decodeObject(body, size, &b, "(an OpenAI tool call "+callShape+")"); err != nil {
		return req, nil, err
	}
	req = CallRequest{ID: b.ID, Type: b.Type}
	if b.Type != "" && b.Type != "function" {
		return req, nil, fmt.Errorf("%w: type must be \"function\", got %q", errBadRequest, b.Type)
	}
	if b.Function == nil {
		return req, nil, fmt.Errorf("%w: function is required: expected {\"name\",\"arguments\"}", errBadRequest)
	}
	req.Function = *b.Function
	switch name := req.Function.Name; {
	case name == "":
		return req, nil, fmt.Errorf("%w: function.name is required", errBadRequest)
	case len(name) > maxNameBytes:
		return req, nil, fmt.Errorf("%w: function.name is %d bytes long, the limit is %d", errBadRequest, len(name), maxNameBytes)
	}
	args, err := openai.DecodeArguments(req.Function.Arguments)
	if err != nil {
		return req, nil, fmt.Errorf("%w: function.arguments: %w", errBadRequest, err)
	}
	return req, args, nil
}

const callShape = `{"id","type":"function","function":{"name","arguments"}}`

// syntaxError describes why b is not valid JSON.
func syntaxError(b []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(b, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("%v (at byte %d)", se, se.Offset)
	}
	if err == nil { // cannot happen: Valid and Unmarshal share the scanner
		err = errors.New("not valid JSON")
	}
	return err
}

// jsonKind names the JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// goKind names the JSON type a Go type decodes from, for error messages
// (a Go type name would mean nothing to the caller).
func goKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "a boolean"
	default:
		return "a number"
	}
}
