package shortpoll

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/poll"
	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Defaults of [Options].
const (
	DefaultInterval  = 2 * time.Second
	DefaultMaxEvents = 128
	DefaultWait      = 50 * time.Millisecond
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
	// events are waiting. It is also the base of the jittered
	// Retry-After of a 503.
	Interval time.Duration
	// MaxEvents bounds the events of one answer; 0 means
	// [DefaultMaxEvents].
	MaxEvents int
	// MaxTopics bounds the topics of one request to [Server.Topics]; 0
	// means 64. More are answered 400.
	MaxTopics int
	// Wait is how long a poll of [Server.Stream] waits for the first item
	// of its producer; 0 means [DefaultWait].
	Wait time.Duration
	// Hooks are called about every request served, on every handler.
	Hooks Hooks
	// Gate admits the requests: the per-user and per-address limits and
	// the connect rate (429 with a Retry-After beyond them; each poll is
	// a connection attempt, and a connection while it is answered), and
	// the expiry of the authorization hook's answers (a poll whose
	// authorization expired is refused 401). nil means a Gate of the
	// server's own with default limits (see [Server.Gate]); share one
	// Gate between the servers of a process so that its limits count
	// every transport.
	Gate *Gate
}

// Server answers short-poll requests: each request is answered at once
// with the events after its cursor, possibly none (a producer's within
// [Options.Wait]). Its handlers are http.Handlers. It tracks the requests
// being answered, so that [Server.Close] ends them.
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
	if s.opts.MaxEvents < 0 || s.opts.Interval < 0 || s.opts.MaxTopics < 0 || s.opts.Wait < 0 {
		return nil, errors.New("rxstream: shortpoll: negative MaxEvents, Interval, MaxTopics or Wait")
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
	if o.Wait == 0 {
		o.Wait = DefaultWait
	}
	return o
}

// Close answers the requests being served 503 Service Unavailable, with a
// jittered Retry-After of [Options.Interval] and the cursor in
// [CursorHeader]; later requests get the same answer. It returns at once.
// A short-poll does not wait, so nothing holds an http.Server's Shutdown
// for long, but a poll of a producer may wait [Options.Wait]:
//
//	srv.RegisterOnShutdown(sp.Close)
func (s *Server) Close() { s.polls.Close() }

// Connections returns the number of requests being served.
func (s *Server) Connections() int { return s.polls.Len() }

// Gate returns the server's [Gate]: [Options.Gate], or the server's own.
func (s *Server) Gate() *Gate {
	if s.opts.Gate != nil {
		return s.opts.Gate
	}
	return &s.gate
}

// Topic returns a handler that answers at once with the events of the hub
// topic that name picks from each request after the client's cursor (the
// cursor or lastEventId query parameter, or the Last-Event-ID header,
// which wins). On a ServeMux with a pattern such as "GET /topics/{topic}",
// name is
//
//	func(r *http.Request) string { return r.PathValue("topic") }
//
// An empty cursor gets no events and the topic's tip as cursor. A cursor
// older than the retained history gets the retained events with a gap
// notice; a malformed cursor or topic name is answered 400; a topic or hub
// at its limits, or a broker that is down, 503 with a jittered
// Retry-After; a request over a limit of the [Gate], 429 with a
// Retry-After; one whose authorization expired (adapters.ExpiresAt), 401.
//
// Every answer carries an ETag, the quoted cursor: a request whose
// If-None-Match holds it is answered 304 Not Modified, without a body, when
// nothing is new.
//
// A poll reads the topic's history from the hub's broker and subscribes
// to nothing ([framework.Hub.Read]): on a distributed broker it starts no
// feed (no NATS JetStream consumer), however many clients poll. The
// user that the authorization hook names (adapters.SetUser) is present on
// the topic for the instant of the poll; presence=true is accepted and
// carries no join or leave event, as a poll holds no subscription in
// which one could happen: poll clients list the members instead.
func (s *Server) Topic(hub *framework.Hub, name func(*http.Request) string) http.Handler {
	return s.serve(hub, session.Options{Name: name})
}

