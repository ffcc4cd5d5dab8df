package main

import (
	"bytes"
	"encoding/json"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mcphub/mcphub/api"
)

// cliResult is one run of a subcommand.
type cliResult struct {
	code           int
	stdout, stderr string
}

// cliEnv runs subcommands with env as their whole environment.
type cliEnv struct {
	t   *testing.T
	env map[string]string
	dir string
}

func newCLIEnv(t *testing.T, env map[string]string) *cliEnv {
	if env == nil {
		env = map[string]string{}
	}
	return &cliEnv{t: t, env: env, dir: t.TempDir()}
}

func (e *cliEnv) run(args ...string) cliResult { return e.runStdin("", args...) }

func (e *cliEnv) runStdin(stdin string, args ...string) cliResult {
	var stdout, stderr bytes.Buffer
	c := &cli{
		stdout: &stdout, stderr: &stderr, stdin: strings.NewReader(stdin), dir: e.dir,
		lookupEnv: func(k string) (string, bool) { v, ok := e.env[k]; return v, ok },
	}
	code := c.run(args)
	return cliResult{code, stdout.String(), stderr.String()}
}

// must runs args and fails the test unless they exit with code.
func (e *cliEnv) must(code int, args ...string) cliResult {
	e.t.Helper()
	r := e.run(args...)
	if r.code != code {
		e.t.Fatalf("mcphub %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

// exampleHubConfig runs the example server with delete_note gated, as the
// shipped mcp_servers.yaml does.
func exampleHubConfig(t *testing.T) string {
	return writeFile(t, t.TempDir(), "hub.yaml", "listen: 127.0.0.1:0\nservers:\n"+exampleServer("example")+
		"    require_approval: [\"delete_*\"]\n")
}

// startCLIHub runs the hub binary on the example config and returns a CLI
// environment pointed at it (through MCPHUB_URL) once the example server
// is ready.
func startCLIHub(t *testing.T, hubEnv []string, cliVars map[string]string) *cliEnv {
	t.Helper()
	p := runHub(t, t.TempDir(), childEnv(hubEnv...), "-c", exampleHubConfig(t))
	e := newCLIEnv(t, cliVars)
	e.env[envHubURL] = "http://" + p.addr()
	waitFor(t, 20*time.Second, "the example server ready", func() (bool, string) {
		r := e.run("servers", "--json")
		var list []api.ServerResponse
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &list) == nil && len(list) == 1 && list[0].Healthy, r.stdout + r.stderr
	})
	return e
}

func TestCLIHub(t *testing.T) {
	t.Parallel()
	e := startCLIHub(t, nil, nil)

	t.Run("servers", func(t *testing.T) {
		r := e.must(0, "servers")
		if !regexp.MustCompile(`(?m)^NAME\s+STATUS\s+TRANSPORT\s+TOOLS.*\n^example\s+ready\s+stdio\s+\d+`).MatchString(r.stdout) {
			t.Errorf("servers table:\n%s", r.stdout)
		}
	})

	t.Run("tools", func(t *testing.T) {
		r := e.must(0, "tools", "--json")
		var list api.ToolsResponse
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil {
			t.Fatalf("tools --json: %v\n%s", err, r.stdout)
		}
		var names []string
		for _, tool := range list.Tools {
			names = append(names, tool.Function.Name)
		}
		if !strings.Contains(strings.Join(names, " "), "example__echo") || strings.Join(list.RequiresApproval, " ") != "example__delete_note" {
			t.Errorf("tools --json: %v, requires_approval %v", names, list.RequiresApproval)
		}

		r = e.must(0, "tools")
		for _, re := range []string{
			`(?m)^NAME\s+SERVER\s+APPROVAL\s+DESCRIPTION$`,
			`(?m)^example__delete_note\s+example\s+required\s+Delete a note`,
			`(?m)^example__echo\s+example\s+-\s+Echo the message back unchanged\.$`,
		} {
			if !regexp.MustCompile(re).MatchString(r.stdout) {
				t.Errorf("tools table does not match %s:\n%s", re, r.stdout)
			}
		}
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
			if desc := strings.Fields(line); len(line) > 140 || len(desc) < 4 {
				t.Errorf("table line too long or short (descriptions are cut at %d): %q", descriptionWidth, line)
			}
		}

		r = e.must(0, "tools", "-q", "echo a message", "--limit", "1")
		if lines := strings.Split(strings.TrimSpace(r.stdout), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], "example__echo ") {
			t.Errorf("tools -q: %q", r.stdout)
		}
		r = e.must(1, "tools", "--server", "nope")
		if !strings.Contains(r.stderr, `unknown server "nope" (HTTP 404)`) {
			t.Errorf("unknown server: %q", r.stderr)
		}
		e.must(2, "tools", "--limit", "3")
	})

	t.Run("call", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			stdin  string
			args   []string
			code   int
			stdout string // exact
			stderr string // contained
		}{
			{"echo", "", []string{"example__echo", `{"message":"hi there"}`}, 0, "hi there\n", ""},
			{"server.tool name", "", []string{"example.echo", `{"message":"dotted"}`}, 0, "dotted\n", ""},
			{"streamed", "", []string{"--stream", "example__echo", `{"message":"streamed"}`}, 0, "streamed\n", ""},
			{"stdin", `{"message": "from stdin"}`, []string{"example__echo", "-"}, 0, "from stdin\n", ""},
			{"tool error", "", []string{"example__fail", `{"message":"boom"}`}, 4, "boom\n", "example__fail reported an error"},
			{"tool error streamed", "", []string{"--stream", "example__fail"}, 4, "failure requested\n", "reported an error"},
			{"bad JSON", "", []string{"example__echo", `{"message":`}, 2, "", "the arguments are not valid JSON: unexpected end of JSON input"},
			{"bad JSON on stdin", `{"a" 1}`, []string{"example__echo", "-"}, 2, "", "the arguments on stdin are not valid JSON: invalid character '1' after object key (at byte 6)"},
			{"not an object", "", []string{"example__echo", `["hi"]`}, 2, "", `must be a JSON object such as '{"message":"hi"}', got ["hi"]`},
			{"no name", "", nil, 2, "", "call needs a tool name"},
			{"too many", "", []string{"example__echo", "{}", "{}"}, 2, "", "quote the JSON"},
			{"unknown tool", "", []string{"example__nope"}, 1, "", "(HTTP 404)"},
			{"unknown tool streamed", "", []string{"--stream", "example__nope"}, 1, "", "(HTTP 404)"},
			{"bad wait", "", []string{"--wait", "soon", "example__echo"}, 2, "", "invalid argument \"soon\" for \"--wait\""},
		} {
			r := e.runStdin(tc.stdin, append([]string{"call"}, tc.args...)...)
			if r.code != tc.code || (tc.stdout != "" || tc.code == 0) && r.stdout != tc.stdout || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("%s: exit %d (want %d)\nstdout: %q (want %q)\nstderr: %q (want %q in it)", tc.name, r.code, tc.code, r.stdout, tc.stdout, r.stderr, tc.stderr)
			}
		}

		r := e.must(0, "call", "example__add", `{"a": 2, "b": 3}`, "--json")
		var res api.CallResponse
		if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !res.Success || res.Content != "5" || !strings.Contains(string(res.Result), `"structuredContent":{"sum":5}`) {
			t.Errorf("call --json: %v %q", err, r.stdout)
		}
	})

	t.Run("streaming progress", func(t *testing.T) {
		r := e.must(0, "call", "--stream", "example__slow_count", `{"count": 3, "delay_ms": 20}`)
		if r.stdout != "counted to 3\n" {
			t.Errorf("stdout %q", r.stdout)
		}
		want := "example__slow_count: progress 1/3 (33%) step 1 of 3\n" +
			"example__slow_count: progress 2/3 (66%) step 2 of 3\n" +
			"example__slow_count: progress 3/3 (100%) step 3 of 3\n"
		if r.stderr != want {
			t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
		}
		// Without --stream (and stderr not a terminal) the call is plain.
		if r := e.must(0, "call", "example__slow_count", `{"count": 2, "delay_ms": 1}`); r.stderr != "" || r.stdout != "counted to 2\n" {
			t.Errorf("unstreamed: %+v", r)
		}
	})

	t.Run("approvals", func(t *testing.T) {
		e.must(0, "call", "example__create_note", `{"id": "todo", "text": "x"}`)
		r := e.must(exitPending, "call", "example__delete_note", `{"id": "todo"}`)
		id := regexp.MustCompile(`approval id: (appr_\w+)`).FindStringSubmatch(r.stdout)
		if id == nil || !strings.Contains(r.stdout, "mcphub approve "+id[1]) {
			t.Fatalf("pending call printed:\n%s", r.stdout)
		}
		r = e.must(0, "approvals")
		if !regexp.MustCompile(`(?m)^ID\s+STATE\s+SERVER\s+TOOL\s+CALLER\s+CREATED\s+EXPIRES\s+ARGUMENTS\n` +
			regexp.QuoteMeta(id[1]) + `\s+pending\s+example\s+example__delete_note\s+-\s+(now|\d+s ago)\s+in (9m\d\d|10m00)s\s+\{"id":"todo"\}$`).MatchString(r.stdout) {
			t.Errorf("approvals table:\n%s", r.stdout)
		}
		r = e.must(0, "approve", id[1])
		if r.stdout != "deleted note todo\n" || !strings.Contains(r.stderr, "approving "+id[1]+`: example__delete_note {"id":"todo"}`) {
			t.Errorf("approve: %+v", r)
		}
		r = e.must(1, "approve", id[1])
		if !strings.Contains(r.stderr, "(HTTP 409)") {
			t.Errorf("approving twice: %q", r.stderr)
		}
		e.must(2, "approve")
		r = e.must(1, "approve", "appr_nope")
		if !strings.Contains(r.stderr, "approval appr_nope: ") {
			t.Errorf("approving an unknown id: %q", r.stderr)
		}

		// --json: the hub's 202 answer as is.
		r = e.must(exitPending, "call", "--json", "example__delete_note", `{"id": "keep"}`)
		var pending api.PendingResponse
		if err := json.Unmarshal([]byte(r.stdout), &pending); err != nil || pending.Data.ApprovalID == "" {
			t.Fatalf("pending --json: %v %q", err, r.stdout)
		}
		other := pending.Data.ApprovalID
		r = e.must(0, "reject", other, "--reason", "not now")
		if r.stdout != "rejected "+other+`: example__delete_note {"id":"keep"}`+"\n" {
			t.Errorf("reject: %q", r.stdout)
		}
		r = e.must(0, "approvals", "--state", "rejected", "--json")
		var list api.ApprovalsResponse
		if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Approvals) != 1 || list.Approvals[0].ID != other || list.Approvals[0].Reason != "not now" {
			t.Errorf("approvals --state rejected: %v %s", err, r.stdout)
		}
		r = e.must(0, "approvals", "--state", "approved")
		if !strings.Contains(r.stdout, id[1]+"  approved") {
			t.Errorf("approvals --state approved:\n%s", r.stdout)
		}
		e.must(1, "approvals", "--state", "nope")

		// A streamed call stops at the pending event unless told to wait.
		r = e.must(exitPending, "call", "--stream", "example__delete_note", `{"id": "streamed"}`)
		if !strings.Contains(r.stdout, "needs a person's approval") {
			t.Errorf("streamed pending call: %+v", r)
		}
		// A short wait ends pending too.
		start := time.Now()
		r = e.must(exitPending, "call", "--wait", "300ms", "example__delete_note", `{"id": "waited"}`)
		if time.Since(start) < 300*time.Millisecond {
			t.Errorf("--wait 300ms answered after %v", time.Since(start))
		}
	})

	t.Run("wait for approval", func(t *testing.T) {
		for _, mode := range []string{"--stream=false", "--stream"} {
			note := "note" + strings.TrimPrefix(mode, "--stream")
			e.must(0, "call", "example__create_note", `{"id": "`+note+`", "text": "x"}`)
			var wg sync.WaitGroup
			var r cliResult
			wg.Go(func() { r = e.run("call", mode, "--wait", "30s", "example__delete_note", `{"id": "`+note+`"}`) })
			var id string
			waitFor(t, 10*time.Second, "the pending call", func() (bool, string) {
				out := e.must(0, "approvals", "--state", "pending", "--json").stdout
				var list api.ApprovalsResponse
				_ = json.Unmarshal([]byte(out), &list)
				for _, a := range list.Approvals {
					if string(a.Arguments) == `{"id":"`+note+`"}` {
						id = a.ID
					}
				}
				return id != "", out
			})
			e.must(0, "approve", id)
			wg.Wait()
			if r.code != 0 || r.stdout != "deleted note "+note+"\n" {
				t.Errorf("%s: a waiting call got %+v", mode, r)
			}
			if mode == "--stream" && !strings.Contains(r.stderr, "waiting up to 30s for approval "+id) {
				t.Errorf("%s: stderr %q", mode, r.stderr)
			}
		}
	})
}

