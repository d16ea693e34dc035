package adapters

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Action is what a request wants to do with a topic: [Subscribe] or
// [Publish].
type Action = transport.Action

// The actions an [AuthorizeFunc] decides on.
const (
	Subscribe = transport.Subscribe // follow the topic, on any transport
	Publish   = transport.Publish   // append an event to it
)

// AuthorizeFunc decides whether the request c may perform action on topic,
// before anything streams (for WebSocket, before the upgrade). A nil error
// allows it; an *echo.HTTPError is answered as it is (401 with a
// WWW-Authenticate header, say); any other error is answered 403 with its
// message.
type AuthorizeFunc func(c echo.Context, topic string, action Action) error

// AuthorizeConfig configures the [Authorize] middleware.
type AuthorizeConfig struct {
	// Skipper skips the check for some requests; nil skips none.
	Skipper middleware.Skipper
	// Topic picks the topic of a request; nil means the "topic" path
	// parameter. It must be the name function of the handler behind the
	// middleware, or the hook decides on another topic than the one
	// served: on a route "/rooms/:room", Topic nil sees "" and allows
	// what it should refuse. An [Endpoint] needs no middleware: its
	// [Options.Authorize] is asked with the handler's own topic.
	Topic func(echo.Context) string
	// Action tells what a request does; nil means Publish for POST and PUT,
	// Subscribe for everything else.
	Action func(echo.Context) Action
	// Authorize decides. It is required.
	Authorize AuthorizeFunc
}

// Authorize returns middleware that asks cfg.Authorize about every request
// to the routes it guards, so one hook covers every transport of a topic.
func Authorize(cfg AuthorizeConfig) (echo.MiddlewareFunc, error) {
	if cfg.Authorize == nil {
		return nil, errors.New("rxstream: AuthorizeConfig.Authorize is nil")
	}
	if cfg.Skipper == nil {
		cfg.Skipper = middleware.DefaultSkipper
	}
	if cfg.Topic == nil {
		cfg.Topic = func(c echo.Context) string { return c.Param("topic") }
	}
	if cfg.Action == nil {
		cfg.Action = func(c echo.Context) Action {
			switch c.Request().Method {
			case http.MethodPost, http.MethodPut:
				return Publish
			}
			return Subscribe
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if cfg.Skipper(c) {
				return next(c)
			}
			if err := cfg.Authorize(c, cfg.Topic(c), cfg.Action(c)); err != nil {
				return transport.Denied(err)
			}
			return next(c)
		}
	}, nil
}
