package adapters

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// DefaultMaxPublish bounds a published event's data unless
// [Options.MaxPublish] says otherwise.
const DefaultMaxPublish = 64 << 10

// Options configures an [Endpoint]. The zero value serves every transport
// with default servers and no publishing.
type Options struct {
	// The transport servers. A nil one is made with default options (and
	// closed by [Endpoint.Close]); give your own to configure it, or to
	// share it with routes outside the endpoint.
	SSE       *sse.Server
	LongPoll  *longpoll.Server
	ShortPoll *shortpoll.Server
	WebSocket *websocket.Server
	// LongPollHandler configures the long-poll handlers (timeout, callbacks);
	// nil means the server's defaults.
	LongPollHandler *longpoll.HandlerOptions
	// Disable lists the transports the endpoint does not serve.
	Disable []Transport
	// Publish lets POST on a topic's URL publish its body as one event (the
	// "event" query parameter names it) and answer {"id": ...}.
	Publish bool
	// MaxPublish bounds the body of a publish; 0 means [DefaultMaxPublish].
	// A larger one is answered 413.
	MaxPublish int64
	// Authorize, when set, is asked about every request, on every transport,
	// before it is served: Subscribe on GET, Publish on POST. Its topic is
	// the one the route's name function picks, the same value that is then
	// subscribed or published to (and "" for a producer's route, whose hook
	// reads what it needs from the request). Its error is answered as
	// [AuthorizeFunc] says.
	Authorize AuthorizeFunc
}

// Endpoint serves one source (a hub topic or a per-request producer) on
// every enabled transport from one URL, picking the transport of each
// request with [Negotiate]. Clients switch transports with the same cursor.
//
// All methods may be called concurrently.
type Endpoint struct {
	opts    Options
	enabled [ShortPoll + 1]bool
	own     []func() // Close of the servers the endpoint made
}

// Router is where [Endpoint.MountTopic] and [Endpoint.MountStream] register
// their routes: an *echo.Echo or an *echo.Group.
type Router interface {
	GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
	POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route
}

// New returns an Endpoint; opts may be nil. It fails when an option is out
// of range or every transport is disabled.
func New(opts *Options) (*Endpoint, error) {
	ep := &Endpoint{}
	if opts != nil {
		ep.opts = *opts
	}
	o := &ep.opts
	if o.MaxPublish < 0 {
		return nil, errors.New("rxstream: negative MaxPublish")
	}
	if o.MaxPublish == 0 {
		o.MaxPublish = DefaultMaxPublish
	}
	for t := WebSocket; t <= ShortPoll; t++ {
		ep.enabled[t] = true
	}
	for _, t := range o.Disable {
		if t < WebSocket || t > ShortPoll {
			return nil, errors.New("rxstream: Disable lists an unknown transport " + t.String())
		}
		ep.enabled[t] = false
	}
	if !ep.enabled[WebSocket] && !ep.enabled[SSE] && !ep.enabled[LongPoll] && !ep.enabled[ShortPoll] {
		return nil, errors.New("rxstream: every transport is disabled")
	}
	if o.SSE == nil {
		o.SSE = &sse.Server{}
		ep.own = append(ep.own, o.SSE.Close)
	}
	if o.LongPoll == nil {
		o.LongPoll = &longpoll.Server{}
		ep.own = append(ep.own, o.LongPoll.Close)
	}
	if o.ShortPoll == nil {
		o.ShortPoll = &shortpoll.Server{}
	}
	if o.WebSocket == nil {
		o.WebSocket = &websocket.Server{}
		ep.own = append(ep.own, o.WebSocket.Close)
	}
	return ep, nil
}

// Close ends the open streams of the transport servers the endpoint made
// (not those given in [Options]). Register it with the http.Server:
//
//	e.Server.RegisterOnShutdown(ep.Close)
func (ep *Endpoint) Close() {
	for _, c := range ep.own {
		c()
	}
}

// Topic returns a handler that serves the hub topic name picks from each
// request on the transport [Negotiate] picks, and publishes to it on POST
// when [Options.Publish] is set. Register it for GET (and POST), or use
// [Endpoint.MountTopic].
func (ep *Endpoint) Topic(hub *framework.Hub, name func(echo.Context) string) echo.HandlerFunc {
	o := &ep.opts
	handlers := [ShortPoll + 1]echo.HandlerFunc{
		WebSocket: o.WebSocket.Topic(hub, name),
		SSE:       o.SSE.Topic(hub, name),
		LongPoll:  o.LongPoll.Topic(hub, name, o.LongPollHandler),
		ShortPoll: o.ShortPoll.Topic(hub, name),
	}
	serve := ep.negotiated(handlers, ep.enabled)
	publish := ep.publisher(hub, name)
	return func(c echo.Context) error {
		ep.guard(c)
		if c.Request().Method == http.MethodPost {
			return publish(c)
		}
		return serve(c)
	}
}

