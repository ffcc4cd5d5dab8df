// Package hub is mcphub's core service: it owns the downstream connections,
// the catalog of everything they offer, the refresh loop and config reloads,
// and routes calls to the right server.
package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcphub/mcphub/pkg/downstream"
)

// The kinds of failure callers branch on. The REST layer maps each to one
// HTTP status in one place.
var (
	ErrInvalidInput = errors.New("invalid input")
	ErrNotFound     = errors.New("not found")
	ErrUnavailable  = errors.New("server unavailable")
	ErrProtocol     = errors.New("downstream protocol error")
	ErrTimeout      = errors.New("timed out")
	ErrStopped      = errors.New("hub stopped")

	// ErrApprovalPending: the call waits for a person (see PendingError).
	ErrApprovalPending = errors.New("approval pending")
	// ErrConflict: an approval for another call, or one already decided.
	ErrConflict = errors.New("conflict")
	// ErrExpired: the approval request expired without a decision.
	ErrExpired = errors.New("approval expired")
	// ErrRejected: a person rejected the call.
	ErrRejected = errors.New("approval rejected")
	// ErrTooManyPending: the approval store is full.
	ErrTooManyPending = errors.New("too many pending approvals")
)

// wrapDownstream gives a downstream error one of the hub's kinds, keeping
// the original text and chain.
func wrapDownstream(server string, err error) error {
	var rpcErr *downstream.RPCError
	switch {
	case errors.As(err, &rpcErr) && rpcErr.Code == downstream.CodeInvalidParams:
		return fmt.Errorf("%w: server %s: %w", ErrInvalidInput, server, err)
	case errors.As(err, &rpcErr), errors.Is(err, downstream.ErrProtocol):
		return fmt.Errorf("%w: server %s: %w", ErrProtocol, server, err)
	case errors.Is(err, downstream.ErrTimeout):
		return fmt.Errorf("%w: server %s: %w", ErrTimeout, server, err)
	case errors.Is(err, downstream.ErrNotConnected), errors.Is(err, downstream.ErrStopped):
		return fmt.Errorf("%w: server %s: %w", ErrUnavailable, server, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	default:
		return fmt.Errorf("server %s: %w", server, err)
	}
}
