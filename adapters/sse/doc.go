// Package sse serves rxstream streams as Server-Sent Events on echo routes,
// and reads them back with a Go client.
//
// A [Server] makes the handlers: [Server.Stream] for a per-request rxgo
// producer, [Server.Topic] for a hub topic, [Server.Topics] for several
// hub topics on one stream. All resume from the client's cursor (the
// Last-Event-ID header, or the lastEventId or cursor query parameter), coalesce
// queued events into one write and one flush, send heartbeat comments, put a
// deadline on every write, and end cleanly when the client leaves, the
// stream ends, or [Server.Close] runs at shutdown.
//
// On the wire, a gap notice is an event named "gap" whose data is the
// [framework.Gap] as JSON ({"last": ..., "next": ...}); a producer error is
// an event named "error" whose data is the message, after which the
// response ends. Hub topics carry UTF-8 text only; SSE cannot carry other
// bytes, so a per-request producer that emits them ends with an error event.
//
// Files:
//
//   - server.go: [Server], its [Options], the handlers.
//   - client.go: [Client], reconnecting with backoff and jitter.
//   - multiclient.go: [MultiClient], the topics of a [Server.Topics]
//     endpoint on one connection, a [Subscription] each.
//   - encode.go: [AppendEvent] and [AppendComment], the WHATWG wire format.
//   - decode.go: [Decoder], the WHATWG parsing algorithm.
package sse
