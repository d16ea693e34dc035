package longpoll

import (
	"errors"
	"log/slog"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Defaults of [Options].
const (
	DefaultTimeout       = 30 * time.Second
	DefaultBatchWindow   = 20 * time.Millisecond
	DefaultMaxEvents     = 128
	DefaultWriteTimeout  = 10 * time.Second
	DefaultShutdownRetry = 2 * time.Second
)

// CursorHeader is the response header that carries the cursor to send with
// the next poll. Every answer that knows it has it: events (where it equals
// the body's cursor), a timeout's 204 (the request's cursor, or the topic's
// tip when the request had none) and the 503 of a shutdown.
const CursorHeader = transport.CursorHeader

// Options configures a [Server]. The zero value means defaults.
type Options struct {
	// Timeout is how long a request waits for a first event before it is
	// answered 204 No Content; 0 means [DefaultTimeout], negative means it
	// waits until an event arrives, the client leaves or the server closes.
	// [HandlerOptions] can set it per handler.
	Timeout time.Duration
	// BatchWindow is how long a request that got its first event waits for
	// more to send in the same answer; 0 means [DefaultBatchWindow],
	// negative means it answers with the first events at once.
	BatchWindow time.Duration
	// MaxEvents bounds the events of one answer; 0 means
	// [DefaultMaxEvents].
	MaxEvents int
	// WriteTimeout is the deadline of an answer's write. It is set just
	// before writing, so it replaces the http.Server's WriteTimeout (which
	// would otherwise cut requests that waited longer); 0 means
	// [DefaultWriteTimeout], negative leaves the connection's deadline as
	// it is.
	WriteTimeout time.Duration
	// ShutdownRetry is the delay after which clients are told to poll again
	// when [Server.Close] answers their request 503, jittered to [d, 2d) so
	// they do not come back at once; 0 means [DefaultShutdownRetry].
	ShutdownRetry time.Duration
	// MaxTopics bounds the topics of one request to [Server.Topics]; 0
	// means 64. More are answered 400.
	MaxTopics int
	// Logger receives debug lines about failed producers and subscriptions;
	// nil means slog.Default().
	Logger *slog.Logger
}

// HandlerOptions configures one handler, in the spirit of Spring's
// DeferredResult: its timeout and callbacks. Zero fields take the
// [Server]'s [Options].
type HandlerOptions struct {
	// Timeout and BatchWindow override the Server's options of the same
	// name when non-zero (negative: none), MaxEvents when positive.
	Timeout     time.Duration
	BatchWindow time.Duration
	MaxEvents   int

	// OnTimeout is called when the timeout expires with nothing to answer,
	// like DeferredResult.onTimeout; cursor is the one the client should
	// send next time. It may write its own answer with c (a custom timeout
	// result); when it writes none, the answer is 204 No Content with the
	// cursor in [CursorHeader]. A returned error is answered by echo's
	// error handler.
	OnTimeout func(c echo.Context, cursor string) error
	// OnError is called when the request ends on an error: a malformed
	// cursor or topic, the producer's failure (its error or an error item
	// before any event), or a subscription that failed. It may write its
	// own answer with c; when it writes none, the error is answered as JSON
	// {"message": ...} (400 for bad input, the status of an *echo.HTTPError,
	// else 500 for a producer, 503 for a subscription). A returned error
	// replaces err.
	OnError func(c echo.Context, err error) error
	// OnCompletion is called exactly once per request that reached the
	// handler, when it ends, whatever the [Outcome] (including the client
	// leaving and the server shutting down), before the handler returns.
	OnCompletion func(c echo.Context, o Outcome)
}

// Outcome says how a long-poll request ended.
type Outcome int

const (
	// Answered means the request was answered 200 with events (possibly
	// none, when a producer completed without any) or a gap notice.
	Answered Outcome = iota + 1
	// TimedOut means nothing arrived before the timeout.
	TimedOut
	// Failed means the request was answered with an error.
	Failed
	// Gone means the client left before an answer.
	Gone
	// ShutDown means [Server.Close] ended the request (answered 503).
	ShutDown
)

// String returns the outcome's name.
func (o Outcome) String() string {
	switch o {
	case Answered:
		return "answered"
	case TimedOut:
		return "timed out"
	case Failed:
		return "failed"
	case Gone:
		return "gone"
	case ShutDown:
		return "shut down"
	}
	return "unknown"
}

// Server answers long-poll requests on echo routes: a request waits until
// there are events after its cursor, the timeout, or the server's shutdown.
// It tracks the waiting requests, so [Server.Close] can answer them all at
// shutdown.
//
// The zero Server is ready to use with default options. All methods may be
// called concurrently.
type Server struct {
	opts  Options
	polls transport.Registry
}

// New returns a Server with the given options; opts may be nil. It fails
// when an option is out of range.
func New(opts *Options) (*Server, error) {
	s := &Server{}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxEvents < 0 || s.opts.ShutdownRetry < 0 || s.opts.MaxTopics < 0 {
		return nil, errors.New("rxstream: longpoll: negative MaxEvents, ShutdownRetry or MaxTopics")
	}
	return s, nil
}

// settings are the resolved options of one handler.
type settings struct {
	timeout, window, writeTimeout, shutdownRetry time.Duration // 0: none
	max                                          int
	log                                          *slog.Logger
	cb                                           HandlerOptions
}

func (s *Server) settings(h *HandlerOptions) settings {
	o := s.opts
	var st settings
	if h != nil {
		st.cb = *h
		if h.Timeout != 0 {
			o.Timeout = h.Timeout
		}
		if h.BatchWindow != 0 {
			o.BatchWindow = h.BatchWindow
		}
		if h.MaxEvents > 0 {
			o.MaxEvents = h.MaxEvents
		}
	}
	pick := func(d, def time.Duration) time.Duration {
		switch {
		case d == 0:
			return def
		case d < 0:
			return 0
		}
		return d
	}
	st.timeout = pick(o.Timeout, DefaultTimeout)
	st.window = pick(o.BatchWindow, DefaultBatchWindow)
	st.writeTimeout = pick(o.WriteTimeout, DefaultWriteTimeout)
	st.shutdownRetry = pick(o.ShutdownRetry, DefaultShutdownRetry)
	st.max = o.MaxEvents
	if st.max <= 0 {
		st.max = DefaultMaxEvents
	}
	st.log = o.Logger
	if st.log == nil {
		st.log = slog.Default()
	}
	return st
}

// Close answers every waiting request 503 Service Unavailable, with a
// jittered Retry-After of [Options.ShutdownRetry] and the cursor in
// [CursorHeader], so that clients poll again elsewhere; later requests get
// the same answer. It returns at once. Register it with the http.Server so
// that Shutdown does not wait for requests held up to their timeout:
//
//	e.Server.RegisterOnShutdown(lp.Close)
func (s *Server) Close() { s.polls.Close() }

// Open returns the number of requests being held.
func (s *Server) Open() int { return s.polls.Len() }

// Producer makes the observable of one long-poll request, like a Spring
// handler that returns a DeferredResult. c's request context
// (c.Request().Context()) is the observable's lifetime: the handler cancels
// it as soon as it has its answer (the first item, and those that arrive
// within the batching window), when the timeout expires, when the client
// leaves and at shutdown, and waits (up to a second) for the producer to
// stop before answering. Build every rxgo stage with rxgo.WithContext(ctx)
// of it, or use the streams package, so nothing outlives the request.
// cursor is the client's cursor (the cursor or lastEventId query
// parameter, or the Last-Event-ID header, which wins), empty on a first
// request.
//
// c must not be used after Producer returns (echo reuses it). Items may be
// [framework.Event], [framework.Gap] or anything [streams.ToEvent]
// converts; an error item before any event fails the request. A non-nil
// error answers the request instead (an *echo.HTTPError keeps its status).
type Producer func(c echo.Context, cursor string) (rxgo.Observable, error)

// Stream returns a handler that answers each request with the first items of
// the observable p makes for it; h may be nil.
func (s *Server) Stream(p Producer, h *HandlerOptions) echo.HandlerFunc {
	st := s.settings(h)
	return func(c echo.Context) error {
		r := s.begin(c, &st)
		defer r.finish()
		if err := r.askedTimeout(); err != nil {
			return r.fail(err)
		}
		cursor, err := transport.RequestCursor(c.Request(), framework.MaxCursorLen)
		if err != nil {
			return r.refuse(err)
		}
		r.body.Cursor = cursor
		if !r.open() {
			return r.shutdown()
		}
		defer r.done()
		return r.serveProducer(p, cursor)
	}
}

// Topic returns a handler that answers with the events of the hub topic
// that name picks from each request (see [Param]) after the client's
// cursor; h may be nil. Retained events are answered at once; otherwise
// the request waits for the next event. A malformed cursor or topic name is
// answered 400; a cursor older than the retained history gets the retained
// events with a gap notice; a topic or hub at its limits, or a broker that
// is down, is answered 503 with a jittered Retry-After.
func (s *Server) Topic(hub *framework.Hub, name func(echo.Context) string, h *HandlerOptions) echo.HandlerFunc {
	return s.serve(hub, session.Options{Name: name}, h)
}

// Topics returns a handler like [Server.Topic] for several hub topics in
// one request: those of its topic query parameters (?topic=a&topic=b, at
// most [Options.MaxTopics]), each authorized and resumed on its own. An
// answer carries the events of every topic, each naming its topic
// ({"topic","id","event","data"}), with each topic's gap notices among
// them (envelopes named "gap" whose data is {"last","next"}), and a
// composite cursor that resumes every topic; h may be nil.
func (s *Server) Topics(hub *framework.Hub, h *HandlerOptions) echo.HandlerFunc {
	return s.serve(hub, session.Options{MaxTopics: s.opts.MaxTopics}, h)
}

func (s *Server) serve(hub *framework.Hub, o session.Options, h *HandlerOptions) echo.HandlerFunc {
	st := s.settings(h)
	o.Retry = st.shutdownRetry
	return func(c echo.Context) error {
		r := s.begin(c, &st)
		defer r.finish()
		if err := r.askedTimeout(); err != nil {
			return r.fail(err)
		}
		sess, _, err := session.Open(c, hub, o)
		if err != nil {
			return r.refuse(err)
		}
		defer sess.Close()
		r.body.Cursor = sess.Cursor()
		if !r.open() {
			return r.shutdown()
		}
		defer r.done()
		return r.serveSession(sess)
	}
}

// Param picks the topic name from the echo path parameter of that name.
func Param(name string) func(echo.Context) string {
	return func(c echo.Context) string { return c.Param(name) }
}
