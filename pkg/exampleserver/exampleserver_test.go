package exampleserver_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.uber.org/goleak"

	"github.com/mcphub/mcphub/pkg/exampleserver"
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "exampleserver-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	// Checked only on success: a failed test may leave goroutines behind
	// on purpose (t.Fatal from a helper), and its own message matters more.
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var builtinTools = []string{
	exampleserver.ToolAdd, exampleserver.ToolCreateNote, exampleserver.ToolDeleteNote,
	exampleserver.ToolEcho, exampleserver.ToolFail, exampleserver.ToolRegisterTool,
	exampleserver.ToolSlowCount, exampleserver.ToolUnregisterTool,
}

func TestList(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		c := tc.serve(t, spec{})(t)
		ctx := callCtx(t)

		tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, tool := range tools.Tools {
			names = append(names, tool.Name)
			if tool.Description == "" {
				t.Errorf("tool %s has no description", tool.Name)
			}
			for p, schema := range tool.InputSchema.Properties {
				if m, _ := schema.(map[string]any); m["description"] == nil {
					t.Errorf("tool %s: parameter %s has no description", tool.Name, p)
				}
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, builtinTools) {
			t.Errorf("tools = %v, want %v", names, builtinTools)
		}
		echo := tools.Tools[slices.IndexFunc(tools.Tools, func(x mcp.Tool) bool { return x.Name == exampleserver.ToolEcho })]
		if !slices.Equal(echo.InputSchema.Required, []string{"message"}) {
			t.Errorf("echo required = %v", echo.InputSchema.Required)
		}
		del := tools.Tools[slices.IndexFunc(tools.Tools, func(x mcp.Tool) bool { return x.Name == exampleserver.ToolDeleteNote })]
		if h := del.Annotations.DestructiveHint; h == nil || !*h {
			t.Errorf("delete_note is not marked destructive: %+v", del.Annotations)
		}

		res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Resources) != 1 || res.Resources[0].URI != exampleserver.WelcomeURI || res.Resources[0].MIMEType != "text/plain" {
			t.Errorf("resources = %+v", res.Resources)
		}
		tmpl, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(tmpl.ResourceTemplates) != 1 || tmpl.ResourceTemplates[0].URITemplate.Raw() != exampleserver.NoteURITemplate {
			t.Errorf("templates = %+v", tmpl.ResourceTemplates)
		}
		prompts, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != exampleserver.PromptGreet ||
			len(prompts.Prompts[0].Arguments) != 1 || !prompts.Prompts[0].Arguments[0].Required {
			t.Errorf("prompts = %+v", prompts.Prompts)
		}
	})
}

func TestCallTools(t *testing.T) {
	// Ordered: the note cases depend on the ones before them.
	steps := []struct {
		name     string
		tool     string
		args     map[string]any
		want     string // exact text, or a substring when isError
		isError  bool
		wantJSON map[string]any // structuredContent, when set
	}{
		{name: "echo", tool: "echo", args: map[string]any{"message": "hello, hub"}, want: "hello, hub"},
		{name: "echo empty", tool: "echo", args: map[string]any{"message": ""}, want: ""},
		{name: "echo missing message", tool: "echo", want: "message", isError: true},
		{name: "add", tool: "add", args: map[string]any{"a": 2, "b": 3}, want: "5", wantJSON: map[string]any{"sum": 5.0}},
		{name: "add fractions", tool: "add", args: map[string]any{"a": 0.5, "b": -0.25}, want: "0.25", wantJSON: map[string]any{"sum": 0.25}},
		{name: "add string", tool: "add", args: map[string]any{"a": "2", "b": 3}, want: "a", isError: true},
		{name: "delete seeded note", tool: "delete_note", args: map[string]any{"id": "todo"}, want: "deleted note todo"},
		{name: "delete it again", tool: "delete_note", args: map[string]any{"id": "todo"}, want: `no note with id "todo"`, isError: true},
		{name: "delete unknown", tool: "delete_note", args: map[string]any{"id": "nope"}, want: "no note", isError: true},
		{name: "create note", tool: "create_note", args: map[string]any{"id": "todo", "text": "again"}, want: "created note todo"},
		{name: "delete created note", tool: "delete_note", args: map[string]any{"id": "todo"}, want: "deleted note todo"},
		{name: "fail", tool: "fail", args: map[string]any{"message": "boom"}, want: "boom", isError: true},
		{name: "fail default", tool: "fail", want: "failure requested", isError: true},
	}
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		c := tc.serve(t, spec{})(t)
		for _, st := range steps {
			res := call(t, c, st.tool, st.args)
			got := text(t, res)
			switch {
			case res.IsError != st.isError:
				t.Errorf("%s: isError = %v (%q)", st.name, res.IsError, got)
			case st.isError && !strings.Contains(got, st.want):
				t.Errorf("%s: error %q does not mention %q", st.name, got, st.want)
			case !st.isError && got != st.want:
				t.Errorf("%s: text = %q, want %q", st.name, got, st.want)
			}
			if st.wantJSON != nil && fmt.Sprint(res.StructuredContent) != fmt.Sprint(st.wantJSON) {
				t.Errorf("%s: structuredContent = %#v, want %#v", st.name, res.StructuredContent, st.wantJSON)
			}
		}
		if _, err := c.CallTool(callCtx(t), mcp.CallToolRequest{Params: mcp.CallToolParams{
			Name: "no_such_tool", Arguments: map[string]any{}}}); err == nil {
			t.Error("calling an unknown tool succeeded")
		}
	})
}

