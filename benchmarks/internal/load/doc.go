// Package load is the load generator: the server process it drives, the
// clients of each transport, and the bookkeeping of what they received.
//
//	proc.go     Proc: start a contender's server process, its /debug endpoints, RSS and CPU from /proc
//	dial.go     Dialer: loopback connections, optionally from several 127.0.0.x source addresses
//	client.go   Client, ClientFor, Counters, Options
//	sse.go      the SSE client (bare HTTP/1.1, Last-Event-ID on reconnect) and Stall (a reader that stops)
//	poll.go     the long-poll and short-poll clients (one keep-alive connection, ?cursor=)
//	ws.go       the WebSocket client (coder/websocket, ?cursor= on reconnect)
//	mux.go      TopicsClient: the multiplexed SSE and WebSocket clients (?topic=a&topic=b, a Sub per topic, composite cursor on reconnect)
//	tracker.go  Tracker and Sub: lost, duplicated, out-of-order, latency per delivery
package load
