// Command openai-loop is the tool loop of an OpenAI Chat Completions app,
// run against a running mcphub. The model is stubbed (fakemodel.go), so it
// needs no API key; everything else is what a real app does:
//
//  1. GET /mcp_hub/tools and pass the list to the model as `tools`;
//  2. POST each of the model's tool_calls, as is, to /mcp_hub/call;
//  3. append {"role":"tool","tool_call_id":id,"content":answer.content};
//  4. ask the model again, until it answers with text.
//
// Usage (with `make run` in another terminal):
//
//	go run ./examples/openai-loop -hub http://127.0.0.1:9000
//	go run ./examples/openai-loop -ask 'Say hello'
//	go run ./examples/openai-loop -ask 'Delete the note todo'            # 202: prints how to approve
//	go run ./examples/openai-loop -ask 'Delete the note todo' -wait 2m   # waits for the decision
//
// It uses the standard library only.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	hubURL := flag.String("hub", "http://127.0.0.1:9000", "mcphub base URL")
	ask := flag.String("ask", "What is 19 + 23?", "the user's message")
	wait := flag.Duration("wait", 0, "for tools that need approval: how long the hub holds the call for a person's decision (0: answer 202 at once)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if _, err := run(ctx, *hubURL, os.Stdout, options{Ask: *ask, Wait: *wait}); err != nil {
		fmt.Fprintln(os.Stderr, "openai-loop:", err)
		os.Exit(1)
	}
}

// options are what the loop does besides talking to the hub.
type options struct {
	Ask  string        // the user's message
	Wait time.Duration // ?wait= on /mcp_hub/call; 0 means a pending call answers 202 at once
}

// maxTurns bounds the model's turns, as a real app should.
const maxTurns = 8

// run is the loop: it prints each step to out and returns the model's final
// answer. Hub and model answers the model can act on (tool errors, a call
// waiting for approval, an unknown tool) become tool messages; only a hub
// that cannot be reached, or an answer that is not the hub's JSON, is an error.
func run(ctx context.Context, hubURL string, out io.Writer, opts options) (string, error) {
	// Our own client, not http.DefaultClient: nothing global changes, and
	// its idle connections close when the loop ends.
	hc := &http.Client{Transport: &http.Transport{}, Timeout: opts.Wait + time.Minute}
	defer hc.CloseIdleConnections()
	h := &hubClient{base: strings.TrimRight(hubURL, "/"), http: hc, wait: opts.Wait, out: out}

	tools, err := h.tools(ctx)
	if err != nil {
		return "", err
	}
	fmt.Fprintf(out, "tools fetched: %d\n", len(tools))

	messages := []Message{{Role: "user", Content: text(opts.Ask)}}
	fmt.Fprintf(out, "user: %s\n", opts.Ask)
	for range maxTurns {
		resp, err := complete(ctx, ChatRequest{Model: "gpt-4o-mini", Messages: messages, Tools: tools})
		if err != nil {
			return "", fmt.Errorf("chat completion: %w", err)
		}
		if len(resp.Choices) == 0 {
			return "", errors.New("chat completion: no choices")
		}
		msg := resp.Choices[0].Message
		messages = append(messages, msg) // the assistant message with its tool_calls, as the model sent it
		if len(msg.ToolCalls) == 0 {
			answer := deref(msg.Content)
			fmt.Fprintf(out, "final answer: %s\n", answer)
			return answer, nil
		}
		// Every tool_call_id needs its tool message before the next request.
		for _, tc := range msg.ToolCalls {
			fmt.Fprintf(out, "model asked for %s(%s)\n", tc.Function.Name, tc.Function.Arguments)
			content, err := h.call(ctx, tc)
			if err != nil {
				return "", err
			}
			messages = append(messages, Message{Role: "tool", ToolCallID: tc.ID, Content: text(content)})
		}
	}
	return "", fmt.Errorf("no final answer after %d model turns", maxTurns)
}

// The Chat Completions types, in the JSON shapes of OpenAI's API (the subset
// a tool loop uses). A real app would use its SDK's types.

// ChatRequest is the body of POST /v1/chat/completions.
type ChatRequest struct {
	Model    string    `json:"model"`
	Messages []Message `json:"messages"`
	Tools    []Tool    `json:"tools,omitempty"`
}

// ChatResponse is a chat completion.
type ChatResponse struct {
	ID      string   `json:"id"`
	Object  string   `json:"object"` // "chat.completion"
	Created int64    `json:"created"`
	Model   string   `json:"model"`
	Choices []Choice `json:"choices"`
}

// Choice is one of the completion's answers; a tool loop uses the first.
type Choice struct {
	Index        int     `json:"index"`
	Message      Message `json:"message"`
	FinishReason string  `json:"finish_reason"` // "tool_calls" or "stop"
}

// Message is a chat message: system, user, assistant (text or tool_calls)
// or tool (one tool call's result).
type Message struct {
	Role string `json:"role"`
	// Content is null in an assistant message that only calls tools.
	Content    *string    `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
}

// ToolCall is one call the model asks for. mcphub's /mcp_hub/call takes it
// as is.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"` // "function"
	Function FunctionCall `json:"function"`
}