func TestResourcesAndPrompt(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		c := tc.serve(t, spec{})(t)
		read := func(uri string) (string, error) {
			res, err := c.ReadResource(callCtx(t), mcp.ReadResourceRequest{Params: mcp.ReadResourceParams{URI: uri}})
			if err != nil {
				return "", err
			}
			if len(res.Contents) != 1 {
				t.Fatalf("%s: %d contents", uri, len(res.Contents))
			}
			tc, ok := res.Contents[0].(mcp.TextResourceContents)
			if !ok || tc.MIMEType != "text/plain" || tc.URI != uri {
				t.Fatalf("%s: contents = %#v", uri, res.Contents[0])
			}
			return tc.Text, nil
		}
		for uri, want := range map[string]string{
			"note://welcome":  exampleserver.WelcomeText,
			"note://shopping": "Milk, eggs, coffee",
		} {
			if got, err := read(uri); err != nil || got != want {
				t.Errorf("read %s = %q, %v; want %q", uri, got, err, want)
			}
		}
		if _, err := read("note://nope"); err == nil {
			t.Error("reading an unknown note succeeded")
		}
		// The fixed resource survives deleting the note of the same name.
		call(t, c, "delete_note", map[string]any{"id": "welcome"})
		if got, err := read("note://welcome"); err != nil || got != exampleserver.WelcomeText {
			t.Errorf("note://welcome after delete = %q, %v", got, err)
		}

		p, err := c.GetPrompt(callCtx(t), mcp.GetPromptRequest{Params: mcp.GetPromptParams{
			Name: exampleserver.PromptGreet, Arguments: map[string]string{"name": "Ada"}}})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Messages) != 1 || p.Messages[0].Role != mcp.RoleUser {
			t.Fatalf("messages = %+v", p.Messages)
		}
		if tc, ok := mcp.AsTextContent(p.Messages[0].Content); !ok || tc.Text != "Say hello to Ada" {
			t.Errorf("message = %#v", p.Messages[0].Content)
		}
		if _, err := c.GetPrompt(callCtx(t), mcp.GetPromptRequest{Params: mcp.GetPromptParams{
			Name: exampleserver.PromptGreet}}); err == nil {
			t.Error("greet without a name succeeded")
		}
	})
}

// TestProgress checks the count, order and timing of progress: every step
// must have arrived by the time the call returns, since a gateway forwards
// progress only while the call is open.
func TestProgress(t *testing.T) {
	cases := []struct {
		name         string
		count, delay int
		rounds       int
	}{
		{name: "paced", count: 5, delay: 20, rounds: 1},
		{name: "no delay", count: 10, delay: 0, rounds: 10},
		{name: "burst of 100", count: 100, delay: 0, rounds: 3},
	}
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		c := tc.serve(t, spec{})(t)
		for _, pc := range cases {
			for round := range pc.rounds {
				token := fmt.Sprintf("%s-%d", pc.name, round)
				res := callMeta(t, c, "slow_count", map[string]any{"count": pc.count, "delay_ms": pc.delay},
					&mcp.Meta{ProgressToken: token})
				if got, want := text(t, res), fmt.Sprintf("counted to %d", pc.count); got != want {
					t.Fatalf("%s: result %q, want %q", token, got, want)
				}
				want := make([]int, pc.count)
				for i := range want {
					want[i] = i + 1
				}
				got := c.rec.progress(t, token)
				if tc.progressMayLag {
					// The GET stream's pump and the POST's forwarder drain the
					// session's one notification queue concurrently, so steps
					// are split across two streams: all arrive, in any order,
					// some after the result. Nothing server-side can route
					// them; see the package report.
					c.rec.waitUntil(waitTimeout, func() bool { return len(c.rec.progress(t, token)) >= pc.count })
					got = slices.Sorted(slices.Values(c.rec.progress(t, token)))
				}
				if !slices.Equal(got, want) {
					late := c.rec.waitUntil(time.Second, func() bool { return len(c.rec.progress(t, token)) >= pc.count })
					t.Errorf("%s: at return got %d progress notifications %v, want 1..%d (all there a second later: %v)",
						token, len(got), got, pc.count, late)
				}
			}
		}
		before := c.rec.count(string(mcp.MethodNotificationProgress))
		call(t, c, "slow_count", map[string]any{"count": 3, "delay_ms": 0})
		time.Sleep(50 * time.Millisecond)
		if after := c.rec.count(string(mcp.MethodNotificationProgress)); after != before {
			t.Errorf("a call without a progress token got %d progress notifications", after-before)
		}
	})
}

