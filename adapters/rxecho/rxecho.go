// Package rxecho serves rxstream's net/http handlers on echo routes.
//
// Every rxstream handler (an [adapters.Endpoint]'s, or a transport
// server's) is an http.Handler; [Wrap] makes it an echo.HandlerFunc with
// no behaviour of its own, except that the route's path parameters become
// the request's path values, so that one name function,
// adapters.Param("topic"), reads a ServeMux's {topic} and an echo route's
// :topic alike:
//
//	ep, _ := adapters.New(&adapters.Options{Publish: true})
//	rxecho.Mount(e, "/topics/:topic", ep.Topic(hub, adapters.Param("topic")))
//	rxecho.Mount(e, "/topics", ep.Topics(hub))
//	rxecho.ServeClient(e)
//	e.Server.RegisterOnShutdown(ep.Close)
//
// The handlers write their own answers, errors included (JSON
// {"message": ...}, the same as on net/http): echo's HTTPErrorHandler does
// not see them, and echo's Logger and Recover middleware see a stream as
// one long request. A WebSocket's 101 is written past echo's Response, so
// the Logger reports the upgrade with the status echo's Response holds. [Producer] lets a producer written against
// echo.Context run behind the net/http core, and [Authorize] is the
// rxstream authorization hook as echo middleware.
package rxecho

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
)

type contextKey struct{}

// Wrap returns an echo handler that serves h. Before h runs, the route's
// path parameters are set as the request's path values (r.PathValue), and
// the echo.Context is put on the request's context for [Context]. It
// returns nil: h has answered.
func Wrap(h http.Handler) echo.HandlerFunc {
	return func(c echo.Context) error {
		h.ServeHTTP(c.Response(), request(c))
		return nil
	}
}

// request returns c's request with the route's path values and c on its
// context.
func request(c echo.Context) *http.Request {
	r := c.Request()
	if v, _ := r.Context().Value(contextKey{}).(echo.Context); v == c {
		return r // already done, by Authorize
	}
	r = r.WithContext(context.WithValue(r.Context(), contextKey{}, c))
	for i, name := range c.ParamNames() {
		if vals := c.ParamValues(); i < len(vals) {
			r.SetPathValue(name, vals[i])
		}
	}
	c.SetRequest(r)
	return r
}

// Context returns the echo.Context of a request served through [Wrap],
// or nil. Like the request, it must not be kept after the handler (or
// the producer or hook that is given the request) returns: echo reuses it.
func Context(r *http.Request) echo.Context {
	c, _ := r.Context().Value(contextKey{}).(echo.Context)
	return c
}

// Router is where [Mount] and [ServeClient] register routes: an
// *echo.Echo or an *echo.Group.
type Router interface {
	GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
	Any(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) []*echo.Route
}

// Mount registers h at path on r for every method: an Endpoint's Topic
// publishes on POST when that is enabled, and every handler answers a
// method it does not serve with 405 and an Allow header.
func Mount(r Router, path string, h http.Handler, m ...echo.MiddlewareFunc) {
	r.Any(path, Wrap(h), m...)
}

// ServeClient registers the browser client's files on r at
// adapters.ClientPath (see [adapters.ClientHandler]).
func ServeClient(r Router) {
	r.GET(adapters.ClientPath+"*", Wrap(adapters.ClientHandler()))
}

// Producer adapts a producer written against echo.Context to
// [adapters.Producer], for routes served through [Wrap]. c is valid only
// while p runs; c.Request().Context() is the stream's lifetime. An
// *echo.HTTPError that p returns keeps its status.
func Producer(p func(c echo.Context, cursor string) (rxgo.Observable, error)) adapters.Producer {
	return func(r *http.Request, cursor string) (rxgo.Observable, error) {
		c := Context(r)
		if c == nil {
			return nil, errors.New("rxstream: rxecho.Producer on a route not served through rxecho.Wrap")
		}
		saved := c.Request()
		c.SetRequest(r) // the stream's context
		defer c.SetRequest(saved)
		obs, err := p(c, cursor)
		return obs, Status(err)
	}
}

// Status returns err as an [adapters.StatusError] when it is an
// *echo.HTTPError, keeping its status and message, and err otherwise. It
// lets hooks written for echo answer with echo's error type.
func Status(err error) error {
	var he *echo.HTTPError
	if !errors.As(err, &he) {
		return err
	}
	msg := fmt.Sprint(he.Message)
	if m, ok := he.Message.(string); ok {
		msg = m
	}
	return &adapters.StatusError{Code: he.Code, Message: msg, Err: err}
}

// Authorize returns echo middleware that asks f about every topic the
// rxstream handler behind it serves: the topic its name function picks,
// each topic of a multiplexed request or of a WebSocket's subscribe
// messages, and a publish's, as [adapters.Authorize] does. An
// *echo.HTTPError from f keeps its status. f may call adapters.ExpiresAt
// and adapters.SetUser with the request it is given, as any hook does.
func Authorize(f adapters.AuthorizeFunc) echo.MiddlewareFunc {
	g := func(r *http.Request, topic string, a adapters.Action) error { return Status(f(r, topic, a)) }
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			var err error
			adapters.Authorize(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				c.SetRequest(r)
				err = next(c)
			}), g).ServeHTTP(c.Response(), request(c))
			return err
		}
	}
}

// GzipSkipper is a middleware.Skipper for echo's Gzip middleware that
// skips WebSocket upgrades, whose handshake the middleware would
// otherwise hold back:
//
//	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{Skipper: rxecho.GzipSkipper}))
//
// The WebSocket handlers also detect a compressing writer and upgrade
// past it, so the skipper only saves the middleware's work.
func GzipSkipper(c echo.Context) bool { return adapters.IsWebSocketUpgrade(c.Request()) }
