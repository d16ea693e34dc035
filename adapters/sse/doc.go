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
// # Parked streams
//
// By default (see [Options.DisableParking]), an idle stream of hub
// topics ([Server.Topic], [Server.Topics]) costs no goroutine and no
// buffer of its own: once the stream has nothing to send, its connection is taken
// over from net/http (http.Hijacker; net/http's goroutines end and its
// read, write and chunking buffers are dropped) and held by the
// server's park loop, with every other parked stream, until something
// is due. One poller (Linux epoll, EPOLLRDHUP) sees a client leave as
// soon as its FIN or reset arrives; a client that vanished without
// either (its host lost the connection) is seen when its next heartbeat
// is answered by a reset, and one whose host no longer answers at all
// only once the kernel gives up retransmitting a heartbeat
// (net.ipv4.tcp_retries2: about 15 minutes by default). One heartbeat
// list sends the heartbeats; a fixed pool of writers (GOMAXPROCS)
// writes the events of the streams that have some, a batch at a time,
// in turn. A write the client's socket does not take at once moves that
// stream to a goroutine of its own until it drains (within
// [Options.WriteTimeout], else the client is dropped): a slow client
// never holds a shared writer. A topic's history is read before the
// stream is parked.
//
// The wire is the same: the body is chunked (HTTP/1.1) or ended by the
// close (HTTP/1.0) as net/http would have written it, and it ends with
// net/http's last chunk; the connection is then closed rather than kept
// for another request. [Server.Close], [Options.Hooks], the [Gate]'s
// expiry and revocation, the slow-client policy and
// [Server.Connections] work as on any stream; http.Server.Shutdown does
// not wait for parked streams (nor for any stream: register
// [Server.Close] with it).
//
// Not parked, on net/http's goroutine as before: HTTP/2 (no hijacking),
// TLS, producers ([Server.Stream]), a request whose context has a
// deadline, a response writer that is not itself an http.Hijacker (a
// middleware's wrapper that offers only Unwrap: it may count or change
// the writes), a response that a middleware compresses (a
// Content-Encoding header), other systems than Linux, and every stream
// of a server with [Options.DisableParking]. With echo (adapters/rxecho),
// middleware sees a parked route's handler return as soon as the stream
// is parked: Logger logs a 200 of a few milliseconds with the bytes
// written so far, Recover no longer covers the stream's writes (they
// cannot panic), and Gzip must be skipped on the route (a compressed
// response is not parked, and Gzip buffers what it compresses).
//
// A [Client] reads one stream as an rxgo observable, reconnecting with
// backoff and jitter from the last event ID; a [MultiClient] follows the
// topics of a [Server.Topics] endpoint on one connection, a
// [Subscription] each. Both return a [*StatusError] for an answer that
// reconnecting will not fix. [AppendEvent] and [AppendComment] write the
// WHATWG wire format, and a [Decoder] parses it.
package sse
