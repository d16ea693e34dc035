package transport

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

// Errors of the multiplexed Go clients.
var (
	// ErrSubscribed is returned by [Mux.Subscribe] for a topic that the
	// client already follows.
	ErrSubscribed = errors.New("rxstream: topic already subscribed")
	// ErrObserved is the error item of a second Observe of a
	// subscription's events.
	ErrObserved = errors.New("rxstream: subscription already observed")
)

// Mux is the set of subscriptions of a multiplexed Go client (one
// connection or poll loop for many topics) and the goroutine that serves
// them. Subscribe and [Subscription.Close] change the set; the serving loop reads it
// with [Mux.Snapshot], whose context ends at the next change.
//
// All methods may be called concurrently.
type Mux struct {
	life context.Context // ends with Close
	end  context.CancelFunc
	done chan struct{} // closed when the loop returned

	mu     sync.Mutex
	subs   []*Subscription // in subscription order
	cur    context.Context
	cancel context.CancelFunc // of cur
	closed bool
}

// NewMux returns a Mux whose loop, run, starts at once and must return
// when its context ends (at [Mux.Close]).
func NewMux(run func(ctx context.Context, m *Mux)) *Mux {
	m := &Mux{done: make(chan struct{})}
	m.life, m.end = context.WithCancel(context.Background())
	m.cur, m.cancel = context.WithCancel(m.life)
	go func() {
		defer close(m.done)
		run(m.life, m)
	}()
	return m
}

// changedLocked ends the context of the last snapshot.
func (m *Mux) changedLocked() {
	m.cancel()
	m.cur, m.cancel = context.WithCancel(m.life)
}

// Subscribe adds topic to the set, to be followed after cursor (empty:
// from its next live event). It fails with [framework.ErrInvalidTopic],
// a [*framework.CursorError], [ErrSubscribed] for a topic already in the
// set, or [framework.ErrClosed] after Close.
func (m *Mux) Subscribe(topic, cursor string) (*Subscription, error) {
	if !framework.ValidTopic(topic) {
		return nil, fmt.Errorf("%w: %q", framework.ErrInvalidTopic, topic)
	}
	if strings.Contains(cursor, ":") {
		return nil, &framework.CursorError{Cursor: cursor, Reason: "want one topic's cursor, not a composite"}
	}
	if _, _, err := framework.ParseCursor(cursor); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, framework.ErrClosed
	}
	for _, s := range m.subs {
		if s.topic == topic {
			return nil, fmt.Errorf("%w: %q", ErrSubscribed, topic)
		}
	}
	s := &Subscription{m: m, topic: topic, pos: cursor, ready: make(chan struct{}, 1), room: make(chan struct{}, 1), done: make(chan struct{})}
	m.subs = append(m.subs, s)
	m.changedLocked()
	return s, nil
}

// Snapshot returns the subscriptions now in the set, in subscription order,
// and a context that ends when the set changes or the Mux closes.
func (m *Mux) Snapshot() ([]*Subscription, context.Context) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*Subscription(nil), m.subs...), m.cur
}

// Fail ends subs with err as their last item, after the items queued for
// their observers: the serving loop gives them up (an answer that
// retrying will not fix).
func (m *Mux) Fail(subs []*Subscription, err error) {
	for _, s := range subs {
		s.end(err, true)
	}
}

// Close ends every subscription (their observables complete) and the
// loop, and waits for the loop to return.
func (m *Mux) Close() {
	m.mu.Lock()
	m.closed = true
	subs := m.subs
	m.mu.Unlock()
	for _, s := range subs {
		s.end(nil, false)
	}
	m.end()
	<-m.done
}

// Subscription is one topic of a multiplexed client: its cursor and the
// stream of its items. Its methods may be called concurrently.
//
// Each has a queue of up to [SubscriptionQueue] items for its observer, so
// that the topics of one connection are observed independently: an
// observer that reads one topic and then another gets both, whatever
// order the server interleaved them in, and the connection waits for an
// observer only once its queue is full. A connection resumes after what
// was queued (the queue outlives it); [Subscription.Cursor] names what
// the observer took.
type Subscription struct {
	m     *Mux
	topic string
	ready chan struct{} // an item was queued
	room  chan struct{} // an item was taken from a full queue
	done  chan struct{} // closed by end

	once     sync.Once
	err      error // set before done is closed
	observed atomic.Bool

	// guarded by m.mu
	queue []delivery // for the observer, in order
	pos   string     // the cursor a connection resumes from: after the last item queued
	ended bool       // the server's positions apply no more
}

// SubscriptionQueue is how many items a [Subscription] holds for its
// observer before its connection waits for it.
const SubscriptionQueue = 256

// delivery is an item on its way to the observer, its topic's cursor
// after it, and the cursor before it.
type delivery struct {
	it          rxgo.Item
	pos, before string
}

// Topic returns the subscription's topic.
func (s *Subscription) Topic() string { return s.topic }

// Cursor returns the cursor the topic resumes from: the ID of the last item
// its observer took (or the position the server reported since), or the
// cursor given to Subscribe.
func (s *Subscription) Cursor() string {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if len(s.queue) > 0 {
		return s.queue[0].before
	}
	return s.pos
}

