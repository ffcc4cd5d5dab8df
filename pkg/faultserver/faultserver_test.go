package faultserver

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestParseSpec(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "", want: ""},
		{in: " hang\n", want: "hang"},
		{in: "slow-start=3s crash", want: "crash slow-start=3s"},
		{in: "huge=1000 refuse restart=2", want: "huge=1000 refuse restart=2"},
		{in: "explode", err: `unknown fault "explode"`},
		{in: "hang=1", err: "takes no value"},
		{in: "slow-start=soon", err: "want a duration"},
		{in: "slow-start", err: "want a duration"},
		{in: "huge=12", err: "at least 64"},
	} {
		spec, err := ParseSpec(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseSpec(%q): error %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && err != nil:
			t.Errorf("ParseSpec(%q): %v", tc.in, err)
		case tc.err == "" && spec.String() != tc.want:
			t.Errorf("ParseSpec(%q) = %q, want %q", tc.in, spec.String(), tc.want)
		}
	}
}

func TestControlFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "faults")
	var reported error
	faults := FileControl(path, func(err error) { reported = err })
	if s := faults(); s != nil {
		t.Errorf("no file: %v", s)
	}
	if err := WriteControl(path, MustParseSpec("hang slow-start=1s")); err != nil {
		t.Fatal(err)
	}
	if s := faults(); !s.Has(Hang) || s.slowStart() != time.Second {
		t.Errorf("after WriteControl: %v", s)
	}
	if err := os.WriteFile(path, []byte("nonsense"), 0o644); err != nil {
		t.Fatal(err)
	}
	if s := faults(); s != nil || reported == nil {
		t.Errorf("bad file: %v, reported %v", s, reported)
	}
}

// stdioPeer drives ServeStdio over pipes.
type stdioPeer struct {
	t      *testing.T
	in     *io.PipeWriter
	lines  chan []byte
	done   chan error
	faults atomic.Pointer[Spec]
}

func startStdio(t *testing.T, spec string) *stdioPeer {
	p := &stdioPeer{t: t, lines: make(chan []byte, 64), done: make(chan error, 1)}
	p.set(spec)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p.in = inW
	go func() {
		err := ServeStdio(context.Background(), inR, outW, StdioOptions{Faults: func() Spec { return *p.faults.Load() }})
		outW.Close()
		inR.Close()
		p.done <- err
	}()
	go func() {
		defer close(p.lines)
		br := bufio.NewReader(outR)
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				p.lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		inW.Close()
		for range p.lines { // drain until the server closes its output
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			t.Error("ServeStdio did not return after its input closed")
		}
	})
	return p
}

func (p *stdioPeer) set(spec string) {
	s := MustParseSpec(spec)
	p.faults.Store(&s)
}

func (p *stdioPeer) send(msg string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, msg+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

func (p *stdioPeer) recv() string {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			p.t.Fatal("output closed")
		}
		return strings.TrimSuffix(string(line), "\n")
	case <-time.After(5 * time.Second):
		p.t.Fatal("no answer within 5s")
	}
	return ""
}

func (p *stdioPeer) quiet(d time.Duration) {
	p.t.Helper()
	select {
	case line := <-p.lines:
		p.t.Fatalf("unexpected output %s", line)
	case <-time.After(d):
	}
}

