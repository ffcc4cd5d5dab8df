package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/mcphub/mcphub/internal/linerpc"
)

// pipeScenario is n callers of the example server over stdio with the
// JSON-RPC written out by hand: one child, each call a line on its stdin,
// the answers matched by id from its stdout by one reader (linerpc). It is
// the direct stdio call without mcp-go's client (its envelope types, and a
// goroutine and a channel per request), as direct-post is for HTTP: a
// baseline that does not count a client's cost for the hub.
func pipeScenario(ctx context.Context, t *target, n int) ([]caller, []func(), error) {
	cmd, out := t.procs.Command(t.bins.example, exampleArgs...)
	cmd.Stdout = nil // linerpc's pipe
	pipe, err := linerpc.Start(cmd)
	if err != nil {
		return nil, nil, fmt.Errorf("starting the example server over stdio: %w", err)
	}
	p := t.procs.Adopt("example-server (direct pipe)", cmd, out)
	closeFn := func() {
		_ = pipe.Close(5 * time.Second) // the example server ends at EOF
		t.procs.Forget(p)
	}

	hctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := pipeCall(hctx, pipe, 0, []byte(initializeRequest), negotiated); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("example server over a pipe: initialize: %w; its output:\n%s", err, out.String())
	}
	if err := pipe.Send(hctx, []byte(initializedNotification)); err != nil {
		closeFn()
		return nil, nil, fmt.Errorf("example server over a pipe: notifications/initialized: %w", err)
	}
	var ids atomic.Int64
	call := func(ctx context.Context) error {
		id := ids.Add(1)
		return pipeCall(ctx, pipe, id, echoCall(id), echoed)
	}
	return same(call, n), []func(){closeFn}, nil
}

// pipeCall sends line, a request with id, and wants its answer to hold
// want.
func pipeCall(ctx context.Context, pipe *linerpc.Pipe, id int64, line []byte, want string) error {
	answer, err := pipe.Call(ctx, strconv.AppendInt(nil, id, 10), line)
	if err != nil {
		return err
	}
	if !bytes.Contains(answer, []byte(want)) {
		return fmt.Errorf("answer %.500s", answer)
	}
	return nil
}
