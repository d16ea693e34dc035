// Package websocket serves rxgo observables over WebSocket on echo routes
// (with github.com/coder/websocket), and follows them from Go.
//
// It is the reactive form of Spring's WebSocketHandler: a [Handler]
// receives the inbound messages as an observable and returns the outbound
// one; a [Producer] serves a one-way stream; [Server.Topic] serves a
// [framework.Hub] topic with resume and gap notices, and [Server.Topics]
// several over one connection, which the client may subscribe to and
// unsubscribe from at any time with JSON control messages.
//
// # Wire
//
// Outbound events are JSON envelopes {"id","event","data"} in text frames
// ([FormatEnvelope], the default), the same form as the poll transports;
// [FormatText] and [FormatBinary] send the data alone. A client resumes
// with the cursor (or lastEventId) query parameter, since browsers cannot
// send headers on a WebSocket handshake; a cursor older than the history
// gets the envelope {"event":"gap","data":"{\"last\":..,\"next\":..}"}.
//
// Close codes: 1000 when the stream completes, 1011 when it fails (the
// error, cut to 123 bytes, as reason), 1013 when a subscriber's queue
// overflowed (reconnect and resume), 1009 for an inbound message over the
// read limit, 1001 at shutdown ([Server.Close]). A peer that stops
// answering pings, or stops reading so that a write misses its deadline,
// is dropped without a handshake. A hub topic's close reason starts with
// "cursor=ID; " (see [ReasonCursor]): a client that saw no event yet
// resumes from there instead of the live tip, and loses nothing.
//
// # Safety
//
// Only same-origin browser pages may connect unless
// [Options.OriginPatterns] allows more; [Options.InsecureSkipVerify]
// allows every origin (Spring's setAllowedOrigins("*")) and exposes the
// users' cookies to any site. A refused origin is answered 403 before any
// user code runs. Producers and handlers run before the upgrade, so they
// may still answer with an HTTP error (401, 400...).
//
// The connection is hijacked: the handlers never return an error to echo
// after the upgrade, and keep no echo.Context beyond the Producer's or
// Handler's return. Each connection is served in its handler's goroutine
// (the write loop) and one reader goroutine, owned by an errgroup: they
// end together. echo's Gzip middleware, which holds the 101 response back,
// is got past; [GzipSkipper] spares it the work.
//
// # Files
//
//   - server.go: [Server], [Options], [Producer], [Handler], [Server.Stream],
//     [Server.Duplex], [Server.Topic], [Param].
//   - session.go: [Session], [Hooks], [CloseStatus], [Message] and the
//     status and message type constants.
//   - conn.go: one connection: upgrade, read loop, pings, close.
//   - write.go: the write loops and the envelope encoder.
//   - mux.go: the control messages of a multiplexed connection.
//   - close.go: close reasons and statuses, [ReasonCursor].
//   - upgrade.go: [IsUpgrade], [GzipSkipper], the origin check.
//   - client.go: [Client], the Go client with backoff, resume and Send.
//   - multiclient.go: [MultiClient], the topics of a [Server.Topics]
//     endpoint on one connection, subscribed and unsubscribed with
//     control messages, a [Subscription] each.
package websocket