func TestCLIAuth(t *testing.T) {
	t.Parallel()
	const token = "cli-test-token-0123456789"
	e := startCLIHub(t, []string{"MCPHUB_API_TOKEN=" + token}, map[string]string{"MCPHUB_API_TOKEN": token})
	e.must(0, "servers")

	delete(e.env, "MCPHUB_API_TOKEN")
	r := e.must(1, "servers")
	want := "mcphub: the hub at " + e.env[envHubURL] + " needs a token: set MCPHUB_API_TOKEN to one of its tokens (HTTP 401: authentication required"
	if !strings.HasPrefix(r.stderr, want) {
		t.Errorf("no token:\n%s\nwant it to start with\n%s", r.stderr, want)
	}
	e.env["MCPHUB_API_TOKEN"] = "wrong-token-0123456789"
	if r := e.must(1, "tools"); !strings.Contains(r.stderr, "refused the token in MCPHUB_API_TOKEN (HTTP 401: invalid token)") {
		t.Errorf("wrong token: %q", r.stderr)
	}
	e.env["MCPHUB_API_TOKEN"] = token
	if r := e.must(0, "call", "example__echo", `{"message":"authorized"}`); r.stdout != "authorized\n" {
		t.Errorf("with the token: %+v", r)
	}
}

func TestCLINoHub(t *testing.T) {
	t.Parallel()
	// A port nobody listens on any more.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	e := newCLIEnv(t, nil)
	r := e.must(1, "servers", "--hub", addr)
	if want := "mcphub: cannot reach the hub at http://" + addr + ": connection refused; is it running? (set --hub or MCPHUB_URL)\n"; r.stderr != want {
		t.Errorf("refused:\n%s\nwant\n%s", r.stderr, want)
	}

	// A hub that never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	r = e.must(1, "call", "--timeout", "200ms", "--hub", "http://"+silent.Addr().String()+"/", "example__echo")
	if !strings.Contains(r.stderr, "no answer from the hub at http://"+silent.Addr().String()+" within 200ms (--timeout)") {
		t.Errorf("silent hub: %q", r.stderr)
	}
	silent.Close()
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"servers", "--hub", "ftp://x"}, "--hub: want http://host:port"},
		{[]string{"servers", "extra"}, `servers takes no arguments, got "extra"`},
		{[]string{"servers", "--nope"}, "unknown flag: --nope"},
		{[]string{"config"}, "config needs a subcommand"},
		{[]string{"config", "check"}, `unknown config subcommand "check"`},
	} {
		if r := e.run(tc.args...); r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, r.code, r.stderr, tc.want)
		}
	}
}

