package sse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/park"
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
	DefaultWriteDelay    = 0
	DefaultShutdownRetry = 2 * time.Second
)

// Options configures a [Server]. The zero value means defaults.
type Options struct {
	// Heartbeat is the interval of the comment lines that keep an idle
	// stream open through proxies; 0 means [DefaultHeartbeat], negative
	// turns heartbeats off.
	Heartbeat time.Duration
	// WriteTimeout bounds each write: a client that stops reading is
	// dropped after between half of it and all of it (the deadline is
	// renewed only when less than half is left), whatever the
	// http.Server's WriteTimeout
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
	// WriteDelay, when positive, holds a hub topic's first event after
	// an idle spell for that long before it is written, so that the
	// events published meanwhile share its write (one system call):
	// fewer writes per delivery under load, for up to WriteDelay more
	// latency. 0 means [DefaultWriteDelay], negative none.
	WriteDelay time.Duration
	// MaxTopics bounds the topics of one request to [Server.Topics]; 0
	// means 64. More are answered 400.
	MaxTopics int
	// Logger receives a line per stream that ends on an error, and per
	// producer that fails to make its observable; nil means
	// slog.Default().
	Logger *slog.Logger
	// Hooks are called about every stream, a producer's or a hub's:
	// Opened once it is accepted, before its first write; Error with a
	// producer's error, a write that failed or timed out, or a
	// subscription that ended (an overflow, the hub closing); Closed once
	// when it has ended, told [ErrCompleted] when its producer completed,
	// [ErrClientGone] when the client left, [ErrShutdown] after
	// [Server.Close], [ErrExpired] or [ErrRevoked] when its authorization
	// ended it, or the error that ended it. Refused requests are not
	// opened. The hooks run on the handler's goroutine and must not block
	// for long.
	Hooks Hooks
	// Gate admits the streams and ends them: the per-user and
	// per-address limits and the connect rate (429 with a Retry-After
	// beyond them), the expiry of the authorization hook's answers, and
	// revocation. nil means a Gate of the server's own with default
	// limits (see [Server.Gate]); share one Gate between the servers of a
	// process so that its limits count every transport.
	Gate *Gate
	// DisableParking keeps every stream on net/http's goroutines. By
	// default each idle stream of hub topics ([Server.Topic],
	// [Server.Topics]) over HTTP/1.x
	// without TLS, on Linux, is parked:
	// its connection is taken over from net/http after its headers
	// (http.Hijacker) and held without a goroutine or buffers of its own
	// until it has something to write (see the package doc): 6.1 KiB and
	// no goroutine per idle stream instead of 29.7 KiB and two (10,000
	// idle streams, medians of 3; 5.8 KiB at 19,000). Under a
	// saturating fan-out (1,000 subscribers x 1 KiB events) parked
	// streams deliver more per server CPU-second (455 k against 291 k,
	// medians of 5 side by side); their p99 there is higher (993 against
	// 377 ms) only because the benchmark lets its publisher run up to 256
	// events ahead and the parked server keeps up with it: with 128, the
	// parked p99 falls to 636 ms and the other stays at 375, bounded by
	// its publisher's share of the CPU. At the same open-loop rate the
	// two p99s are within the runs' spread. A middleware that compresses
	// the response (echo's Gzip) keeps a stream unparked (see the
	// package doc); set DisableParking where something else must see
	// every write, or where the connection must stay net/http's.
	DisableParking bool
}