// Topics returns a handler that serves several hub topics in one request,
// those of its topic query parameters (?topic=a&topic=b), on the transport
// [Negotiate] picks: one connection for a page's every topic. Each topic is
// authorized on its own ([Options.Authorize]); events name their topic,
// and one composite cursor resumes them all, on every transport (see the
// transports' Topics). Register it for GET, or use [Endpoint.MountTopics];
// publishing stays on each topic's own URL.
func (ep *Endpoint) Topics(hub *framework.Hub) echo.HandlerFunc {
	o := &ep.opts
	handlers := [ShortPoll + 1]echo.HandlerFunc{
		WebSocket: o.WebSocket.Topics(hub),
		SSE:       o.SSE.Topics(hub),
		LongPoll:  o.LongPoll.Topics(hub, o.LongPollHandler),
		ShortPoll: o.ShortPoll.Topics(hub),
	}
	serve := ep.negotiated(handlers, ep.enabled)
	return func(c echo.Context) error {
		ep.guard(c)
		return serve(c)
	}
}

// MountTopics registers [Endpoint.Topics] at path on r for GET.
func (ep *Endpoint) MountTopics(r Router, path string, hub *framework.Hub) {
	r.GET(path, ep.Topics(hub))
}

// guard hands the Authorize hook to the transports' front end, which asks
// it with each topic it reads.
func (ep *Endpoint) guard(c echo.Context) {
	if ep.opts.Authorize != nil {
		transport.SetGuard(c, transport.Guard(ep.opts.Authorize))
	}
}

// Producer makes the observable of a stream for one request, as in each
// transport's package: c's request context is the stream's lifetime, and
// cursor is the client's resume cursor ("" on a first connection).
type Producer func(c echo.Context, cursor string) (rxgo.Observable, error)

// ShortPollWait is how long a short-poll of a producer waits for the
// producer's first items: a producer keeps no history, so a short-poll
// answers with what a fresh one emits at once (a snapshot, the current
// value), or 204 No Content.
const ShortPollWait = 50 * time.Millisecond

// Stream returns a handler that serves the observable p makes for each
// request on the transport [Negotiate] picks. A long-poll answers with the
// producer's first items; a short-poll with those it emits within
// [ShortPollWait].
func (ep *Endpoint) Stream(p Producer) echo.HandlerFunc {
	o := &ep.opts
	handlers := [ShortPoll + 1]echo.HandlerFunc{
		WebSocket: o.WebSocket.Stream(websocket.Producer(p)),
		SSE:       o.SSE.Stream(sse.Producer(p)),
		LongPoll:  o.LongPoll.Stream(longpoll.Producer(p), o.LongPollHandler),
		// The long-poll's producer path, with a short-poll's patience.
		ShortPoll: o.LongPoll.Stream(longpoll.Producer(p), &longpoll.HandlerOptions{Timeout: ShortPollWait, BatchWindow: -1}),
	}
	serve := ep.negotiated(handlers, ep.enabled)
	if ep.opts.Authorize == nil {
		return serve
	}
	return func(c echo.Context) error {
		if err := ep.opts.Authorize(c, "", Subscribe); err != nil {
			return transport.Denied(err)
		}
		return serve(c)
	}
}

// MountTopic registers [Endpoint.Topic] at path on r: GET for every
// transport, POST when [Options.Publish] is set. Other methods get 405.
func (ep *Endpoint) MountTopic(r Router, path string, hub *framework.Hub, name func(echo.Context) string) {
	h := ep.Topic(hub, name)
	r.GET(path, h)
	if ep.opts.Publish {
		r.POST(path, h)
	}
}

// MountStream registers [Endpoint.Stream] at path on r for GET.
func (ep *Endpoint) MountStream(r Router, path string, p Producer) {
	r.GET(path, ep.Stream(p))
}

// Param picks the topic name from the echo path parameter of that name.
func Param(name string) func(echo.Context) string {
	return func(c echo.Context) string { return c.Param(name) }
}

// negotiated dispatches each request to the handler of its transport.
func (ep *Endpoint) negotiated(handlers [ShortPoll + 1]echo.HandlerFunc, enabled [ShortPoll + 1]bool) echo.HandlerFunc {
	on := func(t Transport) bool { return enabled[t] }
	return func(c echo.Context) error {
		c.Response().Header().Add("Vary", "Accept")
		t, err := Negotiate(c.Request(), on)
		if err != nil {
			var ne *NegotiationError
			errors.As(err, &ne)
			return echo.NewHTTPError(ne.Status, err.Error())
		}
		return handlers[t](c)
	}
}

// publisher answers POST: the body is the event's data.
func (ep *Endpoint) publisher(hub *framework.Hub, name func(echo.Context) string) echo.HandlerFunc {
	if !ep.opts.Publish {
		return func(echo.Context) error {
			return echo.NewHTTPError(http.StatusMethodNotAllowed, "rxstream: publishing is not enabled here")
		}
	}
	limit := ep.opts.MaxPublish
	return func(c echo.Context) error {
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, limit+1))
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, "rxstream: reading the body: "+err.Error())
		}
		if int64(len(body)) > limit {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "rxstream: event data larger than the limit")
		}
		topic, err := transport.Topic(c, name, Publish)
		if err == nil {
			var id string
			id, err = hub.Publish(c.Request().Context(), topic, framework.Event{Name: c.QueryParam("event"), Data: body})
			if err == nil {
				return c.JSON(http.StatusOK, map[string]string{"id": id})
			}
		}
		if errors.Is(err, framework.ErrInvalidEvent) {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		return transport.Refuse(err, transport.DefaultRetryAfter).HTTPError(c)
	}
}
