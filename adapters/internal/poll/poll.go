// Package poll is what the long-poll and short-poll servers share, so that
// the two transports cannot drift apart:
//
//   - the method check ([Get]);
//   - one poll request and its answers ([Request]): once accepted, its
//     registration with the server's [transport.Registry] (whose Close
//     ends it with [transport.ErrShutdown]), its [transport.Conn], the
//     [transport.Hooks] called as their doc says (Opened once, Error for
//     what ends it or what its client does not see, Closed exactly once
//     with the reason), and every answer: events as JSON, 204, 503 at
//     shutdown, errors through [transport.WriteError];
//   - the answer of a per-request producer ([Produce], [Request.Produce]):
//     its first items, gathered as a [Policy] says, the producer
//     cancelled and waited for before the answer is written.
//
// Hub topics are read by the session package; how long a poll of them
// waits is the transport's own (a long-poll waits, a short-poll does not).
package poll

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Get reports whether r is a GET. Any other method, HEAD included (a
// long-poll held for a HEAD would answer nothing), is answered 405 with
// Allow: GET, and Get returns false.
func Get(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet {
		return true
	}
	se := transport.Status(http.StatusMethodNotAllowed, fmt.Errorf("rxstream: method %s not allowed: GET only", r.Method))
	se.Header = http.Header{"Allow": {http.MethodGet}}
	transport.WriteError(w, se, 0)
	return false
}

// Request is one poll request being served. It lives in the handler's
// goroutine.
type Request struct {
	W http.ResponseWriter
	R *http.Request
	// Body is the answer so far; Body.Cursor the cursor to send next.
	Body transport.PollAnswer
	// Retry is the base of the jittered Retry-After of a 503.
	Retry time.Duration
	// Prepare, when set, is called before every answer, refusals at
	// shutdown included: headers, a write deadline.
	Prepare func(q *Request)
	// Pass, when set, is the request's admission by its server's Gate:
	// Open binds the request's context to it (its expiry and revocation
	// end the request) and names its user on the Conn.
	Pass *transport.Pass

	conn   *transport.Conn
	hooks  *transport.Hooks
	ctx    context.Context
	done   func()
	reason error
}

// NewRequest returns the Request of r, with an empty list of events.
func NewRequest(w http.ResponseWriter, r *http.Request, retry time.Duration) *Request {
	return &Request{W: w, R: r, Retry: retry}
}

// Open accepts the request: it registers it with reg and calls
// hooks.Opened with its Conn (of transportName, with the client's cursor
// and the request's topics, nil for a producer). After reg.Close it
// answers 503 instead, opens nothing and returns false. Once it returned
// true the caller must call [Request.Close].
func (q *Request) Open(reg *transport.Registry, hooks *transport.Hooks, transportName, cursor string, topics []string) bool {
	ctx, done, ok := reg.Open(q.R.Context())
	if !ok {
		q.prepare()
		transport.WriteError(q.W, transport.ErrShutdown, q.Retry)
		return false
	}
	q.ctx, q.done, q.hooks = ctx, done, hooks
	q.conn = transport.NewConn(transportName, q.R, cursor, topics)
	if q.Pass != nil {
		q.conn.User = q.Pass.User()
		q.ctx = q.Pass.Bind(q.ctx)
	}
	hooks.Open(q.conn)
	return true
}

// Context is the request's lifetime once open: it ends when the client
// leaves, when the registry closes (its cause is then
// [transport.ErrShutdown]), when its Pass expires or is revoked (see
// [transport.AuthEnded]) and at Close.
func (q *Request) Context() context.Context { return q.ctx }

// Close unregisters the request and calls the Closed hook with the reason
// its answer gave (see [Request.End]).
func (q *Request) Close() {
	q.done()
	q.hooks.Close(q.conn, q.reason)
}

// Fail calls the Error hook with err: an error that ends the request, or
// that its client does not see.
func (q *Request) Fail(err error) { q.hooks.Fail(q.conn, err) }

// End records why the request ended, for the Closed hook; the first
// reason given is kept. Nil means [transport.ErrCompleted].
func (q *Request) End(reason error) {
	if q.reason == nil {
		q.reason = reason
	}
}

// Empty reports whether the answer holds neither events nor a gap.
func (q *Request) Empty() bool { return q.Body.Len() == 0 && q.Body.Gap == nil }

func (q *Request) prepare() {
	if q.Prepare != nil {
		q.Prepare(q)
	}
}

// Answer sends the Body, 200 as JSON. The request ends completed, or,
// when the write fails, with its client gone.
func (q *Request) Answer() {
	q.prepare()
	raw := q.Body.JSON()
	h := q.W.Header()
	h.Set("Content-Type", "application/json")
	q.W.WriteHeader(http.StatusOK)
	if _, err := q.W.Write(raw); err != nil {
		q.Fail(err)
		q.End(fmt.Errorf("%w: %w", transport.ErrClientGone, err))
		return
	}
	q.End(transport.ErrCompleted)
}

// NoBody answers code without a body (204 No Content, 304 Not
// Modified); reason is why the request ended.
func (q *Request) NoBody(code int, reason error) {
	q.prepare()
	q.W.WriteHeader(code)
	q.End(reason)
}

// Error ends the request on err: the Error hook is told, and Closed, and
// the client is answered se (through [transport.WriteError]).
func (q *Request) Error(err error, se *transport.StatusError) {
	q.Fail(err)
	q.End(err)
	q.prepare()
	transport.WriteError(q.W, se, q.Retry)
}

// Ended answers a request whose context ended: at the registry's Close,
// with the events gathered, or 503 with a jittered Retry-After when there
// are none; at its Pass's expiry or revocation, with the events gathered,
// or 401 (expired) or 403 (revoked) when there are none; when the client
// left, with nothing.
func (q *Request) Ended() {
	if err := transport.AuthEnded(q.ctx); err != nil {
		q.End(err)
		if !q.Empty() {
			q.Answer()
			return
		}
		q.prepare()
		transport.WriteError(q.W, transport.AuthStatus(err), q.Retry)
		return
	}
	switch {
	case !transport.ShuttingDown(q.ctx):
		q.End(transport.ErrClientGone)
	case !q.Empty():
		q.Answer()
	default:
		q.prepare()
		transport.WriteError(q.W, transport.ErrShutdown, q.Retry)
		q.End(transport.ErrShutdown)
	}
}

// Produce answers the request with the first items of the observable p
// makes for it, gathered as pol says (see [Produce]): events as JSON;
// 204 with timedOut as the reason when none came within pol.Timeout; an
// error as [Failure] maps it; what [Request.Ended] answers when the
// request's context ended first. An error after events is answered with
// them, and given to the Error hook.
func (q *Request) Produce(p transport.Producer, cursor string, pol Policy, timedOut error) {
	out, err := Produce(q.ctx, q.R, p, cursor, &q.Body, pol)
	switch out {
	case Answered:
		if err != nil {
			if pol.Logger != nil {
				pol.Logger.Debug("rxstream: "+q.conn.Transport+": producer failed after events", "err", err)
			}
			q.Fail(err)
		}
		q.Answer()
	case TimedOut:
		q.NoBody(http.StatusNoContent, timedOut)
	case Ended:
		q.Ended()
	default:
		q.Error(err, Failure(err))
	}
}
