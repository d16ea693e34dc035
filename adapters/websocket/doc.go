// Package websocket serves rxgo observables over WebSocket as net/http
// handlers (with github.com/coder/websocket), and follows them from Go.
//
// It is the reactive form of Spring's WebSocketHandler: a [Handler]
// receives the inbound messages as an observable and returns the outbound
// one ([Server.Duplex]); a [Producer] serves a one-way stream
// ([Server.Stream]); [Server.Topic] serves a [framework.Hub] topic with
// resume and gap notices, and [Server.Topics] several over one
// connection, which the client may subscribe to and unsubscribe from at
// any time with JSON control messages. Every one is an [http.Handler]:
//
//	s, err := websocket.New(&websocket.Options{Format: websocket.FormatText})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("GET /chat", s.Duplex(func(r *http.Request, in rxgo.Observable) (rxgo.Observable, error) {
//		return streams.Map(in, func(m websocket.Message) string {
//			return "服务器回复: " + m.Text()
//		}), nil
//	}))
//	mux.Handle("GET /topics/{topic}/ws", s.Topic(hub, func(r *http.Request) string {
//		return r.PathValue("topic")
//	}))
//	mux.Handle("GET /topics", s.Topics(hub)) // ?topic=a&topic=b
//	srv := &http.Server{Addr: ":8080", Handler: mux}
//	srv.RegisterOnShutdown(s.Close) // Shutdown does not end hijacked connections
//
// echo users mount these handlers through the adapters/rxecho package,
// which wraps them as echo handlers and also provides a Skipper for echo's
// Gzip middleware.
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
// # Batches
//
// A client that offers the subprotocol [BatchSubprotocol]
// ("rxstream.batch.v1") in its handshake, to [Server.Topic] or
// [Server.Topics] with [FormatEnvelope], gets many events in one text
// message: a JSON array of the envelopes of what was ready at once (up to
// [Options.MaxBatch] items, at most 32 KiB per message, coder/websocket's
// default read limit, unless one envelope is larger), in order, each
// exactly as it would come alone, gap notices included:
//
//	[{"id":"E-8","data":"a"},{"id":"E-9","data":"b"}]
//
// Control answers ({"type":"subscribed",...}) stay single objects, so a
// message that is an array is a batch. A client without the subprotocol
// gets one envelope per message, as before; either way a batch leaves in
// one write. [Options.Subprotocols] are preferred to it when the client
// offers both. The Go [Client] and [MultiClient] (with FormatEnvelope) and
// the browser client ask for it and split its batches. One write per
// batch, with or without it, measured with the benchmarks' fan-out to
// 1,000 subscribers, 64 B (2 shared cores, one run, one message per
// event): 1.0 -> 57 deliveries per write system call, 108 k -> 357 k
// deliveries per server CPU-second.
//
// Close codes: 1000 when the stream completes, 1011 when it fails or
// emits an item that cannot be sent (the error, cut to 123 bytes, as
// reason), 1013 when a subscriber's queue overflowed (reconnect and
// resume), 1009 for an inbound message over the read limit, 1001 at
// shutdown ([Server.Close]) or when the hub closes, [StatusExpired] (4401)
// when the authorization hook's answer expires and [StatusRevoked] (4403)
// when the [Gate] revokes the connection's user or topic. A peer that stops
// answering pings, or stops reading so that a write misses its deadline,
// is dropped without a handshake. A hub topic's close reason starts with
// "cursor=ID; " (see [ReasonCursor]): a client that saw no event yet
// resumes from there instead of the live tip, and loses nothing.
//
// # Authorization
//
// The authorization hook (adapters.Authorize) is asked before the upgrade
// about every topic of the URL, and again about each topic a subscribe
// message names. What it says of its answer's expiry and of the user
// (adapters.ExpiresAt, adapters.SetUser) is kept by the [Gate]
// ([Options.Gate]): at the expiry the connection is closed with
// [StatusExpired], unless the client sent before it
//
//	{"type":"refresh","token":"<a new token>"}
//
// on a connection to [Server.Topic], [Server.Topics] or [Server.Stream].
// The hook is then asked again about every topic of the connection, with
// the request's Authorization header set to "Bearer <token>", and the
// server answers {"type":"refreshed","expires":"<RFC 3339>"} ("expires"
// omitted when the hook gave none) on a connection whose messages are
// JSON; a topic no longer granted ends (on a multiplexed connection, with
// {"type":"error","topic","status":403,...}; otherwise the connection
// closes with [StatusRevoked]), and a token refused 401 closes the
// connection with [StatusExpired]. See refresh.go for every case.
//
// The Gate's limits: a handshake over the connect rate of its address is
// answered 429 with a Retry-After, before the upgrade; a connection over
// the open connections of its address is upgraded and closed at once with
// 1013 ([StatusTryAgainLater]), over those of its user with 1008
// ([StatusPolicyViolation]), the reason saying "retry in Ns; ...": a
// browser cannot read the status of a refused handshake, but can read a
// close frame.
//
// # Hooks
//
// [Options.Hooks] are those of every transport: Opened once a connection
// is upgraded (its [Conn] then holds the negotiated subprotocol); Error
// for what ends it abnormally; Closed once, with why: [ErrCompleted],
// [ErrShutdown], [ErrExpired], [ErrRevoked], [ErrClientGone] when the
// peer closed (the reason then wraps its [CloseError]) or vanished, or
// the error that ended it.
// [CloseCode] gives the close code of that reason. [Options.OnMessage]
// sees every inbound message.
//
// # Safety
//
// Only same-origin browser pages may connect unless
// [Options.OriginPatterns] allows more; [Options.InsecureSkipVerify]
// allows every origin (Spring's setAllowedOrigins("*")) and exposes the
// users' cookies to any site.
//
// What is wrong with a request is answered before the upgrade, with the
// JSON body {"message": ...}: 405 for a method other than GET, 426 for a
// request that is no upgrade, 403 for a refused origin (all three before
// any user code runs), 400 for a malformed cursor or topic, 503 with a
// Retry-After after [Server.Close] or for a hub at its limits. Producers
// and handlers also run before the upgrade, so they may still refuse the
// request: a [*StatusError] is answered with its status (401, 403...),
// any other error 500. Once upgraded, the connection is hijacked: nothing
// writes an HTTP answer any more, and a failure is a close frame.
//
// Middleware that wraps the http.ResponseWriter must expose the writer it
// wraps with Unwrap, as http.ResponseController expects, or the
// connection cannot be hijacked. The handlers write the 101 to the
// innermost writer, past middleware that holds the status back until the
// body (a gzip middleware's), which a hijacked connection never has; such
// middleware, and one that records the status, does not see the 101.
//
// Each connection is served in its handler's goroutine (the write loop)
// and one reader goroutine, owned by an errgroup: they end together.
//
// # Parking
//
// With [Options.Park], on Linux, a connection to hub topics
// ([Server.Topic], [Server.Topics]) over HTTP/1.1 without TLS is held
// without either: the
// server answers the handshake itself (version 13, the same
// subprotocols, no extension) on the hijacked connection, and hands the
// socket to one poller (epoll) that watches every parked socket for the
// client's frames and hang-up, and to a pool of writers (GOMAXPROCS),
// which run a connection when its topic has news, the client sent a
// frame, a ping or its pong is due, or its authorization or the server
// ended it. Its frames are read without a goroutine blocked in a read:
// pings are answered, the client's close is echoed with its code, control
// messages are served (on a single topic's connection refresh alone, the
// others ignored, after OnMessage), a frame
// a client must not send (unmasked, a reserved bit or opcode, a
// fragmented or oversized control frame) is closed with 1002 and a
// message over the read limit with 1009. Events, batches, close codes,
// the Gate's limits, hooks and [Server.Close] are those of any
// connection. A client that stops reading gets a goroutine of its own
// while its writes wait, under WriteTimeout, so it never holds a shared
// writer. An idle parked connection costs 7.8 KiB of server memory and no
// goroutine, against 33.5 KiB and two (the benchmarks' idle scenario,
// RSS slope over 1,000 to 10,000 connections, 3 repetitions; see
// [Options.Park] for what differs).
//
// # Clients
//
// [Client] follows one endpoint, reconnecting with backoff and resuming
// after the last ID it saw, and sends messages on the current connection;
// [MultiClient] follows the topics of a [Server.Topics] endpoint on one
// connection, a [Subscription] each. A handshake refused with a status
// that reconnecting will not fix ends them with a [*StatusError]; so does
// a topic the server refuses on the open connection, with its Topic set.
package websocket
