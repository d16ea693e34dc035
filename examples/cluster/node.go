package main

import (
	"context"
	"errors"
	"io"
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
// to start).
func startNode(name string, b broker, port int, log *slog.Logger) (*node, error) {
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
	n := &node{name: name, hub: hub, broker: b, done: make(chan error, 1)}
	n.e = echo.New()
	n.e.HideBanner, n.e.HidePort = true, true
	n.e.Use(middleware.Recover())
	n.e.Server.RegisterOnShutdown(s.Close)
	n.e.Server.RegisterOnShutdown(lp.Close)
	n.e.Server.RegisterOnShutdown(ws.Close)
	topic := adapters.Param("topic")
	n.e.GET("/topics/:topic/sse", rxecho.Wrap(s.Topic(hub, topic)))
	n.e.GET("/topics/:topic/longpoll", rxecho.Wrap(lp.Topic(hub, topic)))
	n.e.GET("/topics/:topic/ws", rxecho.Wrap(ws.Topic(hub, topic)))
	n.e.POST("/topics/:topic", n.publish)

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

// publish appends the request body to the topic as one event, named by the
// optional "event" query parameter, and answers {"id": ...}. The broker
// being unreachable is a 503.
func (n *node) publish(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxPublish+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "reading body: "+err.Error())
	}
	if len(body) > maxPublish {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "event larger than 64 KiB")
	}
	id, err := n.hub.Publish(c.Request().Context(), c.Param("topic"),
		framework.Event{Name: c.QueryParam("event"), Data: body})
	switch {
	case errors.Is(err, framework.ErrInvalidTopic), errors.Is(err, framework.ErrInvalidEvent):
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	case err != nil:
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	return c.JSON(http.StatusOK, map[string]string{"id": id, "node": n.name})
}
