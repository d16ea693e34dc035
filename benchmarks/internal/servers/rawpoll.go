package servers

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

func init() {
	register(Contender{Name: "raw-longpoll", Transport: LongPoll, Kind: Raw, New: func() (Server, error) { return newRawPoll(true), nil }})
	register(Contender{Name: "raw-shortpoll", Transport: ShortPoll, Kind: Raw, New: func() (Server, error) { return newRawPoll(false), nil }})
}

const (
	rawHistory  = 4096
	rawMaxBatch = 128
	rawPollWait = 25 * time.Second
)

// rawPoll is the hand-written poll baseline: a ring of pre-encoded
// envelopes whose positions are the cursors, and a channel closed on every
// publish to wake the waiting long-polls. Short-polls answer at once.
type rawPoll struct {
	wait bool

	mu     sync.Mutex
	ring   [rawHistory][]byte
	n      int           // events published; the cursor of the newest
	notify chan struct{} // closed and replaced on publish
}

func newRawPoll(wait bool) *rawPoll {
	return &rawPoll{wait: wait, notify: make(chan struct{})}
}

func (s *rawPoll) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		after := -1
		if v := r.URL.Query().Get("cursor"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				http.Error(w, "bad cursor", http.StatusBadRequest)
				return
			}
			after = n
		}
		var timeout <-chan time.Time
		if s.wait {
			t := time.NewTimer(rawPollWait)
			defer t.Stop()
			timeout = t.C
		}
		for {
			body, next, got, ch := s.read(after)
			after = next
			if got || !s.wait {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(body)
				return
			}
			select {
			case <-ch:
			case <-timeout:
				s.answer(w, after)
				return
			case <-r.Context().Done():
				return
			}
		}
	})
}

func (s *rawPoll) answer(w http.ResponseWriter, after int) {
	w.Header().Set("Content-Type", "application/json")
	b := append([]byte(`{"events":[],"cursor":"`), strconv.Itoa(after)...)
	_, _ = w.Write(append(b, `"}`...))
}

// read returns the answer for a poll after cursor after (-1: the tip), the
// cursor it moves to, whether it holds events, and the channel to wait on.
func (s *rawPoll) read(after int) (body []byte, next int, got bool, ch <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if after < 0 || after > s.n {
		after = s.n
	}
	from := max(after, s.n-rawHistory)
	to := min(s.n, from+rawMaxBatch)
	body = append(body, `{"events":[`...)
	for i := from; i < to; i++ {
		if i > from {
			body = append(body, ',')
		}
		body = append(body, s.ring[i%rawHistory]...)
	}
	body = append(body, `],"cursor":"`...)
	body = strconv.AppendInt(body, int64(to), 10)
	body = append(body, `"}`...)
	return body, to, to > from, s.notify
}

func (s *rawPoll) Publish(_ context.Context, seq int, payload []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	s.ring[(s.n-1)%rawHistory] = appendEnvelope(make([]byte, 0, len(payload)+32), s.n, payload)
	close(s.notify)
	s.notify = make(chan struct{})
	return nil
}

func (s *rawPoll) Close() {}

var _ Server = (*rawPoll)(nil)
