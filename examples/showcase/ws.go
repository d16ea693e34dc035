package main

import (
	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/streams"
)

func init() { routes = append(routes, (*app).wsRoutes) }

func (a *app) wsRoutes() error {
	// The seed's handler answers in plain text frames; hub topics travel
	// as envelopes {"id","event","data"} so that clients can resume.
	echoServer, err := websocket.New(&websocket.Options{Format: websocket.FormatText, Logger: a.log, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	topics, err := websocket.New(&websocket.Options{Logger: a.log, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	a.onShutdown(echoServer.Close)
	a.onShutdown(topics.Close)
	a.open.add("websocket", echoServer.Open, topics.Open)
	a.e.GET("/ws", echoServer.Duplex(reply))
	a.e.GET("/topics/:topic/ws", topics.Topic(a.hub, websocket.Param("topic")))
	return nil
}

// reply is the seed's WebSocketHandler.handleMessage: every text message
// is answered with "服务器回复: " followed by the message.
func reply(_ echo.Context, in rxgo.Observable) (rxgo.Observable, error) {
	return streams.Map(in, func(v any) (any, error) {
		return "服务器回复: " + v.(websocket.Message).Text(), nil
	}), nil
}
