package approval

import (
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^appr_[a-z2-7]{32}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) {
			t.Fatalf("id %q has the wrong shape", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestRequestState(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	pending := Request{CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	approved := pending
	approved.Decision, approved.DecidedAt = Approved, t0.Add(time.Second)
	rejected := pending
	rejected.Decision, rejected.DecidedAt = Rejected, t0.Add(time.Second)
	tests := []struct {
		name string
		r    Request
		now  time.Time
		want State
	}{
		{"pending at creation", pending, t0, StatePending},
		{"pending just before expiry", pending, t0.Add(time.Minute - 1), StatePending},
		{"expired at ExpiresAt", pending, t0.Add(time.Minute), StateExpired},
		{"expired after", pending, t0.Add(time.Hour), StateExpired},
		{"approved stays approved", approved, t0.Add(time.Hour), StateApproved},
		{"rejected stays rejected", rejected, t0.Add(time.Hour), StateRejected},
	}
	for _, tt := range tests {
		if got := tt.r.State(tt.now); got != tt.want {
			t.Errorf("%s: State = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestParseState(t *testing.T) {
	for _, s := range []string{"pending", "APPROVED", " rejected ", "expired"} {
		if _, err := ParseState(s); err != nil {
			t.Errorf("ParseState(%q): %v", s, err)
		}
	}
	if _, err := ParseState("done"); err == nil {
		t.Error("ParseState(done) succeeded")
	}
}

func TestNewRequestAndMatches(t *testing.T) {
	t0 := time.Now()
	r, err := NewRequest(Call{Server: "files", Tool: "delete", Name: "files__delete",
		Arguments: json.RawMessage(`{ "path": "/tmp/x", "force": true }`), Caller: "alice"}, t0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.ID, IDPrefix) || string(r.Arguments) != `{"force":true,"path":"/tmp/x"}` ||
		!r.ExpiresAt.Equal(t0.Add(time.Minute)) || r.State(t0) != StatePending || r.Caller != "alice" {
		t.Errorf("request = %+v", r)
	}
	_, digest, _ := Digest(json.RawMessage(`{"path":"/tmp/x","force":true}`))
	_, other, _ := Digest(json.RawMessage(`{"path":"/","force":true}`))
	tests := []struct {
		server, tool, digest string
		want                 string
	}{
		{"files", "delete", digest, ""},
		{"files", "delete", other, "other arguments"},
		{"files", "read", digest, "another tool"},
		{"other", "delete", digest, "another tool"},
	}
	for _, tt := range tests {
		err := r.Matches(tt.server, tt.tool, tt.digest)
		if tt.want == "" && err != nil || tt.want != "" && (!errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("Matches(%s, %s, %.8s) = %v, want %q", tt.server, tt.tool, tt.digest, err, tt.want)
		}
	}
	if _, err := NewRequest(Call{Arguments: json.RawMessage(`{"a":`)}, t0, time.Minute); err == nil {
		t.Error("bad arguments accepted")
	}
	if _, err := NewRequest(Call{}, t0, 0); err == nil {
		t.Error("zero ttl accepted")
	}
}

func TestRequestJSON(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	r := Request{ID: "appr_x", Server: "s", Tool: "t", Name: "s__t", Arguments: json.RawMessage(`{}`),
		Digest: "d", CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"appr_x","server":"s","tool":"t","name":"s__t","arguments":{},"digest":"d",` +
		`"created_at":"2026-01-02T03:04:05Z","expires_at":"2026-01-02T03:05:05Z"}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}
