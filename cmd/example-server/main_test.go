package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"go.uber.org/goleak"

	"github.com/mcphub/mcphub/pkg/exampleserver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--version"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := exampleserver.Name + " " + exampleserver.Version + "\n"; out.String() != want {
		t.Errorf("--version printed %q, want %q", out.String(), want)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--http", "127.0.0.1:0", "--sse", "127.0.0.1:0"},
		{"--extra-tools", "-1"},
		{"--scale-tools", "-1"},
		{"--list-delay", "-1s"},
		{"--list-delay", "soon"},
		{"--page-size", "-2"},
		{"--log-level", "LOUD"},
		{"--nope"},
		{"stray"},
	} {
		if err := run(t.Context(), args, nil, io.Discard, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
	if err := run(t.Context(), []string{"--help"}, nil, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v", err)
	}
}

var urlRE = regexp.MustCompile(`url=(\S+)`)

// TestServeHTTP serves each HTTP transport on a free port, uses it, and checks
// that cancelling the context (what SIGTERM does) shuts down promptly even
// with a client's stream still open.
func TestServeHTTP(t *testing.T) {
	for _, tc := range []struct {
		flag    string
		connect func(url string) (transport.Interface, error)
	}{
		{"--http", func(url string) (transport.Interface, error) {
			// The GET stream stays open: shutdown must end it, not wait it out.
			return transport.NewStreamableHTTP(url, transport.WithContinuousListening(),
				transport.WithHTTPLogger(slog.New(slog.DiscardHandler)))
		}},
		{"--sse", func(url string) (transport.Interface, error) {
			return transport.NewSSE(url, transport.WithSSELogger(slog.New(slog.DiscardHandler)))
		}},
	} {
		t.Run(tc.flag, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			stderr := &lockedBuffer{}
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{tc.flag, "127.0.0.1:0", "--extra-tools", "3", "--page-size", "4"},
					nil, io.Discard, stderr)
			}()
			url := waitForURL(t, stderr, done)

			tr, err := tc.connect(url)
			if err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr, client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
			defer c.Close()
			cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer ccancel()
			if err := c.Start(cctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Initialize(cctx, mcp.InitializeRequest{}); err != nil {
				t.Fatal(err)
			}
			tools, err := c.ListTools(cctx, mcp.ListToolsRequest{})
			if err != nil || len(tools.Tools) != 11 {
				t.Fatalf("ListTools over pages of 4: %d tools, %v; want 8 built-in + 3 extra", len(tools.Tools), err)
			}
			res, err := c.CallTool(cctx, mcp.CallToolRequest{Params: mcp.CallToolParams{
				Name: "echo", Arguments: map[string]any{"message": "over " + tc.flag}}})
			if err != nil || len(res.Content) != 1 {
				t.Fatalf("echo: %+v, %v", res, err)
			}

			cancel()
			start := time.Now()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v\n%s", err, stderr)
				}
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("shutdown took %v", d)
				}
			case <-time.After(shutdownTimeout + 2*time.Second):
				t.Fatalf("run did not return after cancel\n%s", stderr)
			}
		})
	}
}

func waitForURL(t *testing.T, stderr *lockedBuffer, done <-chan error) string {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if m := urlRE.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before listening: %v\n%s", err, stderr)
		case <-deadline:
			t.Fatalf("no listening line in:\n%s", stderr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestServeStdio runs the stdio mode over pipes and checks that it returns
// nil once its stdin is closed, as a child of a gateway must.
func TestServeStdio(t *testing.T) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	stderr := &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		err := run(t.Context(), nil, stdinR, stdoutW, stderr)
		_ = stdoutW.Close() // unblocks the client's reader
		done <- err
	}()

	c := client.NewClient(transport.NewIO(stdoutR, stdinW, nil),
		client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
		t.Fatal(err)
	}
	res, err := c.CallTool(ctx, mcp.CallToolRequest{Params: mcp.CallToolParams{
		Name: "add", Arguments: map[string]any{"a": 40, "b": 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := mcp.AsTextContent(res.Content[0]); !ok || tc.Text != "42" {
		t.Errorf("add: %+v", res.Content)
	}
	if err := c.Close(); err != nil { // closes the server's stdin
		t.Errorf("close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after stdin closed")
	}
	if !strings.Contains(stderr.String(), "stdio closed") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// TestScaleFlags checks --scale-tools and --list-delay over stdio.
func TestScaleFlags(t *testing.T) {
	const delay = 50 * time.Millisecond
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(t.Context(), []string{"--scale-tools", "5", "--list-delay", delay.String()}, stdinR, stdoutW, io.Discard)
		_ = stdoutW.Close()
		done <- err
	}()
	c := client.NewClient(transport.NewIO(stdoutR, stdinW, nil),
		client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Initialize(ctx, mcp.InitializeRequest{}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range tools.Tools {
		names = append(names, x.Name)
	}
	if len(names) != 13 || !slices.Contains(names, "tool_001") || !slices.Contains(names, "tool_005") {
		t.Errorf("tools: %v; want 8 built-in + tool_001…tool_005", names)
	}
	if took < delay {
		t.Errorf("tools/list answered after %v, before the --list-delay of %v", took, delay)
	}
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not return after stdin closed")
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
