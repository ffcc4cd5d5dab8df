package events

import (
	"encoding/json"
	"strconv"
	"time"

	"github.com/r3labs/sse/v2"
)

// Type names a kind of hub event; it is the SSE `event:` field.
type Type string

const (
	ServerStatus     Type = "server_status"     // a server connected, disconnected, is in backoff (with error)
	ToolsChanged     Type = "tools_changed"     // per server
	ResourcesChanged Type = "resources_changed" // per server
	PromptsChanged   Type = "prompts_changed"   // per server
	Refresh          Type = "refresh"           // a refresh pass started or finished
	ApprovalPending  Type = "approval_pending"
	ApprovalDecided  Type = "approval_decided" // approved, rejected or expired
	ConfigReloaded   Type = "config_reloaded"
	ConfigError      Type = "config_error"

	// StreamStart is the first event of every HTTP stream; the Handler makes
	// it, it is never published on the Bus. Its ID is the stream's resume
	// position and its data is a StreamInfo.
	StreamStart Type = "stream_start"
)

// knownTypes are the names the Handler's `types` filter accepts.
var knownTypes = map[Type]bool{
	ServerStatus: true, ToolsChanged: true, ResourcesChanged: true, PromptsChanged: true,
	Refresh: true, ApprovalPending: true, ApprovalDecided: true,
	ConfigReloaded: true, ConfigError: true, StreamStart: true,
}

// Event is one hub event. ID increases by one per published event, starting at 1.
//
// Events published on a Bus share their Data with the encoded form kept for
// SSE clients: treat Data as read-only.
type Event struct {
	ID   uint64          `json:"id"`
	Type Type            `json:"type"`
	Time time.Time       `json:"time"`
	Data json.RawMessage `json:"data"`

	// wire is the event as r3labs writes it, built once by Publish and shared
	// (read-only) by every HTTP stream; nil for Events built elsewhere.
	wire *sse.Event
}

// StreamInfo is the data of the StreamStart event.
type StreamInfo struct {
	// Resumed is true if the client sent a Last-Event-ID; After is its value.
	Resumed bool   `json:"resumed"`
	After   uint64 `json:"after"`
	// LastID is the newest event ID when the stream started.
	LastID uint64 `json:"last_id"`
	// Missed counts events after After that were dropped from the history
	// before the client came back; they will not be sent.
	Missed uint64 `json:"missed"`
	// Reset is true if After is newer than any event: it came from an
	// earlier bus (the hub restarted and IDs began again at 1).
	Reset bool `json:"reset"`
	// Resync is true if Missed > 0 or Reset: the client must re-read the
	// state it tracks (servers, catalog, approvals) instead of relying on
	// the events that follow.
	Resync bool `json:"resync"`
	// Started is when the bus was created. IDs only compare within one
	// bus: a client that remembers Started and sees it change must resync
	// even when Reset could not tell (the new bus already has more events).
	Started time.Time `json:"started"`
}

// newEvent builds an event and its SSE encoding. data and typeJSON are
// already valid JSON (typeJSON is the quoted type), so the envelope is
// appended by hand: it is exactly what json.Marshal(Event) produces, without
// reflection, and it is built while the bus lock is held.
func newEvent(id uint64, t Type, typeJSON []byte, ts time.Time, data []byte) Event {
	line := make([]byte, 0, len(data)+len(typeJSON)+80)
	line = append(line, `{"id":`...)
	idStart := len(line)
	line = strconv.AppendUint(line, id, 10)
	idEnd := len(line)
	line = append(line, `,"type":`...)
	line = append(line, typeJSON...)
	line = append(line, `,"time":"`...)
	line = ts.AppendFormat(line, time.RFC3339Nano)
	line = append(line, `","data":`...)
	dataStart := len(line)
	line = append(line, data...)
	dataEnd := len(line)
	line = append(line, '}')
	return Event{
		ID:   id,
		Type: t,
		Time: ts,
		// Full slice expressions: an append by a reader cannot clobber the line.
		Data: line[dataStart:dataEnd:dataEnd],
		wire: &sse.Event{
			ID:    line[idStart:idEnd:idEnd],
			Event: []byte(t),
			Data:  line,
		},
	}
}

// sse returns the r3labs form of e, encoding it if Publish did not.
func (e Event) sse() (*sse.Event, error) {
	if e.wire != nil {
		return e.wire, nil
	}
	line, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	return &sse.Event{
		ID:    strconv.AppendUint(nil, e.ID, 10),
		Event: []byte(e.Type),
		Data:  line,
	}, nil
}
