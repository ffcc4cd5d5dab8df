package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcphub/mcphub/pkg/app"
	"github.com/mcphub/mcphub/pkg/config"
)

// benchConcurrency is the number of concurrent clients of the parallel
// sub-benchmarks, each with its own MCP session (or, for REST, its own
// goroutine on one keep-alive client).
const benchConcurrency = 16

// BenchmarkMCPCall measures one tools/call of the example server's echo,
// served over Streamable HTTP by a real ./bin/example-server process, three
// ways in one run:
//
//   - direct: an mcp-go client talking to the example server;
//   - mcp: an mcp-go client talking to the hub's /mcp (example__echo);
//   - rest: POST /mcp_hub/call on a keep-alive http.Client.
//
// Each is measured with one client calling in a loop (seq) and with
// benchConcurrency clients calling at once (c16). MCP clients pin protocol
// 2025-11-25. ns/op is wall time per call, so c16 shows throughput.
//
//	go test -run '^$' -bench BenchmarkMCPCall -benchtime 2000x ./test/e2e/
func BenchmarkMCPCall(b *testing.B) {
	bins := buildRepo(b)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	exampleURL := "http://" + addr + "/mcp"
	p := startProc(b, "", nil, bins.example, "--http", addr, "--log-level", "WARN")
	waitHTTP(b, exampleURL, p)

	h := startBenchHub(b, fmt.Sprintf(`
servers:
  - name: example
    endpoint: %q
    timeout: 30
`, exampleURL))
	h.waitReady("example", 20*time.Second)

	const message = "bench"
	mcpCall := func(url, tool string) func(b *testing.B) func(ctx context.Context) error {
		return func(b *testing.B) func(ctx context.Context) error {
			c := newBenchClient(b, url)
			req := mcp.CallToolRequest{}
			req.Params.Name = tool
			req.Params.Arguments = map[string]any{"message": message}
			return func(ctx context.Context) error {
				res, err := c.CallTool(ctx, req)
				if err != nil {
					return err
				}
				if res.IsError || len(res.Content) != 1 {
					return fmt.Errorf("%s: unexpected result %+v", tool, res)
				}
				if tc, ok := res.Content[0].(mcp.TextContent); !ok || tc.Text != message {
					return fmt.Errorf("%s: unexpected content %+v", tool, res.Content)
				}
				return nil
			}
		}
	}
	// One keep-alive client for every REST caller, with enough idle
	// connections that concurrent callers reuse theirs.
	restClient := &http.Client{
		Transport: &http.Transport{MaxIdleConns: 2 * benchConcurrency, MaxIdleConnsPerHost: 2 * benchConcurrency},
		Timeout:   30 * time.Second,
	}
	b.Cleanup(restClient.CloseIdleConnections)
	restBody, _ := json.Marshal(map[string]any{
		"id": "call_bench", "type": "function",
		"function": map[string]any{"name": "example__echo", "arguments": map[string]any{"message": message}},
	})
	restCall := func(b *testing.B) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/mcp_hub/call", bytes.NewReader(restBody))
			if err != nil {
				return err
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := restClient.Do(req)
			if err != nil {
				return err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"success":true`)) || !bytes.Contains(body, []byte(`"content":"`+message+`"`)) {
				return fmt.Errorf("POST /mcp_hub/call: %d %s", resp.StatusCode, body)
			}
			return nil
		}
	}

	for _, kind := range []struct {
		name string
		// caller makes a new caller: its own session for MCP, a shared
		// keep-alive client for REST. Made before timing starts.
		caller func(b *testing.B) func(ctx context.Context) error
	}{
		{"direct", mcpCall(exampleURL, "echo")},
		{"mcp", mcpCall(h.base+"/mcp", "example__echo")},
		{"rest", restCall},
	} {
		b.Run(kind.name, func(b *testing.B) {
			callers := make([]func(ctx context.Context) error, benchConcurrency)
			for i := range callers {
				callers[i] = kind.caller(b)
				if err := callers[i](b.Context()); err != nil { // warm up
					b.Fatal(err)
				}
			}
			b.Run("seq", func(b *testing.B) {
				ctx := b.Context()
				call := callers[0]
				b.ResetTimer()
				for range b.N {
					if err := call(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("c%d", benchConcurrency), func(b *testing.B) {
				ctx := b.Context()
				errs := make([]error, len(callers))
				var wg sync.WaitGroup
				b.ResetTimer()
				for i, call := range callers {
					n := b.N / len(callers)
					if i < b.N%len(callers) {
						n++
					}
					wg.Go(func() {
						for range n {
							if err := call(ctx); err != nil {
								errs[i] = err
								return
							}
						}
					})
				}
				wg.Wait()
				b.StopTimer()
				if err := errors.Join(errs...); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// newBenchClient is an initialized mcp-go Streamable HTTP client pinned to
// protocol 2025-11-25, with its own HTTP transport, closed when b ends.
func newBenchClient(b *testing.B, url string) *client.Client {
	b.Helper()
	hc := &http.Client{Transport: &http.Transport{}}
	tr, err := transport.NewStreamableHTTP(url, transport.WithHTTPBasicClient(hc))
	if err != nil {
		b.Fatal(err)
	}
	c := client.NewClient(tr, client.WithProtocolVersion(mcp.ProtocolVersion20251125))
	b.Cleanup(func() {
		_ = c.Close()
		hc.CloseIdleConnections()
	})
	if err := c.Start(context.Background()); err != nil {
		b.Fatalf("client start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.ProtocolVersion20251125
	req.Params.ClientInfo = mcp.Implementation{Name: "mcphub-bench", Version: "0"}
	if _, err := c.Initialize(ctx, req); err != nil {
		b.Fatalf("initialize %s: %v", url, err)
	}
	return c
}

// startBenchHub is startHub with the hub logging at INFO: startHub's DEBUG
// access log of every request would be part of what mcp and rest measure.
func startBenchHub(b *testing.B, cfgYAML string) *hubUnderTest {
	b.Helper()
	path := filepath.Join(b.TempDir(), "mcp_servers.yaml")
	if err := os.WriteFile(path, []byte(cfgYAML), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load([]string{path})
	if err != nil {
		b.Fatalf("config.Load: %v", err)
	}
	logs := &syncBuffer{}
	dumpOnFailure(b, "hub log", logs)
	a, err := app.New(cfg, app.Options{
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Listen: "127.0.0.1:0",
	})
	if err != nil {
		b.Fatalf("app.New: %v", err)
	}
	if err := a.Start(); err != nil {
		b.Fatalf("app.Start: %v", err)
	}
	h := &hubUnderTest{
		t: b, app: a, base: "http://" + a.Addr(), logs: logs, cfgFile: path,
		client: &http.Client{Transport: &http.Transport{}, Timeout: 60 * time.Second},
	}
	b.Cleanup(func() {
		h.client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			b.Errorf("app.Stop: %v", err)
		}
	})
	return h
}
