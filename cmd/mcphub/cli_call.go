package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mcphub/mcphub/api"
)

// maxArgumentBytes bounds the arguments read from stdin; the hub's own
// body limit (4 MiB by default) is the real one.
const maxArgumentBytes = 64 << 20

func (c *cli) call(args []string) int {
	fs := c.flagSet("call")
	hf := c.addHubFlags(fs)
	_, stderrTTY := terminalWidth(c.stderr)
	stream := fs.Bool("stream", stderrTTY, "stream the call (POST /mcp_hub/call_stream), showing progress on stderr (default: when stderr is a terminal)")
	wait := fs.Duration("wait", 0, "for a tool that needs approval: wait this long for the decision before giving up (exit 3)")
	if code, done := c.parse(fs, args); done {
		return code
	}
	switch {
	case fs.NArg() == 0:
		return c.usageError("call needs a tool name (see mcphub tools)")
	case fs.NArg() > 2:
		return c.usageError("call takes a tool name and one JSON object of arguments, got %d arguments (quote the JSON)", fs.NArg())
	case *wait < 0:
		return c.usageError("--wait must not be negative")
	}
	name := fs.Arg(0)
	arguments, err := c.callArguments(fs.Arg(1))
	if err != nil {
		return c.fail(err)
	}
	h, ctx, done, err := c.client(hf, *wait)
	if err != nil {
		return c.fail(err)
	}
	defer done()
	body := api.CallRequest{Type: "function", Function: api.CallFunction{Name: name, Arguments: arguments}}
	if *stream {
		return c.callStream(ctx, h, body, *wait, hf.json)
	}

	var q url.Values
	if *wait > 0 {
		q = url.Values{"wait": {wait.String()}}
	}
	resp, err := h.do(ctx, http.MethodPost, pathCall, q, body)
	if err != nil {
		return c.fail(err)
	}
	raw, err := h.readBody(ctx, resp)
	if err != nil {
		return c.fail(err)
	}
	if resp.StatusCode == http.StatusAccepted {
		return c.printPending(raw, hf.json)
	}
	return c.printResult(raw, hf.json)
}

// callArguments checks the arguments locally: the hub would refuse them
// too, but after a round trip and with less to go on. "" is {}, "-"
// reads stdin.
func (c *cli) callArguments(arg string) (json.RawMessage, error) {
	raw := []byte(arg)
	from := "the arguments"
	if arg == "-" {
		var err error
		if raw, err = io.ReadAll(io.LimitReader(c.stdin, maxArgumentBytes)); err != nil {
			return nil, fmt.Errorf("reading the arguments from stdin: %w", err)
		}
		from = "the arguments on stdin"
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return json.RawMessage("{}"), nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, usageErr("%s are not valid JSON: %v (at byte %d); want an object such as '{\"message\":\"hi\"}'", from, se, se.Offset)
		}
		return nil, usageErr("%s are not valid JSON: %v", from, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, usageErr("%s must be a JSON object such as '{\"message\":\"hi\"}', got %s", from, truncate(string(raw), 40))
	}
	return raw, nil
}