func TestListChanged(t *testing.T) {
	const listChanged = string(mcp.MethodNotificationToolsListChanged)
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		connect := tc.serve(t, spec{})
		c := connect(t)
		// Where the transport pushes, a second session watches: a gateway
		// hears of changes it did not cause. Otherwise the notification rides
		// on the response to the caller's own register_tool.
		watcher := c
		if tc.inProcess && tc.pushes {
			watcher = connect(t)
		}
		expectChanges := func(n int) {
			t.Helper()
			if watcher == c {
				// The caller's own notification precedes the result.
				if got := c.rec.count(listChanged); got != n {
					t.Fatalf("got %d tools/list_changed by the result, want %d", got, n)
				}
				return
			}
			if !watcher.rec.waitUntil(waitTimeout, func() bool { return watcher.rec.count(listChanged) >= n }) {
				t.Fatalf("got %d tools/list_changed, want %d", watcher.rec.count(listChanged), n)
			}
		}
		hasTool := func(name string) bool {
			tools, err := watcher.ListTools(callCtx(t), mcp.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(tools.Tools, func(x mcp.Tool) bool { return x.Name == name })
		}

		if got := text(t, call(t, c, "register_tool", map[string]any{"name": "dyn.tool"})); got != "registered tool dyn.tool" {
			t.Fatalf("register_tool: %q", got)
		}
		expectChanges(1)
		if !hasTool("dyn.tool") {
			t.Fatal("registered tool not listed")
		}
		if got := text(t, call(t, watcher, "dyn.tool", nil)); got != "dyn.tool" {
			t.Errorf("dyn.tool returned %q", got)
		}
		for _, name := range []string{"dyn.tool", "delete_note"} {
			if res := call(t, c, "register_tool", map[string]any{"name": name}); !res.IsError {
				t.Errorf("registering existing tool %s succeeded", name)
			}
		}
		if res := call(t, c, "unregister_tool", map[string]any{"name": "echo"}); !res.IsError {
			t.Error("unregistering a built-in tool succeeded")
		}
		if got := text(t, call(t, c, "unregister_tool", map[string]any{"name": "dyn.tool"})); got != "unregistered tool dyn.tool" {
			t.Fatalf("unregister_tool: %q", got)
		}
		expectChanges(2)
		if hasTool("dyn.tool") {
			t.Error("unregistered tool still listed")
		}
	})
}

func TestPagination(t *testing.T) {
	const extra, pageSize = 25, 10
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		c := tc.serve(t, spec{extraTools: extra, pageSize: pageSize})(t)
		var (
			names  []string
			cursor mcp.Cursor
			pages  int
		)
		for {
			var req mcp.ListToolsRequest
			req.Params.Cursor = cursor
			page, err := c.ListToolsByPage(callCtx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			if len(page.Tools) > pageSize {
				t.Fatalf("page %d has %d tools", pages, len(page.Tools))
			}
			for _, x := range page.Tools {
				names = append(names, x.Name)
			}
			if page.NextCursor == "" || pages > 10 {
				break
			}
			cursor = page.NextCursor
		}
		total := len(builtinTools) + extra
		if wantPages := (total + pageSize - 1) / pageSize; pages != wantPages {
			t.Errorf("%d pages, want %d", pages, wantPages)
		}
		slices.Sort(names)
		if len(slices.Compact(names)) != total || !slices.Contains(names, "extra_24") || !slices.Contains(names, "echo") {
			t.Errorf("paged through %d distinct tools, want %d: %v", len(names), total, names)
		}
		all, err := c.ListTools(callCtx(t), mcp.ListToolsRequest{})
		if err != nil || len(all.Tools) != total {
			t.Errorf("ListTools: %d tools, %v", len(all.Tools), err)
		}
		if got := text(t, call(t, c, "extra_7", nil)); got != "extra_7" {
			t.Errorf("extra_7 returned %q", got)
		}
	})
}

