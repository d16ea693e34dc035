package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// producerGrace is how long a handler waits for a cancelled producer to
// close its item channel.
const producerGrace = time.Second

// request is one long-poll request being served. It lives in the handler's
// goroutine.
type request struct {
	s       *Server
	st      *settings
	c       echo.Context
	ctx     context.Context // the registry's context, once open
	done    func()
	body    transport.PollBody
	outcome Outcome
	stop    func()        // stops the producer and waits for it; nil without one
	wait    time.Duration // the handler's timeout, or shorter if the request asks; 0: none
}

func (s *Server) begin(c echo.Context, st *settings) *request {
	c.Response().Header().Set("Cache-Control", "no-store")
	return &request{s: s, st: st, c: c, wait: st.timeout, body: transport.PollBody{Events: []transport.Envelope{}}}
}

// askedTimeout applies the request's timeout query parameter (a Go
// duration such as "25s" or "0s"): a client behind a proxy with a shorter
// idle timeout, or one that wants its starting cursor at once, can ask for a
// shorter wait than the handler's, never a longer one.
func (r *request) askedTimeout() error {
	v := r.c.QueryParam("timeout")
	if v == "" {
		return nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "rxstream: timeout must be a non-negative duration, like 25s")
	}
	if r.wait <= 0 || d < r.wait {
		r.wait = max(d, time.Nanosecond) // retained events still answer first
	}
	return nil
}

// open registers the request with the server; false after Close.
func (r *request) open() bool {
	ctx, done, ok := r.s.polls.Open(r.c.Request().Context())
	if ok {
		r.ctx, r.done = ctx, done
	}
	return ok
}

// finish runs the completion callback, once.
func (r *request) finish() {
	if r.stop != nil {
		r.stop()
	}
	if r.outcome == 0 {
		r.outcome = Failed // a panic, or a path that set none
	}
	if f := r.st.cb.OnCompletion; f != nil {
		f(r.c, r.outcome)
	}
}

// prepare stops the producer and sets the write deadline and the cursor
// header before an answer.
func (r *request) prepare() {
	if r.stop != nil {
		r.stop()
	}
	if r.st.writeTimeout > 0 {
		rc := http.NewResponseController(r.c.Response().Writer)
		_ = rc.SetWriteDeadline(time.Now().Add(r.st.writeTimeout)) // unsupported: no deadline
	}
	if r.body.Cursor != "" {
		r.c.Response().Header().Set(CursorHeader, r.body.Cursor)
	}
}

// answer sends the events gathered.
func (r *request) answer() error {
	r.outcome = Answered
	r.prepare()
	b, err := json.Marshal(&r.body)
	if err != nil { // cannot happen: strings, bools and a Gap
		return err
	}
	return r.c.JSONBlob(http.StatusOK, b)
}

// timeout answers a request that waited in vain.
func (r *request) timeout() error {
	r.outcome = TimedOut
	r.prepare()
	if f := r.st.cb.OnTimeout; f != nil {
		if err := f(r.c, r.body.Cursor); err != nil || r.c.Response().Committed {
			return err
		}
	}
	return r.c.NoContent(http.StatusNoContent)
}

// fail answers an error, through OnError.
func (r *request) fail(err error) error {
	r.outcome = Failed
	r.prepare()
	if f := r.st.cb.OnError; f != nil {
		ferr := f(r.c, err)
		if r.c.Response().Committed {
			return ferr
		}
		if ferr != nil {
			err = ferr
		}
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return he
	}
	return echo.NewHTTPError(http.StatusInternalServerError, err.Error()).SetInternal(err)
}

// refuse answers the front end's refusal, through OnError.
func (r *request) refuse(err error) error {
	return r.fail(transport.Refuse(err, r.st.shutdownRetry).HTTPError(r.c))
}

// shutdownBody is the JSON of the 503 answer at shutdown.
type shutdownBody struct {
	Message string `json:"message"`
	Cursor  string `json:"cursor"`
	Retry   int64  `json:"retry"` // milliseconds
}

// shutdown answers 503 with a jittered retry delay.
func (r *request) shutdown() error {
	r.outcome = ShutDown
	r.prepare()
	d := transport.Jitter(r.st.shutdownRetry)
	r.c.Response().Header().Set("Retry-After", transport.RetryAfter(d))
	return r.c.JSON(http.StatusServiceUnavailable, shutdownBody{
		Message: transport.ErrShutdown.Error(), Cursor: r.body.Cursor, Retry: d.Milliseconds(),
	})
}

// ended handles the end of the request's context: the server's shutdown,
// or the client leaving (nothing is written).
func (r *request) ended() error {
	if transport.ShuttingDown(r.ctx) {
		if len(r.body.Events) > 0 || r.body.Gap != nil {
			return r.answer()
		}
		return r.shutdown()
	}
	r.outcome = Gone
	if r.stop != nil {
		r.stop()
	}
	return nil
}

