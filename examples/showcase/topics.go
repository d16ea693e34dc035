package main

import (
	"errors"
	"slices"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
)

// topicsRoute serves GET /topics?topic=a&topic=b: several hub topics on
// one connection, the page's one stream for all its topic panels. The
// transport is negotiated as on /topics/:topic (?transport=, Accept), by
// the same servers, so their shutdown hooks end these streams too.
func (a *app) topicsRoute(s *sse.Server, lp *longpoll.Server) error {
	sp, err := shortpoll.New(nil)
	if err != nil {
		return err
	}
	handlers := map[adapters.Transport]echo.HandlerFunc{
		adapters.SSE:       s.Topics(a.hub),
		adapters.LongPoll:  lp.Topics(a.hub, nil),
		adapters.ShortPoll: sp.Topics(a.hub),
	}
	enabled := func(t adapters.Transport) bool { return handlers[t] != nil && !slices.Contains(a.cfg.disable, t) }
	a.e.GET("/topics", func(c echo.Context) error {
		c.Response().Header().Add("Vary", "Accept")
		t, err := adapters.Negotiate(c.Request(), enabled)
		if err != nil {
			var ne *adapters.NegotiationError
			errors.As(err, &ne)
			return echo.NewHTTPError(ne.Status, err.Error())
		}
		return handlers[t](c)
	})
	return nil
}
