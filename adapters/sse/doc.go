// Package sse serves rxstream streams as Server-Sent Events over net/http,
// and reads them back with a Go client.
//
// A [Server] makes the handlers, each an http.Handler: [Server.Stream] for
// a per-request rxgo [Producer], [Server.Topic] for a hub topic,
// [Server.Topics] for several hub topics on one stream. With Go 1.22
// patterns:
//
//	s, _ := sse.New(nil)
//	mux := http.NewServeMux()
//	mux.Handle("GET /topics/{topic}", s.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
//	mux.Handle("GET /topics", s.Topics(hub)) // ?topic=a&topic=b
//	srv := &http.Server{Handler: mux} // no WriteTimeout: see Options.WriteTimeout
//	srv.RegisterOnShutdown(s.Close)
//
// echo users wrap these handlers with the adapters/rxecho package. Do not
// put echo's Timeout middleware, or http.TimeoutHandler, in front of a
// stream: their writers cannot flush, and the handler answers 500 saying
// so.
//
// Every stream resumes from the client's cursor (the Last-Event-ID
// header, or the lastEventId or cursor query parameter), coalesces
// queued events into one write and one flush, sends heartbeat comments,
// puts a deadline on every write, and ends cleanly when the client leaves,
// the stream ends, or [Server.Close] runs at shutdown. [Options.Hooks]
// are told when each stream opens, meets an error and closes, and why it
// closed ([ErrCompleted], [ErrClientGone], [ErrShutdown], [ErrExpired],
// [ErrRevoked], or the error).
//
// The handlers answer every request they do not serve themselves, with
// the JSON body {"message": ...}: 400 for a malformed cursor or topic,
// 503 with a Retry-After when a topic, the hub or the server cannot take
// the stream now, 405 with Allow: GET for any method but GET (HEAD
// included), 429 with a Retry-After over a limit of the [Gate], 401 for
// an authorization already expired, a producer's [*StatusError] with its
// status and any other error of a producer with 500.
//
// The [Gate] ([Options.Gate]) also ends streams: at the expiry of the
// authorization hook's answer, with an event named "expired", and when it
// revokes a user or a topic, with one named "revoked"; then the response
// ends, and [Hooks] Closed is told [ErrExpired] or [ErrRevoked].
//
// On the wire, a gap notice is an event named "gap" whose data is the
// [framework.Gap] as JSON ({"last": ..., "next": ...}); a producer error is
// an event named "error" whose data is the message, after which the
// response ends. Hub topics carry UTF-8 text only; SSE cannot carry other
// bytes, so a per-request producer that emits them ends with an error event.
// On a [Server.Topics] stream each event's data is JSON naming its topic,
// and each id is a composite cursor that resumes every topic.
//
// A [Client] reads one stream as an rxgo observable, reconnecting with
// backoff and jitter from the last event ID; a [MultiClient] follows the
// topics of a [Server.Topics] endpoint on one connection, a
// [Subscription] each. Both return a [*StatusError] for an answer that
// reconnecting will not fix. [AppendEvent] and [AppendComment] write the
// WHATWG wire format, and a [Decoder] parses it.
package sse
