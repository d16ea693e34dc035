package adapters

import (
	"errors"
	"fmt"
	"io"
	"net/http"

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
	// Disable lists the transports the endpoint does not serve.
	Disable []Transport
	// Publish lets POST on a topic's URL publish its body as one event (the
	// "event" query parameter names it) and answer {"id": ...}. A POST
	// with an Idempotency-Key header publishes with that key (see
	// [KeyHeader]): a repeat is answered with the first one's ID.
	Publish bool
	// MaxPublish bounds the body of a publish; 0 means [DefaultMaxPublish].
	// A larger one is answered 413.
	MaxPublish int64
	// Authorize, when set, is asked about every request, on every
	// transport, before it is served, as [Authorize] does.
	Authorize AuthorizeFunc
	// Gate admits and ends the connections of the servers the endpoint
	// makes (see [Gate]); nil means one with default limits, made for
	// them. Servers given above keep their own Options.Gate.
	Gate *Gate
}

// Endpoint serves one source (a hub topic, several, or a per-request
// producer) on every enabled transport from one URL, picking the
// transport of each request with [Negotiate]. Clients switch transports
// with the same cursor. Its handlers are http.Handlers; on echo, wrap
// them with the rxecho package.
//
// All methods may be called concurrently.
type Endpoint struct {
	opts    Options
	enabled [ShortPoll + 1]bool
	own     []func() // Close of the servers the endpoint made
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
	if o.Gate == nil {
		o.Gate = &Gate{}
	}
	// Options that only name the Gate cannot fail.
	if o.SSE == nil {
		o.SSE, _ = sse.New(&sse.Options{Gate: o.Gate})
		ep.own = append(ep.own, o.SSE.Close)
	}
	if o.LongPoll == nil {
		o.LongPoll, _ = longpoll.New(&longpoll.Options{Gate: o.Gate})
		ep.own = append(ep.own, o.LongPoll.Close)
	}
	if o.ShortPoll == nil {
		o.ShortPoll, _ = shortpoll.New(&shortpoll.Options{Gate: o.Gate})
		ep.own = append(ep.own, o.ShortPoll.Close)
	}
	if o.WebSocket == nil {
		o.WebSocket, _ = websocket.New(&websocket.Options{Gate: o.Gate})
		ep.own = append(ep.own, o.WebSocket.Close)
	}
	return ep, nil
}

// Close ends the open streams of the transport servers the endpoint made
// (not those given in [Options]). Register it with the http.Server:
//
//	srv.RegisterOnShutdown(ep.Close)
func (ep *Endpoint) Close() {
	for _, c := range ep.own {
		c()
	}
}

// Topic returns a handler that serves the hub topic name picks from each
// request (see [Param]) on the transport [Negotiate] picks, and publishes
// to it on POST when [Options.Publish] is set. Other methods are answered
// 405.
//
//	mux.Handle("/topics/{topic}", ep.Topic(hub, adapters.Param("topic")))
func (ep *Endpoint) Topic(hub *framework.Hub, name func(*http.Request) string) http.Handler {
	o := &ep.opts
	serve := ep.negotiated([ShortPoll + 1]http.Handler{
		WebSocket: o.WebSocket.Topic(hub, name),
		SSE:       o.SSE.Topic(hub, name),
		LongPoll:  o.LongPoll.Topic(hub, name),
		ShortPoll: o.ShortPoll.Topic(hub, name),
	})
	var publish http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		notAllowed(w, "GET")
	})
	if o.Publish {
		publish = ep.publisher(hub, name)
	}
	return ep.guarded(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			serve.ServeHTTP(w, r)
		case http.MethodPost:
			publish.ServeHTTP(w, r)
		default:
			if o.Publish {
				notAllowed(w, "GET, POST")
				return
			}
			notAllowed(w, "GET")
		}
	}))
}

// Topics returns a handler that serves several hub topics in one request,
// those of its topic query parameters (?topic=a&topic=b), on the transport
// [Negotiate] picks: one connection for a page's every topic. Each topic is
// authorized on its own ([Options.Authorize]); events name their topic,
// and one composite cursor resumes them all, on every transport (see the
// transports' Topics). Publishing stays on each topic's own URL.
func (ep *Endpoint) Topics(hub *framework.Hub) http.Handler {
	o := &ep.opts
	return ep.guarded(ep.negotiated([ShortPoll + 1]http.Handler{
		WebSocket: o.WebSocket.Topics(hub),
		SSE:       o.SSE.Topics(hub),
		LongPoll:  o.LongPoll.Topics(hub),
		ShortPoll: o.ShortPoll.Topics(hub),
	}))
}

// ShortPollWait is how long a short-poll of a producer waits for the
// producer's first items, unless its server's options say otherwise: a
// producer keeps no history, so a short-poll answers with what a fresh one
// emits at once (a snapshot, the current value), or 204 No Content.
const ShortPollWait = shortpoll.DefaultWait

// Stream returns a handler that serves the observable p makes for each
// request on the transport [Negotiate] picks. A long-poll answers with the
// producer's first items; a short-poll with those it emits within
// [ShortPollWait]. The [Options.Authorize] hook is asked with topic "".
func (ep *Endpoint) Stream(p Producer) http.Handler {
	o := &ep.opts
	return ep.guarded(ep.negotiated([ShortPoll + 1]http.Handler{
		WebSocket: o.WebSocket.Stream(p),
		SSE:       o.SSE.Stream(p),
		LongPoll:  o.LongPoll.Stream(p),
		ShortPoll: o.ShortPoll.Stream(p),
	}))
}