// Topics returns a handler like [Server.Topic] for several hub topics in
// one request: those of its topic query parameters (?topic=a&topic=b, at
// most [Options.MaxTopics]), each authorized and resumed on its own. An
// answer carries the events of every topic, each naming its topic, with
// each topic's gap notices among them (envelopes named "gap"), and a
// composite cursor that resumes every topic.
func (s *Server) Topics(hub *framework.Hub) http.Handler {
	return s.serve(hub, session.Options{MaxTopics: s.opts.MaxTopics})
}

// Stream returns a handler that answers each request with what a fresh
// observation of the observable p makes for it emits first, within
// [Options.Wait]: its first item (a snapshot, the current value), or
// nothing when p completes without any; 204 No Content when nothing came
// in time. A producer keeps no history, so the answer carries no ETag;
// its cursor is the client's, or the ID of the event answered. The
// producer is cancelled, and waited for, before the answer is written. Its
// error is answered with its status (see [Producer]).
func (s *Server) Stream(p Producer) http.Handler {
	o := s.options()
	pol := poll.Policy{Timeout: o.Wait, Max: o.MaxEvents}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !poll.Get(w, r) {
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
		q := poll.NewRequest(w, r, o.Interval)
		q.Pass = pass
		q.Body.Cursor = cursor
		q.Prepare = func(q *poll.Request) {
			ms := o.Interval.Milliseconds()
			q.Body.Retry = &ms
			q.W.Header().Set(IntervalHeader, strconv.FormatInt(ms, 10))
			if q.Body.Cursor != "" {
				q.W.Header().Set(CursorHeader, q.Body.Cursor)
			}
		}
		if !q.Open(&s.polls, &o.Hooks, "shortpoll", cursor, nil) {
			return
		}
		defer q.Close()
		q.Produce(p, cursor, pol, ErrCompleted)
	})
}

func (s *Server) serve(hub *framework.Hub, so session.Options) http.Handler {
	o := s.options()
	so.Retry = o.Interval
	// A poll reads the topics' history and subscribes to none: on a node
	// with no other subscriber of a topic, a subscription started and
	// stopped the broker's feed (a NATS JetStream consumer) for every
	// poll, or kept it going between polls.
	so.Read = o.MaxEvents
	// A poll's user stays present for the interval its answer suggests,
	// then for the hub's window: one that polls at it joins once.
	so.PresenceHold = o.Interval
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-cache")
		h.Set("Vary", "Last-Event-ID")
		if !poll.Get(w, r) {
			return
		}
		r, pass, err := transport.Enter(s.Gate(), r)
		if err != nil {
			transport.WriteError(w, err, o.Interval)
			return
		}
		defer pass.Release()
		sess, cursor, err := session.Open(r, hub, so)
		if err != nil {
			transport.WriteError(w, err, o.Interval)
			return
		}
		names, _ := sess.Topics()
		if err := pass.Admit(names); err != nil {
			sess.Close()
			transport.WriteError(w, err, o.Interval)
			return
		}
		q := poll.NewRequest(w, r, o.Interval)
		q.Pass = pass
		q.Body.Cursor = sess.Cursor()
		q.Prepare = func(q *poll.Request) { h.Set(CursorHeader, q.Body.Cursor) }
		if !q.Open(&s.polls, &o.Hooks, "shortpoll", cursor, names) {
			sess.Close()
			return
		}
		defer q.Close()
		defer sess.Close() // before Closed is called
		full, err := session.Gather(q.Context(), sess, &q.Body, o.MaxEvents)
		if err != nil {
			switch {
			case q.Context().Err() != nil:
				q.Ended()
				return
			case q.Empty():
				q.Error(err, transport.Refuse(err, o.Interval))
				return
			}
			q.Fail(err) // answered with what was taken; the client does not see it
		}
		etag := strconv.Quote(q.Body.Cursor)
		h.Set("ETag", etag)
		ms := o.Interval.Milliseconds()
		if full {
			ms = 0 // more events wait
		}
		h.Set(IntervalHeader, strconv.FormatInt(ms, 10))
		if q.Empty() && matches(r.Header.Get("If-None-Match"), etag) {
			q.NoBody(http.StatusNotModified, ErrCompleted)
			return
		}
		q.Body.Retry = &ms
		q.Answer()
	})
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
