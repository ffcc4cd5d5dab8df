package api_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcphub/mcphub/api"
)

// hubEvent is one event of GET /mcp_hub/events: the SSE event's data is
// the envelope {"id","type","time","data"}.
type hubEvent struct {
	ID   uint64          `json:"id"`
	Type string          `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`
}

// decodeHubEvent checks that ev is a well-formed hub event: the envelope
// has exactly its four keys and agrees with the SSE id and event fields.
func decodeHubEvent(t testing.TB, ev sseEvent) hubEvent {
	t.Helper()
	wantKeys(t, ev.object(t), "id", "type", "time", "data")
	var h hubEvent
	if err := json.Unmarshal([]byte(ev.data), &h); err != nil {
		t.Fatalf("event %q: %v: %s", ev.name, err, ev.data)
	}
	if ev.name != h.Type || ev.id != strconv.FormatUint(h.ID, 10) || h.Time.IsZero() {
		t.Fatalf("SSE id %q, event %q, envelope %s: they disagree", ev.id, ev.name, ev.data)
	}
	return h
}

func (h hubEvent) object(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(h.Data, &m); err != nil {
		t.Fatalf("%s event %d: data %s: %v", h.Type, h.ID, h.Data, err)
	}
	return m
}

// eventLog reads a hub event stream and keeps every event it read.
type eventLog struct {
	s    *sseStream
	seen []hubEvent
}

func (e *env) events(t testing.TB, query string, header http.Header) (*eventLog, map[string]any) {
	t.Helper()
	s := e.openStream(t, http.MethodGet, "/mcp_hub/events"+query, "", header)
	start := decodeHubEvent(t, s.next(t))
	if start.Type != "stream_start" {
		t.Fatalf("first event %s, want stream_start", start.Type)
	}
	info := start.object(t)
	wantKeys(t, info, "resumed", "after", "last_id", "missed", "reset", "resync", "started")
	return &eventLog{s: s}, info
}

func (l *eventLog) next(t testing.TB) hubEvent {
	t.Helper()
	ev := decodeHubEvent(t, l.s.next(t))
	if n := len(l.seen); n > 0 && ev.ID <= l.seen[n-1].ID {
		t.Fatalf("event id %d after %d", ev.ID, l.seen[n-1].ID)
	}
	l.seen = append(l.seen, ev)
	return ev
}

// nextOf returns the next event of type typ, passing over others (the
// hub's own, such as server_status).
func (l *eventLog) nextOf(t testing.TB, typ string) hubEvent {
	t.Helper()
	for {
		if ev := l.next(t); ev.Type == typ {
			return ev
		}
	}
}

