package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The hub's servers: the healthy example server and the two fault servers.
const (
	srvOK    = "ok"
	srvHTTP  = "fhttp"
	srvStdio = "fstdio"
)

// soak is what the workers share.
type soak struct {
	base string
	hc   *http.Client
	// reqCtx ends on Ctrl-C: requests then in flight are aborted, not
	// counted. The load's own end only stops new requests.
	reqCtx context.Context
	bound  time.Duration // how long any request may take: the timeout + the margin
	stats  *stats
	seq    atomic.Int64
	ops    []op
	weight int
	faulty chan struct{} // a slot per worker allowed on a fault server

	mu      sync.Mutex
	decided map[string]time.Time // approval id → when it was decided
}

// op is one kind of request (or exchange) of the mix.
type op struct {
	name   string
	weight int
	faulty bool // goes to a fault server
	run    func(s *soak, rng *rand.Rand)
}

// mix is the weighted traffic.
func mix() []op {
	return []op{
		{"call ok__echo", 18, false, func(s *soak, _ *rand.Rand) { s.echo() }},
		{"call fhttp__work", 12, true, func(s *soak, _ *rand.Rand) { s.work(srvHTTP) }},
		{"call fstdio__work", 12, true, func(s *soak, _ *rand.Rand) { s.work(srvStdio) }},
		{"stream ok__slow_count", 6, false, func(s *soak, _ *rand.Rand) {
			s.stream(srvOK, "slow_count", map[string]any{"count": 3, "delay_ms": 20}, "counted to 3")
		}},
		{"stream fhttp__work", 5, true, func(s *soak, _ *rand.Rand) { s.streamWork(srvHTTP) }},
		{"stream fstdio__work", 5, true, func(s *soak, _ *rand.Rand) { s.streamWork(srvStdio) }},
		{"tools", 10, false, func(s *soak, _ *rand.Rand) { s.tools() }},
		{"servers", 6, false, func(s *soak, _ *rand.Rand) { s.servers() }},
		{"approval", 10, false, func(s *soak, rng *rand.Rand) { s.approval(rng) }},
	}
}

// newSoak prepares the traffic of workers workers. At most half of them
// (at least one) call a fault server at a time: calls that hang until the
// timeout would otherwise take every worker now and then, and the healthy
// traffic, which must go on unharmed during every fault, would pause.
func newSoak(ctx context.Context, base string, hc *http.Client, bound time.Duration, st *stats, workers int) *soak {
	s := &soak{
		base: base, hc: hc, reqCtx: ctx, bound: bound, stats: st, ops: mix(), decided: map[string]time.Time{},
		faulty: make(chan struct{}, max(1, workers/2)),
	}
	for _, o := range s.ops {
		s.weight += o.weight
	}
	return s
}

// worker runs the mix until load ends.
func (s *soak) worker(load context.Context, rng *rand.Rand) {
	for load.Err() == nil {
		s.pick(rng).run(s, rng)
	}
}

// pick draws an op by weight; a draw of a fault server's op while enough
// workers are on them is drawn again.
func (s *soak) pick(rng *rand.Rand) op {
	for {
		n := rng.IntN(s.weight)
		for _, o := range s.ops {
			if n -= o.weight; n >= 0 {
				continue
			}
			if !o.faulty {
				return o
			}
			select {
			case s.faulty <- struct{}{}:
				run := o.run
				o.run = func(s *soak, rng *rand.Rand) {
					defer func() { <-s.faulty }()
					run(s, rng)
				}
				return o
			default:
			}
			break
		}
	}
}

// send makes one request within s.bound and reads the whole answer,
// filling o's timing, status and, for an answer other than o.want, the
// hub's error text. Transport failures become o.problem.
func (s *soak) send(o *outcome, method, path string, body any) []byte {
	resp, cancel := s.open(o, method, path, body)
	if resp == nil {
		return nil
	}
	defer cancel()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	o.took = time.Since(o.start)
	if err != nil {
		s.transportProblem(o, "reading the answer", err)
		return nil
	}
	s.readError(o, b)
	return b
}

