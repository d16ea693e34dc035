// Package servers holds the contenders of the benchmarks, each in its own
// file, and the server process that runs one of them.
//
//	servers.go    Contender, Server, Multiplexer, TopicName, Transport, Kind, the registry
//	serve.go      Serve: the server process (GET /sub, /debug/stats, /debug/publish, /debug/gc, /debug/pprof/heap), payloads
//	broadcast.go  the raw baselines' blocking fan-out
//	envelope.go   the JSON envelope of the raw JSON transports
//	rxsse.go      rxstream over SSE (a Hub topic, adapters/sse; ?topic= for several); the shared Hub + ServeMux setup
//	rxlongpoll.go rxstream long-poll (adapters/longpoll)
//	rxshortpoll.go rxstream short-poll (adapters/shortpoll)
//	rxws.go       rxstream WebSocket (adapters/websocket)
//	rawsse.go     raw net/http SSE writing pre-encoded bytes
//	r3labs.go     github.com/r3labs/sse/v2
//	gosse.go      github.com/tmaxmax/go-sse
//	rawpoll.go    raw net/http long-poll and short-poll
//	rawws.go      raw coder/websocket
//	gorilla.go    github.com/gorilla/websocket
//
// A contender's file registers it from init; adding a transport is adding
// a file.
package servers
