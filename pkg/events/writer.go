package events

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// deadlineWriter is the ResponseWriter handed to r3labs's ServeHTTP, which
// ignores write errors and never sets a deadline. It is used only by the
// ServeHTTP goroutine until ServeHTTP returns, then by the handler.
//
// r3labs writes each event as a few small Writes followed by one Flush. The
// deadline is armed by the event's first Write and cleared after its Flush,
// so a stuck peer fails the event within the timeout while an idle stream
// carries no deadline (HTTP/2 resets a stream whose deadline passes, even
// when nothing is being written). The first arm also replaces any
// connection deadline from http.Server.WriteTimeout, which would otherwise
// cut every stream after that long.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController // on the underlying writer, not on w: Flush would recurse
	timeout time.Duration
	fail    context.CancelCauseFunc // ends the request: the only safe way to stop r3labs

	// registered is closed when r3labs writes the 200 status, which it does
	// right after registering the subscriber with its stream: from then on
	// events published into the stream reach the client.
	registered chan struct{}
	status     int

	armed      bool
	noDeadline bool  // the writer cannot take deadlines; we write without one
	err        error // first write error; every later write fails with it
}

func newDeadlineWriter(w http.ResponseWriter, timeout time.Duration, fail context.CancelCauseFunc) *deadlineWriter {
	return &deadlineWriter{
		ResponseWriter: w,
		rc:             http.NewResponseController(w),
		timeout:        timeout,
		fail:           fail,
		registered:     make(chan struct{}),
	}
}

func (w *deadlineWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		if code == http.StatusOK {
			close(w.registered)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if err := w.arm(); err != nil {
		return 0, err
	}
	n, err := w.ResponseWriter.Write(p)
	if err != nil {
		w.setErr(err)
	}
	return n, err
}

// Flush implements http.Flusher, which r3labs requires.
func (w *deadlineWriter) Flush() {
	if w.err != nil || w.arm() != nil {
		return
	}
	if err := w.rc.Flush(); err != nil {
		w.setErr(err)
		return
	}
	w.disarm()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *deadlineWriter) arm() error {
	if w.armed || w.noDeadline {
		return nil
	}
	err := w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	switch {
	case errors.Is(err, http.ErrNotSupported):
		w.noDeadline = true
		return nil
	case err != nil:
		w.setErr(err)
		return err
	}
	w.armed = true
	return nil
}

func (w *deadlineWriter) disarm() {
	if !w.armed {
		return
	}
	w.armed = false
	if err := w.rc.SetWriteDeadline(time.Time{}); err != nil {
		w.setErr(err)
	}
}

func (w *deadlineWriter) setErr(err error) {
	if w.err == nil {
		w.err = err
		w.fail(fmt.Errorf("write to client: %w", err))
	}
}

// finish bounds what net/http writes after the handler returns (the end of
// the chunked body) and lifts any deadline our events left behind.
func (w *deadlineWriter) finish() {
	if w.err != nil || w.noDeadline {
		return
	}
	// An error here only means the connection is already gone.
	_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
}
