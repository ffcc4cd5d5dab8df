package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/gin-gonic/gin"
)

// The list items below are each server's object as it sent it, with the
// hub's members added. The documented fields are the common MCP ones; every
// other member the server sent (_meta, icons, annotations…) is passed
// through, with its value's bytes kept. Their MarshalJSON does that; the
// struct fields are what swag documents (and what is encoded when there is
// no server object, which only tests build).

// ResourcesResponse lists resources.
type ResourcesResponse struct {
	Resources []ResourceItem `json:"resources"`
}

// ResourceItem is one resource as its server listed it, with "server" added.
type ResourceItem struct {
	Server      string         `json:"server" example:"example"`
	URI         string         `json:"uri" example:"note://welcome"`
	Name        string         `json:"name" example:"welcome"`
	Title       string         `json:"title,omitempty"`
	Description string         `json:"description,omitempty" example:"A fixed greeting, always readable."`
	MIMEType    string         `json:"mimeType,omitempty" example:"text/plain"`
	Size        *int64         `json:"size,omitempty"`
	Annotations map[string]any `json:"annotations,omitempty"`

	raw json.RawMessage
}

// MarshalJSON writes the server's object with "server" set.
func (r ResourceItem) MarshalJSON() ([]byte, error) {
	type plain ResourceItem // without this method
	return withMembers(r.raw, plain(r), "server", r.Server)
}

// ResourceTemplatesResponse lists resource templates.
type ResourceTemplatesResponse struct {
	ResourceTemplates []ResourceTemplateItem `json:"resource_templates"`
}

// ResourceTemplateItem is one resource template as its server listed it,
// with "server" added. Read a resource it describes with POST
// /mcp_hub/resources/read and the expanded URI.
type ResourceTemplateItem struct {
	Server      string         `json:"server" example:"example"`
	URITemplate string         `json:"uriTemplate" example:"note://{id}"`
	Name        string         `json:"name" example:"note"`
	Title       string         `json:"title,omitempty"`
	Description string         `json:"description,omitempty" example:"A note from the in-memory notebook, by id."`
	MIMEType    string         `json:"mimeType,omitempty" example:"text/plain"`
	Annotations map[string]any `json:"annotations,omitempty"`

	raw json.RawMessage
}

// MarshalJSON writes the server's object with "server" set.
func (r ResourceTemplateItem) MarshalJSON() ([]byte, error) {
	type plain ResourceTemplateItem
	return withMembers(r.raw, plain(r), "server", r.Server)
}

// PromptsResponse lists prompts.
type PromptsResponse struct {
	Prompts []PromptItem `json:"prompts"`
}

// PromptItem is one prompt as its server listed it, under its exported
// name (get it with that name), with "server" and "prompt" (the name on the
// server) added.
type PromptItem struct {
	Name        string           `json:"name" example:"example__greet"`
	Server      string           `json:"server" example:"example"`
	Prompt      string           `json:"prompt" example:"greet"`
	Title       string           `json:"title,omitempty"`
	Description string           `json:"description,omitempty" example:"Ask the model to greet someone by name."`
	Arguments   []PromptArgument `json:"arguments,omitempty"`

	raw json.RawMessage
}

// PromptArgument is one argument a prompt takes; every value is a string.
type PromptArgument struct {
	Name        string `json:"name" example:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty" example:"Who to greet."`
	Required    bool   `json:"required,omitempty" example:"true"`
}

// MarshalJSON writes the server's object with "name", "server" and
// "prompt" set.
func (p PromptItem) MarshalJSON() ([]byte, error) {
	type plain PromptItem
	return withMembers(p.raw, plain(p), "name", p.Name, "server", p.Server, "prompt", p.Prompt)
}

// withMembers returns the JSON object raw with the string members kv (key,
// value, …) set, replacing the server's own members of those names; with no
// raw it encodes fallback. Other members keep their value's bytes; the
// re-encoded object has its keys sorted.
func withMembers(raw json.RawMessage, fallback any, kv ...string) ([]byte, error) {
	if raw == nil {
		return marshal(fallback)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err // cannot happen: catalog only keeps objects
	}
	for i := 0; i+1 < len(kv); i += 2 {
		v, err := marshal(kv[i+1])
		if err != nil {
			return nil, err
		}
		m[kv[i]] = v
	}
	return marshal(m)
}

// marshal is json.Marshal without HTML escaping: servers' text ("<id>",
// "a & b") reads as sent.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// writeJSON answers v without HTML escaping (see marshal): resource
// contents and prompt text are passed on as the server wrote them.
func (s *server) writeJSON(c *gin.Context, status int, v any) {
	body, err := marshal(v)
	if err != nil {
		s.writeError(c, fmt.Errorf("encoding the answer: %w", err))
		return
	}
	c.Data(status, "application/json; charset=utf-8", body)
}

