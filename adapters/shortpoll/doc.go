// Package shortpoll serves rxstream streams as short polls, and follows
// them with a Go client.
//
// A [Server] makes the handlers, each an http.Handler: [Server.Topic] for
// a hub topic, [Server.Topics] for several in one request, [Server.Stream]
// for a per-request rxgo [Producer]. On a ServeMux with Go 1.22 patterns:
//
//	sp, _ := shortpoll.New(nil)
//	mux := http.NewServeMux()
//	mux.Handle("GET /topics/{topic}", sp.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
//	mux.Handle("GET /topics", sp.Topics(hub))
//	mux.Handle("GET /temperature", sp.Stream(current))
//	srv := &http.Server{Handler: mux}
//	srv.RegisterOnShutdown(sp.Close)
//
// On echo, wrap each handler with the adapters/rxecho package, which also
// makes echo's :topic a path value.
//
// # Hub topics
//
// [Server.Topic] answers every request at once with the events after its
// cursor (the cursor query parameter, or lastEventId, or the
// Last-Event-ID header, which wins), possibly none:
//
//	{"events":[{"id":"mi2x8k1z-42","data":"..."}],"cursor":"mi2x8k1z-42",
//	 "gap":{"last":"...","next":"..."},"retry":2000}
//
// The shape is the long-poll's (see package longpoll: events are the shared
// JSON envelopes, non-UTF-8 data base64-encoded with "base64":true; gap is
// absent when nothing was lost) plus retry, the suggested delay in
// milliseconds before the next poll, also sent in the X-Poll-Interval
// header ([IntervalHeader]); it is 0 when the answer was cut at
// [Options.MaxEvents] and more events wait. An empty cursor is answered
// with no events and the topic's tip as cursor. An answer of
// [Server.Topics] names each event's topic, carries gap notices among the
// events, and a composite cursor.
//
// A poll reads the topics' history and subscribes to none, so that on a
// NATS broker polls create no JetStream consumer (see [Server.Topic]).
//
// Each answer carries the cursor as its ETag (quoted) and in X-Cursor
// ([CursorHeader]); a request with If-None-Match holding it is answered 304
// Not Modified, without a body, when nothing is new. Answers have
// Cache-Control: no-cache, so a cache always revalidates.
//
// # Producers
//
// A producer keeps no history, so [Server.Stream] observes a fresh one
// for each poll and answers with its first item (a snapshot, the current
// value) as soon as it comes, within [Options.Wait] (50 ms by default),
// or 204 No Content; the producer is cancelled before the answer is
// written. Its answers have the same shape and X-Poll-Interval, no ETag,
// and Cache-Control: no-store.
//
// # Errors, shutdown and hooks
//
// Errors are answered as JSON {"message": ...}: 400 for a malformed cursor
// or topic; 405 with Allow: GET for any other method (HEAD included); the
// status of a [*StatusError] that a producer or the authorization hook
// returns, 500 for a producer's other errors (an error item, or an item
// that is not an event, included); 503 with a jittered Retry-After for a
// hub or topic at its limits, a broker down, or after [Server.Close],
// which also answers the polls of producers still waiting; 429 with a
// Retry-After over a limit of the [Gate] (each poll is a connection
// attempt); 401 once the authorization hook's answer expired
// (adapters.ExpiresAt), even while the hook's own check would still take
// the token.
//
// [Options.Hooks] are the [Hooks] every transport shares: Opened when a
// request is accepted, Closed exactly once per accepted request with why
// it ended ([ErrCompleted] when answered, 304 and 204 included,
// [ErrClientGone], [ErrShutdown], or the error, which Error is also told).
// Refused requests are not opened.
//
// # Client
//
// [Client] polls on the server's suggested interval with the cursor and
// ETag of the last answer, and exposes the events as an rxgo observable of
// [framework.Event] and [framework.Gap] items, backing off with jitter on
// failures; an answer that polling again will not fix ends it with a
// [*StatusError] item. [MultiClient] follows several topics of a
// [Server.Topics] endpoint in one poll loop, a [Subscription] each.
package shortpoll
