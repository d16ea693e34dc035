// Package framework is the transport-neutral core of rxstream: the [Event]
// every transport carries, the [Cursor] a client resumes from, and the [Hub]
// that fans topics out to subscribers.
//
// It imports the standard library and rxgo only; nothing here knows about
// HTTP. The adapters render hub topics on SSE, long-poll, short-poll and
// WebSocket routes with the same cursor, so a client can switch transport
// without losing or repeating an event.
//
// Files:
//
//   - event.go: [Event] and the [Gap] notice.
//   - cursor.go: [Cursor], [ParseCursor], topic names ([ValidTopic]).
//   - broker.go: the [Broker] interface behind a Hub, and [Rewinder], its
//     optional backward and by-time reads.
//   - memory.go: [MemoryBroker], the in-process default with bounded history.
//   - hub.go: [Hub], topics and publishing.
//   - publish.go: idempotent publishing ([Hub.PublishWith],
//     [PublishOptions], [KeyedPublisher], [CheckKey]).
//   - memkeys.go: the idempotency keys of a [MemoryBroker].
//   - subscription.go: [Subscription], a subscriber's bounded queue.
//   - rewind.go: a subscription's rewind ([SubscribeOptions.Rewind] and
//     Since): a late joiner's last events.
//   - history.go: [Hub.History], pages of a topic's history backward or
//     forward, without subscribing.
//   - read.go: [Hub.Read], a subscription's first batch read from the
//     history without subscribing: a short poll's answer.
//   - errors.go: sentinel errors and [CursorError].
//   - presence.go: who is on a topic ([Hub.Presence], [Member]): one
//     entry per user with its connections, the anonymous count, join and
//     leave events for subscriptions that ask ([SubscribeOptions.Presence]),
//     leaves coalesced over [HubOptions.PresenceWindow].
//
// The contract: IDs of a topic are strictly increasing; a subscriber gets
// every event after its cursor, in order, once, or an explicit [Gap] when
// the history no longer holds them; history is bounded by count and age,
// and by size per topic and in total; a subscriber's queue is bounded and a
// slow subscriber never delays others; a subscriber costs no goroutine. A
// publisher is paced to the topic's subscribers as a whole, never to one:
// while their mean backlog is over [HubOptions.PaceBacklog], Publish waits
// (at most [HubOptions.PaceWait]) for them to take it.
//
// Presence follows the same rules: its state is proportional to the
// current members (a user's entry goes when its leave is announced), a
// listing is bounded ([MaxPresenceLimit] a page), and its events are
// live only, outside the cursor and never a gap.
package framework
