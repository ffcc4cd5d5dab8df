package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/hub"
)

// syncBuffer is a bytes.Buffer safe for the hub's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestAuditLog(t *testing.T) {
	t.Parallel()
	ex := newHTTPExample(t)
	srv := httpServer("example", ex.URL)
	srv.RequireApproval = []string{"delete_*"}
	var sink syncBuffer
	h := newHub(t, hubConfig(srv), hub.Options{Audit: slog.New(slog.NewJSONHandler(&sink, nil))})
	h.Start()
	waitHealthy(t, h, "example")
	ctx := hub.WithCaller(context.Background(), "ci")

	if _, err := h.Call(ctx, hub.CallRequest{Name: "example__echo", Arguments: json.RawMessage(`{"message":"secret-value"}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := h.Call(ctx, hub.CallRequest{Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"todo"}`)})
	r := pending(t, err)
	if _, err := h.Approve(hub.WithCaller(context.Background(), "alice"), hub.ApproveRequest{ID: r.ID, Name: "example__delete_note", Arguments: json.RawMessage(`{"id":"todo"}`)}); err != nil {
		t.Fatal(err)
	}
	recs := sink.records(t)
	want := []struct{ msg, outcome, decision, caller string }{
		{"call", "ok", "", "ci"},
		{"call", "pending", "", "ci"},
		{"approval", "", "approved", "ci"},
		{"call", "ok", "", "ci"},
	}
	if len(recs) != len(want) {
		t.Fatalf("%d audit records, want %d: %v", len(recs), len(want), recs)
	}
	for i, w := range want {
		rec := recs[i]
		if rec["msg"] != w.msg || rec["caller"] != w.caller || (w.outcome != "" && rec["outcome"] != w.outcome) ||
			(w.decision != "" && (rec["decision"] != w.decision || rec["decided_by"] != "alice")) {
			t.Errorf("record %d = %v, want %+v", i, rec, w)
		}
		if d, _ := rec["args_digest"].(string); len(d) != 64 {
			t.Errorf("record %d has no argument digest: %v", i, rec)
		}
	}
	if strings.Contains(sink.b.String(), "secret-value") {
		t.Error("the audit log holds argument values; it must hold only their digest")
	}
	if recs[1]["approval_id"] != r.ID {
		t.Errorf("pending record does not name the approval: %v", recs[1])
	}
}

func TestLogsScrubbed(t *testing.T) {
	t.Parallel()
	const key = "log-key-sup3rs3cr3t"
	var sink syncBuffer
	srv := httpServer("keyed", "http://127.0.0.1:1/mcp?key="+key)
	srv.Backoff = slowBackoff
	srv.Headers = map[string]string{"Authorization": "Bearer header-s3cr3t-value"}
	h := newHub(t, hubConfig(srv), hub.Options{Logger: slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	h.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.WaitFirstAttempt(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a logged connection error", 5*time.Second, func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return strings.Contains(sink.b.String(), "connection refused")
	})
	sink.mu.Lock()
	defer sink.mu.Unlock()
	out := sink.b.String()
	if strings.Contains(out, key) || strings.Contains(out, "header-s3cr3t-value") {
		t.Errorf("the log holds a secret:\n%s", out)
	}
	if !strings.Contains(out, "key=%3Credacted%3E") && !strings.Contains(out, "key=<redacted>") {
		t.Errorf("the endpoint was not logged scrubbed (the test proves nothing):\n%s", out)
	}
}
