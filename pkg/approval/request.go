package approval

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors of the store and of the checks callers make with it. Callers wrap
// or map them (the API answers 404, 410, 409, 429 and 409).
var (
	// ErrNotFound: no request has this id (never had, or it was
	// garbage-collected after its retention).
	ErrNotFound = errors.New("approval request not found")
	// ErrExpired: the request was not decided before its ExpiresAt.
	ErrExpired = errors.New("approval request expired")
	// ErrAlreadyDecided: the request was approved or rejected before; an
	// approval is single-use.
	ErrAlreadyDecided = errors.New("approval request already decided")
	// ErrFull: the store holds its maximum of pending requests.
	ErrFull = errors.New("too many pending approval requests")
	// ErrMismatch: the call presented differs from the pending one (another
	// tool or other arguments).
	ErrMismatch = errors.New("call does not match the pending approval request")
)

// IDPrefix starts every request id.
const IDPrefix = "appr_"

// idEncoding is lower-case base32 without padding: ids are case-stable in
// URLs and easy to read aloud.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns a new unguessable request id: IDPrefix and 160 random bits
// from crypto/rand in lower-case base32 (37 characters in all).
//
// crypto/rand.Read does not fail (since Go 1.24 it crashes the program if
// the system's source breaks), so neither does NewID.
func NewID() string {
	var b [20]byte
	_, _ = rand.Read(b[:])
	return IDPrefix + idEncoding.EncodeToString(b[:])
}

// Verdict is a person's decision on a request.
type Verdict string

const (
	Approved Verdict = "approved"
	Rejected Verdict = "rejected"
)

// State is where a request stands at some instant.
type State string

const (
	StatePending  State = "pending"
	StateApproved State = "approved"
	StateRejected State = "rejected"
	StateExpired  State = "expired"
)

// ParseState parses a state name, for a ?state= filter.
func ParseState(s string) (State, error) {
	switch st := State(strings.ToLower(strings.TrimSpace(s))); st {
	case StatePending, StateApproved, StateRejected, StateExpired:
		return st, nil
	}
	return "", fmt.Errorf("unknown approval state %q (want pending, approved, rejected or expired)", s)
}

// Request is one call waiting for, or past, a decision. It is a value: the
// store hands out copies, and Arguments must be treated as read-only.
type Request struct {
	ID string `json:"id"`
	// Server and Tool name the call: the tool's name on its server.
	Server string `json:"server"`
	Tool   string `json:"tool"`
	// Name is the tool's exported name when the call was made.
	Name string `json:"name"`
	// Arguments are the canonical arguments (see Digest): what runs once
	// approved, and what the approver sees.
	Arguments json.RawMessage `json:"arguments"`
	// Digest is the sha256 (hex) of Arguments.
	Digest string `json:"digest"`
	// Caller identifies who made the call; empty without authentication.
	Caller    string    `json:"caller,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is the first instant the request can no longer be decided.
	ExpiresAt time.Time `json:"expires_at"`
	// DecidedAt, Decision, DecidedBy and Reason are set once, by the decision.
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Decision  Verdict   `json:"decision,omitempty"`
	DecidedBy string    `json:"decided_by,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// State computes the request's state at now from its fields: a decision is
// final; an undecided request is expired from ExpiresAt on (a decision at
// exactly ExpiresAt is too late) and pending before.
func (r Request) State(now time.Time) State {
	switch r.Decision {
	case Approved:
		return StateApproved
	case Rejected:
		return StateRejected
	}
	if !now.Before(r.ExpiresAt) {
		return StateExpired
	}
	return StatePending
}

// Matches returns nil if the call (tool on server, with arguments of the
// given digest) is the one r waits for, else an error wrapping ErrMismatch
// that says what differs. It is the usual check for Store.Decide:
//
//	store.Decide(ctx, id, d, now, func(r Request) error { return r.Matches(server, tool, digest) })
func (r Request) Matches(server, tool, digest string) error {
	switch {
	case r.Server != server || r.Tool != tool:
		return fmt.Errorf("%w: request %s is for another tool", ErrMismatch, r.ID)
	case r.Digest != digest:
		return fmt.Errorf("%w: request %s is for other arguments", ErrMismatch, r.ID)
	}
	return nil
}

// Call is a tool call to be held for approval.
type Call struct {
	Server, Tool, Name string
	// Arguments as received; NewRequest canonicalizes them.
	Arguments json.RawMessage
	Caller    string
}

// NewRequest builds a pending request for c, created at now and expiring
// ttl later, with a new id and the canonical arguments and their digest.
// It fails if the arguments are not valid JSON (see Digest) or ttl is not
// positive.
func NewRequest(c Call, now time.Time, ttl time.Duration) (Request, error) {
	if ttl <= 0 {
		return Request{}, fmt.Errorf("approval: ttl must be positive, got %v", ttl)
	}
	canonical, digest, err := Digest(c.Arguments)
	if err != nil {
		return Request{}, err
	}
	return Request{
		ID:        NewID(),
		Server:    c.Server,
		Tool:      c.Tool,
		Name:      c.Name,
		Arguments: canonical,
		Digest:    digest,
		Caller:    c.Caller,
		CreatedAt: now,
		ExpiresAt: now.Add(ttl),
	}, nil
}

// Decision is what Store.Decide records.
type Decision struct {
	Verdict Verdict
	// By names who decided; may be empty.
	By     string
	Reason string
}
