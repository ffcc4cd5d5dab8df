// Package serveuntil runs the small HTTP servers of the repository's
// reference commands (cmd/dep-floor, cmd/proxy-floor, the bench's mcp-proxy
// stand-in) until the process is told to stop.
package serveuntil

import (
	"context"
	"errors"
	"net/http"
	"os/signal"
	"syscall"
	"time"
)

// shutdownTimeout bounds the graceful shutdown once a signal came.
const shutdownTimeout = 5 * time.Second

// Signal serves srv until SIGINT or SIGTERM, then shuts it down
// gracefully. It returns the server's error if it could not serve, and nil
// after a clean shutdown.
func Signal(srv *http.Server) error { return SignalOr(srv, nil) }

// SignalOr is Signal that also stops when done is closed (nil: never), as
// when what srv serves has gone.
func SignalOr(srv *http.Server, done <-chan struct{}) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	case <-done:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) { // the serving goroutine has ended
		return err
	}
	return nil
}
