// Package longpoll serves rxstream streams as long polls (the Go answer to
// Spring's DeferredResult), and follows them with a Go client.
//
// A [Server] makes the handlers, each an http.Handler: [Server.Topic] for
// a hub topic, [Server.Topics] for several in one request, [Server.Stream]
// for a per-request rxgo [Producer]. On a ServeMux with Go 1.22 patterns:
//
//	lp, _ := longpoll.New(nil)
//	mux := http.NewServeMux()
//	mux.Handle("GET /topics/{topic}", lp.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
//	mux.Handle("GET /topics", lp.Topics(hub))
//	mux.Handle("GET /clock", lp.Stream(clock))
//	srv := &http.Server{Handler: mux}
//	srv.RegisterOnShutdown(lp.Close)
//
// On echo, wrap each handler with the adapters/rxecho package, which also
// makes echo's :topic a path value.
//
// A request carries its cursor in the cursor query parameter (or
// lastEventId, or the Last-Event-ID header, which wins). When events
// after it are retained it is answered at once with them (up to
// [Options.MaxEvents]); otherwise it waits until the first event arrives,
// then answers with it and whatever arrives within [Options.BatchWindow].
// A per-request producer is observed for that request only and cancelled
// before the answer is written: nothing keeps running after it.
//
// # Answers
//
// Every answer has Cache-Control: no-store. Events are answered 200 with
//
//	{"events":[{"id":"mi2x8k1z-42","event":"update","data":"..."}],
//	 "cursor":"mi2x8k1z-42","gap":{"last":"...","next":"..."}}
//
// where each event is the envelope the poll and WebSocket transports share
// ("event" absent for unnamed events; data that is not UTF-8 text is
// carried base64-encoded, standard encoding with padding, flagged with
// "base64":true), cursor is what to send with the next poll, and gap
// (absent when nothing was lost) says that the events between last and next
// are no longer retained. An answer of [Server.Topics] names each event's
// topic, carries gap notices among the events, and a composite cursor.
//
// After [Options.Timeout] (30 s by default, like DeferredResult's) with no
// event the answer is 204 No Content, with the cursor to send next in the
// X-Cursor header ([CursorHeader]; on a first poll it is the topic's tip,
// so the client misses nothing between polls). A request may ask for a
// shorter wait with its timeout query parameter (?timeout=5s; 0s answers
// at once), never a longer one.
//
// When the client leaves, the wait ends and the handler returns. At
// shutdown [Server.Close] answers every waiting request 503 with a jittered
// Retry-After and the cursor in X-Cursor, so clients poll again elsewhere.
//
// Errors are answered as JSON {"message": ...}: 400 for a malformed
// cursor, topic or timeout; 405 with Allow: GET for any other method
// (HEAD included); the status of a [*StatusError] that a producer or the
// authorization hook returns, 500 for a producer's other errors (an error
// item before any event, or an item that is not an event, included); 503
// with Retry-After for a hub or topic at its limits, a broker down, or a
// server shutting down; 429 with Retry-After over a limit of the [Gate]
// (each poll is a connection attempt, and counts as a connection while it
// is held); 401 for an authorization already expired.
//
// The [Gate] ends a held request too: when the authorization hook's
// answer expires (adapters.ExpiresAt) it is answered 401 with X-Cursor,
// and the next poll with the same token is refused 401; when the Gate
// revokes its user or topic, 403. The client polls again from its cursor
// with a new token.
//
// # Hooks
//
// DeferredResult's callbacks are the [Hooks] every transport shares, in
// [Options.Hooks]: Opened when a request is accepted; Closed exactly once
// per accepted request with why it ended, where onTimeout is
// [ErrTimeout], onCompletion is every reason ([ErrCompleted] when
// answered, [ErrClientGone] when the client left, [ErrShutdown] at Close,
// [ErrExpired] and [ErrRevoked] when the Gate ended it),
// and onError is an error as the reason, which the Error hook is also
// told. Error also hears of errors the client does not see: a producer or
// subscription that failed after its answer had events (they are answered,
// and the client polls again). Unlike DeferredResult's, hooks do not write
// the answer: a timeout is always 204 with X-Cursor. Refused requests (a
// 400, an authorization refused, a request after Close) are not opened.
//
// # Client
//
// [Client] polls in a loop with the cursor of the last answer, and exposes
// the events as an rxgo observable of [framework.Event] and
// [framework.Gap] items. It backs off exponentially with jitter on
// failures, honouring Retry-After; an answer that polling again will not
// fix (a 400 or 404, say) ends the observable with a [*StatusError] item.
// [MultiClient] follows several topics of a [Server.Topics] endpoint in
// one poll loop, a [Subscription] each.
package longpoll