// after returns the channel of a timer of d (nil when d is 0: no timer) and
// a function that stops it.
func after(d time.Duration) (<-chan time.Time, func()) {
	if d <= 0 {
		return nil, func() {}
	}
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (r *request) serveSession(sess *session.Session) error {
	full, err := session.Gather(r.ctx, sess, &r.body, r.st.max)
	if err != nil {
		return r.subscriptionFailed(err)
	}
	if len(r.body.Events) > 0 {
		return r.answer() // retained events: at once
	}
	// Nothing yet, or a gap alone: wait for the first event. A gap is held
	// until then (or the timeout), so that it names the event that follows
	// it and the client does not poll again in a tight loop when no event
	// follows yet.
	timeout, stopTimeout := after(r.wait)
	defer stopTimeout()
	for len(r.body.Events) == 0 {
		select {
		case <-sess.Ready():
		case <-timeout:
			if r.body.Gap != nil {
				return r.answer()
			}
			return r.timeout()
		case <-r.ctx.Done():
			return r.ended()
		}
		if full, err = session.Gather(r.ctx, sess, &r.body, r.st.max); err != nil {
			return r.subscriptionFailed(err)
		}
	}
	window, stopWindow := after(r.st.window)
	defer stopWindow()
	for !full && window != nil {
		select {
		case <-sess.Ready():
		case <-window:
			return r.answer()
		case <-r.ctx.Done():
			return r.ended()
		}
		if full, err = session.Gather(r.ctx, sess, &r.body, r.st.max); err != nil {
			return r.subscriptionFailed(err)
		}
	}
	return r.answer()
}

// subscriptionFailed answers what was gathered, or the error: the hub
// closed, the queue overflowed, or the broker failed. The client polls
// again from its cursor.
func (r *request) subscriptionFailed(err error) error {
	if r.ctx.Err() != nil {
		return r.ended()
	}
	if len(r.body.Events) > 0 || r.body.Gap != nil {
		r.st.log.Debug("rxstream: longpoll: subscription ended", "err", err)
		return r.answer()
	}
	return r.refuse(err)
}

func (r *request) serveProducer(p Producer, cursor string) error {
	pctx, cancel := context.WithCancel(r.ctx)
	c := r.c
	c.SetRequest(c.Request().WithContext(pctx))
	obs, err := p(c, cursor)
	if err == nil && obs == nil {
		err = errors.New("rxstream: longpoll: producer returned no observable")
	}
	if err != nil {
		cancel()
		return r.fail(err)
	}
	items := obs.Observe(rxgo.WithContext(pctx))
	r.stop = func() {
		r.stop = nil
		cancel()
		grace := time.NewTimer(producerGrace)
		defer grace.Stop()
		for {
			select {
			case _, ok := <-items:
				if !ok {
					return
				}
			case <-grace.C:
				r.st.log.Warn("rxstream: longpoll: producer ignores its context", "path", c.Path())
				return
			}
		}
	}

	timeout, stopTimeout := after(r.wait)
	defer stopTimeout()
	select {
	case it, ok := <-items:
		if !ok {
			return r.answer() // completed without items
		}
		if ans, err := r.add(it); ans {
			return r.answer()
		} else if err != nil {
			return r.fail(err)
		}
	case <-timeout:
		return r.timeout()
	case <-r.ctx.Done():
		return r.ended()
	}
	window, stopWindow := after(r.st.window)
	defer stopWindow()
	for window != nil {
		select {
		case it, ok := <-items:
			if !ok {
				return r.answer()
			}
			if ans, err := r.add(it); ans || err != nil {
				return r.answer()
			}
		case <-window:
			return r.answer()
		case <-r.ctx.Done():
			return r.ended()
		}
	}
	return r.answer()
}

// add appends one producer item to the answer. It reports answer when the
// answer must go now (it is full, or a gap follows its events: the gap is
// dropped and the client's next poll reports it), and the error of an
// error item or an item that is no event; an error after events is logged
// and those events are answered.
func (r *request) add(it rxgo.Item) (answer bool, err error) {
	full := func() bool { return len(r.body.Events) >= r.st.max }
	if it.E != nil {
		err = it.E
	} else {
		switch v := it.V.(type) {
		case framework.Gap:
			return r.addGap(v), nil
		case *framework.Gap:
			if v == nil {
				return false, nil
			}
			return r.addGap(*v), nil
		}
		var ev framework.Event
		if ev, err = streams.ToEvent(it.V); err == nil {
			r.body.Events = append(r.body.Events, transport.NewEnvelope(ev))
			if ev.ID != "" {
				r.body.Cursor = ev.ID
			}
			return full(), nil
		}
		err = fmt.Errorf("rxstream: longpoll: item cannot be sent: %w", err)
	}
	if len(r.body.Events) > 0 || r.body.Gap != nil {
		r.st.log.Debug("rxstream: longpoll: producer failed after events", "err", err)
		return true, nil
	}
	return false, err
}

func (r *request) addGap(g framework.Gap) bool {
	if len(r.body.Events) > 0 || r.body.Gap != nil {
		return true
	}
	r.body.Gap = &g
	return false
}
