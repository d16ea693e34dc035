package load

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// Tracker checks what a set of subscribers received: events 1..Events, each
// once and in order, and, with Latency, records each delivery's delay
// behind its intended send time.
type Tracker struct {
	Events  int
	Latency bool

	mu       sync.Mutex
	subs     []*Sub
	complete atomic.Int64 // subscribers that got every event
}

// Sub is the record of one subscriber. Its methods are called from the
// subscriber's goroutine only, except Got and Warm.
type Sub struct {
	t        *Tracker
	seen     []uint64
	max      int
	got      atomic.Int64
	warm     atomic.Bool
	dup, ooo int
	bad      int
	gaps     int
	lat      []int64      // ns
	beats    atomic.Int64 // SSE comments (heartbeats) read
}

// Beats returns the SSE comment lines (heartbeats) the subscriber read.
func (s *Sub) Beats() int64 { return s.beats.Load() }

// NewSub adds a subscriber.
func (t *Tracker) NewSub() *Sub {
	s := &Sub{t: t, seen: make([]uint64, (t.Events+64)/64)}
	t.mu.Lock()
	t.subs = append(t.subs, s)
	t.mu.Unlock()
	return s
}

// Payload records a delivery given its payload.
func (s *Sub) Payload(p []byte) {
	seq, due, ok := servers.ParsePayload(p)
	if !ok {
		s.bad++
		return
	}
	s.Event(seq, due)
}

// Event records the delivery of event seq intended at dueNs.
func (s *Sub) Event(seq int, dueNs int64) {
	if seq == 0 {
		s.warm.Store(true)
		return
	}
	if seq > s.t.Events {
		s.bad++
		return
	}
	w, b := seq/64, uint64(1)<<(seq%64)
	if s.seen[w]&b != 0 {
		s.dup++
		return
	}
	s.seen[w] |= b
	if seq < s.max {
		s.ooo++
	} else {
		s.max = seq
	}
	if s.t.Latency {
		s.lat = append(s.lat, time.Now().UnixNano()-dueNs)
	}
	if s.got.Add(1) == int64(s.t.Events) {
		s.t.complete.Add(1)
	}
}

// Gap records a gap notice: the server said events were lost.
func (s *Sub) Gap() { s.gaps++ }

// Complete returns how many subscribers received every event.
func (t *Tracker) Complete() int64 { return t.complete.Load() }

// Got returns how many distinct events the subscriber received.
func (s *Sub) Got() int64 { return s.got.Load() }

// Warm reports whether the subscriber received a warm-up event (seq 0).
func (s *Sub) Warm() bool { return s.warm.Load() }

// MinGot returns the smallest Got among subs.
func MinGot(subs []*Sub) int64 {
	m := int64(-1)
	for _, s := range subs {
		if g := s.Got(); m < 0 || g < m {
			m = g
		}
	}
	return max(m, 0)
}

// AllWarm reports whether every sub received a warm-up event.
func AllWarm(subs []*Sub) bool {
	for _, s := range subs {
		if !s.Warm() {
			return false
		}
	}
	return true
}

// Tally is the sum over a Tracker's subscribers, read after they stopped.
type Tally struct {
	Subscribers int
	Delivered   int64
	Lost        int64 // expected but never received
	Duplicated  int
	OutOfOrder  int
	Malformed   int
	Gaps        int                     // gap notices: losses the server reported
	Latency     *hdrhistogram.Histogram // microseconds; nil without Latency
}

// Tally adds up the subscribers, skipping those in skip.
func (t *Tracker) Tally(skip ...*Sub) Tally {
	t.mu.Lock()
	defer t.mu.Unlock()
	var r Tally
	if t.Latency {
		r.Latency = hdrhistogram.New(1, 60_000_000, 3)
	}
outer:
	for _, s := range t.subs {
		for _, k := range skip {
			if k == s {
				continue outer
			}
		}
		r.Subscribers++
		n := 0
		for _, w := range s.seen {
			n += bits.OnesCount64(w)
		}
		r.Delivered += int64(n)
		r.Lost += int64(t.Events - n)
		r.Duplicated += s.dup
		r.OutOfOrder += s.ooo
		r.Malformed += s.bad
		r.Gaps += s.gaps
		for _, ns := range s.lat {
			_ = r.Latency.RecordValue(max(ns/1000, 1))
		}
	}
	return r
}

// NewSubDetached returns a subscriber record that the Tracker does not keep
// (for clients whose deliveries are not checked).
func (t *Tracker) NewSubDetached() *Sub {
	return &Sub{t: t, seen: make([]uint64, (t.Events+64)/64)}
}
