package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/app"
	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver/exampletest"
)

// exampleBin is cmd/example-server, built once into a temp dir by TestMain.
var exampleBin string

func TestMain(m *testing.M) { exampletest.Main(m, &exampleBin) }

// startHub runs the real hub (pkg/app) on 127.0.0.1:0 with the example
// server as a stdio child, configured like the shipped mcp_servers.yaml
// (delete_note needs approval), until the test ends. It returns the base URL
// once the example server's tools are listed.
func startHub(t *testing.T) string {
	t.Helper()
	cfgYAML := "servers:\n" +
		"  - name: example\n" +
		"    command: " + exampleBin + "\n" +
		"    require_approval: [\"delete_*\"]\n"
	path := filepath.Join(t.TempDir(), "mcp_servers.yaml")
	if err := os.WriteFile(path, []byte(cfgYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load([]string{path})
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	logs := &syncBuffer{}
	a, err := app.New(cfg, app.Options{
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Listen: "127.0.0.1:0",
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		t.Fatalf("app.Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("app.Stop: %v", err)
		}
		if t.Failed() {
			t.Logf("--- hub log ---\n%s", logs.String())
		}
	})
	base := "http://" + a.Addr()
	c := newClient(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var list struct {
			Tools []json.RawMessage `json:"tools"`
		}
		if code := c.do("GET", base+"/mcp_hub/tools", "", &list); code == http.StatusOK && len(list.Tools) > 0 {
			return base
		}
		if time.Now().After(deadline) {
			t.Fatal("the example server's tools were not listed within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLoop(t *testing.T) {
	tests := []struct {
		name      string
		ask       string
		wantOut   []string // in the printed steps
		wantFinal string   // in the final answer
	}{
		{
			name: "add",
			ask:  "What is 19 + 23?",
			wantOut: []string{"tools fetched: 8\n", `model asked for example__add({"a":19,"b":23})`,
				"hub answered: 42\n"},
			wantFinal: "example__add answered: 42",
		},
		{
			name:      "echo",
			ask:       "Say hello to mcphub",
			wantOut:   []string{`model asked for example__echo({"message":"Say hello to mcphub"})`},
			wantFinal: "example__echo answered: Say hello to mcphub",
		},
		{
			name:      "a tool error reaches the model",
			ask:       "Please fail",
			wantOut:   []string{"hub answered with a tool error (given to the model): the user asked for a failure"},
			wantFinal: "example__fail answered: tool reported an error: the user asked for a failure",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startHub(t)
			var out bytes.Buffer
			final, err := run(t.Context(), base, &out, options{Ask: tt.ask})
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if !strings.Contains(final, tt.wantFinal) {
				t.Errorf("final answer %q, want it to contain %q", final, tt.wantFinal)
			}
			if !strings.Contains(out.String(), "final answer: "+final+"\n") {
				t.Errorf("output does not end with the final answer:\n%s", out.String())
			}
		})
	}
}

var approveLine = regexp.MustCompile(`approve \(runs it\): curl -s -X POST (\S+) -d '([^']*)'`)

// A call that needs approval answers 202: the loop tells the model, and
// prints an approve command that really runs the call.
func TestLoopApprovalPending(t *testing.T) {
	base := startHub(t)
	var out bytes.Buffer
	final, err := run(t.Context(), base, &out, options{Ask: "Delete the note todo"})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	id := regexp.MustCompile(`approval id (appr_[a-z0-9]+)`).FindStringSubmatch(out.String())
	if id == nil {
		t.Fatalf("no approval id printed:\n%s", out.String())
	}
	if want := "example__delete_note needs a person's approval: approval request " + id[1]; !strings.Contains(final, want) {
		t.Errorf("final answer %q, want it to contain %q", final, want)
	}
	c := newClient(t)
	var pending struct{ State, Name string }
	if code := c.do("GET", base+"/mcp_hub/approvals/"+id[1], "", &pending); code != http.StatusOK || pending.State != "pending" || pending.Name != "example__delete_note" {
		t.Fatalf("GET approval: %d %+v, want 200 pending example__delete_note", code, pending)
	}
	m := approveLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no approve command printed:\n%s", out.String())
	}
	if m[1] != base+"/mcp_hub/approve" {
		t.Errorf("approve URL %s, want %s/mcp_hub/approve", m[1], base)
	}
	var res struct {
		Success bool
		Content string
	}
	if code := c.do("POST", m[1], m[2], &res); code != http.StatusOK || !res.Success || res.Content != "deleted note todo" {
		t.Fatalf("the printed approve command: %d %+v, want 200 \"deleted note todo\"", code, res)
	}
}

// With -wait, the call is held until a person decides; the decision is
// what the model gets.
func TestLoopWaitsForDecision(t *testing.T) {
	for _, tt := range []struct {
		decide    string // approve or reject
		wantFinal string
	}{
		{"approve", "example__delete_note answered: deleted note todo"},
		{"reject", "error (HTTP 403): approval rejected: approval request appr_"},
	} {
		t.Run(tt.decide, func(t *testing.T) {
			base := startHub(t)
			var out syncBuffer
			type result struct {
				final string
				err   error
			}
			done := make(chan result, 1)
			go func() {
				final, err := run(t.Context(), base, &out, options{Ask: "Delete the note todo", Wait: 30 * time.Second})
				done <- result{final, err}
			}()

			c := newClient(t)
			var id string
			deadline := time.Now().Add(20 * time.Second)
			for id == "" {
				var list struct {
					Approvals []struct{ ID string } `json:"approvals"`
				}
				c.do("GET", base+"/mcp_hub/approvals?state=pending", "", &list)
				if len(list.Approvals) > 0 {
					id = list.Approvals[0].ID
				} else if time.Now().After(deadline) {
					t.Fatalf("no pending approval within 20s:\n%s", out.String())
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
			body := `{"approval_id":"` + id + `","tool":"example__delete_note","arguments":{"id":"todo"}}`
			if tt.decide == "reject" {
				body = `{"approval_id":"` + id + `","reason":"not today"}`
			}
			if code := c.do("POST", base+"/mcp_hub/"+tt.decide, body, nil); code != http.StatusOK {
				t.Fatalf("POST /mcp_hub/%s: %d", tt.decide, code)
			}

			select {
			case r := <-done:
				if r.err != nil {
					t.Fatalf("run: %v\n%s", r.err, out.String())
				}
				if !strings.Contains(r.final, tt.wantFinal) {
					t.Errorf("final answer %q, want it to contain %q\n%s", r.final, tt.wantFinal, out.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("the loop did not end after the decision:\n%s", out.String())
			}
		})
	}
}

// A tool call in the exact shape OpenAI returns it (a real response body,
// arguments a JSON string with whitespace) goes to the hub as is.
func TestOpenAIShapes(t *testing.T) {
	const response = `{
  "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1699896916, "model": "gpt-4o-mini",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant", "content": null, "refusal": null,
      "tool_calls": [{"id": "call_abc123", "type": "function",
        "function": {"name": "example__echo", "arguments": "{\n  \"message\": \"hi\"\n}"}}]
    },
    "logprobs": null, "finish_reason": "tool_calls"
  }],
  "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99}
}`
	var resp ChatResponse
	if err := json.Unmarshal([]byte(response), &resp); err != nil {
		t.Fatal(err)
	}
	msg := resp.Choices[0].Message
	if msg.Content != nil || len(msg.ToolCalls) != 1 || resp.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("decoded %+v", resp)
	}
	// Appended to the conversation, the assistant message keeps content null.
	enc, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	const wantMsg = `{"role":"assistant","content":null,"tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"example__echo","arguments":"{\n  \"message\": \"hi\"\n}"}}]}`
	if string(enc) != wantMsg {
		t.Errorf("assistant message re-encoded as\n%s\nwant\n%s", enc, wantMsg)
	}
	tool, err := json.Marshal(Message{Role: "tool", ToolCallID: "call_abc123", Content: text("hi")})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"role":"tool","content":"hi","tool_call_id":"call_abc123"}`; string(tool) != want {
		t.Errorf("tool message %s, want %s", tool, want)
	}

	base := startHub(t)
	var out bytes.Buffer
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	h := &hubClient{base: base, http: hc, out: &out}
	content, err := h.call(t.Context(), msg.ToolCalls[0])
	if err != nil || content != "hi" {
		t.Fatalf("call: %q, %v\n%s", content, err, out.String())
	}
}

func TestLoopHubDown(t *testing.T) {
	var out bytes.Buffer
	_, err := run(t.Context(), "http://127.0.0.1:1", &out, options{Ask: "hi"})
	if err == nil || !strings.Contains(err.Error(), "is mcphub running at http://127.0.0.1:1?") {
		t.Fatalf("run with no hub: %v, want an error naming the hub", err)
	}
}

// client is the tests' own HTTP client for checking the hub's state.
type client struct {
	t  *testing.T
	hc *http.Client
}

func newClient(t *testing.T) *client {
	hc := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	t.Cleanup(hc.CloseIdleConnections)
	return &client{t: t, hc: hc}
}

// do sends body (JSON, or nothing when empty) and decodes the answer into
// out when out is not nil; it returns the status, 0 when the hub did not answer.
func (c *client) do(method, url, body string, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(c.t.Context(), method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, url, err)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, raw, err)
		}
	}
	return resp.StatusCode
}

// syncBuffer is an io.Writer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
