package reqid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/pkg/reqid"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"abc", true},
		{"0f8fad5b-d9cb-469f-a165-70867728950e", true},
		{"a/b:c=d+e@f.g_h~!#$%&'()*,;<>?[]^`{|}\"\\", true},
		{strings.Repeat("x", reqid.MaxLen), true},
		{strings.Repeat("x", reqid.MaxLen+1), false},
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"a\nlevel=ERROR msg=forged", false},
		{"a\x00", false},
		{"a\x7f", false},
		{"héllo", false},
	} {
		if got := reqid.Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

var newID = regexp.MustCompile(`^[a-z2-7]{16}$`)

func TestNew(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := reqid.New()
		if !newID.MatchString(id) || !reqid.Valid(id) {
			t.Fatalf("New() = %q, want 16 base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("New() returned %q twice", id)
		}
		seen[id] = true
	}
}

func TestAccept(t *testing.T) {
	if got := reqid.Accept("caller-id-1"); got != "caller-id-1" {
		t.Errorf("Accept(valid) = %q, want it kept", got)
	}
	if got := reqid.Accept("  caller-id-1 "); got != "caller-id-1" {
		t.Errorf("Accept(padded) = %q, want it trimmed", got)
	}
	for _, bad := range []string{"", "with space", "ctl\x01", strings.Repeat("y", 200)} {
		if got := reqid.Accept(bad); !newID.MatchString(got) {
			t.Errorf("Accept(%q) = %q, want a new id", bad, got)
		}
	}
}

func FuzzAccept(f *testing.F) {
	for _, s := range []string{"", "abc", "a b", "\x00", strings.Repeat("z", 129), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := reqid.Accept(in)
		if !reqid.Valid(out) {
			t.Fatalf("Accept(%q) = %q, which is not valid", in, out)
		}
		if reqid.Valid(in) && out != in {
			t.Fatalf("Accept(%q) = %q, want a valid id kept", in, out)
		}
	})
}

func TestContext(t *testing.T) {
	ctx := context.Background()
	if got := reqid.From(ctx); got != "" {
		t.Errorf("From(empty) = %q", got)
	}
	var none context.Context // InfoContext(nil, ...) hands the handler a nil context
	if got := reqid.From(none); got != "" {
		t.Errorf("From(nil) = %q", got)
	}
	ctx = reqid.With(ctx, "r1")
	if got := reqid.From(ctx); got != "r1" {
		t.Errorf("From = %q, want r1", got)
	}
	if got := reqid.From(reqid.With(ctx, "r2")); got != "r2" {
		t.Errorf("From(inner) = %q, want r2", got)
	}

	// The id's context is a context like any other: values and
	// cancellation pass through it both ways.
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	child, stop := context.WithTimeout(reqid.With(parent, "r3"), time.Hour)
	defer stop()
	if got := reqid.From(child); got != "r3" {
		t.Errorf("From(derived) = %q, want r3", got)
	}
	if got := child.Value(key{}); got != "v" {
		t.Errorf("a value of the parent through the id's context = %v", got)
	}
	cancel()
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the parent did not reach a context derived from the id's")
	}

	defer func() {
		if recover() == nil {
			t.Error("With(nil, id) did not panic")
		}
	}()
	reqid.With(none, "r4")
}

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(reqid.NewHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := reqid.With(context.Background(), "req-7")

	lines := func() []map[string]any {
		t.Helper()
		var out []map[string]any
		for l := range strings.Lines(buf.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not JSON: %q", l)
			}
			out = append(out, m)
		}
		buf.Reset()
		return out
	}

	log.InfoContext(ctx, "with", "k", "v")
	log.Info("without")
	log.With("server", "s1").LogAttrs(ctx, slog.LevelWarn, "attrs", slog.Int("n", 1))
	log.WithGroup("g").InfoContext(ctx, "grouped", "k", "v")
	log.DebugContext(ctx, "below the level")
	got := lines()
	if len(got) != 4 {
		t.Fatalf("%d lines, want 4: %v", len(got), got)
	}
	if got[0]["request_id"] != "req-7" || got[0]["k"] != "v" {
		t.Errorf("with a context: %v", got[0])
	}
	if _, ok := got[1]["request_id"]; ok {
		t.Errorf("without a context: %v", got[1])
	}
	if got[2]["request_id"] != "req-7" || got[2]["server"] != "s1" || got[2]["n"] != 1.0 {
		t.Errorf("With and LogAttrs: %v", got[2])
	}
	if g, _ := got[3]["g"].(map[string]any); g["request_id"] != "req-7" {
		t.Errorf("under a group: %v", got[3])
	}

	// Wrapping twice must not name the request twice.
	twice := slog.New(reqid.NewHandler(reqid.NewHandler(slog.NewTextHandler(&buf, nil))))
	twice.InfoContext(ctx, "once")
	if n := strings.Count(buf.String(), "request_id=req-7"); n != 1 {
		t.Errorf("request_id %d times in %q", n, buf.String())
	}
}

// TestHandlerKeepsRecord: adding the id does not change the record the
// caller holds (slog records share attribute storage between copies).
func TestHandlerKeepsRecord(t *testing.T) {
	var seen []int
	h := reqid.NewHandler(countHandler{seen: &seen})
	r := slog.NewRecord(timeZero, slog.LevelInfo, "m", 0)
	for i := range 6 { // more than a record holds inline
		r.AddAttrs(slog.Int("a", i))
	}
	ctx := reqid.With(context.Background(), "x")
	if err := h.Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r.NumAttrs() != 6 || len(seen) != 1 || seen[0] != 7 {
		t.Errorf("caller's record has %d attrs, handled one %v; want 6 and [7]", r.NumAttrs(), seen)
	}
}

var timeZero = slog.Record{}.Time

type countHandler struct{ seen *[]int }

func (countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countHandler) Handle(_ context.Context, r slog.Record) error {
	*h.seen = append(*h.seen, r.NumAttrs())
	return nil
}
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h countHandler) WithGroup(string) slog.Handler      { return h }

func TestHeaderKey(t *testing.T) {
	if got := http.CanonicalHeaderKey(reqid.Header); got != reqid.HeaderKey {
		t.Errorf("HeaderKey %q, net/http keys %s as %q", reqid.HeaderKey, reqid.Header, got)
	}
}
