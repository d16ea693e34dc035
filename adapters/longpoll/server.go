package longpoll

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/poll"
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
	// A request may ask for less with its timeout query parameter.
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
	// they do not come back at once; 0 means [DefaultShutdownRetry]. A
	// hub or topic at its limits, or a broker that is down, is answered
	// with the same Retry-After.
	ShutdownRetry time.Duration
	// MaxTopics bounds the topics of one request to [Server.Topics]; 0
	// means 64. More are answered 400.
	MaxTopics int
	// Hooks are called about every request served, on every handler.
	Hooks Hooks
	// Gate admits the requests and ends them: the per-user and
	// per-address limits and the connect rate (429 with a Retry-After
	// beyond them; each poll is a connection attempt, and a connection
	// while it is held), the expiry of the authorization hook's answers
	// (a held request is answered 401) and revocation (403). nil means a
	// Gate of the server's own with default limits (see [Server.Gate]);
	// share one Gate between the servers of a process so that its limits
	// count every transport.
	Gate *Gate
	// Logger receives debug lines about failed producers and
	// subscriptions, and a warning about a producer that ignores its
	// context; nil means slog.Default().
	Logger *slog.Logger
}

// Server answers long-poll requests: a request waits until there are
// events after its cursor, the timeout, or the server's shutdown. It
// tracks the waiting requests, so [Server.Close] can answer them all at
// shutdown. Its handlers are http.Handlers.
//
// The zero Server is ready to use with default options. All methods may be
// called concurrently.
type Server struct {
	opts  Options
	polls transport.Registry
	gate  transport.Gate // when Options.Gate is nil
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

// settings are the resolved options of the handlers.
type settings struct {
	timeout, window, writeTimeout, shutdownRetry time.Duration // 0: none
	max                                          int
	hooks                                        Hooks
	log                                          *slog.Logger
}

func (s *Server) settings() *settings {
	o := s.opts
	pick := func(d, def time.Duration) time.Duration {
		switch {
		case d == 0:
			return def
		case d < 0:
			return 0
		}
		return d
	}
	st := &settings{
		timeout:       pick(o.Timeout, DefaultTimeout),
		window:        pick(o.BatchWindow, DefaultBatchWindow),
		writeTimeout:  pick(o.WriteTimeout, DefaultWriteTimeout),
		shutdownRetry: pick(o.ShutdownRetry, DefaultShutdownRetry),
		max:           o.MaxEvents,
		hooks:         o.Hooks,
		log:           o.Logger,
	}
	if st.max <= 0 {
		st.max = DefaultMaxEvents
	}
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
//	srv.RegisterOnShutdown(lp.Close)
func (s *Server) Close() { s.polls.Close() }

// Connections returns the number of requests being served.
func (s *Server) Connections() int { return s.polls.Len() }

// Gate returns the server's [Gate]: [Options.Gate], or the server's own.
// Its Revoke and RevokeTopic end the server's held requests.
func (s *Server) Gate() *Gate {
	if s.opts.Gate != nil {
		return s.opts.Gate
	}
	return &s.gate
}

// Stream returns a handler that answers each request with the first items
// of the observable p makes for it: the first item, and those that follow
// within [Options.BatchWindow] (up to [Options.MaxEvents]), or nothing
// when p completes without any; 204 No Content after the timeout. The
// producer is cancelled, and waited for, before the answer is written. Its
// error is answered with its status (see [Producer]).
func (s *Server) Stream(p Producer) http.Handler {
	st := s.settings()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q, wait, ok := st.begin(w, r)
		if !ok {
			return
		}
		r, pass, err := transport.Enter(s.Gate(), r)
		if err != nil {
			transport.WriteError(w, err, 0)
			return
		}
		defer pass.Release()
		q.R, q.Pass = r, pass
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
		q.Body.Cursor = cursor
		if !q.Open(&s.polls, &st.hooks, "longpoll", cursor, nil) {
			return
		}
		defer q.Close()
		q.Produce(p, cursor, poll.Policy{Timeout: wait, Window: st.window, Max: st.max, Logger: st.log}, ErrTimeout)
	})
}