// Resume returns the cursor a connection resumes s from: after the last
// item queued for its observer (see [Subscription.Cursor] for what it took).
func (s *Subscription) Resume() string {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	return s.pos
}

// SetCursor moves the resume cursor of s to pos, unless pos is empty or s
// has ended (its cursor stays that of the last item its observer took).
func SetCursor(s *Subscription, pos string) {
	if pos == "" {
		return
	}
	s.m.mu.Lock()
	if !s.ended {
		s.pos = pos
	}
	s.m.mu.Unlock()
}

// Close removes the subscription from the set; its observable completes,
// without the items still queued for it.
func (s *Subscription) Close() { s.end(nil, false) }

// end ends s with err; with drain, its observer gets what is queued first.
func (s *Subscription) end(err error, drain bool) {
	s.once.Do(func() {
		s.m.mu.Lock()
		s.ended = true
		if !drain && len(s.queue) > 0 {
			s.pos, s.queue = s.queue[0].before, nil // what the observer took
		}
		for i, x := range s.m.subs {
			if x == s {
				s.m.subs = append(s.m.subs[:i:i], s.m.subs[i+1:]...)
				s.m.changedLocked()
				break
			}
		}
		s.m.mu.Unlock()
		s.err = err
		close(s.done)
	})
}

// Deliver queues it for the observer of s and moves the cursor a
// connection resumes s from to pos (when not empty): when Deliver returns
// true, a connection opened next resumes after it. It waits while the
// queue is full, and returns false when ctx ended first: the item was not
// queued and the cursor did not move. An ended subscription drops the
// item. Only the loop serving s may call Deliver, SetCursor and
// SetComposite for it.
func Deliver(ctx context.Context, s *Subscription, it rxgo.Item, pos string) bool {
	for {
		s.m.mu.Lock()
		if s.ended {
			s.m.mu.Unlock()
			return true
		}
		if len(s.queue) < SubscriptionQueue {
			s.queue = append(s.queue, delivery{it, pos, s.pos})
			if pos != "" {
				s.pos = pos
			}
			s.m.mu.Unlock()
			signal(s.ready)
			return true
		}
		s.m.mu.Unlock()
		select {
		case <-s.room:
		case <-s.done:
		case <-ctx.Done():
			return false
		}
	}
}

// signal sets a channel of capacity one that says something changed.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// next takes the first item queued for the observer; ok is false when
// there is none.
func (s *Subscription) next() (d delivery, ok bool) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if len(s.queue) == 0 {
		return delivery{}, false
	}
	d = s.queue[0]
	s.queue[0] = delivery{}
	s.queue = s.queue[1:]
	if len(s.queue) == 0 {
		s.queue = nil // let a burst's array go
	}
	if len(s.queue) == SubscriptionQueue-1 {
		signal(s.room)
	}
	return d, true
}

// Events returns the observable of the subscription's items. It may be
// observed once: a second Observe gets an [ErrObserved] error item. The
// observer's context ending closes the subscription.
func (s *Subscription) Events() rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		if !s.observed.CompareAndSwap(false, true) {
			rxgo.Error(ErrObserved).SendContext(ctx, next)
			return
		}
		for {
			if d, ok := s.next(); ok {
				if !d.it.SendContext(ctx, next) {
					s.Close()
					return
				}
				continue
			}
			select {
			case <-s.ready:
			case <-s.done:
				if d, ok := s.next(); ok { // queued before the server ended s
					if !d.it.SendContext(ctx, next) {
						s.Close()
						return
					}
					continue
				}
				if s.err != nil {
					rxgo.Error(s.err).SendContext(ctx, next)
				}
				return
			case <-ctx.Done():
				s.Close()
				return
			}
		}
	}})
}

// Topics returns the topics of subs, in order.
func Topics(subs []*Subscription) []string {
	t := make([]string, len(subs))
	for i, s := range subs {
		t[i] = s.topic
	}
	return t
}

// Composite returns the composite cursor of subs that a client builds from
// each topic's cursor, ":c1,c2,...", or "" when no topic has one (the
// server then starts each with its next live event and reports the tips).
func Composite(subs []*Subscription) string {
	pos := make([]string, len(subs))
	any := false
	for i, s := range subs {
		pos[i] = s.Resume()
		any = any || pos[i] != ""
	}
	if !any {
		return ""
	}
	return ":" + strings.Join(pos, ",")
}

// SetComposite moves each of subs to its position in the server's
// composite cursor c (EPOCH:POS,POS,...), which names them in order. A
// cursor that is not a composite of len(subs) positions changes nothing.
func SetComposite(subs []*Subscription, c string) {
	epoch, list, ok := strings.Cut(c, ":")
	if !ok {
		return
	}
	parts := strings.Split(list, ",")
	if len(parts) != len(subs) {
		return
	}
	for i, p := range parts {
		if p != "" && epoch != "" && !strings.Contains(p, "-") {
			p = epoch + "-" + p
		}
		SetCursor(subs[i], p)
	}
}

// WithTopics returns rawQuery with a topic parameter per sub appended, in
// order.
func WithTopics(rawQuery string, subs []*Subscription) string {
	var b strings.Builder
	b.WriteString(rawQuery)
	for _, s := range subs {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString("topic=")
		b.WriteString(s.topic) // a valid topic needs no escaping
	}
	return b.String()
}
