package mcpserver_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// mcpClient is an initialized MCP client and everything it was notified of.
type mcpClient struct {
	*client.Client
	rec *recorder
	ids atomic.Int64 // for raw requests
}

type clientOpts struct {
	// listen opens the standalone GET stream, over which a client hears
	// notifications no request of its own carries (list_changed).
	listen bool
	// elicit, when set, makes the client declare elicitation and answer
	// with it.
	elicit client.ElicitationHandler
}

// connect opens a 2025-11-25 session to url. The client is closed when
// the test ends, before the endpoints stop (see newEnv).
func connect(t *testing.T, url string, o clientOpts) *mcpClient {
	t.Helper()
	c, err := dial(t, url, o)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	return c
}

func dial(t *testing.T, url string, o clientOpts) (*mcpClient, error) {
	t.Helper()
	topts := []transport.StreamableHTTPCOption{
		transport.WithHTTPLogger(quietLogger()),
		transport.WithHTTPBasicClient(ownHTTPClient(t)),
	}
	if o.listen {
		topts = append(topts, transport.WithContinuousListening())
	}
	tr, err := transport.NewStreamableHTTP(url, topts...)
	if err != nil {
		return nil, err
	}
	copts := []client.ClientOption{client.WithProtocolVersion(mcp.ProtocolVersion20251125)}
	if o.elicit != nil {
		copts = append(copts, client.WithElicitationHandler(o.elicit))
	}
	c := client.NewClient(tr, copts...)
	rec := newRecorder()
	c.OnNotification(rec.handle)
	// The connection's context is not the test's: t.Context ends before
	// cleanups run.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() {
		_ = c.Close()
		cancel()
	})
	if err := c.Start(ctx); err != nil {
		return nil, err
	}
	ictx, icancel := context.WithTimeout(ctx, waitTimeout)
	defer icancel()
	if _, err := c.Initialize(ictx, mcp.InitializeRequest{Params: mcp.InitializeParams{
		ProtocolVersion: mcp.ProtocolVersion20251125,
		ClientInfo:      mcp.Implementation{Name: "mcpserver-test", Version: "0"},
	}}); err != nil {
		return nil, err
	}
	mc := &mcpClient{Client: c, rec: rec}
	// See exampleserver's settle: mcp-go's Streamable HTTP server may drop
	// a notification sent while the goroutine that forwarded the POST of
	// notifications/initialized is still around. A request and a pause let
	// it go before a test counts notifications.
	if err := c.Ping(ictx); err != nil {
		return nil, err
	}
	time.Sleep(25 * time.Millisecond)
	return mc, nil
}

// ownHTTPClient gives a client its own connection pool, so that another
// test's httptest.Server.Close cannot break its requests.
func ownHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// call calls a tool and fails the test on a protocol error.
func (c *mcpClient) call(t *testing.T, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := c.tryCall(ctxFor(t), name, args, nil)
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return res
}

func (c *mcpClient) tryCall(ctx context.Context, name string, args any, meta *mcp.Meta) (*mcp.CallToolResult, error) {
	if args == nil {
		args = map[string]any{} // nil omits "arguments"
	}
	var req mcp.CallToolRequest
	req.Params.Name = name
	req.Params.Arguments = args
	req.Params.Meta = meta
	return c.CallTool(ctx, req)
}

// raw sends a request and returns its result exactly as the server sent it
// (the typed mcp.Tool drops parts of schemas).
func (c *mcpClient) raw(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	if params == nil {
		params = map[string]any{}
	}
	res, err := c.GetTransport().SendRequest(ctxFor(t), transport.JSONRPCRequest{
		JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(1_000_000 + c.ids.Add(1)), Method: method, Params: params,
	})
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	if res.Error != nil {
		t.Fatalf("%s: error %d %s", method, res.Error.Code, res.Error.Message)
	}
	return res.Result
}

// rawTools lists tools as sent, by name.
func (c *mcpClient) rawTools(t *testing.T) map[string]map[string]json.RawMessage {
	t.Helper()
	var page struct {
		Tools      []map[string]json.RawMessage `json:"tools"`
		NextCursor string                       `json:"nextCursor"`
	}
	if err := json.Unmarshal(c.raw(t, "tools/list", nil), &page); err != nil {
		t.Fatal(err)
	}
	if page.NextCursor != "" {
		t.Fatalf("tools/list is paginated; the test expects one page")
	}
	out := map[string]map[string]json.RawMessage{}
	for _, tool := range page.Tools {
		var name string
		_ = json.Unmarshal(tool["name"], &name)
		out[name] = tool
	}
	return out
}

// toolNames lists the tools' names, sorted.
func (c *mcpClient) toolNames(t *testing.T) []string {
	t.Helper()
	res, err := c.ListTools(ctxFor(t), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names
}

// textOf is a result's single text content.
func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if len(res.Content) != 1 {
		t.Fatalf("want one content item, got %d: %+v", len(res.Content), res.Content)
	}
	tc, ok := mcp.AsTextContent(res.Content[0])
	if !ok {
		t.Fatalf("content is %T, not text", res.Content[0])
	}
	return tc.Text
}

var approvalID = regexp.MustCompile(`appr_[a-z2-7]{32}`)

// pendingID checks that res is a tool error asking for approval and
// returns the approval request's id.
func pendingID(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	text := textOf(t, res)
	id := approvalID.FindString(text)
	if !res.IsError || id == "" {
		t.Fatalf("want a tool error naming an approval request, got isError=%v %q", res.IsError, text)
	}
	return id
}

// jsonEqual compares two JSON documents semantically.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// recorder keeps every notification a client receives. handle runs on the
// transport's reader goroutine, so it only appends and signals.
type recorder struct {
	mu     sync.Mutex
	got    []mcp.JSONRPCNotification
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) handle(n mcp.JSONRPCNotification) {
	r.mu.Lock()
	r.got = append(r.got, n)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) count(method string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, x := range r.got {
		if x.Method == method {
			n++
		}
	}
	return n
}

// progress returns the progress values reported for token, in arrival
// order.
func (r *recorder) progress(t *testing.T, token string) []int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var values []int
	for _, n := range r.got {
		if n.Method != string(mcp.MethodNotificationProgress) || n.Params.AdditionalFields["progressToken"] != token {
			continue
		}
		p, ok := n.Params.AdditionalFields["progress"].(float64)
		if !ok {
			t.Fatalf("progress is %T", n.Params.AdditionalFields["progress"])
		}
		values = append(values, int(p))
	}
	return values
}

// waitUntil polls cond whenever a notification arrives, up to timeout.
func (r *recorder) waitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			return cond()
		case <-r.signal:
		case <-tick.C:
		}
	}
	return true
}

// elicitFunc adapts a function to client.ElicitationHandler.
type elicitFunc func(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error)

func (f elicitFunc) Elicit(ctx context.Context, req mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
	return f(ctx, req)
}

// httpStatus sends a tools/list request with method to url, outside any
// session, and returns the status and the JSON body, which it requires.
func httpStatus(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxFor(t), method, url,
		strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := ownHTTPClient(t).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("%s %s: %d, body is not JSON: %v", method, url, resp.StatusCode, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q", method, url, ct)
	}
	return resp.StatusCode, body
}
