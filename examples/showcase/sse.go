package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func init() { routes = append(routes, (*app).sseRoutes) }

func (a *app) sseRoutes() error {
	s, err := sse.New(&sse.Options{Gate: a.gate, Logger: a.log, Heartbeat: a.cfg.heartbeat, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	a.onShutdown(s.Close)
	a.open.add("sse", s.Connections)
	a.e.GET("/sse/interval", rxecho.Wrap(s.Stream(interval)))
	a.e.GET("/topics/:topic/sse", rxecho.Wrap(s.Topic(a.hub, adapters.Param("topic"))))
	return nil
}

// interval is the seed's Flux.interval(Duration.ofSeconds(10)).map(seq ->
// "new message"): every=DURATION sets the period (default 10s, at least
// 10ms); each event carries its sequence number as ID.
// A client that reconnects with Last-Event-ID N continues from N+1.
func interval(r *http.Request, cursor string) (rxgo.Observable, error) {
	every := 10 * time.Second
	if v := r.URL.Query().Get("every"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond {
			return nil, &adapters.StatusError{Code: http.StatusBadRequest, Message: "every must be a duration of at least 10ms, like 100ms or 10s"}
		}
		every = d
	}
	var from int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			return nil, &adapters.StatusError{Code: http.StatusBadRequest, Message: "Last-Event-ID of /sse/interval is a sequence number"}
		}
		from = n + 1
	}
	return streams.Map(streams.Interval(every), func(seq int64) framework.Event {
		ev := framework.Text("new message")
		ev.ID = strconv.FormatInt(from+seq, 10)
		return ev
	}), nil
}
