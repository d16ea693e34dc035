package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// maxPublish bounds a published event's size.
const maxPublish = 64 << 10

// broker is what a node shares its topics through: a NATS or a Redis
// Broker of its own.
type broker interface {
	framework.Broker
	Close() error
}

// node is one rxstream process: echo, a Hub on its own Broker, and the
// SSE, long-poll and WebSocket adapters. In production each node is a process of its own; here
// they share one for the demonstration.
type node struct {
	name   string
	url    string
	e      *echo.Echo
	hub    *framework.Hub
	broker broker
	done   chan error
}

// startNode starts a node on b, which it closes when it stops (or fails
// to start); wrap, when set, wraps its handling of every request (tests).
func startNode(name string, b broker, port int, log *slog.Logger, wrap func(http.Handler) http.Handler) (*node, error) {
	log = log.With("node", name)
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		b.Close()
		return nil, err
	}
	s, err := sse.New(&sse.Options{Logger: log})
	if err != nil {
		hub.Close()
		b.Close()
		return nil, err
	}
	lp, err := longpoll.New(&longpoll.Options{Logger: log})
	if err != nil {
		hub.Close()
		b.Close()
		return nil, err
	}
	ws, err := websocket.New(&websocket.Options{Logger: log})
	if err != nil {
		hub.Close()
		b.Close()
		return nil, err
	}
	// The Endpoint publishes on POST, with the request's Idempotency-Key:
	// a publisher that lost a node's answer retries on another node with
	// the same key and gets the same ID; nothing is stored twice.
	ep, err := adapters.New(&adapters.Options{SSE: s, LongPoll: lp, WebSocket: ws, Publish: true, MaxPublish: maxPublish})
	if err != nil {
		hub.Close()
		b.Close()
		return nil, err
	}
	n := &node{name: name, hub: hub, broker: b, done: make(chan error, 1)}
	n.e = echo.New()
	n.e.HideBanner, n.e.HidePort = true, true
	if wrap != nil {
		n.e.Use(echo.WrapMiddleware(wrap))
	}
	n.e.Use(middleware.Recover())
	n.e.Server.RegisterOnShutdown(ep.Close)
	n.e.Server.RegisterOnShutdown(s.Close)
	n.e.Server.RegisterOnShutdown(lp.Close)
	n.e.Server.RegisterOnShutdown(ws.Close)
	topic := adapters.Param("topic")
	// Presence, for the demonstration only: ?user=NAME names the
	// subscriber, with no authentication at all. A real hook checks a
	// token and names its subject.
	demoUser := func(r *http.Request, _ string, _ adapters.Action) error {
		adapters.SetUser(r, r.URL.Query().Get("user"))
		return nil
	}
	n.e.GET("/topics/:topic/presence", rxecho.Wrap(ep.Presence(hub, topic)))
	n.e.GET("/topics/:topic/sse", rxecho.Wrap(adapters.Authorize(s.Topic(hub, topic), demoUser)))
	n.e.GET("/topics/:topic/longpoll", rxecho.Wrap(lp.Topic(hub, topic)))
	n.e.GET("/topics/:topic/ws", rxecho.Wrap(ws.Topic(hub, topic)))
	n.e.POST("/topics/:topic", rxecho.Wrap(ep.Topic(hub, topic)), func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("X-Node", name)
			return next(c)
		}
	})

	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		hub.Close()
		b.Close()
		return nil, err
	}
	n.url = "http://" + ln.Addr().String()
	n.e.Listener = ln
	go func() { n.done <- n.e.Start("") }()
	return n, nil
}

// stop shuts the node down: streams are told when to come back, then the
// hub and the broker close.
func (n *node) stop(ctx context.Context) {
	_ = n.e.Shutdown(ctx)
	<-n.done
	n.hub.Close()
	n.broker.Close()
}