func TestCLIHelp(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, nil)
	r := e.must(0, "help")
	for _, want := range []string{"Commands", "approve ID", "config validate|show", "--listen"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help does not mention %q:\n%s", want, r.stdout)
		}
	}
	if r := e.must(0, "call", "--help"); !strings.Contains(r.stdout, "--wait duration") || r.stderr != "" {
		t.Errorf("call --help: %+v", r)
	}
	if r := e.must(0, "help", "tools"); !strings.Contains(r.stdout, "Usage: mcphub tools") {
		t.Errorf("help tools: %+v", r)
	}
	// The serve flags' --help, from the binary.
	code, _, stderr := runToExit(t, t.TempDir(), childEnv(), "--help")
	if code != 0 || !strings.Contains(stderr, "Commands") || !strings.Contains(stderr, "--config") {
		t.Errorf("mcphub --help: exit %d\n%s", code, stderr)
	}
	// A subcommand through the binary, the way people run it.
	code, stdout, _ := runToExit(t, t.TempDir(), childEnv(), "config", "--help")
	if code != 0 || !strings.Contains(stdout, "mcphub config validate") {
		t.Errorf("mcphub config --help: exit %d\n%s", code, stdout)
	}
}

func TestCLIConfigValidate(t *testing.T) {
	t.Parallel()
	e := newCLIEnv(t, map[string]string{"SET": "yes"})
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", "servers:\n"+exampleServer("one"))
	more := writeFile(t, dir, "more.json", `{"mcpServers": {"two": {"url": "http://127.0.0.1:1/mcp"}}}`)
	broken := writeFile(t, dir, "broken.yaml", `listen: nowhere
refresh_interval: soon
approval:
  default: sometimes
servers:
  - name: a
    endpiont: http://127.0.0.1:1/mcp
  - name: b
    command: x
    env: {KEY: "${UNSET_VARIABLE}"}
`)

	r := e.must(0, "config", "validate", good)
	if r.stdout != "ok: 1 server ("+good+")\n" {
		t.Errorf("valid file: %q", r.stdout)
	}
	r = e.must(0, "config", "validate", good, "-c", more)
	if r.stdout != "ok: 2 servers ("+more+", "+good+")\n" {
		t.Errorf("-c files come first, then the named ones: %q", r.stdout)
	}

	r = e.must(1, "config", "validate", broken)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) != 7 || lines[0] != "invalid config: "+strconv.Itoa(len(lines)-1)+" problems" {
		t.Fatalf("broken file: %d lines:\n%s", len(lines), r.stderr)
	}
	for _, want := range []string{
		broken + ":1: listen: ",
		broken + ":2: refresh_interval: ",
		broken + ":4: approval.default: ",
		broken + `:7: servers[0].endpiont: unknown key (did you mean "endpoint"?)`,
		broken + ":6: servers[0].endpoint: required",
		broken + ":10: servers[1].env.KEY: ${UNSET_VARIABLE}: environment variable UNSET_VARIABLE is not set",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("problems do not include %q:\n%s", want, r.stderr)
		}
	}
	if r.stdout != "" {
		t.Errorf("stdout: %q", r.stdout)
	}

	r = e.must(1, "config", "validate", "--json", broken)
	var out struct {
		Valid    bool
		Problems []struct {
			File    string
			Line    int
			Path    string
			Message string
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Valid || len(out.Problems) != len(lines)-1 || out.Problems[0].File != broken || out.Problems[0].Line == 0 {
		t.Errorf("--json: %v %s", err, r.stdout)
	}

	if r := e.must(1, "config", "validate", filepath.Join(dir, "missing.yaml")); !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing file: %q", r.stderr)
	}
	// Without FILE, the hub's search: here nothing to find.
	if r := e.must(1, "config", "validate"); !strings.Contains(r.stderr, "no config file found") {
		t.Errorf("no file: %q", r.stderr)
	}
	writeFile(t, e.dir, "mcp_servers.yaml", "servers:\n"+exampleServer("found"))
	if r := e.must(0, "config", "validate"); !strings.Contains(r.stdout, "ok: 1 server ("+filepath.Join(e.dir, "mcp_servers.yaml")+")") {
		t.Errorf("searched file: %q", r.stdout)
	}
}