// Server renders streams as Server-Sent Events: its methods return
// http.Handlers. It tracks its open streams, so [Server.Close] can end
// them all at shutdown.
//
// The zero Server is ready to use with default options. All methods may be
// called concurrently.
type Server struct {
	opts    Options
	streams transport.Registry
	gate    transport.Gate // when Options.Gate is nil

	loopOnce sync.Once
	parkLoop *park.Loop // see Server.loop
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
	if o.WriteDelay == 0 {
		o.WriteDelay = DefaultWriteDelay
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
// jittered [Options.ShutdownRetry]; [Hooks] Closed is told [ErrShutdown])
// and answers later requests with 503 and a Retry-After. It returns at
// once; the handlers return as soon as their final write is done.
// Register it with the http.Server, so that Shutdown does not wait for
// streams that never end:
//
//	srv.RegisterOnShutdown(s.Close)
func (s *Server) Close() { s.streams.Close() }

// Connections returns the number of requests being served: open streams,
// and requests whose producer is making their observable.
func (s *Server) Connections() int { return s.streams.Len() }

// Gate returns the server's [Gate]: [Options.Gate], or the server's own.
// Its Revoke and RevokeTopic end the server's streams.
func (s *Server) Gate() *Gate {
	if s.opts.Gate != nil {
		return s.opts.Gate
	}
	return &s.gate
}

// Stream returns a handler that serves, for each request, the observable
// that p makes for it, from the client's cursor (see [Producer]).
//
// Items may be [framework.Event] (or a non-nil *framework.Event), a
// [framework.Gap] (or *framework.Gap), sent as an event named "gap", or a
// string, []byte or json.RawMessage, which [streams.ToEvent] makes the
// data of an event. Queued items are coalesced into one write and one
// flush. The response ends when the observable completes; an error item,
// or an item that cannot be written (another type, data that is not UTF-8,
// an ID or name holding CR, LF or NUL), ends it with an event named
// "error" whose data is the message.
//
// The handler writes every refusal itself, as [Server.Topic] does; p's
// error is answered with its [*StatusError] status, or 500 Internal Server
// Error (its text logged, not sent) for any other error.
func (s *Server) Stream(p Producer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		r, pass, err := transport.Enter(s.Gate(), r)
		if err != nil {
			transport.WriteError(w, err, 0)
			return
		}
		defer pass.Release()
		cursor, err := transport.RequestCursor(r, framework.MaxCursorLen)
		if err == nil {
			err = transport.Allow(r) // a producer names no topic: the guard is asked with ""
		}
		if err == nil {
			err = pass.Admit(nil)
		}
		if err != nil {
			transport.WriteError(w, err, 0)
			return
		}
		st := s.open(w, r, false)
		if st == nil {
			return
		}
		defer st.done()
		st.ctx = pass.Bind(st.ctx)
		r = r.WithContext(st.ctx)
		obs, err := p(r, cursor)
		if err == nil && obs == nil {
			err = errNoObservable
		}
		if err != nil {
			st.refuse(r, err)
			return
		}
		st.begin(transport.NewConn("sse", r, cursor, nil), pass)
		defer st.finish()
		st.serveItems(obs.Observe(rxgo.WithContext(st.ctx)))
	})
}

// errNoObservable is the 500 of a producer that returned neither an
// observable nor an error.
var errNoObservable = errors.New("rxstream: sse: producer returned no observable")

// Topic returns a handler that streams the hub topic that name picks from
// each request, resuming after the client's cursor: the Last-Event-ID
// header, or the lastEventId or cursor query parameter (the header wins;
// two different ones in the query are a 400). With a Go 1.22 pattern
// such as "GET /topics/{topic}", name is
//
//	func(r *http.Request) string { return r.PathValue("topic") }
//
// The handler writes every refusal itself, as JSON {"message": ...}: a
// malformed cursor or topic name is answered 400; a topic or hub at its
// limits, a broker that is down, or a server after [Server.Close], 503
// with a jittered Retry-After; a request that is not a GET, 405; one over
// a limit of the [Gate], 429 with a Retry-After; one whose authorization
// already expired, 401.
//
// A stream whose authorization ends is told so before it ends: at the
// expiry the hook gave (adapters.ExpiresAt) with an event named
// [EventExpired], when the Gate revokes it with one named [EventRevoked].
// Their data is JSON {"message","cursor","topic"}: the cursor to resume
// from (the last id sent) and, for a revoked topic, its name. A client
// that reconnects with a new token and its cursor loses nothing.
func (s *Server) Topic(hub *framework.Hub, name func(*http.Request) string) http.Handler {
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
func (s *Server) Topics(hub *framework.Hub) http.Handler {
	return s.serve(hub, session.Options{MaxTopics: s.opts.MaxTopics})
}

func (s *Server) serve(hub *framework.Hub, opts session.Options) http.Handler {
	opts.Retry = s.options().ShutdownRetry
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !allowed(w, r) {
			return
		}
		o := opts
		r, pass, err := transport.Enter(s.Gate(), r)
		if err != nil {
			transport.WriteError(w, err, o.Retry)
			return
		}
		// handed is set once the stream is parked: its loop then does
		// what these defers do.
		handed := false
		defer func() {
			if !handed {
				pass.Release()
			}
		}()
		var pk *parked
		if s.parkable(w, r) {
			pk = &parked{chunked: r.ProtoAtLeast(1, 1)}
			pk.c = s.loop().Hold(pk)
			o.Notify = pk.c.Wake
		}
		sess, cursor, err := session.Open(r, hub, o)
		if err != nil {
			transport.WriteError(w, err, o.Retry)
			return
		}
		defer func() {
			if !handed {
				sess.Close()
			}
		}()
		names, _ := sess.Topics()
		if err := pass.Admit(names); err != nil {
			transport.WriteError(w, err, o.Retry)
			return
		}
		st := s.open(w, r, pk != nil)
		if st == nil {
			return
		}
		defer func() {
			if !handed {
				st.done()
			}
		}()
		st.ctx = pass.Bind(st.ctx)
		st.cursor = sess.Cursor
		if tip := sess.Cursor(); tip != cursor {
			// A block with only an id sets the client's Last-Event-ID to
			// where it stands (the tip of each topic it gave no position
			// for) without dispatching an event: a client cut off before
			// its first event resumes from here and loses nothing.
			st.buf = append(append(append(st.buf[:0], "id: "...), tip...), "\n\n"...)
		}
		st.begin(transport.NewConn("sse", r, cursor, names), pass)
		var park func() bool
		if pk != nil {
			pk.st, pk.sess = st, sess
			pk.release = func() { st.done(); sess.Close(); pass.Release() }
			refused := false // once: then today's path
			park = func() bool {
				if !refused {
					handed = pk.hand(st.stopReq)
					refused = !handed
				}
				return handed
			}
		}
		defer func() {
			if !handed {
				st.finish()
			}
		}()
		st.serveSession(sess, park)
	})
}

