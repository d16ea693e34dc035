package main

import (
	"net/http"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/streams"
)

func init() { routes = append(routes, (*app).wsRoutes) }

func (a *app) wsRoutes() error {
	// The seed's handler answers in plain text frames; hub topics travel
	// as envelopes {"id","event","data"} so that clients can resume.
	echoServer, err := websocket.New(&websocket.Options{Gate: a.gate, Format: websocket.FormatText, Logger: a.log, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	topics, err := websocket.New(&websocket.Options{Gate: a.gate, Logger: a.log, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	a.onShutdown(echoServer.Close)
	a.onShutdown(topics.Close)
	a.open.add("websocket", echoServer.Connections, topics.Connections)
	a.e.GET("/ws", rxecho.Wrap(echoServer.Duplex(reply)))
	a.e.GET("/topics/:topic/ws", rxecho.Wrap(topics.Topic(a.hub, adapters.Param("topic"))))
	return nil
}

// reply is the seed's WebSocketHandler.handleMessage: every text message
// is answered with "服务器回复: " followed by the message.
func reply(_ *http.Request, in rxgo.Observable) (rxgo.Observable, error) {
	return streams.Map(in, func(m websocket.Message) string {
		return "服务器回复: " + m.Text()
	}), nil
}
