package main

import (
	"net/http"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
)

func init() { routes = append(routes, (*app).endpointRoutes) }

// maxPublish bounds a published event's size.
const maxPublish = 64 << 10

// endpointRoutes mounts the hub's topics on one URL for every transport:
// GET /topics/:topic negotiates (WebSocket upgrade, Accept, ?transport=),
// POST /topics/:topic publishes the body and answers {"id": ...}. The
// browser client is served at /_rxstream/rxstream.js. GET /topics?topic=a&topic=b
// follows several topics on one connection, negotiated the same way: the
// page's one stream for all its topic panels. GET /topics/:topic/history
// pages through a topic's history (?before=ID or ?after=ID, &limit=N),
// and ?rewind=N or ?since=30s on any of them starts a client without a
// cursor with the last events. GET /topics/:topic/presence lists who is
// on a topic; ?presence=true on a stream brings its joins and leaves.
func (a *app) endpointRoutes() error {
	s, err := sse.New(&sse.Options{Gate: a.gate, Logger: a.log, Heartbeat: a.cfg.heartbeat, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	lp, err := longpoll.New(&longpoll.Options{Gate: a.gate, Logger: a.log})
	if err != nil {
		return err
	}
	ws, err := websocket.New(&websocket.Options{Gate: a.gate, Logger: a.log, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	for _, close := range []func(){s.Close, lp.Close, ws.Close} {
		a.onShutdown(close)
	}
	a.open.add("sse", s.Connections)
	a.open.add("longpoll", lp.Connections)
	a.open.add("websocket", ws.Connections)
	ep, err := adapters.New(&adapters.Options{
		SSE: s, LongPoll: lp, WebSocket: ws,
		Publish: true, MaxPublish: maxPublish, Disable: a.cfg.disable, Gate: a.gate,
		Authorize: demoUser,
	})
	if err != nil {
		return err
	}
	rxecho.Mount(a.e, "/topics/:topic", ep.Topic(a.hub, adapters.Param("topic")))
	rxecho.Mount(a.e, "/topics/:topic/history", ep.History(a.hub, adapters.Param("topic")))
	rxecho.Mount(a.e, "/topics/:topic/presence", ep.Presence(a.hub, adapters.Param("topic")))
	rxecho.Mount(a.e, "/topics", ep.Topics(a.hub))
	rxecho.ServeClient(a.e)
	return nil
}

// demoUser names the subscriber ?user=NAME, for the chat's "who is
// online". For the demonstration only: there is no authentication at all,
// anyone may claim any name. A real hook checks a token (a session
// cookie, a JWT) and names its subject with adapters.SetUser.
func demoUser(r *http.Request, _ string, _ adapters.Action) error {
	if u := r.URL.Query().Get("user"); u != "" && len(u) <= 32 {
		adapters.SetUser(r, u)
	}
	return nil
}