// errMethod is the 405 of a request that is not a GET.
var errMethod = errors.New("rxstream: sse: an event stream is read with GET")

// allowed answers a request that is not a GET (HEAD included: it would
// hold a stream that sends nothing) with 405 and Allow: GET, and reports
// whether r is a GET.
func allowed(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	se := transport.Status(http.StatusMethodNotAllowed, errMethod)
	se.Header = http.Header{"Allow": {http.MethodGet}}
	transport.WriteError(w, se, 0)
	return false
}

// stream is one response being served. It lives in the handler's
// goroutine.
type stream struct {
	opts Options
	ctx  context.Context
	done func()
	w    http.ResponseWriter
	rc   *http.ResponseController
	buf  []byte
	hb   *time.Timer
	hbC  <-chan time.Time
	// last is when the last write was flushed, and deadline the write
	// deadline it left (see flush).
	last, deadline time.Time
	conn           *Conn // set by begin
	reason         error // why it ended, for Hooks.Closed: the first one set
	gone           bool  // a write failed
	// cursor, for hub topics, is where the client resumes: the expired
	// and revoked events carry it.
	cursor func() string
	// stopReq, for a stream that may be parked, stops the request's
	// context from ending ctx; pk is set once it is parked.
	stopReq func() bool
	pk      *parked
}

// errCannotFlush is the 500 of a response writer that cannot stream.
var errCannotFlush = errors.New("rxstream: sse: the response writer cannot flush " +
	"(is echo's Timeout middleware, or http.TimeoutHandler, on this route?)")

// open checks that w can stream and registers the stream; it answers the
// request and returns nil when it cannot be served.
//
// A stream that may be parked does not live in the request's context,
// which ends when the handler returns: the request's context ends it only
// until it is parked (see stream.stopReq), and it keeps none of the
// request's values.
func (s *Server) open(w http.ResponseWriter, r *http.Request, parking bool) *stream {
	if !transport.CanFlush(w) {
		transport.WriteError(w, transport.Status(http.StatusInternalServerError, errCannotFlush), 0)
		return nil
	}
	opts := s.options()
	parent, stopReq := r.Context(), func() bool { return true }
	if parking {
		var cancel context.CancelFunc
		parent, cancel = context.WithCancel(context.Background())
		stopReq = context.AfterFunc(r.Context(), cancel)
	}
	ctx, done, ok := s.streams.Open(parent)
	if !ok {
		stopReq()
		transport.WriteError(w, transport.ErrShutdown, opts.ShutdownRetry)
		return nil
	}
	return &stream{opts: opts, ctx: ctx, done: done, w: w, rc: http.NewResponseController(w), stopReq: stopReq}
}

// refuse answers a producer's error: a *StatusError as it is, any other
// error 500 without its text, which is logged instead.
func (st *stream) refuse(r *http.Request, err error) {
	var se *StatusError
	if !errors.As(err, &se) {
		st.opts.Logger.Error("rxstream: sse: producer failed", "path", r.URL.Path, "err", err)
		se = &StatusError{Code: http.StatusInternalServerError, Err: err}
	}
	transport.WriteError(st.w, se, 0)
}

// begin opens the stream described by c, admitted by pass: Hooks.Opened
// is told, before the first write.
func (st *stream) begin(c *Conn, pass *transport.Pass) {
	c.User = pass.User()
	st.conn = c
	st.opts.Hooks.Open(c)
}

