// Package adapters serves one stream on every transport from one URL, as
// net/http handlers.
//
// An [Endpoint]'s handlers serve a hub topic ([Endpoint.Topic]), several
// on one connection ([Endpoint.Topics]) or a per-request producer
// ([Endpoint.Stream]); each request gets the transport that [Negotiate]
// picks: a WebSocket upgrade gets WebSocket, Accept: text/event-stream
// gets SSE, ?transport=longpoll or ?transport=poll (or Accept:
// application/json) gets a poll. All of them share one cursor, so a client
// can switch transport without losing or repeating an event. POST on a
// topic's URL can publish, behind the [Options.Authorize] hook that also
// guards subscriptions:
//
//	ep, _ := adapters.New(&adapters.Options{Publish: true})
//	mux.Handle("/topics/{topic}", ep.Topic(hub, adapters.Param("topic")))
//	mux.Handle("GET /topics/{topic}/history", ep.History(hub, adapters.Param("topic")))
//	mux.Handle("GET /topics/{topic}/presence", ep.Presence(hub, adapters.Param("topic")))
//	mux.Handle("GET /topics", ep.Topics(hub))
//	mux.Handle("GET "+adapters.ClientPath, adapters.ClientHandler())
//	srv.RegisterOnShutdown(ep.Close)
//
// A POST may carry an Idempotency-Key header ([KeyHeader]): a repeat of
// the key on the topic within the broker's window (two minutes by default)
// is answered with the first publish's {"id": ...} and
// Idempotent-Replayed: true ([ReplayedHeader]), and publishes nothing.
// [PublishTo] is the Go call that publishes this way: a fresh key per
// event by default, the same key on every retry of a failure that may have
// published (a lost answer, a timeout, a 5xx, 408, 429), with jittered
// backoff and Retry-After honoured; the browser client's publish does the
// same.
//
// A client without a cursor may ask for the topic's last events before
// its live ones, on every transport: ?rewind=N (at most
// [framework.MaxRewind]) or ?since=30s (at most [framework.MaxSince]); on
// a multiplexed request each topic rewinds on its own (one value for all,
// or a comma-separated list in the request's topic order), and a
// WebSocket's subscribe message may carry "rewind" or "since" too. A
// cursor wins over a rewind; asking more than is retained starts at the
// oldest retained event, without a gap notice; a bad value is a 400
// naming the parameter. [Endpoint.History] pages through a topic's
// history as JSON, backward or forward from a cursor.
//
// [ClientHandler] serves the browser client, a dependency-free ES module
// that picks the best transport that works and falls back when one fails.
//
// The transports themselves live in the sub-packages sse, longpoll,
// shortpoll and websocket; each can also be used on its own routes, with
// the same handler names, [Producer], hooks and [StatusError]. The rxecho
// sub-package serves every one of these handlers on echo routes; nothing
// else here imports echo.
//
// Every transport's handler, on its own route or behind an Endpoint, takes
// a request to its subscription through one front end: the topic from the
// route's name function ([Param], the value the [AuthorizeFunc] is asked
// about, and the one subscribed or published to), the cursor under every
// spelling, the rewind, and one answer per refusal (400, the hook's 401/403, 503 with a
// jittered Retry-After, each JSON {"message": ...}), so that the
// transports cannot drift apart.
//
// # Live authorization and limits
//
// A request's authorization is not a one-time check. The hook tells how
// long its answer holds and whose request it is ([ExpiresAt], [SetUser]),
// and a [Gate] shared by the transports' servers keeps to it: a stream
// ends at the expiry on every transport, with a reason the client acts on
// (it resumes from its cursor with a new token, nothing lost); a
// WebSocket client refreshes without reconnecting; [Gate.Revoke] and
// [Gate.RevokeTopic] (or the Endpoint's) end the connections of a user or
// of a topic, on every node with a [Relay]; and limits per user, per
// client address and on the connect rate, with defaults, refuse what
// exceeds them with 429 (1013 or 1008 on a WebSocket), leaving every other
// client alone. The browser client takes a token function and refreshes
// before the expiry on every transport.
//
// # Presence
//
// The user a hook names ([SetUser]) and its info ([SetInfo], at most
// 1 KiB of JSON) make each of its subscriptions a connection of that
// user to the topic; without a user it is anonymous and only counted.
// [Endpoint.Presence] lists a topic's members as JSON, in pages. On SSE,
// WebSocket and long-poll, presence=true (or "presence":true in a WebSocket
// subscribe message) makes the topics' streams carry their join and leave
// events (a long-poll those that happen while it is held; a short poll
// holds no subscription and sees none: poll clients read the list),
// events named "join" and "leave" without an ID: they move no cursor, are
// never a gap, and are not replayed on resume, so a client lists the
// members again after each (re)connection. A leave is announced after the
// hub's coalescing window ([framework.HubOptions.PresenceWindow]): a
// reconnect within it announces nothing.
package adapters