// guarded hands the Authorize hook to the transports' front end, which
// asks it with each topic it reads.
func (ep *Endpoint) guarded(h http.Handler) http.Handler {
	if ep.opts.Authorize == nil {
		return h
	}
	return Authorize(h, ep.opts.Authorize)
}

// negotiated dispatches each request to the handler of its transport.
func (ep *Endpoint) negotiated(handlers [ShortPoll + 1]http.Handler) http.Handler {
	on := func(t Transport) bool { return ep.enabled[t] }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept")
		t, err := Negotiate(r, on)
		if err != nil {
			var ne *NegotiationError
			errors.As(err, &ne)
			transport.WriteError(w, transport.Status(ne.Status, err), 0)
			return
		}
		handlers[t].ServeHTTP(w, r)
	})
}

// publisher answers POST: the body is the event's data.
func (ep *Endpoint) publisher(hub *framework.Hub, name func(*http.Request) string) http.Handler {
	limit := ep.opts.MaxPublish
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		switch {
		case err != nil:
			err = transport.Status(http.StatusBadRequest, errors.New("rxstream: reading the body: "+err.Error()))
		case int64(len(body)) > limit:
			err = transport.Status(http.StatusRequestEntityTooLarge, errors.New("rxstream: event data larger than the limit"))
		}
		var topic, id string
		var opts framework.PublishOptions
		var repeat bool
		if err == nil {
			opts.Key, err = requestKey(r)
		}
		if err == nil {
			topic, err = transport.Topic(r, name, Publish)
		}
		if err == nil {
			id, repeat, err = hub.PublishWith(r.Context(), topic, framework.Event{Name: r.URL.Query().Get("event"), Data: body}, &opts)
		}
		switch {
		case err == nil:
			w.Header().Set("Content-Type", "application/json")
			if repeat {
				w.Header().Set(ReplayedHeader, "true")
			}
			_, _ = w.Write([]byte(`{"id":"` + id + `"}` + "\n")) // IDs are EPOCH-SEQ: nothing to escape
		case errors.Is(err, framework.ErrInvalidEvent), errors.Is(err, framework.ErrInvalidKey):
			transport.WriteError(w, transport.Status(http.StatusBadRequest, err), 0)
		case errors.Is(err, framework.ErrKeysUnsupported):
			transport.WriteError(w, transport.Status(http.StatusNotImplemented, err), 0)
		default:
			transport.WriteError(w, err, transport.DefaultRetryAfter)
		}
	})
}

// The headers of an idempotent publish.
const (
	// KeyHeader is the request header of a POST that carries the
	// publish's idempotency key ([framework.PublishOptions.Key]): 1 to
	// 255 bytes of printable ASCII, taken as it is (quotes, if any, are
	// part of it). A key the rule refuses, an empty header, or two of
	// them, is answered 400 with the rule; a key on a hub whose broker
	// cannot keep keys, 501. A cross-origin page that sends it needs the
	// server to allow it (Access-Control-Allow-Headers).
	KeyHeader = "Idempotency-Key"
	// ReplayedHeader is set to "true" on the answer of a POST whose key
	// the topic saw within the broker's key window: its {"id": ...} is
	// the first publish's, and nothing was published again.
	ReplayedHeader = "Idempotent-Replayed"
)

// requestKey returns the idempotency key of a publish, "" when it has none.
func requestKey(r *http.Request) (string, error) {
	keys := r.Header.Values(KeyHeader)
	switch len(keys) {
	case 0:
		return "", nil
	case 1:
		return keys[0], framework.CheckKey(keys[0])
	}
	return "", fmt.Errorf("%w: %d %s headers; send one", framework.ErrInvalidKey, len(keys), KeyHeader)
}

func notAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	transport.WriteError(w, transport.Status(http.StatusMethodNotAllowed,
		errors.New("rxstream: method not allowed here; allowed: "+allow)), 0)
}

// Param picks the topic name from the request's path value of that name:
// a {name} wildcard of an http.ServeMux pattern, or a :name parameter of
// an echo route served through the rxecho package, which sets the
// request's path values from the route's.
func Param(name string) func(*http.Request) string {
	return func(r *http.Request) string { return r.PathValue(name) }
}

// Producer makes the observable of a stream for one request, on every
// transport: r's context is the stream's lifetime, and cursor is the
// client's resume cursor ("" on a first connection).
type Producer = transport.Producer

// StatusError is an HTTP status with a message: return one from a
// [Producer] or an [AuthorizeFunc] to answer with that status; the
// transports answer every refusal with one, and their Go clients return
// one for an answer they do not retry.
type StatusError = transport.StatusError

// Why a stream or poll ended, as a transport server's Hooks.Closed is
// told; match them with errors.Is.
var (
	ErrCompleted  = transport.ErrCompleted
	ErrTimeout    = transport.ErrTimeout
	ErrClientGone = transport.ErrClientGone
	ErrShutdown   = transport.ErrShutdown
	// ErrExpired: the authorization hook's answer expired (see
	// [ExpiresAt]).
	ErrExpired = transport.ErrExpired
	// ErrRevoked: a [Gate] revoked the connection's user or topic.
	ErrRevoked = transport.ErrRevoked
)