// callStream calls over POST /mcp_hub/call_stream: progress goes to
// stderr as it comes, then the result (or the pending approval) is printed
// as call prints it.
func (c *cli) callStream(ctx context.Context, h *hubClient, body api.CallRequest, wait time.Duration, asJSON bool) int {
	resp, err := h.do(ctx, http.MethodPost, pathCallStream, nil, body)
	if err != nil {
		return c.fail(err)
	}
	events := make(chan sseEvent)
	var readErr error
	go func() { // owned here: it ends when the body is closed, and is waited for
		defer close(events)
		readErr = readSSE(resp.Body, events)
	}()
	defer func() {
		resp.Body.Close()
		for range events { // until the reader is gone
		}
	}()

	p := newProgressLine(c.stderr, body.Function.Name)
	defer p.clear()
	var tick <-chan time.Time
	if p.tty {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		tick = t.C
		p.draw()
	}
	var waited <-chan time.Time
	var pending []byte
	for {
		select {
		case <-tick:
			p.draw()
		case <-waited:
			p.clear()
			return c.printPending(pending, asJSON)
		case ev, ok := <-events:
			if !ok {
				p.clear()
				if readErr == nil {
					readErr = io.ErrUnexpectedEOF
				}
				return c.fail(fmt.Errorf("the stream of %s ended before the call did: %w", body.Function.Name, h.transportError(ctx, readErr)))
			}
			switch ev.name {
			case "progress":
				var pe api.ProgressEvent
				if json.Unmarshal(ev.data, &pe) == nil {
					p.progress(pe)
				}
			case "pending":
				if wait <= 0 {
					p.clear()
					return c.printPending(ev.data, asJSON)
				}
				pending = ev.data
				var pr api.PendingResponse
				_ = json.Unmarshal(ev.data, &pr)
				p.waiting(pr.Data.ApprovalID, wait)
				t := time.NewTimer(wait)
				defer t.Stop()
				waited = t.C
			case "result":
				p.clear()
				return c.printResult(ev.data, asJSON)
			case "error", "rejected", "expired":
				p.clear()
				var se api.StreamErrorEvent
				if err := decode(ev.data, pathCallStream, &se); err != nil {
					return c.fail(err)
				}
				return c.fail(&hubError{status: se.Status, msg: se.Error, url: h.base.String(), tokenSent: h.token != ""})
			}
			// Other events are newer than this client: skip them.
		}
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data []byte
}

// readSSE reads events from r into out until r ends. Comment lines
// (heartbeats) and fields other than event and data are skipped.
func readSSE(r io.Reader, out chan<- sseEvent) error {
	br := bufio.NewReader(r)
	ev := sseEvent{name: "message"}
	seen := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" {
				return nil
			}
			if err != io.EOF {
				return err
			}
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if seen {
				out <- ev
			}
			ev, seen = sseEvent{name: "message"}, false
		case strings.HasPrefix(line, ":"):
		default:
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				ev.name, seen = value, true
			case "data":
				if ev.data != nil {
					ev.data = append(ev.data, '\n')
				}
				ev.data, seen = append(ev.data, value...), true
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// progressLine shows a streamed call's progress on stderr: on a terminal
// one line redrawn in place with a spinner, otherwise a line per event.
type progressLine struct {
	w     io.Writer
	tty   bool
	width int
	tool  string
	start time.Time
	frame int
	text  string
	shown bool
}

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newProgressLine(w io.Writer, tool string) *progressLine {
	width, tty := terminalWidth(w)
	if width <= 0 {
		width = 80
	}
	return &progressLine{w: w, tty: tty, width: width, tool: tool, start: time.Now(), text: "calling " + tool}
}

func (p *progressLine) progress(e api.ProgressEvent) {
	text := formatNumber(e.Progress)
	if e.Total != nil && *e.Total > 0 {
		text += "/" + formatNumber(*e.Total) + fmt.Sprintf(" (%d%%)", int(100*e.Progress / *e.Total))
		if p.tty {
			text = bar(e.Progress / *e.Total) + " " + text
		}
	}
	if e.Message != "" {
		text += " " + oneLine(e.Message)
	}
	p.update("progress " + text)
}

// bar draws a fraction as [=====>    ].
func bar(f float64) string {
	const width = 20
	n := int(min(max(f, 0), 1) * width)
	if n == width {
		return "[" + strings.Repeat("=", width) + "]"
	}
	return "[" + strings.Repeat("=", n) + ">" + strings.Repeat(" ", width-n-1) + "]"
}

func (p *progressLine) waiting(id string, wait time.Duration) {
	p.update(fmt.Sprintf("waiting up to %s for approval %s (mcphub approve %s)", wait, id, id))
}

func (p *progressLine) update(text string) {
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s\n", p.tool, text)
		return
	}
	p.text = text
	p.draw()
}

// draw redraws the line on a terminal.
func (p *progressLine) draw() {
	if !p.tty {
		return
	}
	p.frame++
	line := fmt.Sprintf("%s %.1fs %s", spinner[p.frame%len(spinner)], time.Since(p.start).Seconds(), p.text)
	fmt.Fprint(p.w, "\r\x1b[K"+truncate(line, p.width-1))
	p.shown = true
}

// clear removes the line from a terminal, before the result is printed.
func (p *progressLine) clear() {
	if p.tty && p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// formatNumber prints a progress value without a needless fraction.
func formatNumber(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