// TestCancel cancels a long slow_count and checks that the caller is released
// at once and that the server really stops counting.
func TestCancel(t *testing.T) {
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		if strings.HasPrefix(tc.name, "sse") {
			// mcp-go's SSE client sends no notifications/cancelled (only stdio
			// does), and its SSE server runs handlers on a context detached
			// from the POST: nothing can stop a call over SSE.
			t.Skip("mcp-go cannot cancel calls over legacy SSE")
		}
		// In process we can see the handler itself end.
		handlerDone := make(chan error, 1)
		observe := server.WithToolHandlerMiddleware(func(next server.ToolHandlerFunc) server.ToolHandlerFunc {
			return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				res, err := next(ctx, req)
				if req.Params.Name == "slow_count" {
					handlerDone <- err
				}
				return res, err
			}
		})
		c := tc.serve(t, spec{serverOpts: []server.ServerOption{observe}})(t)

		const token = "cancel-me"
		ctx, cancel := context.WithCancel(callCtx(t))
		errc := make(chan error, 1)
		go func() {
			var req mcp.CallToolRequest
			req.Params.Name = "slow_count"
			req.Params.Arguments = map[string]any{"count": 100, "delay_ms": 50}
			req.Params.Meta = &mcp.Meta{ProgressToken: token}
			_, err := c.CallTool(ctx, req)
			errc <- err
		}()
		if !c.rec.waitUntil(waitTimeout, func() bool { return len(c.rec.progress(t, token)) >= 2 }) {
			cancel()
			t.Fatal("no progress before cancelling")
		}
		cancel()
		cancelled := time.Now()
		select {
		case err := <-errc:
			if err == nil {
				t.Fatal("cancelled call succeeded")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("cancelled call did not return")
		}
		atCancel := len(c.rec.progress(t, token))

		if tc.inProcess {
			select {
			case err := <-handlerDone:
				if err == nil || !strings.Contains(err.Error(), "context canceled") {
					t.Errorf("handler ended with %v, want context canceled", err)
				}
				if d := time.Since(cancelled); d > time.Second {
					t.Errorf("handler ended %v after cancel", d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("handler still running 2s after cancel")
			}
		} else {
			// Over stdio progress arrives without a POST to carry it, so a
			// handler that kept counting would keep reporting.
			time.Sleep(500 * time.Millisecond) // ten steps' worth
			if n := len(c.rec.progress(t, token)); n > atCancel+1 {
				t.Errorf("progress went on after cancel: %d then %d", atCancel, n)
			}
		}
		// The connection survives a cancelled call.
		if got := text(t, call(t, c, "echo", map[string]any{"message": "still here"})); got != "still here" {
			t.Errorf("echo after cancel: %q", got)
		}
	})
}

// TestConcurrentCalls runs more slow calls at once than mcp-go's default stdio
// worker pool (5) and checks that they all run at the same time, and that
// every call's progress reaches its own token.
//
// "At the same time" is judged by order, not by the clock, so a loaded
// machine doesn't fail it: every call reports step 1 after one delay and
// returns after two, so if all calls are running, each has reported step 1
// before any returns. With five workers the sixth call would not even have
// started when the first returned.
func TestConcurrentCalls(t *testing.T) {
	const calls, count, delay = 30, 2, 1000
	forEachTransport(t, func(t *testing.T, tc transportCase) {
		c := tc.serve(t, spec{})(t)
		token := func(i int) string { return fmt.Sprintf("concurrent-%d", i) }
		started := func() int {
			n := 0
			for i := range calls {
				if len(c.rec.progress(t, token(i))) > 0 {
					n++
				}
			}
			return n
		}
		var (
			wg             sync.WaitGroup
			mu             sync.Mutex
			startedAtFirst = calls // fewest calls seen started when one returned
		)
		for i := range calls {
			wg.Go(func() {
				res := callMeta(t, c, "slow_count", map[string]any{"count": count, "delay_ms": delay},
					&mcp.Meta{ProgressToken: token(i)})
				n := started()
				mu.Lock()
				startedAtFirst = min(startedAtFirst, n)
				mu.Unlock()
				if res.IsError {
					t.Errorf("call %d: %s", i, text(t, res))
				}
			})
		}
		wg.Wait()
		if startedAtFirst < calls {
			t.Errorf("only %d of %d calls had started when one finished: they did not all run at once",
				startedAtFirst, calls)
		}
		for i := range calls {
			// A Streamable HTTP session has one notification queue that all
			// its POST streams drain, so one call's progress may ride on
			// another call's stream: it can arrive late and out of order.
			ok := c.rec.waitUntil(waitTimeout, func() bool { return len(c.rec.progress(t, token(i))) >= count })
			got := c.rec.progress(t, token(i))
			if strings.HasPrefix(tc.name, "streamable-http") {
				slices.Sort(got)
			}
			if !ok || !slices.Equal(got, []int{1, 2}) {
				t.Errorf("%s: progress %v", token(i), got)
			}
		}
	})
}
