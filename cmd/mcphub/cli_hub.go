package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/mcphub/mcphub/api"
)

// The REST paths the subcommands use (api/router.go).
const (
	pathServers    = "/mcp_hub/servers"
	pathTools      = "/mcp_hub/tools"
	pathCall       = "/mcp_hub/call"
	pathCallStream = "/mcp_hub/call_stream"
	pathApprovals  = "/mcp_hub/approvals"
	pathApprove    = "/mcp_hub/approve"
	pathReject     = "/mcp_hub/reject"
)

// descriptionWidth bounds a description in the tools table when stdout is
// not a terminal whose width is known.
const descriptionWidth = 60

func (c *cli) servers(args []string) int {
	fs := c.flagSet("servers")
	hf := c.addHubFlags(fs)
	if code, done := c.parse(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageError("servers takes no arguments, got %q", fs.Arg(0))
	}
	h, ctx, done, err := c.client(hf, 0)
	if err != nil {
		return c.fail(err)
	}
	defer done()
	raw, err := h.getRaw(ctx, pathServers, nil)
	if err != nil {
		return c.fail(err)
	}
	if hf.json {
		c.printJSON(raw)
		return exitOK
	}
	var list []api.ServerResponse
	if err := decode(raw, pathServers, &list); err != nil {
		return c.fail(err)
	}
	if len(list) == 0 {
		fmt.Fprintln(c.stderr, "no servers configured")
		return exitOK
	}
	t := newTable(c.stdout, "NAME", "STATUS", "TRANSPORT", "TOOLS", "RESOURCES", "PROMPTS", "LAST ERROR")
	now := time.Now()
	for _, s := range list {
		status := s.Status
		if s.Status == "backoff" && s.NextRetry != nil {
			status += ", retry " + relative(*s.NextRetry, now)
		}
		lastErr := ""
		if !s.Healthy {
			lastErr = truncate(oneLine(s.LastError), descriptionWidth)
		}
		t.row(s.Name, status, s.Transport, strconv.Itoa(s.Tools), strconv.Itoa(s.Resources+s.ResourceTemplates), strconv.Itoa(s.Prompts), lastErr)
	}
	return c.flush(t)
}

func (c *cli) tools(args []string) int {
	fs := c.flagSet("tools")
	hf := c.addHubFlags(fs)
	server := fs.String("server", "", "only this server's tools")
	query := fs.StringP("query", "q", "", "search: the tools most relevant to these words, best first")
	limit := fs.Int("limit", 0, "with -q: at most this many tools (the hub's default is 10)")
	if code, done := c.parse(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageError("tools takes no arguments, got %q (search with -q)", fs.Arg(0))
	}
	if *limit != 0 && *query == "" {
		return c.usageError("--limit needs -q")
	}
	h, ctx, done, err := c.client(hf, 0)
	if err != nil {
		return c.fail(err)
	}
	defer done()
	q := url.Values{}
	if *server != "" {
		q.Set("server", *server)
	}
	if *query != "" {
		q.Set("q", *query)
		if *limit != 0 {
			q.Set("limit", strconv.Itoa(*limit))
		}
	}
	raw, err := h.getRaw(ctx, pathTools, q)
	if err != nil {
		return c.fail(err)
	}
	if hf.json {
		c.printJSON(raw)
		return exitOK
	}
	var list api.ToolsResponse
	if err := decode(raw, pathTools, &list); err != nil {
		return c.fail(err)
	}
	if len(list.Tools) == 0 {
		if *query != "" {
			fmt.Fprintln(c.stderr, "no tools match")
		} else {
			fmt.Fprintln(c.stderr, "no tools")
		}
		return exitOK
	}
	owners := map[string]string{}
	if *server != "" {
		for _, t := range list.Tools {
			owners[t.Function.Name] = *server
		}
	} else {
		owners = h.toolServers(ctx)
	}

	// The description gets what the other columns leave of the terminal.
	headers := []string{"NAME", "SERVER", "APPROVAL"}
	widths := make([]int, len(headers))
	rows := make([][]string, 0, len(list.Tools))
	for _, t := range list.Tools {
		appr := ""
		if slices.Contains(list.RequiresApproval, t.Function.Name) {
			appr = "required"
		}
		rows = append(rows, []string{t.Function.Name, owners[t.Function.Name], appr, oneLine(t.Function.Description)})
	}
	for i, hd := range headers {
		widths[i] = utf8.RuneCountInString(hd)
		for _, r := range rows {
			widths[i] = max(widths[i], utf8.RuneCountInString(r[i]))
		}
	}
	desc := descriptionWidth
	if w, ok := terminalWidth(c.stdout); ok && w > 0 {
		used := 0
		for _, w := range widths {
			used += w + tablePadding
		}
		desc = max(w-used-1, 20)
	}
	t := newTable(c.stdout, append(headers, "DESCRIPTION")...)
	for _, r := range rows {
		r[3] = truncate(r[3], desc)
		t.row(r...)
	}
	return c.flush(t)
}

