// Command fault-server runs pkg/faultserver: an MCP server that misbehaves
// on demand, over stdio (the default) or Streamable HTTP (--http ADDR, at
// /mcp). Its faults come from a control file (--control, or the
// FAULTSERVER_CONTROL environment variable), read whenever a fault could
// apply (stdio) or every 100 ms (HTTP); see faultserver.ParseSpec for what
// it holds, e.g. "hang" or "slow-start=3s".
//
// Over stdio, stdout is the protocol channel; the reasons for deliberate
// exits go to stderr (exit status 2: crash, 3: exit-on-start).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mcphub/mcphub/pkg/faultserver"
)

func main() {
	// A client that closes our pipes must not kill us mid-write with SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, faultserver.ErrCrashed), errors.Is(err, faultserver.ErrExitOnStart):
		os.Exit(faultserver.ExitCode(err)) // the reason is on stderr already
	default:
		fmt.Fprintln(os.Stderr, "fault-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fault-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	httpAddr := fs.String("http", "", "serve Streamable HTTP at /mcp on `ADDR` instead of stdio")
	control := fs.String("control", os.Getenv(faultserver.ControlEnv), "read the faults in force from `FILE` (default $"+faultserver.ControlEnv+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	faults := func() faultserver.Spec { return nil }
	if *control != "" {
		faults = faultserver.FileControl(*control, func(err error) { fmt.Fprintln(stderr, "fault-server:", err) })
	}
	if *httpAddr == "" {
		return faultserver.ServeStdio(ctx, stdin, stdout, faultserver.StdioOptions{Faults: faults, Stderr: stderr})
	}

	logger := slog.New(slog.NewTextHandler(stderr, nil))
	srv := faultserver.NewHTTP(faultserver.HTTPOptions{Logger: logger})
	if err := srv.Set(faults()); err != nil {
		return err
	}
	if err := srv.Listen(*httpAddr); err != nil {
		return err
	}
	logger.Info("serving MCP", "url", srv.URL(), "version", faultserver.Version)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return srv.Close()
		case <-t.C:
			if err := srv.Set(faults()); err != nil {
				logger.Warn("applying faults", "err", err)
			}
		}
	}
}
