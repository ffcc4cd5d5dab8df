// Command example-server runs the mcphub example MCP server (see
// pkg/exampleserver) over stdio (the default), Streamable HTTP (--http) or
// legacy SSE (--sse).
//
// In stdio mode stdout is the protocol channel, so everything else, logs
// included, goes to stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/mcphub/mcphub/pkg/exampleserver"
)

const (
	// stdioWorkers replaces mcp-go's default of 5 concurrent tool calls over
	// stdio; a sixth slow_count would otherwise wait for a free worker.
	// mcp-go caps the pool at 100.
	stdioWorkers = 64
	// shutdownTimeout bounds a graceful HTTP shutdown; open streams are
	// closed by then.
	shutdownTimeout = 5 * time.Second
	// maxBodyBytes bounds one JSON-RPC message posted over HTTP.
	maxBodyBytes = 4 << 20
	// sessionIdleTTL reclaims Streamable HTTP sessions (and their stored
	// events) that clients abandoned without a DELETE.
	sessionIdleTTL = 30 * time.Minute
)

func main() {
	// A stdio client that closes our stderr pipe before we exit (mcp-go's
	// Close does) would otherwise kill us with SIGPIPE on the next log line;
	// ignored, the write just fails and we exit normally.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "example-server:", err)
		os.Exit(1)
	}
}

type options struct {
	httpAddr   string
	sseAddr    string
	extraTools int
	scaleTools int
	listDelay  time.Duration
	pageSize   int
	version    bool
	logLevel   slog.Level
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("example-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.httpAddr, "http", "", "serve Streamable HTTP at /mcp on `ADDR` (e.g. 127.0.0.1:8081) instead of stdio")
	fs.StringVar(&o.sseAddr, "sse", "", "serve legacy SSE (/sse and /message) on `ADDR` instead of stdio")
	fs.IntVar(&o.extraTools, "extra-tools", 0, "add `N` filler tools extra_0…extra_{N-1}")
	fs.IntVar(&o.scaleTools, "scale-tools", 0, "add `N` tools tool_001…, each with a small input schema (query, limit), for scale measurements")
	fs.DurationVar(&o.listDelay, "list-delay", 0, "wait `D` (e.g. 100ms) before answering each tools/list page, as a slow server would")
	fs.IntVar(&o.pageSize, "page-size", 0, "return at most `N` items per list page (0: no pagination)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log `level` (DEBUG, INFO, WARN, ERROR); logs go to stderr")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	case o.httpAddr != "" && o.sseAddr != "":
		return o, errors.New("--http and --sse are mutually exclusive")
	case o.extraTools < 0:
		return o, errors.New("--extra-tools must not be negative")
	case o.scaleTools < 0:
		return o, errors.New("--scale-tools must not be negative")
	case o.listDelay < 0:
		return o, errors.New("--list-delay must not be negative")
	case o.pageSize < 0:
		return o, errors.New("--page-size must not be negative")
	}
	return o, nil
}

// run is main without the process: tests call it with their own context and
// streams. It returns nil on a clean stop (stdin closed, or ctx cancelled).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.version {
		_, err := fmt.Fprintln(stdout, exampleserver.Name, exampleserver.Version)
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))

	s := exampleserver.New(
		exampleserver.WithTools(o.extraTools),
		exampleserver.WithScaleTools(o.scaleTools),
		exampleserver.WithListDelay(o.listDelay),
		exampleserver.WithPageSize(o.pageSize),
		exampleserver.WithLogger(logger),
	)
	switch {
	case o.httpAddr != "":
		return serveStreamableHTTP(ctx, s, o.httpAddr, logger)
	case o.sseAddr != "":
		return serveSSE(ctx, s, o.sseAddr, logger)
	default:
		return serveStdio(ctx, s, stdin, stdout, logger)
	}
}

func serveStdio(ctx context.Context, s *server.MCPServer, stdin io.Reader, stdout io.Writer, logger *slog.Logger) error {
	stdio := server.NewStdioServer(s)
	stdio.SetErrorLogger(slog.NewLogLogger(logger.Handler(), slog.LevelError))
	server.WithWorkerPoolSize(stdioWorkers)(stdio)
	logger.Info("serving MCP over stdio", "version", exampleserver.Version)
	// Listen, unlike server.ServeStdio, takes our context: ServeStdio hides
	// context.Background and installs its own signal handler.
	err := stdio.Listen(ctx, stdin, stdout)
	if err == nil || errors.Is(err, context.Canceled) {
		logger.Info("stdio closed, exiting")
		return nil
	}
	return err
}

func serveStreamableHTTP(ctx context.Context, s *server.MCPServer, addr string, logger *slog.Logger) error {
	mux := http.NewServeMux()
	srv := newHTTPServer(mux, logger)
	h := exampleserver.NewStreamableHTTPServer(s,
		server.WithStreamableHTTPLogger(logger),
		server.WithSessionIdleTTL(sessionIdleTTL),
		// Handing mcp-go our server lets its Shutdown close open GET streams
		// while ours drains, instead of waiting out the timeout on them.
		server.WithStreamableHTTPServer(srv),
	)
	mux.Handle("/mcp", h)
	return serveHTTP(ctx, srv, addr, "streamable-http", "/mcp", h.Shutdown, logger)
}

func serveSSE(ctx context.Context, s *server.MCPServer, addr string, logger *slog.Logger) error {
	srv := newHTTPServer(nil, logger)
	h := server.NewSSEServer(s, server.WithHTTPServer(srv))
	srv.Handler = h
	return serveHTTP(ctx, srv, addr, "sse", "/sse", h.Shutdown, logger)
}

// newHTTPServer sets timeouts that suit long-lived streams: no Read- or
// WriteTimeout, because net/http cancels a request's context when the
// connection's whole-request read deadline passes, which would cut every
// SSE stream and slow call at that age.
func newHTTPServer(h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// serveHTTP listens on addr and serves until ctx ends, then shuts down with
// shutdown (the MCP transport's, which also stops srv).
func serveHTTP(ctx context.Context, srv *http.Server, addr, transport, path string,
	shutdown func(context.Context) error, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv.Handler = http.MaxBytesHandler(srv.Handler, maxBodyBytes)
	// Logged after Listen so that --http 127.0.0.1:0 reveals the real port.
	logger.Info("serving MCP", "transport", transport, "addr", ln.Addr().String(),
		"url", "http://"+ln.Addr().String()+path, "version", exampleserver.Version)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return err // Serve never returns nil; it failed before any shutdown.
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shutdownErr := shutdown(sctx)
	if shutdownErr != nil {
		// Streams still open at the deadline: close them hard, and say so.
		_ = srv.Close()
		shutdownErr = fmt.Errorf("shutdown: %w", shutdownErr)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return errors.Join(err, shutdownErr)
	}
	return shutdownErr
}