// start sends the headers, the retry hint and whatever st.buf holds, so the
// client sees the stream open at once. It returns false when the client is
// gone.
func (st *stream) start() bool {
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
		st.hb = time.NewTimer(st.opts.Heartbeat)
		st.hbC = st.hb.C
	}
	return st.flush()
}

// appendRetry encodes a retry hint alone: a block without data dispatches
// no event.
func appendRetry(b []byte, d time.Duration) []byte {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return fmt.Appendf(b, "retry: %d\n\n", ms)
}

// flush writes buf with one write and one flush under the write deadline,
// which is renewed only when less than half of WriteTimeout is left: a
// busy stream does not move its timer on every write. It returns false
// when the client is gone.
func (st *stream) flush() bool {
	if st.pk != nil {
		return st.pk.flush()
	}
	st.last = time.Now()
	if st.opts.WriteTimeout > 0 && st.deadline.Sub(st.last) < st.opts.WriteTimeout/2 {
		st.deadline = st.last.Add(st.opts.WriteTimeout)
		_ = st.rc.SetWriteDeadline(st.deadline) // unsupported: no deadline
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
	return true
}

// fail records a write that failed or timed out: the client is gone (and
// net/http has cancelled the request's context). It returns false.
func (st *stream) fail(err error) bool {
	st.gone = true
	st.opts.Logger.Debug("rxstream: sse: client dropped", "err", err)
	st.opts.Hooks.Fail(st.conn, err)
	st.stop(fmt.Errorf("%w: %w", ErrClientGone, err))
	return false
}

// stop records why the stream ended, unless a reason was recorded before.
func (st *stream) stop(reason error) {
	if st.reason == nil {
		st.reason = reason
	}
}

// ended records the end of the producer's items: nil for its completion,
// else the error that ended them. When the context ended first, the
// context's cause says why instead (rxgo ends the items then too).
func (st *stream) ended(err error) {
	switch {
	case st.ctx.Err() != nil:
	case err == nil:
		st.stop(ErrCompleted)
	default:
		st.opts.Hooks.Fail(st.conn, err)
		st.stop(err)
	}
}

// cause is why the context ended: [ErrShutdown] after Close,
// [ErrClientGone] when the request's context was cancelled (net/http
// does so when the client goes), or the cause that ended it (a deadline
// set by a middleware, say).
func (st *stream) cause() error {
	cause := context.Cause(st.ctx)
	switch {
	case errors.Is(cause, ErrShutdown):
		return ErrShutdown
	case transport.AuthEnded(st.ctx) != nil:
		return cause // ErrExpired, ErrRevoked
	case cause == nil, errors.Is(cause, context.Canceled):
		return ErrClientGone
	}
	return cause
}

// heartbeat is called when the heartbeat timer fires: it writes a comment
// line once the stream has been idle for Heartbeat, or else sets the timer
// for when it will have been. The timer is not reset by every flush, only
// here, at most once per Heartbeat. The stream has been idle since the
// last write: a burst's buffer is let go.
func (st *stream) heartbeat() bool {
	if st.pk != nil { // the park loop's heartbeat list says it is due
		st.buf = AppendComment(st.buf, "heartbeat")
		return st.flush()
	}
	if idle := time.Since(st.last); idle < st.opts.Heartbeat {
		st.hb.Reset(st.opts.Heartbeat - idle)
		return true
	}
	st.buf = AppendComment(transport.Idle(st.buf), "heartbeat")
	ok := st.flush()
	st.hb.Reset(st.opts.Heartbeat)
	return ok
}

// finish ends an opened stream: at shutdown the client is told when to
// come back; then Hooks.Closed is told why it ended.
func (st *stream) finish() {
	if st.hb != nil {
		st.hb.Stop()
	}
	st.closing()
	st.opts.Hooks.Close(st.conn, st.reason)
}

// closing records why the stream ended, when its context did, and writes
// what the client is told at the end: the expired or revoked event, the
// retry hint of a shutdown.
func (st *stream) closing() {
	if st.reason == nil && st.ctx.Err() != nil {
		reason := st.cause()
		if !errors.Is(reason, ErrShutdown) && !errors.Is(reason, ErrClientGone) && transport.AuthEnded(st.ctx) == nil {
			st.opts.Hooks.Fail(st.conn, reason) // a middleware's deadline, say
		}
		st.stop(reason)
	}
	if (errors.Is(st.reason, ErrExpired) || errors.Is(st.reason, ErrRevoked)) && !st.gone {
		st.appendEnd(st.reason)
		st.ctx = context.Background() // the final write has its own deadline
		st.flush()
	}
	if errors.Is(st.reason, ErrShutdown) && !st.gone {
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

// The names of the events that end a stream whose authorization ended:
// their data is JSON {"message","cursor","topic"} (see [Server.Topic]).
const (
	EventExpired = "expired"
	EventRevoked = "revoked"
)

// appendEnd encodes the event that tells the client that its
// authorization ended the stream, and where to resume.
func (st *stream) appendEnd(reason error) {
	name, msg := EventExpired, ErrExpired.Error()
	if errors.Is(reason, ErrRevoked) {
		name, msg = EventRevoked, ErrRevoked.Error()
	}
	var cursor string
	if st.cursor != nil {
		cursor = st.cursor()
	}
	data, _ := json.Marshal(struct {
		Message string `json:"message"`
		Cursor  string `json:"cursor,omitempty"`
		Topic   string `json:"topic,omitempty"`
	}{msg, cursor, transport.RevokedTopic(reason)})
	st.buf, _ = AppendEvent(st.buf[:0], framework.Event{Name: name, Data: data})
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
	if !st.start() {
		return
	}
	for {
		select {
		case it, ok := <-items:
			if !ok {
				st.ended(nil)
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
					st.ended(nil)
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
		st.ended(it.E)
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
		err = fmt.Errorf("rxstream: sse: event cannot be sent: %w", err)
		st.appendError(err)
		st.ended(err)
		return false
	}
	return true
}

// serveSession pumps sess; park, when set, is offered the stream each
// time it is idle.
func (st *stream) serveSession(sess *session.Session, park func() bool) {
	if !st.start() {
		return
	}
	err, _ := session.Pump(st.ctx, sess, session.Stream[struct{}]{
		Max:   st.opts.MaxBatch,
		Delay: st.opts.WriteDelay,
		Write: func(items []session.Item) error {
			if !st.writeItems(sess, items) {
				return ErrClientGone // fail recorded the write's error
			}
			return nil
		},
		Tick: st.hbC,
		Beat: func() error {
			if !st.heartbeat() {
				return ErrClientGone // fail recorded the write's error
			}
			return nil
		},
		Idle: func() { st.buf = transport.Idle(st.buf) },
		Park: park,
	})
	st.sessionEnded(err)
}

// writeItems encodes items of sess and writes them; it returns false when
// the client is gone.
func (st *stream) writeItems(sess *session.Session, items []session.Item) bool {
	st.buf = slices.Grow(st.buf[:0], session.Size(items))
	for _, it := range items {
		st.appendSessionItem(sess.Multi(), it)
	}
	return st.flush()
}

// sessionEnded records the error that ended the session, if any.
func (st *stream) sessionEnded(err error) {
	if err != nil && st.ctx.Err() == nil {
		// ErrOverflow or the hub closing: end the response; the client
		// reconnects with its Last-Event-ID and resumes from history.
		st.opts.Logger.Debug("rxstream: sse: subscription ended", "err", err)
		st.opts.Hooks.Fail(st.conn, err)
		st.stop(err)
	}
}

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

// appendSessionItem encodes one item of a session. Hub events were
// validated when published, and each is encoded once for all of its
// topic's subscribers (see [framework.Event.AppendEncoded]): a frame on a
// topic's own stream, and on a multiplexed one the frame after its id,
// which is each subscriber's own composite cursor.
func (st *stream) appendSessionItem(multi bool, it session.Item) {
	switch {
	case it.Gap != nil && !multi:
		st.appendGap(*it.Gap, it.Cursor)
	case it.Gap != nil:
		data, _ := json.Marshal(muxGap{Topic: it.Topic, Gap: *it.Gap})
		st.buf, _ = AppendEvent(st.buf, framework.Event{ID: it.Cursor, Name: "gap", Data: data})
	case !multi:
		st.buf = it.Event.AppendEncoded(st.buf, frame, it.Topic)
	default:
		st.buf = append(append(append(st.buf, "id: "...), it.Cursor...), '\n')
		st.buf = it.Event.AppendEncoded(st.buf, muxFrame, it.Topic)
	}
}

// frame and muxFrame are the shared encodings of hub events: the event's
// frame, and the frame without its id of a multiplexed stream, whose data
// names the topic.
var (
	frame = framework.NewEncoding(func(dst []byte, _ string, ev framework.Event) []byte {
		dst, _ = AppendEvent(dst, ev)
		return dst
	})
	muxFrame = framework.NewEncoding(func(dst []byte, topic string, ev framework.Event) []byte {
		data, _ := json.Marshal(muxEvent{Topic: topic, ID: ev.ID, Data: string(ev.Data)})
		dst, _ = AppendEvent(dst, framework.Event{Name: ev.Name, Data: data, Retry: ev.Retry})
		return dst
	})
)
