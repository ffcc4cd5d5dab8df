package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// openAIName is the pattern OpenAI's API enforces on function names.
var openAIName = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// directClient talks to a downstream server without the hub, to learn what
// the server really sends. Requests go through the transport raw, because
// mcp-go's typed results drop schema content.
type directClient struct {
	c  *client.Client
	id atomic.Int64
}

func newDirectClient(t *testing.T, tr transport.Interface) *directClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20251125))
	// The transport lives until Close, not until the handshake's deadline.
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("direct client start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	req.Params.ClientInfo = mcp.Implementation{Name: "mcphub-e2e", Version: "0"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatalf("direct client initialize: %v", err)
	}
	d := &directClient{c: c}
	d.id.Store(1000)
	return d
}

// directStdio starts its own copy of a stdio server.
func directStdio(t *testing.T, command string, args ...string) *directClient {
	var cmd *exec.Cmd
	tr := transport.NewStdioWithOptions(command, nil, args,
		transport.WithCommandFunc(func(ctx context.Context, command string, env []string, args []string) (*exec.Cmd, error) {
			cmd = exec.CommandContext(ctx, command, args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			return cmd, nil
		}))
	d := newDirectClient(t, tr)
	t.Cleanup(func() { // after Close (cleanups run last-in first-out)
		if cmd != nil && cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
	})
	return d
}

func directHTTP(t *testing.T, url string) *directClient {
	hc := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(hc.CloseIdleConnections)
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPBasicClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return newDirectClient(t, tr)
}

func (d *directClient) raw(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := d.c.GetTransport().SendRequest(ctx, transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(d.id.Add(1)), Method: method, Params: params,
	})
	if err != nil {
		t.Fatalf("direct %s: %v", method, err)
	}
	if resp.Error != nil {
		t.Fatalf("direct %s: error %d %s", method, resp.Error.Code, resp.Error.Message)
	}
	return resp.Result
}

// listAll follows every cursor of a list method; pages is how many it took.
func (d *directClient) listAll(t *testing.T, method, field string) (items []map[string]json.RawMessage, pages int) {
	t.Helper()
	cursor := ""
	for {
		params := map[string]any{}
		if cursor != "" {
			params["cursor"] = cursor
		}
		var page struct {
			NextCursor string `json:"nextCursor"`
		}
		raw := d.raw(t, method, params)
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil {
			t.Fatalf("direct %s: %v", method, err)
		}
		var got []map[string]json.RawMessage
		if err := json.Unmarshal(fields[field], &got); err != nil {
			t.Fatalf("direct %s: %s: %v", method, field, err)
		}
		_ = json.Unmarshal(raw, &page)
		items = append(items, got...)
		pages++
		if page.NextCursor == "" {
			return items, pages
		}
		cursor = page.NextCursor
	}
}

func str(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// jsonEqual compares two JSON documents by value (key order and spacing aside).
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %s", a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	return reflect.DeepEqual(va, vb)
}

// withoutSchemaKeyword drops the top-level "$schema" of an input schema:
// the only change the hub may make to a schema that already is an object.
func withoutSchemaKeyword(t *testing.T, schema json.RawMessage) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(schema, &m); err != nil {
		t.Fatalf("inputSchema is not an object: %s", schema)
	}
	delete(m, "$schema")
	out, _ := json.Marshal(m)
	return out
}