func TestEvents(t *testing.T) {
	e := startHub(t, api.Options{}, approvalServer())
	log, info := e.events(t, "", nil)
	if info["resumed"] != false || info["resync"] != false {
		t.Errorf("stream_start %v, want a fresh stream", info)
	}
	const del, args = "example__delete_note", `{"id":"todo"}`

	id := wantPending(t, e.call(t, callJSON(del, args), http.StatusAccepted), del)
	pendingEv := log.nextOf(t, "approval_pending")
	p := pendingEv.object(t)
	wantKeys(t, p, "id", "server", "tool", "name", "arguments", "digest", "created_at", "expires_at", "state")
	if p["id"] != id || p["server"] != "example" || p["tool"] != "delete_note" || p["name"] != del ||
		p["state"] != "pending" || !reflect.DeepEqual(p["arguments"], map[string]any{"id": "todo"}) {
		t.Errorf("approval_pending data %v", p)
	}

	var r map[string]any
	e.json(t, http.MethodPost, "/mcp_hub/reject", `{"approval_id":"`+id+`","reason":"no"}`, http.StatusOK, &r)
	d := log.nextOf(t, "approval_decided").object(t)
	if d["id"] != id || d["state"] != "rejected" || d["decision"] != "rejected" || d["reason"] != "no" || d["decided_at"] == nil {
		t.Errorf("approval_decided data %v", d)
	}

	e.json(t, http.MethodPost, "/mcp_hub/refresh", "", http.StatusOK, &r)
	if ph := log.nextOf(t, "refresh").object(t); ph["phase"] != "started" {
		t.Errorf("first refresh event %v, want phase started", ph)
	}
	fin := log.nextOf(t, "refresh").object(t)
	servers, _ := fin["servers"].([]any)
	if fin["phase"] != "finished" || len(servers) != 1 || servers[0].(map[string]any)["healthy"] != true {
		t.Errorf("second refresh event %v, want finished with example healthy", fin)
	}

	wantSuccess(t, e.call(t, callJSON("example__register_tool", `{"name":"added_tool"}`), http.StatusOK),
		"example__register_tool", "registered tool added_tool")
	tc := log.nextOf(t, "tools_changed").object(t)
	if tc["server"] != "example" || !reflect.DeepEqual(tc["added"], []any{"added_tool"}) ||
		!reflect.DeepEqual(tc["removed"], []any{}) || tc["count"] != float64(len(exampleTools)+1) {
		t.Errorf("tools_changed data %v, want added_tool added", tc)
	}

	t.Run("resume", func(t *testing.T) {
		after := pendingEv.ID
		for _, how := range []struct {
			query  string
			header http.Header
		}{
			{"", http.Header{"Last-Event-ID": {strconv.FormatUint(after, 10)}}},
			{"?last_event_id=" + strconv.FormatUint(after, 10), nil},
		} {
			again, info := e.events(t, how.query, how.header)
			last := uint64(info["last_id"].(float64))
			if info["resumed"] != true || info["after"] != float64(after) || info["resync"] != false || last <= after {
				t.Fatalf("stream_start %v, want resumed after %d", info, after)
			}
			for log.seen[len(log.seen)-1].ID < last { // the first stream catches up
				log.next(t)
			}
			var want []hubEvent
			for _, ev := range log.seen {
				if ev.ID > after && ev.ID <= last {
					want = append(want, ev)
				}
			}
			if uint64(len(want)) != last-after {
				t.Fatalf("the first stream saw %d events in (%d, %d]", len(want), after, last)
			}
			for _, w := range want {
				got := again.next(t)
				if got.ID != w.ID || got.Type != w.Type || string(got.Data) != string(w.Data) || !got.Time.Equal(w.Time) {
					t.Errorf("replayed %d %s %s, want %d %s %s", got.ID, got.Type, got.Data, w.ID, w.Type, w.Data)
				}
			}
			again.s.close()
		}
	})

	t.Run("types filter", func(t *testing.T) {
		only, _ := e.events(t, "?types=approval_pending", http.Header{"Last-Event-ID": {"0"}})
		if ev := only.next(t); ev.Type != "approval_pending" || ev.ID != pendingEv.ID {
			t.Errorf("first replayed event %d %s, want %d approval_pending", ev.ID, ev.Type, pendingEv.ID)
		}
		e.json(t, http.MethodPost, "/mcp_hub/refresh", "", http.StatusOK, &r) // filtered out
		id2 := wantPending(t, e.call(t, callJSON(del, `{"id":"welcome"}`), http.StatusAccepted), del)
		if ev := only.next(t); ev.Type != "approval_pending" || ev.object(t)["id"] != id2 {
			t.Errorf("next event %s %s, want approval_pending for %s", ev.Type, ev.Data, id2)
		}
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tc := range []struct {
			query, lastID, want string
		}{
			{"", "abc", `invalid Last-Event-ID header "abc"`},
			{"", "-1", `invalid Last-Event-ID header "-1"`},
			{"?last_event_id=1.5", "", `invalid last_event_id parameter "1.5"`},
			{"?types=nope", "", `unknown event type "nope"`},
			{"?types=approval_pending,refresh,Refresh", "", `unknown event type "Refresh"`},
		} {
			req, _ := http.NewRequest(http.MethodGet, e.url+"/mcp_hub/events"+tc.query, nil)
			if tc.lastID != "" {
				req.Header.Set("Last-Event-ID", tc.lastID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			err = json.NewDecoder(resp.Body).Decode(&m)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Errorf("%s %q: status %d, Content-Type %q, decode error %v; want a 400 JSON error",
					tc.query, tc.lastID, resp.StatusCode, resp.Header.Get("Content-Type"), err)
				continue
			}
			wantError(t, m, tc.want)
		}
	})
}

func TestEventsDrain(t *testing.T) {
	e := startHub(t, api.Options{}, approvalServer())
	log, _ := e.events(t, "", nil)
	start := time.Now()
	e.hub.Drain()
	log.s.wantEnd(t)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the stream ended %v after Drain", took)
	}
	// A new stream is refused, in JSON, instead of hanging open.
	r := e.do(t, http.MethodGet, "/mcp_hub/events", nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(string(r.body), `"success":false`) {
		t.Errorf("events after Drain: %d %s, want a 503 JSON error", r.status, r.body)
	}
}
