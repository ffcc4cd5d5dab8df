package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// fakeChatCompletions stands in for POST /v1/chat/completions: it takes
// the request body and returns a response body, both in OpenAI's JSON
// shapes. It is scripted, not clever:
//
//   - after tool results, it answers with text that quotes them;
//   - otherwise it picks one tool from the request's tools by the user's
//     words: "delete … note <id>" → delete_note, "fail" → fail, two
//     numbers → add, anything else → echo; with arguments as a JSON string,
//     as OpenAI sends them.
//
// It never computes a result itself: what the final answer says comes from
// the hub.
func fakeChatCompletions(_ context.Context, body []byte) ([]byte, error) {
	var req ChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("bad request body: %w", err)
	}
	if len(req.Messages) == 0 {
		return nil, fmt.Errorf("messages is empty")
	}
	var msg Message
	finish := "stop"
	if last := req.Messages[len(req.Messages)-1]; last.Role == "tool" {
		msg = Message{Role: "assistant", Content: text(summarize(req.Messages))}
	} else if tc, ok := pickTool(deref(last.Content), req.Tools, len(req.Messages)); ok {
		msg = Message{Role: "assistant", ToolCalls: []ToolCall{tc}} // content: null
		finish = "tool_calls"
	} else {
		msg = Message{Role: "assistant", Content: text("None of my tools can do that.")}
	}
	return json.Marshal(ChatResponse{
		ID: fmt.Sprintf("chatcmpl-fake%d", len(req.Messages)), Object: "chat.completion",
		Created: time.Now().Unix(), Model: req.Model,
		Choices: []Choice{{Index: 0, Message: msg, FinishReason: finish}},
	})
}

var (
	numberRE = regexp.MustCompile(`-?\d+(?:\.\d+)?`)
	noteRE   = regexp.MustCompile(`(?i)\bnote\s+"?([A-Za-z0-9_.-]+)`)
)

// pickTool chooses a tool call for the user's words among tools.
func pickTool(ask string, tools []Tool, n int) (ToolCall, bool) {
	lower := strings.ToLower(ask)
	var tool string
	args := map[string]any{}
	switch nums := numberRE.FindAllString(ask, -1); {
	case strings.Contains(lower, "delete"):
		tool, args["id"] = "delete_note", "todo"
		if m := noteRE.FindStringSubmatch(ask); m != nil {
			args["id"] = m[1]
		}
	case strings.Contains(lower, "fail"):
		tool, args["message"] = "fail", "the user asked for a failure"
	case len(nums) >= 2:
		a, _ := strconv.ParseFloat(nums[0], 64)
		b, _ := strconv.ParseFloat(nums[1], 64)
		tool, args["a"], args["b"] = "add", a, b
	default:
		tool, args["message"] = "echo", ask
	}
	name, ok := findTool(tools, tool)
	if !ok {
		return ToolCall{}, false
	}
	encoded, err := json.Marshal(args)
	if err != nil {
		return ToolCall{}, false
	}
	return ToolCall{
		ID:       fmt.Sprintf("call_%02d", n),
		Type:     "function",
		Function: FunctionCall{Name: name, Arguments: string(encoded)},
	}, true
}

// findTool returns the name of the listed tool that is tool on some server
// ("example__add" for "add").
func findTool(tools []Tool, tool string) (string, bool) {
	for _, t := range tools {
		if name := t.Function.Name; name == tool || strings.HasSuffix(name, "__"+tool) {
			return name, true
		}
	}
	return "", false
}

// summarize is the final answer: what each tool of the last assistant turn
// answered, quoted.
func summarize(messages []Message) string {
	last := 0
	for i, m := range messages {
		if len(m.ToolCalls) > 0 {
			last = i
		}
	}
	names := map[string]string{} // tool_call_id → function name
	for _, tc := range messages[last].ToolCalls {
		names[tc.ID] = tc.Function.Name
	}
	var parts []string
	for _, m := range messages[last+1:] {
		if m.Role == "tool" {
			parts = append(parts, fmt.Sprintf("%s answered: %s", names[m.ToolCallID], deref(m.Content)))
		}
	}
	return strings.Join(parts, "; ")
}
