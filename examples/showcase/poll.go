package main

import (
	"context"
	"net/http"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/streams"
)

func init() { routes = append(routes, (*app).pollRoutes) }

func (a *app) pollRoutes() error {
	lp, err := longpoll.New(&longpoll.Options{Gate: a.gate, Logger: a.log})
	if err != nil {
		return err
	}
	sp, err := shortpoll.New(&shortpoll.Options{Gate: a.gate})
	if err != nil {
		return err
	}
	a.onShutdown(lp.Close)
	a.onShutdown(sp.Close)
	a.open.add("longpoll", lp.Connections)
	a.open.add("shortpoll", sp.Connections)
	a.e.GET("/poll", rxecho.Wrap(lp.Stream(deferredResult))) // times out after longpoll.DefaultTimeout, 30 s
	a.e.GET("/topics/:topic/longpoll", rxecho.Wrap(lp.Topic(a.hub, adapters.Param("topic"))))
	a.e.GET("/topics/:topic/poll", rxecho.Wrap(sp.Topic(a.hub, adapters.Param("topic"))))
	return nil
}

// deferredResult is the seed's DeferredResult example: the request is
// answered "new message" after 10 s (after=DURATION shortens or lengthens
// it, 0 to 1m) and times out after 30 s. The producer is cancelled when the
// request ends, whichever way.
func deferredResult(r *http.Request, _ string) (rxgo.Observable, error) {
	after := 10 * time.Second
	if v := r.URL.Query().Get("after"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Minute {
			return nil, &adapters.StatusError{Code: http.StatusBadRequest, Message: "after must be a duration from 0 to 1m, like 500ms or 10s"}
		}
		after = d
	}
	return streams.Generate(func(ctx context.Context, emit func(string) error) error {
		t := time.NewTimer(after)
		defer t.Stop()
		select {
		case <-t.C:
			return emit("new message")
		case <-ctx.Done():
			return nil
		}
	}), nil
}
