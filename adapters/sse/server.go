package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// Defaults of [Options].
const (
	DefaultHeartbeat     = 15 * time.Second
	DefaultWriteTimeout  = 10 * time.Second
	DefaultMaxBatch      = 128
	DefaultShutdownRetry = 2 * time.Second
)

// Options configures a [Server]. The zero value means defaults.
type Options struct {
	// Heartbeat is the interval of the comment lines that keep an idle
	// stream open through proxies; 0 means [DefaultHeartbeat], negative
	// turns heartbeats off.
	Heartbeat time.Duration
	// WriteTimeout is the deadline of each write: a client that stops
	// reading is dropped after it, whatever the http.Server's WriteTimeout
	// (which must be 0 for streams). 0 means [DefaultWriteTimeout], negative
	// means no deadline.
	WriteTimeout time.Duration
	// Retry, when positive, is sent as the client's reconnection delay when
	// a stream opens.
	Retry time.Duration
	// ShutdownRetry is the reconnection delay sent to every client when
	// [Server.Close] ends its stream, jittered to [d, 2d) so the clients do
	// not come back at once; 0 means [DefaultShutdownRetry].
	ShutdownRetry time.Duration
	// MaxBatch bounds how many queued events are coalesced into one write
	// and one flush; 0 means [DefaultMaxBatch].
	MaxBatch int
	// MaxTopics bounds the topics of one request to [Server.Topics]; 0
	// means 64. More are answered 400.
	MaxTopics int
	// Logger receives a line per stream that ends on an error; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Server renders streams as Server-Sent Events on echo routes. It tracks its
// open streams, so [Server.Close] can end them all at shutdown.
//
// The zero Server is ready to use with default options. All methods may be
// called concurrently.
type Server struct {
	opts    Options
	streams transport.Registry
}

// New returns a Server with the given options; opts may be nil. It fails
// when an option is out of range.
func New(opts *Options) (*Server, error) {
	s := &Server{}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.MaxBatch < 0 || s.opts.ShutdownRetry < 0 || s.opts.Retry < 0 || s.opts.MaxTopics < 0 {
		return nil, errors.New("rxstream: sse: negative MaxBatch, ShutdownRetry, Retry or MaxTopics")
	}
	return s, nil
}

func (s *Server) options() Options {
	o := s.opts
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.ShutdownRetry == 0 {
		o.ShutdownRetry = DefaultShutdownRetry
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Close ends every open stream (each client is told to reconnect after a
// jittered [Options.ShutdownRetry]) and answers later requests with 503. It
// returns at once; the handlers return as soon as their final write is done.
// Register it with the http.Server so that Shutdown does not wait for
// streams that never end:
//
//	e.Server.RegisterOnShutdown(sseServer.Close)
func (s *Server) Close() { s.streams.Close() }

// Open returns the number of streams being served.
func (s *Server) Open() int { return s.streams.Len() }

// Producer makes the observable of a stream for one request. c's request
// context (c.Request().Context()) is the stream's lifetime: it ends when the
// client leaves, the stream ends or the server closes; build every rxgo
// stage with rxgo.WithContext(ctx) of it, or use the streams package, so
// nothing outlives it. cursor is the client's cursor (the Last-Event-ID
// header, or the lastEventId or cursor query parameter), empty on a first
// connection.
//
// c must not be used after Producer returns (echo reuses it). Items may be
// [framework.Event], [framework.Gap] or anything [streams.ToEvent] converts;
// an error item ends the stream with an "error" event. A non-nil error
// answers the request instead (an *echo.HTTPError keeps its status).
type Producer func(c echo.Context, cursor string) (rxgo.Observable, error)

// Stream returns a handler that serves the observable p makes for each
// request.
func (s *Server) Stream(p Producer) echo.HandlerFunc {
	return func(c echo.Context) error {
		cursor, err := transport.RequestCursor(c.Request(), framework.MaxCursorLen)
		if err != nil {
			return transport.Refuse(err, 0).HTTPError(c)
		}
		st, err := s.open(c)
		if err != nil {
			return err
		}
		defer st.done()
		c.SetRequest(c.Request().WithContext(st.ctx))
		obs, err := p(c, cursor)
		if err != nil {
			return err
		}
		if obs == nil {
			return errors.New("rxstream: sse: producer returned no observable")
		}
		items := obs.Observe(rxgo.WithContext(st.ctx))
		st.start()
		st.serveItems(items)
		return nil
	}
}

// Topic returns a handler that streams the hub topic that name picks from
// each request (see [Param]), resuming after the client's cursor: the
// Last-Event-ID header, or the lastEventId or cursor query parameter (the
// header wins; two different ones in the query are a 400). A malformed
// cursor or topic name is answered 400; a topic or hub at its limits, or a
// broker that is down, 503 with a jittered Retry-After.
func (s *Server) Topic(hub *framework.Hub, name func(echo.Context) string) echo.HandlerFunc {
	return s.serve(hub, session.Options{Name: name})
}

// Topics returns a handler that streams several hub topics on one
// connection: those of the request's topic query parameters
// (?topic=a&topic=b, at most [Options.MaxTopics]), each authorized and
// resumed on its own. Each event's data is JSON naming its topic and its
// own ID, {"topic":"a","id":"EPOCH-7","data":"..."}, under its own event
// name; a gap notice is an event named "gap" whose data is
// {"topic","last","next"}. Every id is a composite cursor naming each
// topic's position, so that an EventSource's own reconnection, which
// resends only the last id, resumes every topic exactly. Refusals are
// those of [Server.Topic], naming the topic.
func (s *Server) Topics(hub *framework.Hub) echo.HandlerFunc {
	return s.serve(hub, session.Options{MaxTopics: s.opts.MaxTopics})
}

func (s *Server) serve(hub *framework.Hub, o session.Options) echo.HandlerFunc {
	o.Retry = s.options().ShutdownRetry
	return func(c echo.Context) error {
		sess, cursor, err := session.Open(c, hub, o)
		if err != nil {
			return transport.Refuse(err, 0).HTTPError(c)
		}
		defer sess.Close()
		st, err := s.open(c)
		if err != nil {
			return err
		}
		defer st.done()
		if tip := sess.Cursor(); tip != cursor {
			// A block with only an id sets the client's Last-Event-ID to
			// where it stands (the tip of each topic it gave no position
			// for) without dispatching an event: a client cut off before
			// its first event resumes from here and loses nothing.
			st.buf = append(append(append(st.buf[:0], "id: "...), tip...), "\n\n"...)
		}
		st.start()
		st.serveSession(sess)
		return nil
	}
}

// Param picks the topic name from the echo path parameter of that name.
func Param(name string) func(echo.Context) string {
	return func(c echo.Context) string { return c.Param(name) }
}

// stream is one response being served. It lives in the handler's goroutine.
type stream struct {
	opts Options
	ctx  context.Context
	done func()
	w    http.ResponseWriter
	rc   *http.ResponseController
	buf  []byte
	hb   *time.Ticker
	hbC  <-chan time.Time
}

func (s *Server) open(c echo.Context) (*stream, error) {
	w := c.Response()
	if !transport.CanFlush(w) {
		return nil, echo.NewHTTPError(http.StatusInternalServerError,
			"rxstream: sse: the response writer cannot flush (is echo's Timeout middleware on this route?)")
	}
	opts := s.options()
	ctx, done, ok := s.streams.Open(c.Request().Context())
	if !ok {
		return nil, transport.Refuse(transport.ErrShutdown, opts.ShutdownRetry).HTTPError(c)
	}
	return &stream{opts: opts, ctx: ctx, done: done, w: w, rc: http.NewResponseController(w.Writer)}, nil
}

// start sends the headers, the retry hint and whatever st.buf holds, so the
// client sees the stream open at once.
func (st *stream) start() {
	h := st.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
	st.w.WriteHeader(http.StatusOK)
	if st.opts.Retry > 0 {
		st.buf = appendRetry(st.buf, st.opts.Retry)
	}
	if st.opts.Heartbeat > 0 {
		st.hb = time.NewTicker(st.opts.Heartbeat)
		st.hbC = st.hb.C
	}
	st.flush()
}

// appendRetry encodes a retry hint alone: a block without data dispatches
// no event.
func appendRetry(b []byte, d time.Duration) []byte {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return fmt.Appendf(b, "retry: %d\n\n", ms)
}

// flush writes buf with one write and one flush under the write deadline.
// It returns false when the client is gone.
func (st *stream) flush() bool {
	if st.opts.WriteTimeout > 0 {
		_ = st.rc.SetWriteDeadline(time.Now().Add(st.opts.WriteTimeout)) // unsupported: no deadline
	}
	if len(st.buf) > 0 {
		if _, err := st.w.Write(st.buf); err != nil {
			return st.fail(err)
		}
	}
	if err := st.rc.Flush(); err != nil {
		return st.fail(err)
	}
	st.buf = st.buf[:0]
	if st.hb != nil {
		st.hb.Reset(st.opts.Heartbeat)
	}
	return true
}

func (st *stream) fail(err error) bool {
	if st.ctx.Err() == nil {
		st.opts.Logger.Debug("rxstream: sse: client dropped", "err", err)
	}
	st.done()
	return false
}

// heartbeat writes a comment line. The stream has been idle since the
// last write: a burst's buffer is let go.
func (st *stream) heartbeat() bool {
	st.buf = AppendComment(transport.Idle(st.buf), "heartbeat")
	return st.flush()
}

// end finishes a stream the context ended: at shutdown the client is told
// when to come back.
func (st *stream) end() {
	if st.hb != nil {
		st.hb.Stop()
	}
	if transport.ShuttingDown(st.ctx) {
		// appendRetry rounds up to a whole millisecond, which could reach
		// 2*ShutdownRetry: round down instead when that stays >= ShutdownRetry.
		d := transport.Jitter(st.opts.ShutdownRetry)
		if t := d.Truncate(time.Millisecond); t >= st.opts.ShutdownRetry {
			d = t
		}
		st.buf = appendRetry(st.buf[:0], d)
		st.ctx = context.Background() // the final write has its own deadline
		st.flush()
	}
}

// appendGap encodes a gap notice: an event named "gap" whose data is the
// [framework.Gap] as JSON. It carries id only when given one, so the
// client's Last-Event-ID moves past a gap that no event follows.
func (st *stream) appendGap(g framework.Gap, id string) {
	data, _ := json.Marshal(g)
	st.buf, _ = AppendEvent(st.buf, framework.Event{ID: id, Name: "gap", Data: data})
}

// appendError encodes the "error" event that ends a stream whose producer
// failed.
func (st *stream) appendError(err error) {
	msg := err.Error()
	if !utf8.ValidString(msg) {
		msg = "producer error"
	}
	st.buf, _ = AppendEvent(st.buf, framework.Event{Name: "error", Data: []byte(msg)})
}

func (st *stream) serveItems(items <-chan rxgo.Item) {
	defer st.end()
	for {
		select {
		case it, ok := <-items:
			if !ok {
				return
			}
			st.buf = st.buf[:0]
			last := !st.appendItem(it)
			for n := 1; !last && n < st.opts.MaxBatch; n++ {
				select {
				case it, ok = <-items:
				default:
					n = st.opts.MaxBatch
					continue
				}
				if !ok {
					last = true
					break
				}
				last = !st.appendItem(it)
			}
			if !st.flush() || last {
				return
			}
		case <-st.hbC:
			if !st.heartbeat() {
				return
			}
		case <-st.ctx.Done():
			return
		}
	}
}

// appendItem encodes one producer item; it returns false when the item ends
// the stream (an error, or an event that cannot be encoded).
func (st *stream) appendItem(it rxgo.Item) bool {
	if it.E != nil {
		st.appendError(it.E)
		return false
	}
	switch v := it.V.(type) {
	case framework.Gap:
		st.appendGap(v, "")
		return true
	case *framework.Gap:
		if v != nil {
			st.appendGap(*v, "")
		}
		return true
	}
	ev, err := streams.ToEvent(it.V)
	if err == nil {
		st.buf, err = AppendEvent(st.buf, ev)
	}
	if err != nil {
		st.appendError(fmt.Errorf("rxstream: sse: event cannot be sent: %w", err))
		return false
	}
	return true
}

func (st *stream) serveSession(sess *session.Session) {
	defer st.end()
	err, _ := session.Pump(st.ctx, sess, session.Stream[struct{}]{
		Max: st.opts.MaxBatch,
		Write: func(items []session.Item) error {
			st.buf = st.buf[:0]
			for _, it := range items {
				st.appendSessionItem(sess.Multi(), it)
			}
			if !st.flush() {
				return errGone
			}
			return nil
		},
		Tick: st.hbC,
		Beat: func() error {
			if !st.heartbeat() {
				return errGone
			}
			return nil
		},
		Idle: func() { st.buf = transport.Idle(st.buf) },
	})
	if err != nil && st.ctx.Err() == nil {
		// ErrOverflow or the hub closing: end the response; the client
		// reconnects with its Last-Event-ID and resumes from history.
		st.opts.Logger.Debug("rxstream: sse: subscription ended", "err", err)
	}
}

// errGone is what a write that found the client gone tells Pump.
var errGone = errors.New("rxstream: sse: client gone")

// muxEvent is the data of an event of a multiplexed stream.
type muxEvent struct {
	Topic string `json:"topic"`
	ID    string `json:"id"`
	Data  string `json:"data"`
}

// muxGap is the data of a gap notice of a multiplexed stream.
type muxGap struct {
	Topic string `json:"topic"`
	framework.Gap
}

// appendSessionItem encodes one item of a session. Hub events were validated when
// published.
func (st *stream) appendSessionItem(multi bool, it session.Item) {
	switch {
	case it.Gap != nil && !multi:
		st.appendGap(*it.Gap, it.Cursor)
	case it.Gap != nil:
		data, _ := json.Marshal(muxGap{Topic: it.Topic, Gap: *it.Gap})
		st.buf, _ = AppendEvent(st.buf, framework.Event{ID: it.Cursor, Name: "gap", Data: data})
	case !multi:
		st.buf, _ = AppendEvent(st.buf, it.Event)
	default:
		ev := it.Event
		data, _ := json.Marshal(muxEvent{Topic: it.Topic, ID: ev.ID, Data: string(ev.Data)})
		st.buf, _ = AppendEvent(st.buf, framework.Event{ID: it.Cursor, Name: ev.Name, Data: data, Retry: ev.Retry})
	}
}
