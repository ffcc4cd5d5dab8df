package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
)

// inspectorBin returns the installed MCP Inspector CLI. Without it the test
// is skipped, unless MCPHUB_REQUIRE_PEERS=1 (make test) makes that a failure.
func inspectorBin(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "test", "peers", "node_modules", ".bin", "mcp-inspector")
	missing := ""
	if _, err := os.Stat(bin); err != nil {
		missing = fmt.Sprintf("%s is not installed (%v); run ./scripts/install-test-peers.sh", bin, err)
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node is not on PATH (needed by mcp-inspector)"
	}
	if missing != "" {
		if os.Getenv("MCPHUB_REQUIRE_PEERS") == "1" {
			t.Fatalf("MCPHUB_REQUIRE_PEERS=1 but %s", missing)
		}
		t.Skip("npm test peer missing: " + missing)
	}
	return bin
}

// inspectorRun is what one run of the Inspector CLI left behind.
type inspectorRun struct {
	args   []string
	code   int
	stdout []byte
	stderr string
}

func (r inspectorRun) String() string {
	return fmt.Sprintf("mcp-inspector %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// inspect runs `mcp-inspector --cli url --transport http args...` with a
// private HOME and npm settings that never reach the network, bounded by 60s.
func inspect(t *testing.T, bin, url string, args ...string) inspectorRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	home := t.TempDir()
	r := inspectorRun{args: append([]string{"--cli", url, "--transport", "http"}, args...)}
	cmd := exec.CommandContext(ctx, bin, r.args...)
	cmd.Dir = home
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"npm_config_cache="+filepath.Join(home, ".npm"),
		"npm_config_offline=true",
		"npm_config_update_notifier=false",
		"NO_UPDATE_NOTIFIER=1",
		"NO_PROXY=127.0.0.1,localhost",
		"no_proxy=127.0.0.1,localhost",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// Node may start helpers: a timeout ends the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	r.stdout, r.stderr = stdout.Bytes(), stderr.String()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("mcp-inspector timed out: %v\n%v", err, r)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("mcp-inspector: %v\n%v", err, r)
	}
	return r
}