// Topic returns a handler that answers with the events of the hub topic
// that name picks from each request after the client's cursor. On a
// ServeMux with a pattern such as "GET /topics/{topic}", name is
//
//	func(r *http.Request) string { return r.PathValue("topic") }
//
// Retained events are answered at once; otherwise the request waits for
// the next event. A malformed cursor or topic name is answered 400; a
// cursor older than the retained history gets the retained events with a
// gap notice; a topic or hub at its limits, or a broker that is down, is
// answered 503 with a jittered Retry-After; a request over a limit of the
// [Gate], 429 with a Retry-After; one whose authorization already
// expired, 401. A held request whose authorization expires
// (adapters.ExpiresAt) is answered 401 with the cursor in [CursorHeader],
// and one that the Gate revokes 403 (naming the topic when that is why);
// the client polls again with a new token from that cursor.
func (s *Server) Topic(hub *framework.Hub, name func(*http.Request) string) http.Handler {
	return s.serve(hub, session.Options{Name: name})
}

// Topics returns a handler like [Server.Topic] for several hub topics in
// one request: those of its topic query parameters (?topic=a&topic=b, at
// most [Options.MaxTopics]), each authorized and resumed on its own. An
// answer carries the events of every topic, each naming its topic
// ({"topic","id","event","data"}), with each topic's gap notices among
// them (envelopes named "gap" whose data is {"last","next"}), and a
// composite cursor that resumes every topic.
func (s *Server) Topics(hub *framework.Hub) http.Handler {
	return s.serve(hub, session.Options{MaxTopics: s.opts.MaxTopics})
}

// linger is how long a topic stays followed after its last poll ended.
const linger = 2 * time.Second

func (s *Server) serve(hub *framework.Hub, o session.Options) http.Handler {
	st := s.settings()
	o.Retry = st.shutdownRetry
	// A topic stays followed while its client comes back with its next
	// poll: without it, a topic with no other subscriber on the node
	// starts and stops the broker's feed (a NATS JetStream consumer)
	// with every answer.
	o.Linger = linger
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var v *waiter
		transport.Aside(func() { v = s.open(st, hub, &o, w, r) })
		if v != nil {
			defer v.close()
			v.serve()
		}
	})
}

// open admits r and opens its session and request: the waiter of r, or
// nil when r was answered (refused). The handler runs it aside
// (transport.Aside): its calls reach past the 4 KiB stack a goroutine
// starts with, and the handler's goroutine, had it run them, would wait
// with the 8 KiB stack they grew, since it waits more than 2 KiB deep and
// the runtime shrinks only a stack less than a quarter used. In the
// benchmarks' idle scenario (10,000 held long-polls, two runs each, side
// by side with raw net/http's 16.3 KiB and 6.0 KiB): 24.7 -> 22.3 KiB
// per connection, its stacks 10.0 -> 8.0 KiB. The rest of the stacks'
// excess is the runtime's: it starts goroutines with the average stack in
// use at the last GC, which the requests' deep calls raise (6.0 KiB with
// GODEBUG=adaptivestackstart=0).
func (s *Server) open(st *settings, hub *framework.Hub, o *session.Options, w http.ResponseWriter, r *http.Request) *waiter {
	q, wait, ok := st.begin(w, r)
	if !ok {
		return nil
	}
	r, pass, err := transport.Enter(s.Gate(), r)
	if err != nil {
		transport.WriteError(w, err, st.shutdownRetry)
		return nil
	}
	q.R, q.Pass = r, pass
	sess, cursor, err := session.Open(r, hub, *o)
	if err != nil {
		transport.WriteError(w, err, st.shutdownRetry)
		pass.Release()
		return nil
	}
	q.Body.Cursor = sess.Cursor()
	names, _ := sess.Topics()
	if err := pass.Admit(names); err != nil {
		sess.Close()
		transport.WriteError(w, err, st.shutdownRetry)
		pass.Release()
		return nil
	}
	if !q.Open(&s.polls, &st.hooks, "longpoll", cursor, names) {
		sess.Close()
		pass.Release()
		return nil
	}
	return &waiter{q: q, st: st, sess: sess, wait: wait}
}
