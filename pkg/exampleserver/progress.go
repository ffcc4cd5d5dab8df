package exampleserver

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

const (
	defaultCount   = 5
	maxCount       = 100
	defaultDelayMS = 100
	maxDelayMS     = 60_000

	// sendRetryFor bounds how long one notification waits for room in the
	// session's queue before it is given up.
	sendRetryFor = 2 * time.Second
	// drainWait bounds how long the handler waits, before returning, for the
	// transport to take its queued notifications.
	drainWait = 2 * time.Second
)

// FlushNotification is a notification slow_count, register_tool and
// unregister_tool send over stdio and SSE after the notifications they cause,
// to learn when those have been written (see flushNotifications). It carries no params; clients ignore it
// as they ignore any notification they don't know.
const FlushNotification = "notifications/mcphub/flush"

// slowCount counts to count, one step per delay_ms, reporting progress.
//
// Progress value i means "i steps done", so each step waits first and
// reports after. On cancellation (notifications/cancelled, or the HTTP
// request going away) it returns ctx's error at once; the caller has stopped
// waiting for a result by then.
func (ex *example) slowCount(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	count := req.GetInt("count", defaultCount)
	delayMS := req.GetInt("delay_ms", defaultDelayMS)
	// Schema validation already enforces these; the checks keep the handler
	// safe when a test builds the server with validation off.
	if count < 0 || count > maxCount {
		return mcp.NewToolResultError(fmt.Sprintf("count must be between 0 and %d", maxCount)), nil
	}
	if delayMS < 0 || delayMS > maxDelayMS {
		return mcp.NewToolResultError(fmt.Sprintf("delay_ms must be between 0 and %d", maxDelayMS)), nil
	}
	var token mcp.ProgressToken
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	delay := time.Duration(delayMS) * time.Millisecond

	for i := 1; i <= count; i++ {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		if token == nil {
			continue
		}
		err := sendProgress(ctx, token, i, count, fmt.Sprintf("step %d of %d", i, count))
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			// The client asked for progress and we can't deliver it: say so
			// rather than pretend the count went fine.
			return mcp.NewToolResultError(fmt.Sprintf("progress notification %d of %d not sent: %v", i, count, err)), nil
		}
	}
	if token != nil && count > 0 {
		flushNotifications(ctx)
	}
	return mcp.NewToolResultText(fmt.Sprintf("counted to %d", count)), nil
}

// sendProgress sends one notifications/progress to the calling session.
func sendProgress(ctx context.Context, token mcp.ProgressToken, progress, total int, message string) error {
	return send(ctx, string(mcp.MethodNotificationProgress), map[string]any{
		"progressToken": token,
		"progress":      progress,
		"total":         total,
		"message":       message,
	})
}

// send sends a notification to the calling session.
//
// mcp-go's send never blocks: when the session's 100-slot queue is full it
// drops the notification and returns ErrNotificationChannelBlocked. A burst
// (count 100, delay 0) can outrun a slow reader, so a full queue is retried
// until there is room, ctx ends or sendRetryFor passes.
func send(ctx context.Context, method string, params map[string]any) error {
	srv := server.ServerFromContext(ctx)
	if srv == nil {
		return errors.New("no MCP server in context")
	}
	deadline := time.Now().Add(sendRetryFor)
	for {
		err := srv.SendNotificationToClient(ctx, method, params)
		if !errors.Is(err, server.ErrNotificationChannelBlocked) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
}

// flushNotifications returns once every notification queued for the calling
// session so far has been written to the client, so that all of them arrive
// before the tool's result: a gateway forwards progress only while the call
// is open, and a caller of register_tool can list tools as soon as it returns.
//
// mcp-go v1.2.1's stdio and SSE servers write notifications from one
// goroutine and responses from another, so a handler that returns right
// after its last notification often has it arrive after the result, or, with
// no delay between steps, most of them. Both writers take notifications off
// the session's queue one at a time, in order, so once a later notification
// (FlushNotification) has left the queue, everything before it has been
// written (stdio) or handed to the stream ahead of the response (SSE). The
// queue length can be read through the send-only channel mcp-go exposes.
//
// Streamable HTTP sessions are skipped: with the event store
// (NewStreamableHTTPServer) the POST handler drains the queue onto the
// request's stream before the response by itself.
func flushNotifications(ctx context.Context) {
	session := server.ClientSessionFromContext(ctx)
	if session == nil {
		return
	}
	if _, ok := session.(server.SessionWithStreamableHTTPConfig); ok {
		return
	}
	if send(ctx, FlushNotification, nil) != nil {
		return
	}
	queue := session.NotificationChannel()
	deadline := time.Now().Add(drainWait)
	for len(queue) > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(100 * time.Microsecond)
	}
}
