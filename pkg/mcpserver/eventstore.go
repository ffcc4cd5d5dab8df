package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"github.com/mark3labs/mcp-go/server"
)

// eventStore is a server.EventStore that keeps the last maxEvents messages
// of each session. mcp-go needs an event store to deliver progress sent
// right before a handler returns (without one about half are lost), but its
// InMemoryEventStore keeps every message of a session until the session
// ends: on a hub that runs for months that is unbounded memory. A client
// resuming past the window gets ErrUnknownEventID, as for a purged session.
type eventStore struct {
	maxEvents int

	mu       sync.Mutex
	seq      int64
	sessions map[string]*sessionLog
}

// sessionLog is one session's recent messages, oldest first.
type sessionLog struct {
	events []storedEvent
}

type storedEvent struct {
	seq      int64
	streamID string
	message  json.RawMessage
}

var _ server.EventStore = (*eventStore)(nil)

func newEventStore(maxEvents int) *eventStore {
	return &eventStore{maxEvents: max(maxEvents, 1), sessions: map[string]*sessionLog{}}
}

func (s *eventStore) StoreEvent(_ context.Context, sessionID, streamID string, message json.RawMessage) (string, error) {
	msg := append(json.RawMessage(nil), message...) // the caller may reuse its buffer
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.sessions[sessionID]
	if log == nil {
		log = &sessionLog{}
		s.sessions[sessionID] = log
	}
	s.seq++
	if len(log.events) == s.maxEvents {
		log.events[0] = storedEvent{} // let the message go
		log.events = log.events[1:]
	}
	log.events = append(log.events, storedEvent{seq: s.seq, streamID: streamID, message: msg})
	return strconv.FormatInt(s.seq, 10), nil
}

func (s *eventStore) ReplayEventsAfter(_ context.Context, sessionID, lastEventID string, send func(eventID string, message json.RawMessage) error) (string, error) {
	seq, err := strconv.ParseInt(lastEventID, 10, 64)
	if err != nil {
		return "", fmt.Errorf("%w: %q", server.ErrUnknownEventID, lastEventID)
	}
	s.mu.Lock()
	log := s.sessions[sessionID]
	var streamID string
	var tail []storedEvent
	found := false
	if log != nil {
		for i, ev := range log.events {
			if ev.seq == seq {
				found, streamID = true, ev.streamID
				for _, next := range log.events[i+1:] {
					if next.streamID == streamID {
						tail = append(tail, next)
					}
				}
				break
			}
		}
	}
	s.mu.Unlock()
	if !found {
		return "", fmt.Errorf("%w: %s", server.ErrUnknownEventID, lastEventID)
	}
	for _, ev := range tail {
		if err := send(strconv.FormatInt(ev.seq, 10), ev.message); err != nil {
			return "", err
		}
	}
	return streamID, nil
}

func (s *eventStore) PurgeSession(_ context.Context, sessionID string) error {
	s.mu.Lock()
	delete(s.sessions, sessionID)
	s.mu.Unlock()
	return nil
}
