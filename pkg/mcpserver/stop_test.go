package mcpserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/mcpserver"
)

func stopSrv(t *testing.T, srv *mcpserver.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop took %s", d)
	}
}

func TestStop(t *testing.T) {
	web := newHTTPExample(t)
	cfg := hubConfig(stdioExample("example"), httpServer("web", web.URL))
	cfg.Groups = []config.Group{{Name: "g", Servers: []string{"web"}}}
	e := newEnv(t, cfg)
	// Open sessions, one with a GET stream, must not hold Stop up.
	listening := connect(t, e.url("/mcp"), clientOpts{listen: true})
	plain := connect(t, e.url("/mcp/group/g"), clientOpts{})

	stopSrv(t, e.srv)
	for _, path := range []string{"/mcp", "/mcp/server/web", "/mcp/group/g", "/mcp/server/nope"} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			code, body := httpStatus(t, method, e.url(path))
			if code != http.StatusServiceUnavailable || body["error"] == nil || body["success"] != false {
				t.Errorf("%s %s after Stop: %d %v, want 503 with an error", method, path, code, body)
			}
		}
	}
	for _, c := range []*mcpClient{listening, plain} {
		if _, err := c.ListTools(ctxFor(t), mcp.ListToolsRequest{}); err == nil {
			t.Error("a session still answers after Stop")
		}
	}
	if _, err := dial(t, e.url("/mcp"), clientOpts{}); err == nil {
		t.Error("a new session was initialized after Stop")
	}
	// Idempotent, also with an ended context.
	stopSrv(t, e.srv)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.srv.Stop(ctx); err != nil {
		t.Errorf("third Stop with an ended context: %v", err)
	}
	// The hub goes on (Stop is the endpoints', not the hub's).
	if _, err := e.hub.Call(ctxFor(t), hub.CallRequest{Name: "example__echo", Arguments: []byte(`{"message":"x"}`)}); err != nil {
		t.Errorf("hub call after the endpoints stopped: %v", err)
	}
	// Changes after Stop do not bring endpoints back.
	reload(t, e, hubConfig(stdioExample("example")))
	time.Sleep(50 * time.Millisecond)
	if code, _ := httpStatus(t, http.MethodPost, e.url("/mcp")); code != http.StatusServiceUnavailable {
		t.Errorf("/mcp after a reload that followed Stop: %d", code)
	}
}

// TestStopWithoutStart: New alone starts nothing; Stop still works, and
// the endpoints it built answer until then.
func TestStopWithoutStart(t *testing.T) {
	h, err := hub.New(hubConfig(stdioExample("example")), hub.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
	}()
	srv := mcpserver.New(h, mcpserver.Options{Logger: quietLogger()})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	if code, body := httpStatus(t, http.MethodPost, ts.URL+"/mcp/server/nope"); code != http.StatusNotFound {
		t.Errorf("unknown endpoint before Start: %d %v", code, body)
	}
	c := connect(t, ts.URL+"/mcp/server/example", clientOpts{})
	if names := c.toolNames(t); len(names) != 0 {
		t.Errorf("tools of a hub that never started: %v", names)
	}
	_ = c.Close()
	stopSrv(t, srv)
	stopSrv(t, srv)
}

// TestStopEndsElicitationWaits: a gated call waiting for the person at
// the client to answer an elicitation can wait for minutes, like a REST
// call waiting for an approval (which hub.Drain ends). Stop must end it,
// or the HTTP server's Shutdown waits for it until its deadline.
func TestStopEndsElicitationWaits(t *testing.T) {
	e, ex := gatedEnv(t)
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	never := elicitFunc(func(ctx context.Context, _ mcp.ElicitationRequest) (*mcp.ElicitationResult, error) {
		asked <- struct{}{}
		select { // a person who does not answer
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			return nil, context.Canceled
		}
	})
	c := connect(t, e.url("/mcp"), clientOpts{elicit: never})
	done := make(chan *mcp.CallToolResult, 1)
	go func() {
		res, _ := c.tryCall(context.Background(), "example__delete_note", map[string]any{"id": "todo"}, nil)
		done <- res
	}()
	select {
	case <-asked:
	case <-time.After(waitTimeout):
		t.Fatal("the client was never asked")
	}
	stopSrv(t, e.srv)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("a call waiting for an elicitation answer is still open 5s after Stop")
	}
	if n := ex.callsOf("delete_note"); n != 0 {
		t.Errorf("delete_note ran %d times without an answer", n)
	}
}