// toolServers maps each tool's exported name to its server. The tool list
// does not say (its entries are OpenAI's exact shape), and the name alone
// cannot be split reliably (the separator is the hub's to choose), so it
// asks for each server's list: one small pre-rendered answer per server.
// It is for display only: on any error the column stays empty.
func (h *hubClient) toolServers(ctx context.Context) map[string]string {
	owners := map[string]string{}
	raw, err := h.getRaw(ctx, pathServers, nil)
	if err != nil {
		return owners
	}
	var servers []api.ServerResponse
	if json.Unmarshal(raw, &servers) != nil {
		return owners
	}
	for _, s := range servers {
		if s.Tools == 0 {
			continue
		}
		raw, err := h.getRaw(ctx, pathTools, url.Values{"server": {s.Name}})
		if err != nil {
			continue
		}
		var list api.ToolsResponse
		if json.Unmarshal(raw, &list) != nil {
			continue
		}
		for _, t := range list.Tools {
			owners[t.Function.Name] = s.Name
		}
	}
	return owners
}

func (c *cli) approvals(args []string) int {
	fs := c.flagSet("approvals")
	hf := c.addHubFlags(fs)
	state := fs.String("state", "", "only requests in this state: pending, approved, rejected or expired")
	server := fs.String("server", "", "only this server's requests")
	limit := fs.Int("limit", 0, "at most this many, newest first")
	if code, done := c.parse(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return c.usageError("approvals takes no arguments, got %q", fs.Arg(0))
	}
	h, ctx, done, err := c.client(hf, 0)
	if err != nil {
		return c.fail(err)
	}
	defer done()
	q := url.Values{}
	if *state != "" {
		q.Set("state", *state)
	}
	if *server != "" {
		q.Set("server", *server)
	}
	if *limit != 0 {
		q.Set("limit", strconv.Itoa(*limit))
	}
	raw, err := h.getRaw(ctx, pathApprovals, q)
	if err != nil {
		return c.fail(err)
	}
	if hf.json {
		c.printJSON(raw)
		return exitOK
	}
	var list api.ApprovalsResponse
	if err := decode(raw, pathApprovals, &list); err != nil {
		return c.fail(err)
	}
	if len(list.Approvals) == 0 {
		fmt.Fprintln(c.stderr, "no approval requests")
		return exitOK
	}
	now := time.Now()
	t := newTable(c.stdout, "ID", "STATE", "SERVER", "TOOL", "CALLER", "CREATED", "EXPIRES", "ARGUMENTS")
	for _, a := range list.Approvals {
		expires := relative(a.ExpiresAt, now)
		if a.State == "approved" || a.State == "rejected" {
			expires = "-"
		}
		caller := a.Caller
		if caller == "" {
			caller = "-"
		}
		t.row(a.ID, a.State, a.Server, a.Name, caller, relative(a.CreatedAt, now), expires, truncate(compactJSON(a.Arguments), 40))
	}
	return c.flush(t)
}

func (c *cli) approve(args []string) int {
	fs := c.flagSet("approve")
	hf := c.addHubFlags(fs)
	if code, done := c.parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return c.usageError("approve takes one approval id (see mcphub approvals)")
	}
	id := fs.Arg(0)
	h, ctx, done, err := c.client(hf, 0)
	if err != nil {
		return c.fail(err)
	}
	defer done()
	// The hub binds an approval to one exact call, and approving repeats
	// it: read the pending call, then send it back with its id.
	raw, err := h.getRaw(ctx, pathApprovals+"/"+url.PathEscape(id), nil)
	if err != nil {
		return c.fail(fmt.Errorf("approval %s: %w", id, err))
	}
	var req api.ApprovalResponse
	if err := decode(raw, pathApprovals, &req); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stderr, "approving %s: %s %s\n", req.ID, req.Name, compactJSON(req.Arguments))
	resp, err := h.do(ctx, http.MethodPost, pathApprove, nil, api.ApproveRequest{ApprovalID: req.ID, Tool: req.Name, Arguments: req.Arguments})
	if err != nil {
		return c.fail(fmt.Errorf("approve %s: %w", id, err))
	}
	body, err := h.readBody(ctx, resp)
	if err != nil {
		return c.fail(err)
	}
	return c.printResult(body, hf.json)
}

