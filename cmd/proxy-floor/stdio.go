package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"time"

	"github.com/mcphub/mcphub/internal/httpbody"
	"github.com/mcphub/mcphub/internal/linerpc"
	"github.com/mcphub/mcphub/internal/rawjson"
	"github.com/mcphub/mcphub/internal/serveuntil"
)

// answerTimeout bounds a request's wait for its answer (and its write),
// so that no request waits forever on a server that never answers it.
const answerTimeout = 30 * time.Second

// stdioFloor is the reference for a REST call to a stdio server: each
// POSTed JSON-RPC message is written as one line to one child's stdin, and
// the answer line with the same id is sent back, as the hub multiplexes its
// calls on one child. It checks that each message is one JSON object and
// reads its id and whether it has a method (linerpc.Head); it decodes
// nothing.
type stdioFloor struct {
	pipe    *linerpc.Pipe
	timeout time.Duration // answerTimeout but in tests
}

func (f stdioFloor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST a JSON-RPC message", http.StatusMethodNotAllowed)
		return
	}
	// Read as the hub reads a request body: one allocation of the announced length.
	body, err := httpbody.Read(http.MaxBytesReader(w, r.Body, linerpc.MaxLine), r.ContentLength)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case !json.Valid(body) || rawjson.FirstByte(body) != '{':
		// A batch has no one id to match its answers by.
		http.Error(w, "not a JSON-RPC message: want one JSON object", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), f.timeout)
	defer cancel()
	id, hasMethod := linerpc.Head(body)
	if !hasMethod || id == nil { // a notification, or an answer to the server: nothing comes back
		if err := f.pipe.Send(ctx, body); err != nil {
			http.Error(w, err.Error(), sendStatus(err))
			return
		}
		w.WriteHeader(http.StatusAccepted)
		return
	}
	answer, err := f.pipe.Call(ctx, id, body)
	switch {
	case err == nil:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(answer)
	case r.Context().Err() != nil: // the client has gone
	case errors.Is(err, linerpc.ErrInFlight):
		http.Error(w, err.Error(), http.StatusConflict)
	case errors.Is(err, context.DeadlineExceeded):
		http.Error(w, fmt.Sprintf("no answer within %v", f.timeout), http.StatusGatewayTimeout)
	default:
		http.Error(w, err.Error(), sendStatus(err))
	}
}

// sendStatus is the status of a message linerpc could not send.
func sendStatus(err error) int {
	switch {
	case errors.Is(err, linerpc.ErrNotOneLine): // stdio frames messages by newlines
		return http.StatusBadRequest
	case errors.Is(err, os.ErrDeadlineExceeded): // the child does not read its stdin
		return http.StatusGatewayTimeout
	}
	return http.StatusBadGateway
}

// errServerEnded is proxy-floor stopping because no more answers can
// come from its stdio server.
var errServerEnded = errors.New("the stdio server's answers ended")

// runStdio starts argv as the stdio server and serves it on listen until
// SIGINT or SIGTERM, or until no more answers can come from it (its output
// ended, or it wrote a line over linerpc.MaxLine); then it stops and reaps
// the child.
func runStdio(listen string, argv []string) error {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = os.Stderr
	pipe, err := linerpc.Start(cmd)
	if err != nil {
		return fmt.Errorf("starting the stdio server: %w", err)
	}
	err = serveuntil.SignalOr(server(listen, stdioFloor{pipe, answerTimeout}), pipe.Ended())
	select {
	case <-pipe.Ended():
		if cause := pipe.Err(); cause != nil {
			err = errors.Join(err, fmt.Errorf("%w: %w", errServerEnded, cause))
		} else {
			err = errors.Join(err, errServerEnded)
		}
	default:
	}
	return errors.Join(err, pipe.Close(5*time.Second))
}