// inspectJSON runs the Inspector, requires success, and decodes its output.
func inspectJSON(t *testing.T, bin, url string, out any, args ...string) {
	t.Helper()
	r := inspect(t, bin, url, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	if err := json.Unmarshal(r.stdout, out); err != nil {
		t.Fatalf("undecodable output: %v\n%v", err, r)
	}
}

// inspectorTool is the part of a listed tool the Inspector tests read.
type inspectorTool struct {
	Name        string          `json:"name"`
	InputSchema json.RawMessage `json:"inputSchema"`
}

type inspectorToolResult struct {
	Content []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent"`
	IsError           bool            `json:"isError"`
}

func (r inspectorToolResult) text() string {
	var parts []string
	for _, c := range r.Content {
		if c.Type == "text" {
			parts = append(parts, c.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// TestMCPInspector drives the hub's MCP endpoints with the official MCP
// Inspector CLI, a client nobody here wrote, with the example server and
// server-everything behind the hub over stdio.
func TestMCPInspector(t *testing.T) {
	t.Parallel()
	inspector := inspectorBin(t)
	everything := everythingBin(t)
	bins := buildRepo(t)
	id := fmt.Sprintf("inspector-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_E2E_ID", id)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: example
    command: %q
    env: {MCPHUB_E2E_ID: %q}
  - name: everything
    command: %q
    args: [stdio]
    env: {MCPHUB_E2E_ID: %q}
    timeout: 30
`, bins.example, id, everything, id))
	h.waitReady("example", 30*time.Second)
	h.waitReady("everything", 30*time.Second)
	all := h.base + "/mcp"

	t.Run("tools/list", func(t *testing.T) {
		var out struct {
			Tools []inspectorTool `json:"tools"`
		}
		inspectJSON(t, inspector, all, &out, "--method", "tools/list")
		names := map[string]bool{}
		perServer := map[string]int{}
		for _, tool := range out.Tools {
			if names[tool.Name] {
				t.Errorf("tool %s listed twice", tool.Name)
			}
			names[tool.Name] = true
			perServer[strings.SplitN(tool.Name, "__", 2)[0]]++
			if len(tool.InputSchema) == 0 {
				t.Errorf("tool %s has no inputSchema", tool.Name)
			}
		}
		for _, want := range []string{"example__echo", "example__add", "example__slow_count", "everything__echo", "everything__get-sum"} {
			if !names[want] {
				t.Errorf("tools/list lacks %s; has %v", want, slices.Sorted(maps.Keys(names)))
			}
		}
		srv := h.servers()
		for _, s := range []string{"example", "everything"} {
			if perServer[s] != srv[s].Tools {
				t.Errorf("%d %s__* tools over MCP, /mcp_hub/servers says %d", perServer[s], s, srv[s].Tools)
			}
		}
		if len(perServer) != 2 {
			t.Errorf("tools from unexpected servers: %v", perServer)
		}
	})

	t.Run("tools/call", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--tool-name", "example__echo", "--tool-arg", "message=hello"}, "hello"},
			{[]string{"--tool-name", "example__add", "--tool-arg", "a=2", "b=40.5"}, "42.5"},
			{[]string{"--tool-name", "everything__echo", "--tool-arg", "message=hello"}, "Echo: hello"},
			{[]string{"--tool-name", "everything__get-sum", "--tool-arg", "a=2", "b=40.5"}, "42.5"},
		} {
			var res inspectorToolResult
			inspectJSON(t, inspector, all, &res, append([]string{"--method", "tools/call"}, c.args...)...)
			if res.IsError || !strings.Contains(res.text(), c.want) {
				t.Errorf("%v: %+v, want text holding %q", c.args, res, c.want)
			}
		}
		// An unknown tool fails the call.
		if r := inspect(t, inspector, all, "--method", "tools/call", "--tool-name", "example__nope"); r.code == 0 {
			t.Errorf("calling an unknown tool succeeded: %v", r)
		}
	})

	t.Run("resources", func(t *testing.T) {
		var list struct {
			Resources []struct {
				URI      string `json:"uri"`
				Name     string `json:"name"`
				MIMEType string `json:"mimeType"`
			} `json:"resources"`
		}
		inspectJSON(t, inspector, all, &list, "--method", "resources/list")
		uris := map[string]bool{}
		everythingDocs := 0
		for _, r := range list.Resources {
			uris[r.URI] = true
			if strings.HasPrefix(r.URI, "demo://resource/static/document/") {
				everythingDocs++
			}
		}
		srv := h.servers()
		if !uris["note://welcome"] || everythingDocs == 0 || len(list.Resources) != srv["example"].Resources+srv["everything"].Resources {
			t.Errorf("resources/list: %v; servers say example %d, everything %d", slices.Sorted(maps.Keys(uris)), srv["example"].Resources, srv["everything"].Resources)
		}

		var templates struct {
			ResourceTemplates []struct {
				URITemplate string `json:"uriTemplate"`
			} `json:"resourceTemplates"`
		}
		inspectJSON(t, inspector, all, &templates, "--method", "resources/templates/list")
		var tpl []string
		for _, rt := range templates.ResourceTemplates {
			tpl = append(tpl, rt.URITemplate)
		}
		if !slices.Contains(tpl, "note://{id}") || !slices.Contains(tpl, "demo://resource/dynamic/text/{resourceId}") {
			t.Errorf("resources/templates/list: %v", tpl)
		}

		type contents struct {
			Contents []struct {
				URI      string `json:"uri"`
				MIMEType string `json:"mimeType"`
				Text     string `json:"text"`
			} `json:"contents"`
		}
		for _, c := range []struct{ uri, want string }{
			{"note://welcome", "Welcome to mcphub"},                               // a listed resource
			{"note://todo", "Write the hub"},                                      // through the example's template
			{"demo://resource/dynamic/text/7", "Resource 7: This is a plaintext"}, // through everything's template
		} {
			var got contents
			inspectJSON(t, inspector, all, &got, "--method", "resources/read", "--uri", c.uri)
			if len(got.Contents) != 1 || got.Contents[0].URI != c.uri || !strings.Contains(got.Contents[0].Text, c.want) {
				t.Errorf("resources/read %s: %+v, want text holding %q", c.uri, got, c.want)
			}
		}
		// One of everything's static documents.
		for uri := range uris {
			if strings.HasPrefix(uri, "demo://resource/static/document/") {
				var got contents
				inspectJSON(t, inspector, all, &got, "--method", "resources/read", "--uri", uri)
				if len(got.Contents) != 1 || got.Contents[0].URI != uri || got.Contents[0].Text == "" {
					t.Errorf("resources/read %s: %+v", uri, got)
				}
				break
			}
		}
	})

	t.Run("prompts", func(t *testing.T) {
		var list struct {
			Prompts []struct {
				Name string `json:"name"`
			} `json:"prompts"`
		}
		inspectJSON(t, inspector, all, &list, "--method", "prompts/list")
		var names []string
		for _, p := range list.Prompts {
			names = append(names, p.Name)
		}
		srv := h.servers()
		if !slices.Contains(names, "example__greet") || !slices.Contains(names, "everything__args-prompt") ||
			len(names) != srv["example"].Prompts+srv["everything"].Prompts {
			t.Errorf("prompts/list: %v", names)
		}
		type prompt struct {
			Description string `json:"description"`
			Messages    []struct {
				Role    string `json:"role"`
				Content struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
			} `json:"messages"`
		}
		for _, c := range []struct {
			args     []string
			want     string
			wantDesc string
		}{
			{[]string{"--prompt-name", "example__greet", "--prompt-args", "name=Ada"}, "Say hello to Ada", "Greet Ada"},
			{[]string{"--prompt-name", "everything__args-prompt", "--prompt-args", "city=Paris"}, "Paris", ""},
		} {
			var got prompt
			inspectJSON(t, inspector, all, &got, append([]string{"--method", "prompts/get"}, c.args...)...)
			if len(got.Messages) == 0 || got.Messages[0].Role != "user" || !strings.Contains(got.Messages[0].Content.Text, c.want) ||
				got.Description != c.wantDesc {
				t.Errorf("prompts/get %v: %+v, want a user message holding %q and description %q", c.args, got, c.want, c.wantDesc)
			}
		}
	})

	t.Run("server endpoint", func(t *testing.T) {
		var out struct {
			Tools []inspectorTool `json:"tools"`
		}
		inspectJSON(t, inspector, h.base+"/mcp/server/example", &out, "--method", "tools/list")
		var names []string
		for _, tool := range out.Tools {
			names = append(names, tool.Name)
			if !strings.HasPrefix(tool.Name, "example__") {
				t.Errorf("/mcp/server/example lists %s", tool.Name)
			}
		}
		if !slices.Contains(names, "example__echo") || len(names) != h.servers()["example"].Tools {
			t.Errorf("/mcp/server/example tools: %v", names)
		}
		var res inspectorToolResult
		inspectJSON(t, inspector, h.base+"/mcp/server/example", &res, "--method", "tools/call", "--tool-name", "example__echo", "--tool-arg", "message=scoped")
		if res.IsError || res.text() != "scoped" {
			t.Errorf("example__echo on /mcp/server/example: %+v", res)
		}
		// Another server's tool is not served there.
		if r := inspect(t, inspector, h.base+"/mcp/server/example", "--method", "tools/call", "--tool-name", "everything__echo", "--tool-arg", "message=x"); r.code == 0 {
			t.Errorf("everything__echo was callable on /mcp/server/example: %v", r)
		}
	})
}

var approvalIDRE = regexp.MustCompile(`approval request (appr_[a-z0-9]+)`)

// TestMCPInspectorApproval calls a tool that needs approval through the
// Inspector: the answer is a tool error naming the approval request; once
// approved over REST, the same call returns the approved call's result.
func TestMCPInspectorApproval(t *testing.T) {
	t.Parallel()
	inspector := inspectorBin(t)
	bins := buildRepo(t)
	id := fmt.Sprintf("inspector-approval-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_E2E_ID", id)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: example
    command: %q
    env: {MCPHUB_E2E_ID: %q}
    require_approval: ["delete_*"]
`, bins.example, id))
	h.waitReady("example", 30*time.Second)
	url := h.base + "/mcp"

	// The tool's description tells the model about the gate.
	var list struct {
		Tools []struct {
			Name        string `json:"name"`
			Description string `json:"description"`
		} `json:"tools"`
	}
	inspectJSON(t, inspector, url, &list, "--method", "tools/list")
	for _, tool := range list.Tools {
		if tool.Name == "example__delete_note" && !strings.Contains(strings.ToLower(tool.Description), "approv") {
			t.Errorf("the gated tool's description does not mention approval: %q", tool.Description)
		}
	}

	call := []string{"--method", "tools/call", "--tool-name", "example__delete_note", "--tool-arg", "id=todo"}
	r := inspect(t, inspector, url, call...)
	var res inspectorToolResult
	if err := json.Unmarshal(r.stdout, &res); err != nil {
		t.Fatalf("undecodable output: %v\n%v", err, r)
	}
	m := approvalIDRE.FindStringSubmatch(res.text())
	if !res.IsError || m == nil {
		t.Fatalf("gated call: want a tool error naming an approval request\n%v", r)
	}
	if r.code == 0 {
		t.Logf("the Inspector exits 0 on a tool error")
	}
	approvalID := m[1]

	// The request is pending and bound to exactly this call.
	var pending struct {
		ID    string `json:"id"`
		State string `json:"state"`
		Tool  string `json:"tool"`
	}
	if code := h.do("GET", "/mcp_hub/approvals/"+approvalID, nil, &pending); code != http.StatusOK || pending.State != "pending" {
		t.Fatalf("GET /mcp_hub/approvals/%s: %d %+v", approvalID, code, pending)
	}
	// Nothing ran: the note is still there.
	var note struct {
		Contents []struct {
			Text string `json:"text"`
		} `json:"contents"`
	}
	inspectJSON(t, inspector, url, &note, "--method", "resources/read", "--uri", "note://todo")
	if len(note.Contents) != 1 || note.Contents[0].Text != "Write the hub" {
		t.Fatalf("note://todo before approval: %+v", note)
	}

	var approved callResponse
	code := h.do("POST", "/mcp_hub/approve", map[string]any{"approval_id": approvalID, "tool": "example__delete_note", "arguments": map[string]any{"id": "todo"}}, &approved)
	if code != http.StatusOK || !approved.Success || !strings.Contains(approved.Content, "deleted note todo") {
		t.Fatalf("approve: %d %+v", code, approved)
	}
	// The same call again gets the approved call's result, not a new request.
	var again inspectorToolResult
	inspectJSON(t, inspector, url, &again, call...)
	if again.IsError || !strings.Contains(again.text(), "deleted note todo") {
		t.Errorf("the call after approval: %+v", again)
	}
	// And once claimed, a third identical call asks again.
	r = inspect(t, inspector, url, call...)
	var third inspectorToolResult
	_ = json.Unmarshal(r.stdout, &third)
	if m := approvalIDRE.FindStringSubmatch(third.text()); !third.IsError || m == nil || m[1] == approvalID {
		t.Errorf("a third identical call should need a new approval: %v", r)
	}
}

// timeRE matches the clock times server-everything stamps into its
// dynamic resources ("created at 8:51:40 PM").
var timeRE = regexp.MustCompile(`\d{1,2}:\d{2}:\d{2}`)

// normalized decodes a result and blanks clock times in its strings (in
// base64 blobs too), so that two reads a second apart compare equal.
func normalized(t *testing.T, raw []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	var walk func(key string, v any) any
	walk = func(key string, v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(k, e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk("", e)
			}
		case string:
			if key == "blob" {
				if b, err := base64.StdEncoding.DecodeString(x); err == nil {
					x = "blob:" + string(b)
				}
			}
			return timeRE.ReplaceAllString(x, "TIME")
		}
		return v
	}
	return walk("", v)
}

func byKey(items []map[string]json.RawMessage, key string) map[string]map[string]json.RawMessage {
	out := make(map[string]map[string]json.RawMessage, len(items))
	for _, it := range items {
		out[str(it[key])] = it
	}
	return out
}

// sameObject compares two listed items as JSON, ignoring the keys in skip.
func sameObject(t *testing.T, a, b map[string]json.RawMessage, skip ...string) bool {
	t.Helper()
	a, b = maps.Clone(a), maps.Clone(b)
	for _, k := range skip {
		delete(a, k)
		delete(b, k)
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return jsonEqual(t, ja, jb)
}

// withoutRequiredFalse drops "required": false from a prompt's arguments.
func withoutRequiredFalse(t *testing.T, p map[string]json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var args []map[string]json.RawMessage
	if len(p["arguments"]) == 0 || json.Unmarshal(p["arguments"], &args) != nil {
		return p
	}
	for _, a := range args {
		if string(a["required"]) == "false" {
			delete(a, "required")
		}
	}
	p = maps.Clone(p)
	p["arguments"], _ = json.Marshal(args)
	return p
}

func rawJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestMCPEverything puts server-everything (stdio) behind the hub and
// compares what mcp-go's client gets from the hub's /mcp with what the same
// client gets from its own copy of the server.
func TestMCPEverything(t *testing.T) {
	t.Parallel()
	bin := everythingBin(t)
	id := fmt.Sprintf("mcp-everything-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_E2E_ID", id)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: everything
    command: %q
    args: [stdio]
    env: {MCPHUB_E2E_ID: %q}
    timeout: 30
`, bin, id))
	h.waitReady("everything", 30*time.Second)
	direct := directStdio(t, bin, "stdio")
	hub := directHTTP(t, h.base+"/mcp")
	const prefix = "everything__"

	t.Run("tools", func(t *testing.T) {
		want, _ := direct.listAll(t, "tools/list", "tools")
		got, _ := hub.listAll(t, "tools/list", "tools")
		gotBy := byKey(got, "name")
		if len(got) != len(want) {
			t.Errorf("/mcp lists %d tools, the server %d: %v", len(got), len(want), slices.Sorted(maps.Keys(gotBy)))
		}
		for _, w := range want {
			name := str(w["name"])
			g, ok := gotBy[prefix+name]
			if !ok {
				t.Errorf("tool %s is not listed as %s%s", name, prefix, name)
				continue
			}
			if !jsonEqual(t, g["inputSchema"], w["inputSchema"]) {
				t.Errorf("%s: inputSchema differs\n hub:    %s\n server: %s", name, g["inputSchema"], w["inputSchema"])
			}
			if !sameObject(t, g, w, "name") {
				t.Errorf("%s: the listed tool differs beyond its name\n hub:    %s\n server: %s", name, rawJSON(g), rawJSON(w))
			}
		}
	})

	t.Run("resources", func(t *testing.T) {
		want, wantPages := direct.listAll(t, "resources/list", "resources")
		got, gotPages := hub.listAll(t, "resources/list", "resources")
		t.Logf("%d resources: %d page(s) direct, %d through /mcp", len(want), wantPages, gotPages)
		if len(got) != len(want) || len(byKey(got, "uri")) != len(got) {
			t.Errorf("/mcp lists %d resources (%d distinct), the server %d", len(got), len(byKey(got, "uri")), len(want))
		}
		gotBy := byKey(got, "uri")
		for _, w := range want {
			uri := str(w["uri"])
			if g, ok := gotBy[uri]; !ok {
				t.Errorf("resource %s is not listed", uri)
			} else if !sameObject(t, g, w) {
				t.Errorf("resource %s differs\n hub:    %s\n server: %s", uri, rawJSON(g), rawJSON(w))
			}
		}
		// Every resource reads the same through the hub.
		for _, w := range want {
			uri := str(w["uri"])
			params := map[string]any{"uri": uri}
			g, d := hub.raw(t, "resources/read", params), direct.raw(t, "resources/read", params)
			if !jsonEqual(t, g, d) {
				t.Errorf("resources/read %s differs\n hub:    %.400s\n server: %.400s", uri, g, d)
			}
		}
	})

	t.Run("resource templates", func(t *testing.T) {
		want, _ := direct.listAll(t, "resources/templates/list", "resourceTemplates")
		got, _ := hub.listAll(t, "resources/templates/list", "resourceTemplates")
		if len(got) != len(want) || len(want) == 0 {
			t.Errorf("/mcp lists %d templates, the server %d", len(got), len(want))
		}
		gotBy := byKey(got, "uriTemplate")
		for _, w := range want {
			tpl := str(w["uriTemplate"])
			if g, ok := gotBy[tpl]; !ok {
				t.Errorf("template %s is not listed", tpl)
			} else if !sameObject(t, g, w) {
				t.Errorf("template %s differs\n hub:    %s\n server: %s", tpl, rawJSON(g), rawJSON(w))
			}
		}
		// Reads through the templates (text and blob) match, clock aside.
		for _, uri := range []string{"demo://resource/dynamic/text/3", "demo://resource/dynamic/blob/4"} {
			params := map[string]any{"uri": uri}
			g, d := hub.raw(t, "resources/read", params), direct.raw(t, "resources/read", params)
			if gn, dn := normalized(t, g), normalized(t, d); rawJSON(gn) != rawJSON(dn) {
				t.Errorf("resources/read %s differs\n hub:    %s\n server: %s", uri, g, d)
			}
		}
	})

	t.Run("prompts", func(t *testing.T) {
		want, _ := direct.listAll(t, "prompts/list", "prompts")
		got, _ := hub.listAll(t, "prompts/list", "prompts")
		gotBy := byKey(got, "name")
		if len(got) != len(want) || len(want) == 0 {
			t.Errorf("/mcp lists %d prompts, the server %d", len(got), len(want))
		}
		for _, w := range want {
			name := str(w["name"])
			if g, ok := gotBy[prefix+name]; !ok {
				t.Errorf("prompt %s is not listed as %s%s", name, prefix, name)
			} else if !sameObject(t, g, w, "name") {
				// mcp-go's PromptArgument has `required,omitempty`: an
				// explicit "required": false is dropped, which means the same.
				if !sameObject(t, withoutRequiredFalse(t, g), withoutRequiredFalse(t, w), "name") {
					t.Errorf("prompt %s differs beyond its name\n hub:    %s\n server: %s", name, rawJSON(g), rawJSON(w))
				} else {
					t.Logf("prompt %s: the hub drops \"required\": false from its arguments (mcp-go omitempty); same meaning", name)
				}
			}
		}
		for _, c := range []struct {
			name string
			args map[string]string
		}{
			{"simple-prompt", map[string]string{}},
			{"args-prompt", map[string]string{"city": "Paris", "state": "Île-de-France"}},
			{"args-prompt", map[string]string{"city": "Chicago"}},
			{"resource-prompt", map[string]string{"resourceType": "Text", "resourceId": "2"}},
			{"completable-prompt", map[string]string{"department": "Engineering", "name": "Alice"}},
		} {
			d := direct.raw(t, "prompts/get", map[string]any{"name": c.name, "arguments": c.args})
			g := hub.raw(t, "prompts/get", map[string]any{"name": prefix + c.name, "arguments": c.args})
			if gn, dn := normalized(t, g), normalized(t, d); rawJSON(gn) != rawJSON(dn) {
				t.Errorf("prompts/get %s(%v) differs\n hub:    %s\n server: %s", c.name, c.args, g, d)
			}
		}
	})

	t.Run("calls", func(t *testing.T) {
		for _, c := range []struct {
			tool string
			args map[string]any
		}{
			{"echo", map[string]any{"message": "héllo {wörld}"}},
			{"get-sum", map[string]any{"a": 2, "b": 40.5}},
			{"get-structured-content", map[string]any{"location": "Chicago"}},
			{"get-annotated-message", map[string]any{"messageType": "error", "includeImage": true}},
			{"get-sum", map[string]any{"a": "two"}}, // a tool error (isError) relayed as is
		} {
			d := direct.raw(t, "tools/call", map[string]any{"name": c.tool, "arguments": c.args})
			g := hub.raw(t, "tools/call", map[string]any{"name": prefix + c.tool, "arguments": c.args})
			if !jsonEqual(t, g, d) {
				t.Errorf("tools/call %s(%v) differs\n hub:    %.600s\n server: %.600s", c.tool, c.args, g, d)
			}
		}
	})

	t.Run("progress", func(t *testing.T) {
		const steps = 8
		long := "trigger-long-running-operation"
		args := map[string]any{"duration": 1, "steps": steps}
		// The server's own sequence, for reference.
		wantSeq := progressOf(t, direct, long, args, []string{"direct"})["direct"]
		if len(wantSeq) != steps {
			t.Fatalf("the server sent %d progress notifications directly, want %d: %v", len(wantSeq), steps, wantSeq)
		}
		// Three calls at once on one session, and one on a second session:
		// each gets every notification of its own call, in order.
		tokens := []string{"tok-a", "tok-b", "tok-c"}
		var wg sync.WaitGroup
		var other map[string][]progressNote
		second := directHTTP(t, h.base+"/mcp")
		wg.Go(func() { other = progressOf(t, second, prefix+long, args, []string{"tok-a"}) })
		got := progressOf(t, hub, prefix+long, args, tokens)
		wg.Wait()
		got["second session tok-a"] = other["tok-a"]
		for tok, seq := range got {
			if !slices.Equal(seq, wantSeq) {
				t.Errorf("%s: progress through /mcp %v, the server sends %v", tok, seq, wantSeq)
			}
		}
	})
}

// progressNote is one progress notification's values.
type progressNote struct {
	Progress float64
	Total    float64
	Message  string
}

// progressOf calls tool once per token, all at once, each with that
// progress token, and returns the notifications each token received.
func progressOf(t *testing.T, d *directClient, tool string, args map[string]any, tokens []string) map[string][]progressNote {
	t.Helper()
	var mu sync.Mutex
	got := map[string][]progressNote{}
	d.c.OnNotification(func(n mcp.JSONRPCNotification) {
		if n.Method != "notifications/progress" {
			return
		}
		f := n.Params.AdditionalFields
		tok, _ := f["progressToken"].(string)
		var p progressNote
		p.Progress, _ = f["progress"].(float64)
		p.Total, _ = f["total"].(float64)
		p.Message, _ = f["message"].(string)
		mu.Lock()
		got[tok] = append(got[tok], p)
		mu.Unlock()
	})
	var wg sync.WaitGroup
	for _, tok := range tokens {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			req := mcp.CallToolRequest{}
			req.Params.Name = tool
			req.Params.Arguments = args
			req.Params.Meta = &mcp.Meta{ProgressToken: tok}
			res, err := d.c.CallTool(ctx, req)
			if err != nil {
				t.Errorf("%s (%s): %v", tool, tok, err)
				return
			}
			if res.IsError || len(res.Content) == 0 || !strings.Contains(rawJSON(res.Content), "Long running operation completed") {
				t.Errorf("%s (%s): %s", tool, tok, rawJSON(res))
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return maps.Clone(got)
}