// TestEverything runs the hub against @modelcontextprotocol/server-everything
// over stdio and over Streamable HTTP, and checks that what the hub serves is
// exactly what the server sends.
func TestEverything(t *testing.T) {
	t.Parallel()
	bin := everythingBin(t)
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/mcp", port)
	peer := startProc(t, "", []string{fmt.Sprintf("PORT=%d", port)}, bin, "streamableHttp")
	waitHTTP(t, url, peer)

	id := fmt.Sprintf("everything-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_E2E_ID", id)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: everything
    command: %q
    args: [stdio]
    env: {MCPHUB_E2E_ID: %q}
    timeout: 30
  - name: everything-http
    endpoint: %q
    timeout: 30
`, bin, id, url))
	h.waitReady("everything", 30*time.Second)
	h.waitReady("everything-http", 30*time.Second)

	t.Run("all tools", func(t *testing.T) {
		all := h.tools("")
		seen := map[string]bool{}
		perServer := map[string]int{}
		for _, tool := range all {
			n := tool.Function.Name
			if !openAIName.MatchString(n) || seen[n] {
				t.Errorf("tool name %q: invalid or repeated", n)
			}
			seen[n] = true
			perServer[strings.SplitN(n, "__", 2)[0]]++
		}
		var errBody struct {
			Error string `json:"error"`
		}
		if code := h.do("GET", "/mcp_hub/tools?server=nope", nil, &errBody); code != http.StatusNotFound || !strings.Contains(errBody.Error, "nope") {
			t.Errorf("tools of an unknown server: %d %+v", code, errBody)
		}
		srv := h.servers()
		for _, name := range []string{"everything", "everything-http"} {
			if perServer[name] == 0 || perServer[name] != srv[name].Tools {
				t.Errorf("%s: %d tools in /mcp_hub/tools, servers says %d", name, perServer[name], srv[name].Tools)
			}
		}
	})

	for _, tc := range []struct {
		server string
		direct func(t *testing.T) *directClient
	}{
		{"everything", func(t *testing.T) *directClient { return directStdio(t, bin, "stdio") }},
		{"everything-http", func(t *testing.T) *directClient { return directHTTP(t, url) }},
	} {
		t.Run(tc.server, func(t *testing.T) {
			t.Parallel()
			d := tc.direct(t)
			checkDiscovery(t, h, d, tc.server)
			checkCalls(t, h, d, tc.server)
		})
	}
}

// checkDiscovery compares the hub's tools and counts with the server's own lists.
func checkDiscovery(t *testing.T, h *hubUnderTest, d *directClient, server string) {
	rawTools, _ := d.listAll(t, "tools/list", "tools")
	resources, resourcePages := d.listAll(t, "resources/list", "resources")
	templates, _ := d.listAll(t, "resources/templates/list", "resourceTemplates")
	prompts, _ := d.listAll(t, "prompts/list", "prompts")

	hubTools := map[string]openAITool{}
	for _, tool := range h.tools(server) {
		hubTools[tool.Function.Name] = tool
	}
	if len(hubTools) != len(rawTools) {
		names := slices.Sorted(func(yield func(string) bool) {
			for n := range hubTools {
				if !yield(n) {
					return
				}
			}
		})
		t.Errorf("hub lists %d tools for %s (%v), the server %d", len(hubTools), server, names, len(rawTools))
	}
	for _, rt := range rawTools {
		name := str(rt["name"])
		exported := server + "__" + name
		tool, ok := hubTools[exported]
		if !ok {
			t.Errorf("tool %q is not listed as %q", name, exported)
			continue
		}
		if !openAIName.MatchString(exported) {
			t.Errorf("exported name %q is not OpenAI-valid", exported)
		}
		if tool.Type != "function" {
			t.Errorf("%s: type %q", exported, tool.Type)
		}
		if tool.Function.Description != str(rt["description"]) {
			t.Errorf("%s: description %q, server sent %q", exported, tool.Function.Description, str(rt["description"]))
		}
		want := withoutSchemaKeyword(t, rt["inputSchema"])
		if !jsonEqual(t, tool.Function.Parameters, want) {
			t.Errorf("%s: parameters differ from the server's inputSchema\n hub:    %s\n server: %s", exported, tool.Function.Parameters, want)
		}
	}

	s := h.servers()[server]
	if s.Tools != len(rawTools) || s.Resources != len(resources) || s.ResourceTemplates != len(templates) || s.Prompts != len(prompts) {
		t.Errorf("/mcp_hub/servers: %v; the server lists %d tools, %d resources, %d templates, %d prompts",
			s, len(rawTools), len(resources), len(templates), len(prompts))
	}
	if len(resources) == 0 || len(prompts) == 0 {
		t.Errorf("the server listed %d resources and %d prompts; expected some of each", len(resources), len(prompts))
	}
	if resourcePages == 1 {
		// server-everything 2026.8.31 returns all its resources in one page;
		// TestPagination covers cursors with a server that pages.
		t.Logf("%s: all %d resources came in one page; pagination is not exercised by this peer", server, len(resources))
	}
	if s.ServerInfo == nil || s.ServerInfo.Name != "mcp-servers/everything" || s.ProtocolVersion == "" {
		t.Errorf("server_info/protocol_version not reported: %v %+v %q", s, s.ServerInfo, s.ProtocolVersion)
	}
}

func toolNames(tools []map[string]json.RawMessage) []string {
	var out []string
	for _, t := range tools {
		out = append(out, str(t["name"]))
	}
	return out
}

// checkCalls calls tools through POST /mcp_hub/call.
func checkCalls(t *testing.T, h *hubUnderTest, d *directClient, server string) {
	rawTools, _ := d.listAll(t, "tools/list", "tools")
	names := toolNames(rawTools)
	find := func(re string) string {
		t.Helper()
		for _, n := range names {
			if regexp.MustCompile(re).MatchString(n) {
				return n
			}
		}
		t.Fatalf("no tool matching %s among %v", re, names)
		return ""
	}
	echo := find(`^echo$`)
	sum := find(`(?i)sum|add`)
	long := find(`(?i)long.?running`)
	structured := find(`(?i)structured`)
	annotated := find(`(?i)annotat`)
	ex := func(tool string) string { return server + "__" + tool }

	// Arguments as an object and as a JSON-encoded string (what OpenAI returns).
	for _, args := range []any{map[string]any{"message": "héllo {wörld}"}, `{"message":"héllo {wörld}"}`} {
		out := h.mustCall(ex(echo), args)
		if out.Content != "Echo: héllo {wörld}" || out.Tool != ex(echo) || out.ID != "call_e2e" {
			t.Errorf("echo(%v): %+v", args, out)
		}
	}
	for _, args := range []any{map[string]any{"a": 2, "b": 40.5}, `{"a": 2, "b": 40.5}`} {
		if out := h.mustCall(ex(sum), args); !strings.Contains(out.Content, "42.5") {
			t.Errorf("%s(%v): %q does not hold 42.5", sum, args, out.Content)
		}
	}
	// Concurrent calls each get their own answer.
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Go(func() {
			msg := fmt.Sprintf("concurrent %d", i)
			code, out, err := h.tryCall(ex(echo), map[string]any{"message": msg})
			if err != nil || code != http.StatusOK || out.Content != "Echo: "+msg {
				t.Errorf("concurrent call %d: %d %+v %v", i, code, out, err)
			}
		})
	}
	wg.Wait()
	// A call by the server.tool form reaches the same tool.
	if out := h.mustCall(server+"."+echo, map[string]any{"message": "dotted"}); out.Content != "Echo: dotted" {
		t.Errorf("dotted name: %+v", out)
	}

	start := time.Now()
	out := h.mustCall(ex(long), map[string]any{"duration": 1, "steps": 4})
	if !strings.Contains(out.Content, "Long running operation completed") || time.Since(start) < 900*time.Millisecond {
		t.Errorf("%s after %v: %+v", long, time.Since(start), out)
	}

	// Results with structuredContent, annotations and an image pass through
	// unchanged: compare with what the server answers a direct call.
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{structured, map[string]any{"location": "Chicago"}},
		{annotated, map[string]any{"messageType": "error", "includeImage": true}},
		{annotated, map[string]any{"messageType": "success", "includeImage": false}},
	} {
		want := d.raw(t, "tools/call", map[string]any{"name": c.tool, "arguments": c.args})
		got := h.mustCall(ex(c.tool), c.args)
		if !jsonEqual(t, got.Result, want) {
			t.Errorf("%s(%v): hub result differs from the server's\n hub:    %s\n server: %s", c.tool, c.args, got.Result, want)
		}
	}

	// The server reports bad arguments as a tool error (isError): the model
	// must see it, so it is a 200 with success false, not an HTTP error.
	code, bad := h.call(ex(sum), map[string]any{"a": "two"})
	if code != http.StatusOK || bad.Success || !strings.Contains(bad.Error, "expected number") || len(bad.Result) == 0 {
		t.Errorf("%s with a string for a number: status %d %+v", sum, code, bad)
	}
	if code, _ := h.call(server+"__no-such-tool", map[string]any{}); code != http.StatusNotFound {
		t.Errorf("unknown tool: status %d, want 404", code)
	}
}