func (c *cli) reject(args []string) int {
	fs := c.flagSet("reject")
	hf := c.addHubFlags(fs)
	reason := fs.String("reason", "", "why: shown to the caller (and the model)")
	if code, done := c.parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return c.usageError("reject takes one approval id (see mcphub approvals)")
	}
	h, ctx, done, err := c.client(hf, 0)
	if err != nil {
		return c.fail(err)
	}
	defer done()
	resp, err := h.do(ctx, http.MethodPost, pathReject, nil, api.RejectRequest{ApprovalID: fs.Arg(0), Reason: *reason})
	if err != nil {
		return c.fail(fmt.Errorf("reject %s: %w", fs.Arg(0), err))
	}
	raw, err := h.readBody(ctx, resp)
	if err != nil {
		return c.fail(err)
	}
	if hf.json {
		c.printJSON(raw)
		return exitOK
	}
	var r api.RejectResponse
	if err := decode(raw, pathReject, &r); err != nil {
		return c.fail(err)
	}
	fmt.Fprintf(c.stdout, "rejected %s: %s %s\n", r.Approval.ID, r.Approval.Name, compactJSON(r.Approval.Arguments))
	return exitOK
}

// printResult prints a call's answer (api.CallResponse): the tool's text,
// or with asJSON the hub's JSON as is. A tool that reported an error
// (isError) exits exitToolError, its text printed all the same.
func (c *cli) printResult(raw []byte, asJSON bool) int {
	var r api.CallResponse
	if err := decode(raw, pathCall, &r); err != nil {
		return c.fail(err)
	}
	if asJSON {
		c.printJSON(raw)
	} else if r.Content != "" {
		fmt.Fprint(c.stdout, r.Content)
		if !strings.HasSuffix(r.Content, "\n") {
			fmt.Fprintln(c.stdout)
		}
	}
	if !r.Success {
		fmt.Fprintf(c.stderr, "mcphub: %s reported an error\n", r.Tool)
		return exitToolError
	}
	return exitOK
}

// printPending prints a call that waits for approval (api.PendingResponse)
// and how to decide it.
func (c *cli) printPending(raw []byte, asJSON bool) int {
	var p api.PendingResponse
	if err := decode(raw, pathCall, &p); err != nil {
		return c.fail(err)
	}
	if asJSON {
		c.printJSON(raw)
		return exitPending
	}
	d := p.Data
	fmt.Fprintf(c.stdout, "%s needs a person's approval; nothing ran yet.\n", d.Tool)
	fmt.Fprintf(c.stdout, "  approval id: %s\n  expires:     %s (%s)\n", d.ApprovalID, d.ExpiresAt.Local().Format(time.DateTime), relative(d.ExpiresAt, time.Now()))
	fmt.Fprintf(c.stdout, "Approve it:   mcphub approve %s\nReject it:    mcphub reject %s --reason '...'\n", d.ApprovalID, d.ApprovalID)
	return exitPending
}

// table writes aligned columns. Cells must be one line without tabs
// (oneLine makes them so).
type table struct{ tw *tabwriter.Writer }

const tablePadding = 2

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, tablePadding, ' ', 0)}
	t.row(headers...)
	return t
}

func (t *table) row(cells ...string) {
	for i, cell := range cells {
		if cell == "" {
			cell = "-"
		}
		if i > 0 {
			_, _ = io.WriteString(t.tw, "\t")
		}
		_, _ = io.WriteString(t.tw, cell)
	}
	_, _ = io.WriteString(t.tw, "\n")
}

func (c *cli) flush(t *table) int {
	if err := t.tw.Flush(); err != nil {
		return c.fail(fmt.Errorf("writing the table: %w", err))
	}
	return exitOK
}

// oneLine collapses every run of white space (newlines and tabs too) into
// one space, so a cell stays on its row.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// truncate cuts s to at most n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if n <= 0 || utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// compactJSON is raw on one line, for a table cell or a message.
func compactJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return oneLine(string(raw))
	}
	return buf.String()
}

// relative is t as a distance from now: "in 9m48s", "3m05s ago".
func relative(t, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	switch {
	case d == 0:
		return "now"
	case d > 0:
		return "in " + shortDuration(d)
	}
	return shortDuration(-d) + " ago"
}

// shortDuration is d to the second, at most two units: "48s", "9m48s",
// "2h05m", "3d4h".
func shortDuration(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 48*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	default:
		return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
	}
}