// open sends a request and returns the response with its body unread (and
// the cancel of its bound), or nil with o filled in.
func (s *soak) open(o *outcome, method, path string, body any) (*http.Response, context.CancelFunc) {
	if o.want == 0 {
		o.want = http.StatusOK
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			panic(err) // the tool's own bodies always encode
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(s.reqCtx, s.bound)
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		cancel()
		panic(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	o.start = time.Now()
	resp, err := s.hc.Do(req)
	if err != nil {
		o.took = time.Since(o.start)
		s.transportProblem(o, "sending the request", err)
		cancel()
		return nil, nil
	}
	o.status = resp.StatusCode
	return resp, cancel
}

// transportProblem files a failed exchange: aborted on Ctrl-C, else no
// answer in time or a broken connection to the hub.
func (s *soak) transportProblem(o *outcome, what string, err error) {
	switch {
	case s.reqCtx.Err() != nil:
		o.aborted = true
	case errors.Is(err, context.DeadlineExceeded):
		o.problem = newProblem("no answer within timeout+margin", "%s: nothing after %v (status %d)", what, s.bound, o.status)
	default:
		o.problem = newProblem("connection error to the hub", "%s: %v", what, err)
	}
}

// readError takes the hub's error text from an answer other than o.want.
func (s *soak) readError(o *outcome, b []byte) {
	if o.status == o.want {
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		o.errMsg = "(no JSON error) " + truncate(string(b), 300)
		return
	}
	o.errMsg = e.Error
}

func (s *soak) next() string { return "soak-" + strconv.FormatInt(s.seq.Add(1), 10) }

func callBody(id, name string, args any) map[string]any {
	return map[string]any{"id": id, "type": "function", "function": map[string]any{"name": name, "arguments": args}}
}

// callResponse is the hub's answer to a call.
type callResponse struct {
	Success bool   `json:"success"`
	ID      string `json:"id"`
	Content string `json:"content"`
	Error   string `json:"error"`
}

// call makes a /call of server's tool and checks a 200 answers content.
func (s *soak) call(server, tool string, args any, content string) {
	id := s.next()
	o := outcome{endpoint: "POST /mcp_hub/call " + server + "__" + tool, kind: kindCall, server: server, fault: server != srvOK}
	b := s.send(&o, http.MethodPost, "/mcp_hub/call", callBody(id, server+"__"+tool, args))
	if o.problem == nil && !o.aborted && o.status == http.StatusOK {
		var r callResponse
		if err := json.Unmarshal(b, &r); err != nil || !r.Success || r.ID != id || r.Content != content {
			o.problem = newProblem("wrong answer", "want success, id %q, content %q; got %.300s", id, content, b)
		}
	}
	s.stats.record(o)
}

func (s *soak) echo() {
	msg := s.next()
	s.call(srvOK, "echo", map[string]any{"message": msg}, msg)
}

func (s *soak) work(server string) {
	label := s.next()
	s.call(server, "work", map[string]any{"label": label}, "worked: "+label)
}

func (s *soak) streamWork(server string) {
	label := s.next()
	s.stream(server, "work", map[string]any{"label": label}, "worked: "+label)
}

// stream makes a /call_stream of server's tool and reads it to the end: 3
// progress events, increasing, then a result with content, or an error
// event (whose status and text are judged like a /call's).
//
// Over Streamable HTTP, mcp-go servers send some of a call's progress on
// the session's GET stream rather than on the call's own response, so it
// may arrive out of order or after the result; the hub forwards only
// progress that increases and drops what comes after the result (README,
// "Known limits"). From the HTTP fault server, fewer than 3 progress events
// are therefore not an error; more, or decreasing ones, are. A call that
// met the stall fault (2 progress events, then nothing until the fault
// ended) answers after 2.
func (s *soak) stream(server, tool string, args any, content string) {
	wantProgress := func(n int, o *outcome) bool {
		switch {
		case server == srvHTTP:
			return n <= 3
		case n == 2 && o.fault:
			return s.stats.faults.during(server, "stall", o.start, time.Now())
		}
		return n == 3
	}
	id := s.next()
	o := outcome{endpoint: "POST /mcp_hub/call_stream " + server + "__" + tool, kind: kindStream, server: server, fault: server != srvOK}
	defer func() { s.stats.record(o) }()
	resp, cancel := s.open(&o, http.MethodPost, "/mcp_hub/call_stream", callBody(id, server+"__"+tool, args))
	if resp == nil {
		return
	}
	defer cancel()
	defer resp.Body.Close()
	if o.status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(resp.Body)
		o.took = time.Since(o.start)
		if err != nil {
			s.transportProblem(&o, "reading the answer", err)
			return
		}
		if o.status == http.StatusOK {
			o.problem = newProblem("wrong answer", "call_stream answered %s, not an event stream: %.300s", resp.Header.Get("Content-Type"), b)
		}
		s.readError(&o, b)
		return
	}
	progress, last := 0, 0.0
	err := readSSE(resp.Body, func(ev sseEvent) bool {
		switch ev.name {
		case "progress":
			var p struct {
				Progress float64 `json:"progress"`
			}
			if json.Unmarshal(ev.data, &p) != nil || p.Progress <= last {
				o.problem = newProblem("wrong answer", "progress event %s after progress %v", ev.data, last)
			}
			progress, last = progress+1, p.Progress
			return true
		case "result":
			o.took = time.Since(o.start)
			var r callResponse
			if err := json.Unmarshal(ev.data, &r); err != nil || !r.Success || r.ID != id || r.Content != content || !wantProgress(progress, &o) {
				o.problem = newProblem("wrong answer", "want 3 progress events then success, id %q, content %q; got %d, then %.300s",
					id, content, progress, ev.data)
			}
		case "error":
			o.took = time.Since(o.start)
			var e struct {
				Status int    `json:"status"`
				Error  string `json:"error"`
			}
			if err := json.Unmarshal(ev.data, &e); err != nil || e.Status == 0 {
				o.problem = newProblem("wrong answer", "error event %.300s", ev.data)
			}
			o.status, o.errMsg = e.Status, e.Error
		default:
			o.took = time.Since(o.start)
			o.problem = newProblem("wrong answer", "event %q %.300s in a call that needs no approval", ev.name, ev.data)
		}
		return false
	})
	if o.took == 0 {
		o.took = time.Since(o.start)
		if err == nil {
			o.problem = newProblem("wrong answer", "the stream ended after %d progress events without a final event", progress)
		} else {
			s.transportProblem(&o, "reading the stream", err)
		}
	}
}

// tools checks that GET /mcp_hub/tools lists every server's tools (a
// server that is down keeps its last known tools) and the gated one.
func (s *soak) tools() {
	o := outcome{endpoint: "GET /mcp_hub/tools", kind: kindTools}
	b := s.send(&o, http.MethodGet, "/mcp_hub/tools", nil)
	if o.problem == nil && !o.aborted && o.status == http.StatusOK {
		var r struct {
			Tools []struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
			RequiresApproval []string `json:"requires_approval"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			o.problem = newProblem("wrong answer", "tools: %v", err)
		} else {
			var names []string
			for _, t := range r.Tools {
				names = append(names, t.Function.Name)
			}
			for _, want := range []string{"ok__echo", "ok__add", "ok__slow_count", "fhttp__work", "fstdio__work"} {
				if !slices.Contains(names, want) {
					o.problem = newProblem("wrong answer", "GET /mcp_hub/tools does not list %s: %v", want, names)
				}
			}
			if !slices.Equal(r.RequiresApproval, []string{"ok__add"}) {
				o.problem = newProblem("wrong answer", "requires_approval is %v, want [ok__add]", r.RequiresApproval)
			}
		}
	}
	s.stats.record(o)
}

// serverInfo is an entry of GET /mcp_hub/servers.
type serverInfo struct {
	Name      string `json:"name"`
	Healthy   bool   `json:"healthy"`
	Status    string `json:"status"`
	LastError string `json:"last_error"`
}

// servers checks that GET /mcp_hub/servers lists the three servers, the
// healthy one healthy.
func (s *soak) servers() {
	o := outcome{endpoint: "GET /mcp_hub/servers", kind: kindServers}
	b := s.send(&o, http.MethodGet, "/mcp_hub/servers", nil)
	if o.problem == nil && !o.aborted && o.status == http.StatusOK {
		var list []serverInfo
		if err := json.Unmarshal(b, &list); err != nil || len(list) != 3 {
			o.problem = newProblem("wrong answer", "servers: %v: %.300s", err, b)
		}
		for _, si := range list {
			if si.Name == srvOK && !si.Healthy {
				o.problem = newProblem("healthy server reported down", "%+v", si)
			}
		}
	}
	s.stats.record(o)
}

// approval makes a call that needs approval (ok__add), checks the 202, and
// approves it (the answer is the sum) or rejects it (the request is then
// rejected, and approving it is a conflict).
func (s *soak) approval(rng *rand.Rand) {
	a, b := rng.IntN(1000), rng.IntN(1000)
	args := map[string]any{"a": a, "b": b}
	o := outcome{endpoint: "POST /mcp_hub/call ok__add (needs approval)", kind: kindApproval, server: srvOK, want: http.StatusAccepted}
	body := s.send(&o, http.MethodPost, "/mcp_hub/call", callBody(s.next(), "ok__add", args))
	var pending struct {
		Status string `json:"status"`
		Data   struct {
			ApprovalID string `json:"approval_id"`
		} `json:"data"`
	}
	if o.problem == nil && !o.aborted && o.status == http.StatusAccepted {
		if err := json.Unmarshal(body, &pending); err != nil || pending.Status != "pending" || pending.Data.ApprovalID == "" {
			o.problem = newProblem("wrong answer", "202 without a pending approval id: %.300s", body)
		}
	}
	s.stats.record(o)
	id := pending.Data.ApprovalID
	if o.problem != nil || o.aborted || o.status != http.StatusAccepted || id == "" {
		return
	}

	approve := rng.IntN(2) == 0
	state := "rejected"
	if approve {
		state = "approved"
		o := outcome{endpoint: "POST /mcp_hub/approve", kind: kindApproval, server: srvOK}
		body := s.send(&o, http.MethodPost, "/mcp_hub/approve", map[string]any{"approval_id": id, "tool": "ok__add", "arguments": args})
		if o.problem == nil && !o.aborted && o.status == http.StatusOK {
			var r callResponse
			if err := json.Unmarshal(body, &r); err != nil || !r.Success || r.Content != strconv.Itoa(a+b) {
				o.problem = newProblem("wrong answer", "approve %s (%d+%d): %.300s", id, a, b, body)
			}
		}
		s.stats.record(o)
		if o.status != http.StatusOK {
			return
		}
	} else {
		o := outcome{endpoint: "POST /mcp_hub/reject", kind: kindApproval}
		body := s.send(&o, http.MethodPost, "/mcp_hub/reject", map[string]any{"approval_id": id, "reason": "soak"})
		if o.problem == nil && !o.aborted && o.status == http.StatusOK {
			var r struct {
				Success  bool `json:"success"`
				Approval struct {
					ID    string `json:"id"`
					State string `json:"state"`
				} `json:"approval"`
			}
			if err := json.Unmarshal(body, &r); err != nil || !r.Success || r.Approval.ID != id || r.Approval.State != "rejected" {
				o.problem = newProblem("wrong answer", "reject %s: %.300s", id, body)
			}
		}
		s.stats.record(o)
		if o.status != http.StatusOK {
			return
		}
	}
	s.mu.Lock()
	s.decided[id] = time.Now()
	s.mu.Unlock()

	o = outcome{endpoint: "GET /mcp_hub/approvals/{id}", kind: kindApproval}
	body = s.send(&o, http.MethodGet, "/mcp_hub/approvals/"+id, nil)
	if o.problem == nil && !o.aborted && o.status == http.StatusOK {
		var r struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.State != state {
			o.problem = newProblem("wrong answer", "approval %s should be %s: %.300s", id, state, body)
		}
	}
	s.stats.record(o)
	if !approve {
		// Decided is decided: the rejected call cannot be approved.
		o := outcome{endpoint: "POST /mcp_hub/approve (rejected: 409)", kind: kindApproval, want: http.StatusConflict}
		s.send(&o, http.MethodPost, "/mcp_hub/approve", map[string]any{"approval_id": id, "tool": "ok__add", "arguments": args})
		s.stats.record(o)
	}
}

// decisions returns the approvals decided before t.
func (s *soak) decisions(before time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for id, at := range s.decided {
		if at.Before(before) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id, name string
	hasID    bool
	data     []byte
}

// readSSE reads events from r and hands each to fn until fn returns false
// (nil) or the stream ends (nil at a clean end, else the error).
// Comments are skipped.
func readSSE(r io.Reader, fn func(sseEvent) bool) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if ev.data != nil || ev.name != "" {
				if !fn(ev) {
					return nil
				}
			}
			ev = sseEvent{}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			// a comment (heartbeat)
		case "id":
			ev.id, ev.hasID = value, true
		case "event":
			ev.name = value
		case "data":
			if ev.data != nil {
				ev.data = append(ev.data, '\n')
			}
			ev.data = append(ev.data, value...)
		}
	}
}

// getJSON fetches path into v, for the tool's own checks (not counted).
func getJSON(ctx context.Context, hc *http.Client, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %.300s", url, resp.StatusCode, b)
	}
	return json.Unmarshal(b, v)
}
