package main

import (
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/streams"
)

func init() { routes = append(routes, (*app).sseRoutes) }

func (a *app) sseRoutes() error {
	s, err := sse.New(&sse.Options{Logger: a.log, Heartbeat: a.cfg.heartbeat, WriteTimeout: a.cfg.writeTimeout})
	if err != nil {
		return err
	}
	a.onShutdown(s.Close)
	a.open.add("sse", s.Open)
	a.e.GET("/sse/interval", s.Stream(interval))
	a.e.GET("/topics/:topic/sse", s.Topic(a.hub, sse.Param("topic")))
	return nil
}

// interval is the seed's Flux.interval(Duration.ofSeconds(10)).map(seq ->
// "new message"): every=DURATION sets the period (default 10s, at least
// 10ms); each event carries its sequence number as ID.
// A client that reconnects with Last-Event-ID N continues from N+1.
func interval(c echo.Context, cursor string) (rxgo.Observable, error) {
	every := 10 * time.Second
	if v := c.QueryParam("every"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 10*time.Millisecond {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "every must be a duration of at least 10ms, like 100ms or 10s")
		}
		every = d
	}
	var from int64
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			return nil, echo.NewHTTPError(http.StatusBadRequest, "Last-Event-ID of /sse/interval is a sequence number")
		}
		from = n + 1
	}
	return streams.Map(streams.Interval(every), func(seq any) (any, error) {
		ev := streams.Text("new message")
		ev.ID = strconv.FormatInt(from+seq.(int64), 10)
		return ev, nil
	}), nil
}