const workCall = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"work","arguments":{"label":"x"},"_meta":{"progressToken":"tok"}}}`

func TestStdio(t *testing.T) {
	p := startStdio(t, "")
	p.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`)
	if got := p.recv(); !strings.Contains(got, `"protocolVersion":"2025-06-18"`) || !strings.Contains(got, `"id":1`) {
		t.Errorf("initialize: %s", got)
	}
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	var list struct {
		Result struct {
			Tools []struct{ Name string } `json:"tools"`
		} `json:"result"`
	}
	if err := json.Unmarshal([]byte(p.recv()), &list); err != nil || len(list.Result.Tools) != 2 {
		t.Errorf("tools/list: %v %+v", err, list)
	}
	p.send(workCall)
	for i := 1; i <= 3; i++ {
		if got := p.recv(); !strings.Contains(got, `"notifications/progress"`) {
			t.Errorf("progress %d: %s", i, got)
		}
	}
	if got := p.recv(); got != `{"jsonrpc":"2.0","id":7,"result":{"content":[{"text":"worked: x","type":"text"}]}}` {
		t.Errorf("work: %s", got)
	}

	for fault, want := range map[string]string{
		"not-json":          `this is not JSON-RPC {"jsonrpc":`,
		"no-id":             `{"jsonrpc":"2.0","result":{"content":[{"text":"an answer without an id","type":"text"}]}}`,
		"wrong-id":          `{"jsonrpc":"2.0","id":"not-7","result":{"content":[{"text":"an answer to another request","type":"text"}]}}`,
		"result-not-object": `{"jsonrpc":"2.0","id":7,"result":42}`,
		"result-null":       `{"jsonrpc":"2.0","id":7,"result":null}`,
	} {
		p.set(fault)
		p.send(workCall)
		if got := p.recv(); got != want {
			t.Errorf("%s: %s, want %s", fault, got, want)
		}
	}
	p.set("huge=1000")
	p.send(workCall)
	if got := p.recv(); len(got) != 1000 || !json.Valid([]byte(got)) {
		t.Errorf("huge=1000: %d bytes, valid JSON %v", len(got), json.Valid([]byte(got)))
	}

	// Hang and stall hold the answer until the fault ends.
	p.set("hang")
	p.send(workCall)
	p.quiet(100 * time.Millisecond)
	p.set("")
	if got := p.recv(); !strings.Contains(got, "progress") {
		t.Errorf("after hang: %s", got)
	}
	for range 3 {
		p.recv()
	}
	p.set("stall")
	p.send(workCall)
	p.recv()
	p.recv()
	p.quiet(100 * time.Millisecond)
	// Cancelled, it answers nothing.
	p.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}`)
	p.quiet(100 * time.Millisecond)

	// Slow start: initialize waits, and a shorter delay ends the wait.
	p.set("slow-start=1h")
	p.send(`{"jsonrpc":"2.0","id":8,"method":"initialize","params":{}}`)
	p.quiet(100 * time.Millisecond)
	p.set("slow-start=1ms")
	if got := p.recv(); !strings.Contains(got, `"id":8`) || !strings.Contains(got, defaultVersion) {
		t.Errorf("slow initialize: %s", got)
	}
}

func TestStdioCrash(t *testing.T) {
	p := startStdio(t, "crash")
	p.send(workCall)
	if got := p.recv(); json.Valid([]byte(got)) || !strings.HasPrefix(got, `{"jsonrpc":"2.0","id":7`) {
		t.Errorf("crash: %s, want half an answer", got)
	}
	select {
	case err := <-p.done:
		if !errors.Is(err, ErrCrashed) || ExitCode(err) != 2 {
			t.Errorf("ServeStdio: %v", err)
		}
		p.done <- err // for the cleanup
	case <-time.After(5 * time.Second):
		t.Fatal("no crash")
	}
}

func TestStdioExitOnStart(t *testing.T) {
	var stderr strings.Builder
	faults := func() Spec { return MustParseSpec("exit-on-start") }
	err := ServeStdio(context.Background(), strings.NewReader(""), io.Discard, StdioOptions{Faults: faults, Stderr: &stderr})
	if !errors.Is(err, ErrExitOnStart) || ExitCode(err) != 3 || !strings.Contains(stderr.String(), "refusing to start") {
		t.Errorf("ServeStdio: %v, stderr %q", err, stderr.String())
	}
}

// TestStdioStopLeavesCalls: a call that does not end when the input does
// (a huge answer to a peer that stopped reading) is left running after
// stopWait, and stderr says so.
func TestStdioStopLeavesCalls(t *testing.T) {
	var stderr strings.Builder
	outR, outW := io.Pipe() // nobody reads: the answer's write blocks
	faults := func() Spec { return MustParseSpec("huge=100000") }
	start := time.Now()
	err := ServeStdio(context.Background(), strings.NewReader(workCall+"\n"), outW, StdioOptions{Faults: faults, Stderr: &stderr})
	took := time.Since(start)
	outR.Close() // ends the write, and the call
	if err != nil || took < stopWait || took > stopWait+4*time.Second {
		t.Errorf("ServeStdio: %v after %v", err, took)
	}
	if want := "faultserver: 1 call(s) still running 1s after stop\n"; stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
}

func TestHTTP(t *testing.T) {
	srv := NewHTTP(HTTPOptions{})
	if err := srv.Listen("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	}()
	hc := &http.Client{Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	connect := func() *client.Client {
		tr, err := transport.NewStreamableHTTP(srv.URL(), transport.WithHTTPBasicClient(hc))
		if err != nil {
			t.Fatal(err)
		}
		c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20251125))
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
			t.Fatal(err)
		}
		return c
	}
	call := func(c *client.Client, d time.Duration) (*mcp.CallToolResult, error) {
		cctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		req := mcp.CallToolRequest{}
		req.Params.Name = ToolWork
		req.Params.Arguments = map[string]any{"label": "x"}
		return c.CallTool(cctx, req)
	}
	text := func(res *mcp.CallToolResult) string {
		if res == nil || len(res.Content) != 1 {
			return ""
		}
		tc, _ := res.Content[0].(mcp.TextContent)
		return tc.Text
	}

	c := connect()
	defer c.Close()
	if res, err := call(c, 5*time.Second); err != nil || text(res) != "worked: x" {
		t.Fatalf("work: %v %+v", err, res)
	}
	// A call that hangs is answered once the fault ends.
	if err := srv.Set(MustParseSpec("hang")); err != nil {
		t.Fatal(err)
	}
	if _, err := call(c, 200*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v", err)
	}
	go func() {
		time.Sleep(100 * time.Millisecond)
		_ = srv.Set(nil)
	}()
	if res, err := call(c, 5*time.Second); err != nil || text(res) != "worked: x" {
		t.Errorf("hang, ended: %v %+v", err, res)
	}
	if err := srv.Set(MustParseSpec("not-json")); err != nil {
		t.Fatal(err)
	}
	if _, err := call(c, 5*time.Second); err == nil || !strings.Contains(err.Error(), "invalid character") {
		t.Errorf("not-json: %v", err)
	}
	if err := srv.Set(nil); err != nil {
		t.Fatal(err)
	}

	// A restart forgets the session: 404.
	inits := srv.Initializes()
	srv.Restart()
	if _, err := call(c, 5*time.Second); !errors.Is(err, transport.ErrSessionTerminated) {
		t.Errorf("after Restart: %v, want the session terminated", err)
	}
	c2 := connect()
	defer c2.Close()
	if srv.Initializes() != inits+1 {
		t.Errorf("initializes: %d, want %d", srv.Initializes(), inits+1)
	}

	// Refused, then back on the same port.
	if err := srv.Set(MustParseSpec("refuse")); err != nil {
		t.Fatal(err)
	}
	if _, err := call(c2, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("refusing: %v", err)
	}
	if err := srv.Set(nil); err != nil {
		t.Fatal(err)
	}
	if res, err := call(c2, 5*time.Second); err != nil || text(res) != "worked: x" {
		t.Errorf("after refusing: %v %+v", err, res)
	}
}
