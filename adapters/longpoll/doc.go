// Package longpoll serves rxstream streams as long polls on echo routes (the
// Go answer to Spring's DeferredResult), and follows them with a Go client.
//
// A [Server] makes the handlers: [Server.Topic] for a hub topic,
// [Server.Stream] for a per-request rxgo [Producer]. A request carries its
// cursor in the cursor query parameter (or Last-Event-ID). When events
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
// are no longer retained.
//
// After [Options.Timeout] (30 s by default, like DeferredResult's) with no
// event the answer is 204 No Content, with the cursor to send next in the
// X-Cursor header ([CursorHeader]; on a first poll it is the topic's tip,
// so the client misses nothing between polls). [HandlerOptions.OnTimeout]
// may answer otherwise.
//
// When the client leaves, the wait ends and the handler returns. At
// shutdown [Server.Close] answers every waiting request 503 with a jittered
// Retry-After, the cursor in X-Cursor and a JSON body
// {"message","cursor","retry"} (retry in milliseconds), so clients poll
// again elsewhere. Errors are JSON {"message": ...}: 400 for a malformed
// cursor or topic, 405 for a method other than the route's (echo's router).
//
// [HandlerOptions] holds a handler's timeout and its callbacks, as
// DeferredResult's onTimeout, onError and onCompletion: OnCompletion runs
// exactly once per request with its [Outcome], including when the client
// went away or the server shut down.
//
// # Client
//
// [Client] polls in a loop with the cursor of the last answer, and exposes
// the events as an rxgo observable of [framework.Event] and
// [framework.Gap] items. It backs off exponentially with jitter on
// failures, honouring Retry-After; a 400 or 404 ends the observable with a
// [*StatusError] item.
//
// Files:
//
//   - server.go: [Server], [Options], [HandlerOptions], [Outcome], the
//     handler constructors.
//   - request.go: one request's wait, batching and answer.
//   - client.go: [Client].
//   - multiclient.go: [MultiClient], the topics of a [Server.Topics]
//     endpoint in one poll loop, a [Subscription] each.
package longpoll
