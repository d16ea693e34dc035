// Package adapters serves one stream on every transport from one URL.
//
// An [Endpoint] mounts a hub topic or a per-request producer on an echo
// route; each request gets the transport that [Negotiate] picks: a
// WebSocket upgrade gets WebSocket, Accept: text/event-stream gets SSE,
// ?transport=longpoll or ?transport=poll (or Accept: application/json) gets
// a poll. All of them share one cursor, so a client can switch transport
// without losing or repeating an event. POST on a topic's URL can publish,
// behind the [Authorize] hook that also guards subscriptions.
//
// [ServeClient] serves the browser client, a dependency-free ES module that
// picks the best transport that works and falls back when one fails.
//
// The transports themselves live in the sub-packages sse, longpoll,
// shortpoll and websocket; each can also be used on its own routes.
//
// Files:
//
//   - mount.go: [Endpoint], [Options], [Router].
//   - negotiate.go: [Negotiate], [Transport].
//   - authorize.go: [Authorize], [Action].
//   - client.go: [ServeClient] and the embedded web/rxstream.js, web/rxstream.d.ts.
package adapters