func TestCLIConfigShow(t *testing.T) {
	t.Parallel()
	secrets := map[string]string{
		"HUB_TOKEN":        "hub-token-from-env-0123456789",
		"SECRET":           "api-key-from-env-9876543210",
		"MCPHUB_API_TOKEN": "mcphub-env-token-abcdefghijk",
		"DB_PASSWORD":      "db-password-from-env-5555",
	}
	const cmdSecret = "secret-from-a-command-4242"
	e := newCLIEnv(t, secrets)
	file := writeFile(t, t.TempDir(), "hub.yaml", `listen: 127.0.0.1:9100
refresh_interval: 90s
auth:
  tokens:
    - name: ci
      token: ${env:HUB_TOKEN}
    - name: cmd
      token: "${cmd: echo `+cmdSecret+`}"
groups:
  notes: [local]
servers:
  - name: local
    command: ./server
    args: ["--api-key=${env:SECRET}", "--plain"]
    env: {API_KEY: "${SECRET}", MODE: fast}
    require_approval: ["delete_*"]
  - name: remote
    url: http://user:${DB_PASSWORD}@127.0.0.1:1/mcp?key=${SECRET}
    headers: {Authorization: "Bearer ${SECRET}"}
    request_id_meta: true
    timeout: 5
`)
	for _, format := range []string{"yaml", "json"} {
		args := []string{"config", "show", file}
		if format == "json" {
			args = append(args, "--json")
		}
		r := e.must(0, args...)
		for name, v := range secrets {
			if strings.Contains(r.stdout, v) || strings.Contains(r.stderr, v) {
				t.Errorf("%s: shows %s:\n%s", format, name, r.stdout)
			}
		}
		if strings.Contains(r.stdout, cmdSecret) {
			t.Errorf("%s: shows the command's output:\n%s", format, r.stdout)
		}
		var v configView
		var err error
		if format == "json" {
			err = json.Unmarshal([]byte(r.stdout), &v)
		} else {
			err = yaml.Unmarshal([]byte(r.stdout), &v)
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", format, err, r.stdout)
		}
		if v.Listen != "127.0.0.1:9100" || v.RefreshInterval != "1m30s" || v.Approval.TTL != "10m" || len(v.Servers) != 2 || v.Groups["notes"].Servers[0] != "local" {
			t.Errorf("%s: %+v", format, v)
		}
		if toks := v.Auth.Tokens; len(toks) != 3 || toks[0] != (tokenView{"ci", "<redacted>"}) || toks[2] != (tokenView{"env", "<redacted>"}) {
			t.Errorf("%s: tokens %+v", format, toks)
		}
		local, remote := v.Servers[0], v.Servers[1]
		if strings.Join(local.Args, " ") != "--api-key=<redacted> --plain" || local.Env["API_KEY"] != "<redacted>" || local.Env["MODE"] != "<redacted>" || local.Timeout != "30s" || local.RequestIDMeta {
			t.Errorf("%s: local %+v", format, local)
		}
		if remote.Endpoint != "http://user:xxxxx@127.0.0.1:1/mcp?key=%3Credacted%3E" || remote.Headers["Authorization"] != "<redacted>" || remote.Timeout != "5s" || remote.Transport != "streamable-http" || !remote.RequestIDMeta {
			t.Errorf("%s: remote %+v", format, remote)
		}
	}

	if r := e.must(0, "config", "show"); !strings.Contains(r.stderr, "no config file found") || !strings.Contains(r.stdout, "name: local") {
		t.Errorf("default config: %+v", r)
	}
	writeFile(t, e.dir, "mcp_servers.json", `{"mcpServers": {"found": {"command": "x"}}}`)
	if r := e.must(0, "config", "show"); !strings.Contains(r.stdout, "# resolved from "+filepath.Join(e.dir, "mcp_servers.json")) || !strings.Contains(r.stdout, "name: found") {
		t.Errorf("searched config: %+v", r)
	}
	if r := e.must(1, "config", "show", writeFile(t, t.TempDir(), "bad.yaml", "listen: [\n")); !strings.Contains(r.stderr, "invalid config") {
		t.Errorf("broken config: %+v", r)
	}
}

