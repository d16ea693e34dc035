package longpoll

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/poll"
	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// begin sets the headers of every answer, checks the method and reads the
// request's timeout. false: the request was answered (405, 400).
func (st *settings) begin(w http.ResponseWriter, r *http.Request) (q *poll.Request, wait time.Duration, ok bool) {
	w.Header().Set("Cache-Control", "no-store")
	if !poll.Get(w, r) {
		return nil, 0, false
	}
	wait, err := st.asked(r)
	if err != nil {
		transport.WriteError(w, err, 0)
		return nil, 0, false
	}
	q = poll.NewRequest(w, r, st.shutdownRetry)
	q.Prepare = st.prepare
	return q, wait, true
}

// asked returns the wait of a request: [Options.Timeout], or less when
// the request's timeout query parameter (a Go duration such as "25s" or
// "0s") asks for it. A client behind a proxy with a shorter idle timeout,
// or one that wants its starting cursor at once, can ask for a shorter
// wait, never a longer one. 0 means none.
func (st *settings) asked(r *http.Request) (time.Duration, error) {
	v := r.URL.Query().Get("timeout")
	if v == "" {
		return st.timeout, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		if len(v) > 32 {
			v = v[:32] + "…"
		}
		return 0, transport.Status(http.StatusBadRequest, fmt.Errorf(
			"rxstream: longpoll: timeout=%q is not a non-negative duration like 25s", v))
	}
	if st.timeout <= 0 || d < st.timeout {
		return max(d, time.Nanosecond), nil // retained events still answer first
	}
	return st.timeout, nil
}

// prepare sets the write deadline and the cursor header before an answer.
func (st *settings) prepare(q *poll.Request) {
	if st.writeTimeout > 0 {
		rc := http.NewResponseController(q.W)
		_ = rc.SetWriteDeadline(time.Now().Add(st.writeTimeout)) // unsupported: no deadline
	}
	if q.Body.Cursor != "" {
		q.W.Header().Set(CursorHeader, q.Body.Cursor)
	}
}

// waiter is the wait of one request for hub topics.
type waiter struct {
	q    *poll.Request
	st   *settings
	sess *session.Session
	wait time.Duration // 0: none
}

// close ends the session, then the request (its Closed hook), then its
// pass.
func (v *waiter) close() {
	v.sess.Close()
	v.q.Close()
	v.q.Pass.Release()
}

func (v *waiter) serve() {
	q, ctx := v.q, v.q.Context()
	full, err := session.Gather(ctx, v.sess, &q.Body, v.st.max)
	if err != nil {
		v.failed(err)
		return
	}
	if q.Body.Len() > 0 {
		q.Answer() // retained events: at once
		return
	}
	// Nothing yet, or a gap alone: wait for the first event. A gap is held
	// until then (or the timeout), so that it names the event that follows
	// it and the client does not poll again in a tight loop when no event
	// follows yet.
	timeout, stopTimeout := poll.After(v.wait)
	defer stopTimeout()
	for q.Body.Len() == 0 {
		select {
		case <-v.sess.Ready():
		case <-timeout:
			if q.Body.Gap != nil {
				q.Answer()
			} else {
				q.NoBody(http.StatusNoContent, ErrTimeout)
			}
			return
		case <-ctx.Done():
			q.Ended()
			return
		}
		if full, err = session.Gather(ctx, v.sess, &q.Body, v.st.max); err != nil {
			v.failed(err)
			return
		}
	}
	window, stopWindow := poll.After(v.st.window)
	defer stopWindow()
	for !full && window != nil {
		select {
		case <-v.sess.Ready():
		case <-window:
			q.Answer()
			return
		case <-ctx.Done():
			q.Ended()
			return
		}
		if full, err = session.Gather(ctx, v.sess, &q.Body, v.st.max); err != nil {
			v.failed(err)
			return
		}
	}
	q.Answer()
}

// failed answers what was gathered, or the error: the hub closed, the
// queue overflowed, or the broker failed. The client polls again from its
// cursor.
func (v *waiter) failed(err error) {
	q := v.q
	switch {
	case q.Context().Err() != nil:
		q.Ended()
	case !q.Empty():
		v.st.log.Debug("rxstream: longpoll: subscription ended", "err", err)
		q.Fail(err) // the client does not see it
		q.Answer()
	default:
		q.Error(err, transport.Refuse(err, v.st.shutdownRetry))
	}
}