// FunctionCall names the function; Arguments is a JSON object encoded as a
// string (the model's text, not parsed).
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Tool is one entry of the request's tools, as GET /mcp_hub/tools lists it
// (exactly OpenAI's shape).
type Tool struct {
	Type     string   `json:"type"` // "function"
	Function Function `json:"function"`
}

// Function describes a function the model may call.
type Function struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"` // JSON Schema, passed through
}

func text(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// complete is one chat completion. A real app sends the same body to
// https://api.openai.com/v1/chat/completions with its API key and decodes
// the same shape; here fakeChatCompletions answers instead.
func complete(ctx context.Context, req ChatRequest) (ChatResponse, error) {
	var resp ChatResponse
	body, err := json.Marshal(req)
	if err != nil {
		return resp, err
	}
	raw, err := fakeChatCompletions(ctx, body)
	if err != nil {
		return resp, err
	}
	err = json.Unmarshal(raw, &resp)
	return resp, err
}

// hubClient talks to mcphub's REST API.
type hubClient struct {
	base string
	http *http.Client
	wait time.Duration
	out  io.Writer
}

// callAnswer is every answer of POST /mcp_hub/call: a finished call (200),
// a call waiting for approval (202), or an error.
type callAnswer struct {
	Success bool   `json:"success"`
	Status  string `json:"status"` // "pending" on 202
	Tool    string `json:"tool"`
	Content string `json:"content"` // text for the role=tool message
	Error   string `json:"error"`
	Data    struct {
		ApprovalID string    `json:"approval_id"`
		ExpiresAt  time.Time `json:"expires_at"`
	} `json:"data"`
}

func (h *hubClient) tools(ctx context.Context) ([]Tool, error) {
	var list struct {
		Tools []Tool `json:"tools"`
	}
	status, err := h.do(ctx, http.MethodGet, "/mcp_hub/tools", nil, &list)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("GET /mcp_hub/tools: status %d", status)
	}
	return list.Tools, nil
}

// call runs one tool call and returns the content of its tool message.
func (h *hubClient) call(ctx context.Context, tc ToolCall) (string, error) {
	path := "/mcp_hub/call"
	if h.wait > 0 {
		path += "?wait=" + url.QueryEscape(h.wait.String())
	}
	body, err := json.Marshal(tc) // the model's tool call, as is
	if err != nil {
		return "", err
	}
	var a callAnswer
	status, err := h.do(ctx, http.MethodPost, path, body, &a)
	if err != nil {
		return "", err
	}
	switch {
	case status == http.StatusOK && a.Success:
		fmt.Fprintf(h.out, "hub answered: %s\n", a.Content)
		return a.Content, nil
	case status == http.StatusOK:
		// The tool ran and reported an error (isError): the model must see
		// it to correct itself or tell the user. error is content prefixed
		// with "tool reported an error: ", so the model knows it failed.
		fmt.Fprintf(h.out, "hub answered with a tool error (given to the model): %s\n", a.Content)
		return a.Error, nil
	case status == http.StatusAccepted:
		// Nothing ran: a person must approve this exact call first.
		h.printApproval(tc, a)
		return a.Error, nil
	default:
		// 400 bad arguments, 404 unknown tool, 403 rejected or 410 expired
		// while waiting, 503 server down, 504 timeout…: the model can still
		// act on it (retry, another tool, tell the user).
		fmt.Fprintf(h.out, "hub error %d: %s\n", status, a.Error)
		return fmt.Sprintf("error (HTTP %d): %s", status, a.Error), nil
	}
}

// printApproval says how a person approves or rejects a pending call.
func (h *hubClient) printApproval(tc ToolCall, a callAnswer) {
	id := a.Data.ApprovalID
	fmt.Fprintf(h.out, "hub: %s needs a person's approval; approval id %s, pending until %s\n",
		tc.Function.Name, id, a.Data.ExpiresAt.Format(time.RFC3339))
	approve, _ := json.Marshal(struct {
		ApprovalID string          `json:"approval_id"`
		Tool       string          `json:"tool"`
		Arguments  json.RawMessage `json:"arguments"`
	}{id, tc.Function.Name, argumentsJSON(tc.Function.Arguments)})
	reject, _ := json.Marshal(map[string]string{"approval_id": id})
	fmt.Fprintf(h.out, "  approve (runs it): curl -s -X POST %s/mcp_hub/approve -d %s\n", h.base, shellQuote(string(approve)))
	fmt.Fprintf(h.out, "  reject:            curl -s -X POST %s/mcp_hub/reject -d %s\n", h.base, shellQuote(string(reject)))
}

// argumentsJSON is the arguments string as a JSON object when it holds one,
// else the string itself (the hub takes both).
func argumentsJSON(args string) json.RawMessage {
	if strings.TrimSpace(args) == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(args)) {
		return json.RawMessage(args)
	}
	quoted, _ := json.Marshal(args)
	return quoted
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// do sends a request and decodes the JSON answer into out, whatever its
// status: every hub answer, errors included, is JSON.
func (h *hubClient) do(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, h.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("is mcphub running at %s? %w", h.base, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return 0, fmt.Errorf("%s %s: status %d, not the hub's JSON (%v): %.200s", method, path, resp.StatusCode, err, raw)
	}
	return resp.StatusCode, nil
}
