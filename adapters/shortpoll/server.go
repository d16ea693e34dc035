package shortpoll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Defaults of [Options].
const (
	DefaultInterval  = 2 * time.Second
	DefaultMaxEvents = 128
)

// Response headers. CursorHeader carries the cursor to send next time (as
// the body's cursor does); IntervalHeader the suggested delay before the
// next poll, in milliseconds (as the body's retry does).
const (
	CursorHeader   = transport.CursorHeader
	IntervalHeader = transport.IntervalHeader
)

// Options configures a [Server]. The zero value means defaults.
type Options struct {
	// Interval is the delay before the next poll that answers suggest
	// (the body's "retry" and [IntervalHeader]); 0 means
	// [DefaultInterval]. An answer cut at MaxEvents suggests 0: more
	// events are waiting.
	Interval time.Duration
	// MaxEvents bounds the events of one answer; 0 means
	// [DefaultMaxEvents].
	MaxEvents int
	// MaxTopics bounds the topics of one request to [Server.Topics]; 0
	// means 64. More are answered 400.
	MaxTopics int
}

// Server answers short-poll requests on echo routes: each request is
// answered at once with the events after its cursor, possibly none. It
// holds no request, so it needs no shutdown hook.
//
// The zero Server is ready to use with default options. All methods may be
// called concurrently.
type Server struct {
	opts Options
}

// New returns a Server with the given options; opts may be nil. It fails
// when an option is out of range.
func New(opts *Options) (*Server, error) {
	s := &Server{}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxEvents < 0 || s.opts.Interval < 0 || s.opts.MaxTopics < 0 {
		return nil, errors.New("rxstream: shortpoll: negative MaxEvents, Interval or MaxTopics")
	}
	return s, nil
}

func (s *Server) options() Options {
	o := s.opts
	if o.Interval == 0 {
		o.Interval = DefaultInterval
	}
	if o.MaxEvents == 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	return o
}

// Topic returns a handler that answers at once with the events of the hub
// topic that name picks from each request (see [Param]) after the client's
// cursor (the cursor or lastEventId query parameter, or the Last-Event-ID
// header, which wins). An empty cursor
// gets no events and the topic's tip as cursor. A cursor older than the
// retained history gets the retained events with a gap notice; a malformed
// cursor or topic name is answered 400; a topic or hub at its limits, or a
// broker that is down, 503 with a jittered Retry-After.
//
// Every answer carries an ETag, the quoted cursor: a request whose
// If-None-Match holds it is answered 304 Not Modified, without a body, when
// nothing is new.
func (s *Server) Topic(hub *framework.Hub, name func(echo.Context) string) echo.HandlerFunc {
	return s.serve(hub, session.Options{Name: name})
}

// Topics returns a handler like [Server.Topic] for several hub topics in
// one request: those of its topic query parameters (?topic=a&topic=b, at
// most [Options.MaxTopics]), each authorized and resumed on its own. An
// answer carries the events of every topic, each naming its topic, with
// each topic's gap notices among them (envelopes named "gap"), and a
// composite cursor that resumes every topic.
func (s *Server) Topics(hub *framework.Hub) echo.HandlerFunc {
	return s.serve(hub, session.Options{MaxTopics: s.opts.MaxTopics})
}

func (s *Server) serve(hub *framework.Hub, so session.Options) echo.HandlerFunc {
	o := s.options()
	so.Retry = o.Interval
	interval := strconv.FormatInt(o.Interval.Milliseconds(), 10)
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("Vary", "Last-Event-ID")
		sess, _, err := session.Open(c, hub, so)
		if err != nil {
			return transport.Refuse(err, 0).HTTPError(c)
		}
		defer sess.Close()
		body := transport.PollBody{Events: []transport.Envelope{}, Cursor: sess.Cursor()}
		full, err := session.Gather(c.Request().Context(), sess, &body, o.MaxEvents)
		if err != nil && len(body.Events) == 0 && body.Gap == nil {
			if errors.Is(err, context.Canceled) {
				return nil // the client left
			}
			return transport.Refuse(err, o.Interval).HTTPError(c)
		}
		etag := strconv.Quote(body.Cursor)
		h.Set("ETag", etag)
		h.Set(CursorHeader, body.Cursor)
		retry := interval
		ms := o.Interval.Milliseconds()
		if full {
			retry, ms = "0", 0
		}
		h.Set(IntervalHeader, retry)
		if len(body.Events) == 0 && body.Gap == nil && matches(c.Request().Header.Get("If-None-Match"), etag) {
			return c.NoContent(http.StatusNotModified)
		}
		body.Retry = &ms
		b, err := json.Marshal(&body)
		if err != nil { // cannot happen: strings, numbers and a Gap
			return err
		}
		return c.JSONBlob(http.StatusOK, b)
	}
}

// matches reports whether an If-None-Match header holds etag (weak
// comparison, as RFC 9110 asks for If-None-Match).
func matches(header, etag string) bool {
	for header != "" {
		var tag string
		tag, header, _ = strings.Cut(header, ",")
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

// Param picks the topic name from the echo path parameter of that name.
func Param(name string) func(echo.Context) string {
	return func(c echo.Context) string { return c.Param(name) }
}
