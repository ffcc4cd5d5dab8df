package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// sseEvent is one event of a text/event-stream.
type sseEvent struct {
	name string
	data json.RawMessage
}

// readSSE reads events from resp until the stream ends, sending each to
// out; comment lines (heartbeats) are counted, not sent.
func readSSE(resp *http.Response, out chan<- sseEvent) (comments int, err error) {
	defer close(out)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != nil {
				out <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, ":"):
			comments++
		case strings.HasPrefix(line, "event:"):
			ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			if ev.data != nil { // the SSE spec joins an event's data lines with a newline
				ev.data = append(ev.data, '\n')
			}
			ev.data = append(ev.data, strings.TrimSpace(strings.TrimPrefix(line, "data:"))...)
		}
	}
	return comments, sc.Err()
}

// callStream opens POST /mcp_hub/call_stream and returns its events.
func (h *hubUnderTest) callStream(t *testing.T, name string, args any) <-chan sseEvent {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"id": "call_stream", "type": "function", "function": map[string]any{"name": name, "arguments": args}})
	resp, err := h.client.Post(h.base+"/mcp_hub/call_stream", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("call_stream %s: status %d, Content-Type %q", name, resp.StatusCode, ct)
	}
	out := make(chan sseEvent, 64)
	go func() {
		defer resp.Body.Close()
		_, _ = readSSE(resp, out)
	}()
	return out
}

func nextSSE(t *testing.T, events <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("the stream ended early")
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatal("no event within 30s")
	}
	return sseEvent{}
}

// TestStreamEverything streams server-everything's long-running operation,
// a peer nobody here wrote, through the hub: every progress notification
// it sends reaches the client, in order, before the result; and the same
// call on a gated copy of the server waits for an approval first.
func TestStreamEverything(t *testing.T) {
	t.Parallel()
	bin := everythingBin(t)
	id := fmt.Sprintf("stream-%d-%d", os.Getpid(), time.Now().UnixNano())
	checkReaped(t, "MCPHUB_E2E_ID", id)
	h := startHub(t, fmt.Sprintf(`
servers:
  - name: everything
    command: %[1]q
    args: [stdio]
    env: {MCPHUB_E2E_ID: %[2]q}
  - name: gated
    command: %[1]q
    args: [stdio]
    env: {MCPHUB_E2E_ID: %[2]q}
    approval: always
`, bin, id))
	h.waitReady("everything", 30*time.Second)
	h.waitReady("gated", 30*time.Second)
	var long string
	for _, tool := range h.tools("everything") {
		if strings.Contains(strings.ToLower(strings.ReplaceAll(tool.Function.Name, "-", "")), "longrunning") {
			long = strings.TrimPrefix(tool.Function.Name, "everything__")
		}
	}
	if long == "" {
		t.Fatal("server-everything has no long-running tool")
	}
	const steps = 5
	args := map[string]any{"duration": 1, "steps": steps}

	checkProgress := func(t *testing.T, events <-chan sseEvent) {
		t.Helper()
		for i := 1; i <= steps; i++ {
			ev := nextSSE(t, events)
			var p struct {
				Progress float64  `json:"progress"`
				Total    *float64 `json:"total"`
			}
			if ev.name != "progress" || json.Unmarshal(ev.data, &p) != nil || p.Progress != float64(i) || p.Total == nil || *p.Total != steps {
				t.Fatalf("event %d = %s %s, want progress %d of %d", i, ev.name, ev.data, i, steps)
			}
		}
		ev := nextSSE(t, events)
		var res callResponse
		if ev.name != "result" || json.Unmarshal(ev.data, &res) != nil || !res.Success ||
			!strings.Contains(res.Content, "Long running operation completed") {
			t.Fatalf("final event = %s %s, want the result", ev.name, ev.data)
		}
		if ev, ok := <-events; ok {
			t.Errorf("event after the result: %s %s", ev.name, ev.data)
		}
	}

	t.Run("progress then result", func(t *testing.T) {
		t.Parallel()
		checkProgress(t, h.callStream(t, "everything__"+long, args))
	})
	t.Run("approval then progress then result", func(t *testing.T) {
		t.Parallel()
		events := h.callStream(t, "gated__"+long, args)
		ev := nextSSE(t, events)
		var p struct {
			Status string `json:"status"`
			Data   struct {
				ApprovalID string `json:"approval_id"`
			} `json:"data"`
		}
		if ev.name != "pending" || json.Unmarshal(ev.data, &p) != nil || p.Data.ApprovalID == "" {
			t.Fatalf("first event = %s %s, want pending with an approval id", ev.name, ev.data)
		}
		var approved callResponse
		code := h.do("POST", "/mcp_hub/approve", map[string]any{"approval_id": p.Data.ApprovalID, "tool": "gated__" + long, "arguments": args}, &approved)
		if code != http.StatusOK || !approved.Success {
			t.Fatalf("approve: %d %+v", code, approved)
		}
		checkProgress(t, events)
	})
}