// resources godoc
//
//	@Summary		List resources
//	@ID				listResources
//	@Description	Every resource the servers list (or one server's), each as its server sent it with `server` added. URIs are global: read one with POST /mcp_hub/resources/read.
//	@Tags			resources
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Param			server	query		string	false	"only this server's resources"
//	@Success		200		{object}	ResourcesResponse
//	@Failure		404		{object}	ErrorResponse	"unknown server"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/resources [get]
func (s *server) resources(c *gin.Context) {
	list, err := s.hub.Resources(c.Query("server"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := ResourcesResponse{Resources: make([]ResourceItem, 0, len(list))}
	for _, r := range list {
		out.Resources = append(out.Resources, ResourceItem{Server: r.Server, URI: r.URI, Name: r.Name, raw: r.Raw})
	}
	s.writeJSON(c, http.StatusOK, out)
}

// resourceTemplates godoc
//
//	@Summary		List resource templates
//	@ID				listResourceTemplates
//	@Description	Every resource template (RFC 6570) the servers list (or one server's), each as its server sent it with `server` added. Expand one and read the URI with POST /mcp_hub/resources/read.
//	@Tags			resources
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Param			server	query		string	false	"only this server's templates"
//	@Success		200		{object}	ResourceTemplatesResponse
//	@Failure		404		{object}	ErrorResponse	"unknown server"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/resource_templates [get]
func (s *server) resourceTemplates(c *gin.Context) {
	list, err := s.hub.ResourceTemplates(c.Query("server"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := ResourceTemplatesResponse{ResourceTemplates: make([]ResourceTemplateItem, 0, len(list))}
	for _, r := range list {
		out.ResourceTemplates = append(out.ResourceTemplates, ResourceTemplateItem{Server: r.Server, URITemplate: r.URITemplate, Name: r.Name, raw: r.Raw})
	}
	s.writeJSON(c, http.StatusOK, out)
}

// ReadResourceRequest names the resource to read.
type ReadResourceRequest struct {
	// URI is a listed resource's URI or one that a resource template matches.
	URI string `json:"uri" example:"note://welcome"`
	// Server, when set, reads from that server only: for a URI that
	// several servers offer, where the first by name answers otherwise.
	Server string `json:"server,omitempty" example:"example"`
}

// ReadResourceResponse is a resource read.
type ReadResourceResponse struct {
	Success bool   `json:"success" example:"true"`
	Server  string `json:"server" example:"example"`
	URI     string `json:"uri" example:"note://welcome"`
	// Result is the MCP ReadResourceResult as the server sent it:
	// {"contents":[{"uri","mimeType","text"} or {"uri","mimeType","blob"}]}.
	Result json.RawMessage `json:"result" swaggertype:"object"`
}

// readResource godoc
//
//	@Summary		Read a resource
//	@ID				readResource
//	@Description	Reads a resource from the server that offers it: the server that lists the URI, else the one with a resource template matching it (the most specific template, by literal prefix; between equals, the first server by name). With `server`, only that server is considered. `result` is the MCP ReadResourceResult as the server sent it.
//	@Tags			resources
//	@Security		BearerToken
//	@Security		APIKey
//	@Accept			json
//	@Produce		json
//	@Param			read	body		ReadResourceRequest	true	"the resource's URI"
//	@Success		200		{object}	ReadResourceResponse
//	@Failure		400		{object}	ErrorResponse	"bad body, missing or over-long uri (8 KiB)"
//	@Failure		404		{object}	ErrorResponse	"no server lists the URI or has a template matching it, the server does not have it, or an unknown server"
//	@Failure		413		{object}	ErrorResponse	"body too large"
//	@Failure		502		{object}	ErrorResponse	"downstream protocol error"
//	@Failure		503		{object}	ErrorResponse	"server unavailable, or the hub is stopping"
//	@Failure		504		{object}	ErrorResponse	"downstream timed out"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/resources/read [post]
func (s *server) readResource(c *gin.Context) {
	var body ReadResourceRequest
	if err := decodeObject(c.Request.Body, c.Request.ContentLength, &body, `{"uri","server"}`); err != nil {
		s.writeError(c, err)
		return
	}
	if body.URI == "" {
		s.writeError(c, fmt.Errorf("%w: uri is required", errBadRequest))
		return
	}
	var only []string // every server
	if body.Server != "" {
		only = []string{body.Server}
	}
	res, err := s.hub.ReadResourceFrom(c.Request.Context(), body.URI, only...)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, ReadResourceResponse{Success: true, Server: res.Server, URI: res.URI, Result: res.Result})
}

// prompts godoc
//
//	@Summary		List prompts
//	@ID				listPrompts
//	@Description	Every prompt the servers list (or one server's), each as its server sent it, under its exported name (server__prompt), with `server` and `prompt` (the name on the server) added.
//	@Tags			prompts
//	@Security		BearerToken
//	@Security		APIKey
//	@Produce		json
//	@Param			server	query		string	false	"only this server's prompts"
//	@Success		200		{object}	PromptsResponse
//	@Failure		404		{object}	ErrorResponse	"unknown server"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/prompts [get]
func (s *server) prompts(c *gin.Context) {
	list, err := s.hub.Prompts(c.Query("server"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := PromptsResponse{Prompts: make([]PromptItem, 0, len(list))}
	for _, p := range list {
		out.Prompts = append(out.Prompts, PromptItem{Name: p.Exported, Server: p.Server, Prompt: p.Name, raw: p.Raw})
	}
	s.writeJSON(c, http.StatusOK, out)
}

// GetPromptRequest names a prompt and its arguments.
type GetPromptRequest struct {
	// Name is the exported name (server__prompt) or the server.prompt form.
	Name string `json:"name" example:"example__greet"`
	// Arguments are the prompt's arguments; MCP prompt arguments are strings.
	Arguments map[string]string `json:"arguments,omitempty"`
}

// GetPromptResponse is a rendered prompt.
type GetPromptResponse struct {
	Success bool   `json:"success" example:"true"`
	Name    string `json:"name" example:"example__greet"`
	Server  string `json:"server" example:"example"`
	// Result is the MCP GetPromptResult as the server sent it:
	// {"description","messages":[{"role","content"}]}.
	Result json.RawMessage `json:"result" swaggertype:"object"`
}

// getPromptBody is the wire form of GetPromptRequest: arguments are checked
// one by one, so an error can name the key that is not a string.
type getPromptBody struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// getPrompt godoc
//
//	@Summary		Get a prompt
//	@ID				getPrompt
//	@Description	Renders a prompt on its server with the given arguments. `result` is the MCP GetPromptResult as the server sent it. Arguments the prompt declares as required must be given.
//	@Tags			prompts
//	@Security		BearerToken
//	@Security		APIKey
//	@Accept			json
//	@Produce		json
//	@Param			prompt	body		GetPromptRequest	true	"the prompt's name and arguments"
//	@Success		200		{object}	GetPromptResponse
//	@Failure		400		{object}	ErrorResponse	"bad body, missing name, an argument that is not a string, or a required argument missing"
//	@Failure		404		{object}	ErrorResponse	"unknown prompt"
//	@Failure		413		{object}	ErrorResponse	"body too large"
//	@Failure		502		{object}	ErrorResponse	"downstream protocol error"
//	@Failure		503		{object}	ErrorResponse	"server unavailable, or the hub is stopping"
//	@Failure		504		{object}	ErrorResponse	"downstream timed out"
//	@Failure		500		{object}	ErrorResponse	"internal error (details only in the logs)"
//	@Failure		401		{object}	ErrorResponse	"auth is on and the request has no valid token"
//	@Failure		403		{object}	ErrorResponse	"the token may not use this path (auth rules)"
//	@Failure		429		{object}	ErrorResponse	"rate limit exceeded (limits.rate); Retry-After says when to retry"
//	@Router			/mcp_hub/prompts/get [post]
func (s *server) getPrompt(c *gin.Context) {
	var body getPromptBody
	if err := decodeObject(c.Request.Body, c.Request.ContentLength, &body, `{"name","arguments":{...}}`); err != nil {
		s.writeError(c, err)
		return
	}
	switch {
	case body.Name == "":
		s.writeError(c, fmt.Errorf("%w: name is required", errBadRequest))
		return
	case len(body.Name) > maxNameBytes:
		s.writeError(c, fmt.Errorf("%w: name is %d bytes long, the limit is %d", errBadRequest, len(body.Name), maxNameBytes))
		return
	}
	args, err := promptArguments(body.Arguments)
	if err != nil {
		s.writeError(c, err)
		return
	}
	res, err := s.hub.GetPrompt(c.Request.Context(), body.Name, args)
	if err != nil {
		s.writeError(c, err)
		return
	}
	s.writeJSON(c, http.StatusOK, GetPromptResponse{Success: true, Name: res.Name, Server: res.Server, Result: res.Result})
}

// promptArguments decodes arguments: absent or null is none, else an
// object whose values are all strings.
func promptArguments(raw json.RawMessage) (map[string]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var m map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
		return nil, fmt.Errorf("%w: arguments must be an object of strings, got %s", errBadRequest, jsonKind(raw[0]))
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same error for the same body
	args := make(map[string]string, len(m))
	for _, k := range keys {
		v := m[k]
		var str string
		if v[0] != '"' || json.Unmarshal(v, &str) != nil {
			return nil, fmt.Errorf("%w: arguments[%q] must be a string (MCP prompt arguments are strings), got %s", errBadRequest, k, jsonKind(v[0]))
		}
		args[k] = str
	}
	return args, nil
}