func TestBar(t *testing.T) {
	t.Parallel()
	for f, want := range map[float64]string{
		-1:   "[>                   ]",
		0:    "[>                   ]",
		0.5:  "[==========>         ]",
		0.99: "[===================>]",
		1:    "[====================]",
		7:    "[====================]",
	} {
		if got := bar(f); got != want {
			t.Errorf("bar(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestReadSSE(t *testing.T) {
	t.Parallel()
	in := ": keepalive\n\nevent:progress\ndata:{\"progress\":1}\n\nevent: result\r\ndata: {\"a\":\r\ndata: 1}\r\nid: 7\r\n\r\ndata: last"
	out := make(chan sseEvent, 10)
	if err := readSSE(strings.NewReader(in), out); err != nil {
		t.Fatal(err)
	}
	close(out)
	var got []string
	for ev := range out {
		got = append(got, ev.name+"="+string(ev.data))
	}
	want := []string{`progress={"progress":1}`, "result={\"a\":\n1}"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("events %q, want %q (an event not ended by a blank line is dropped)", got, want)
	}
}

// TestCLIConfigNoFile: without a config file, config show shows what the
// hub would run and refuses what the hub refuses (a too-short
// MCPHUB_API_TOKEN), and config validate --json still prints a verdict.
func TestCLIConfigNoFile(t *testing.T) {
	t.Parallel()
	const problem = "invalid config: 1 problem\nMCPHUB_API_TOKEN: too short: at least 16 bytes"
	e := newCLIEnv(t, map[string]string{"MCPHUB_API_TOKEN": "short"})
	if r := e.must(1, "config", "show"); !strings.Contains(r.stderr, problem) || r.stdout != "" {
		t.Errorf("config show with a short token: %+v", r)
	}
	code, _, stderr := runToExit(t, t.TempDir(), childEnv("MCPHUB_API_TOKEN=short"), "--listen", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, problem) {
		t.Errorf("the hub with a short token: exit %d, want 1 and %q:\n%s", code, problem, stderr)
	}

	e.env["MCPHUB_API_TOKEN"] = "env-token-0123456789abcdef"
	r := e.must(0, "config", "show", "--json")
	var v configView
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || len(v.Auth.Tokens) != 1 || v.Auth.Tokens[0] != (tokenView{"env", "<redacted>"}) {
		t.Errorf("config show with a token: %v %+v", err, r)
	}
	if !strings.Contains(r.stderr, "no config file found (looked for MCP_CONFIG_FILE, mcp_servers.yaml,") {
		t.Errorf("config show does not say where it looked: %q", r.stderr)
	}

	type verdict struct {
		Valid    *bool
		Files    []string
		Problems []struct{ File, Message string }
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"config", "validate", "--json"}, "no config file found (looked for MCP_CONFIG_FILE, mcp_servers.yaml, mcp_servers.json, " +
			filepath.Join("config", "mcp_servers.yaml") + ", " + filepath.Join("config", "mcp_servers.json") + ")"},
		{[]string{"config", "validate", "--json", filepath.Join(e.dir, "missing.yaml")}, "missing.yaml"},
	} {
		r := e.must(1, tc.args...)
		var out verdict
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Valid == nil || *out.Valid || out.Files == nil ||
			len(out.Problems) != 1 || !strings.Contains(out.Problems[0].Message, tc.want) {
			t.Errorf("%v: %v\nstdout: %s", tc.args, err, r.stdout)
		}
		if !strings.Contains(r.stderr, tc.want) {
			t.Errorf("%v: stderr %q", tc.args, r.stderr)
		}
	}
	if r := e.must(0, "config", "--help"); !strings.Contains(r.stdout, "MCP_CONFIG_FILE, else mcp_servers.yaml, mcp_servers.json, "+filepath.Join("config", "mcp_servers.yaml")+" or "+filepath.Join("config", "mcp_servers.json")+".") {
		t.Errorf("config --help: %q", r.stdout)
	}
}
