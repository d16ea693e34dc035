// Package shortpoll serves hub topics as short polls on echo routes, and
// follows them with a Go client.
//
// [Server.Topic] answers every request at once with the events after its
// cursor (the cursor query parameter, or Last-Event-ID), possibly none:
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
// with no events and the topic's tip as cursor.
//
// Each answer carries the cursor as its ETag (quoted) and in X-Cursor
// ([CursorHeader]); a request with If-None-Match holding it is answered 304
// Not Modified, without a body, when nothing is new. Answers have
// Cache-Control: no-cache, so a cache always revalidates.
//
// Errors are JSON {"message": ...}: 400 for a malformed cursor or topic,
// 405 for a method other than the route's (echo's router).
//
// [Client] polls on the server's suggested interval with the cursor and
// ETag of the last answer, and exposes the events as an rxgo observable of
// [framework.Event] and [framework.Gap] items, backing off with jitter on
// failures.
//
// Files:
//
//   - server.go: [Server], [Options], [Server.Topic].
//   - client.go: [Client].
//   - multiclient.go: [MultiClient], the topics of a [Server.Topics]
//     endpoint in one poll loop, a [Subscription] each.
package shortpoll
