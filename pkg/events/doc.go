// Package events is the hub's live event stream: an in-process Bus with a
// bounded history, and an HTTP handler that serves it as Server-Sent Events
// with Last-Event-ID replay.
//
// # The Bus
//
// Publish never blocks: it appends to a fixed-size ring (the replay history)
// and offers the event to every subscriber with a non-blocking send into the
// subscriber's own bounded channel, all under one short mutex so every
// subscriber sees events in ID order. A subscriber whose channel is full is
// not waited for: it is marked lagged and its channel is closed after the
// events already queued, so it ends with a contiguous prefix and can resume
// from the last ID it saw. A subscriber costs one small struct and one
// channel, and the Bus starts no goroutines.
//
// Events are encoded once, in Publish: the Event carries its SSE form (the
// one-line JSON envelope and an r3labs *sse.Event) so fan-out to N HTTP
// clients does no per-client encoding or allocation. Event.Data aliases that
// encoding and must not be modified.
//
// # The HTTP handler, and why it uses r3labs/sse this way
//
// The project serves SSE with github.com/r3labs/sse/v2 (v2.10.0). Used as
// documented (one Server, one Stream shared by every client, AutoReplay on) it
// has traps that break this package's requirements:
//
//   - A Stream fans out from one goroutine with a blocking send into each
//     subscriber's 64-slot channel, so one slow client stalls all of them, and
//     Server.Publish blocks once the stream buffer is full.
//   - With AutoReplay (the default) the EventLog grows without bound.
//   - ServeHTTP ignores write errors and sets no write deadline: a peer that
//     stops reading blocks its loop forever.
//   - A subscriber leaves by sending on the stream's unbuffered deregister
//     channel; if the stream's goroutine has already exited (RemoveStream,
//     Server.Close) that sender leaks forever.
//   - Events published before a subscriber registered are dropped.
//
// So each HTTP connection gets its own sse.Server with its own Stream
// (AutoReplay off, AutoStream off, buffer sized for the replay plus Buffer
// live events): nothing is shared between clients, so r3labs's blocking
// fan-out only ever waits for the one client it serves. Our Subscription
// feeds it: a pump goroutine moves replayed and live events into the stream
// with TryPublish, and if that fails the client is too slow, so the pump
// cancels the request context (the only safe way to end an r3labs
// subscriber); the client reconnects with Last-Event-ID and replays from the
// ring. The pump starts once r3labs calls WriteHeader(200), which it does
// synchronously after registering the subscriber, so no event is published
// into a stream with no subscriber (cheaper and race-free compared with the
// OnSubscribe callback, which runs in a goroutine). The ResponseWriter handed
// to r3labs arms a write deadline before each event's first write and clears
// it after the flush (HTTP/2 resets a stream whose deadline passes even while
// idle), and cancels the request on the first write error, so a stuck peer is
// cut off within WriteTimeout and the whole chain unwinds. The stream is
// removed only after ServeHTTP has returned, i.e. after the subscriber has
// deregistered. Comment heartbeats keep proxies from closing idle streams and
// surface dead peers.
//
// # Wire format and resuming
//
// Each event is sent as `id: <ID>`, `event: <Type>` and `data: <the Event as
// one line of JSON>`. The first event of every stream is a synthetic
// StreamStart event (never published on the Bus) whose data is a StreamInfo.
// Its id is the position the stream resumes from, so that a client that
// disconnects before any hub event still reconnects with a Last-Event-ID and
// misses nothing; its data says whether the client must re-read state because
// events it asked for are gone from the history (Missed) or belong to an
// earlier bus, i.e. the hub restarted (Reset, or a changed Started time).
//
// Without Last-Event-ID (or last_event_id) a stream carries only live events.
// With one, including 0, it first replays every event in the history with a
// larger ID.
package events
