package mcpserver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/config"
	"github.com/mcphub/mcphub/pkg/exampleserver"
	"github.com/mcphub/mcphub/pkg/hub"
	"github.com/mcphub/mcphub/pkg/mcpserver"
)

// BenchmarkToolCall calls the example server's echo over Streamable HTTP,
// directly and through the hub's /mcp, all in one process: a profile of it
// (-cpuprofile) shows what /mcp adds to a call. cmd/mcphub-bench measures
// the same with real processes.
func BenchmarkToolCall(b *testing.B) {
	inner := exampleserver.NewStreamableHTTPServer(exampleserver.New())
	example := httptest.NewServer(inner)
	b.Cleanup(func() {
		_ = inner.Shutdown(context.Background())
		example.CloseClientConnections()
		example.Close()
	})

	srv := baseServer("example", config.TransportStreamableHTTP)
	srv.Endpoint = example.URL
	h, err := hub.New(hubConfig(srv), hub.Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	h.Start()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = h.Stop(ctx)
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := h.WaitFirstAttempt(ctx); err != nil {
		b.Fatal(err)
	}
	m := mcpserver.New(h, mcpserver.Options{Logger: quietLogger(), Version: "bench"})
	m.Start()
	front := httptest.NewServer(m)
	b.Cleanup(func() {
		front.CloseClientConnections()
		front.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = m.Stop(ctx)
	})

	// The same endpoints without the fast path: every call through mcp-go.
	slow := mcpserver.New(h, mcpserver.Options{Logger: quietLogger(), Version: "bench", NoFastPath: true})
	slow.Start()
	slowFront := httptest.NewServer(slow)
	b.Cleanup(func() {
		slowFront.CloseClientConnections()
		slowFront.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = slow.Stop(ctx)
	})

	for _, bc := range []struct{ name, url, tool string }{
		{"direct", example.URL, "echo"},
		{"hub", front.URL + "/mcp", "example__echo"},
		{"hub-no-fast-path", slowFront.URL + "/mcp", "example__echo"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			c := benchClient(b, bc.url)
			req := mcp.CallToolRequest{}
			req.Params.Name = bc.tool
			req.Params.Arguments = map[string]any{"message": "bench"}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				res, err := c.CallTool(context.Background(), req)
				if err != nil || res.IsError {
					b.Fatalf("%v %+v", err, res)
				}
			}
		})
	}
}

func benchClient(b *testing.B, url string) *client.Client {
	b.Helper()
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPLogger(quietLogger()),
		transport.WithHTTPBasicClient(&http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}))
	if err != nil {
		b.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20251125))
	b.Cleanup(func() { _ = c.Close() })
	if err := c.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Initialize(context.Background(), mcp.InitializeRequest{Params: mcp.InitializeParams{
		ProtocolVersion: mcp.ProtocolVersion20251125,
		ClientInfo:      mcp.Implementation{Name: "bench", Version: "0"},
	}}); err != nil {
		b.Fatal(err)
	}
	return c
}
