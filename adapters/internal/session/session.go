// Package session is the layer between a request's front end and its wire,
// shared by every transport, so that the path from subscriptions to frames
// is written once:
//
//	request -> Open: the topics (one, or several from ?topic=), each checked
//	           and authorized by the front end, each from its own cursor
//	        -> Session: the subscriptions, one ready signal for all of them,
//	           Take(max) -> Batch of items (events and per-topic gap
//	           notices), each with the cursor to resume from after it
//	        -> the transport's waiting: Pump, the one loop of the streams
//	           (SSE, WebSocket: batches, heartbeats or pings, control
//	           messages, the session's end), or Gather for a poll answer
//	           (first batch and a window; answer now)
//	        -> the transport's encoder (SSE frames, JSON envelopes, a poll
//	           answer)
//
// A session that answers at once (a short poll, [Options.Read]) reads
// each topic's history instead of subscribing: its items are those the
// subscriptions would have given, and nothing is followed.
//
// A single topic is the one-element case: its cursor is the topic's own
// ("EPOCH-SEQ"). A multiplexed session's cursor is composite (see
// parseCursor): it names every topic's position, so the last cursor a
// client saw resumes the whole set, nothing lost, nothing repeated.
//
// Order is kept per topic; across topics a batch takes what is ready in
// turn, starting from a different topic each time, so that a busy topic
// does not starve the others.
//
// A multiplexed session may grow and shrink while it is read (Add and
// Remove, for the subscribe and unsubscribe messages of a WebSocket): its
// composite cursor then names its current topics in the order they were
// added.
package session

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Item is one frame to send: an event of Topic, or a gap notice of Topic
// when Gap is set. Cursor is the session's cursor once the item is
// delivered, the one to resume from, and Pos the topic's own; both are
// empty for a gap notice that events of its topic follow in the same batch
// (the first of them carries them).
type Item struct {
	Topic  string
	Gap    *framework.Gap
	Event  framework.Event
	Cursor string
	Pos    string
}

// Session is the subscriptions of one connection. It has no goroutine of
// its own; one reader drives it: Take, Cursor, Topics, Add and Remove must
// be called from one goroutine at a time. Close may be called from any
// goroutine, concurrently with them.
type Session struct {
	multi  bool
	hub    *framework.Hub
	max    int           // MaxTopics
	retry  time.Duration // Options.Retry
	linger time.Duration // Options.Linger
	hold   time.Duration // Options.PresenceHold
	notify func()        // Options.Notify
	ready  chan struct{}
	mu     sync.Mutex // guards topics' changes against Close, and closed
	topics []topic
	closed bool
	next   int      // the topic a Take starts with
	items  []Item   // behind the last Batch
	buf    []byte   // composite cursors
	pos    []string // their positions
}

type topic struct {
	name string
	sub  source
	pos  string // the cursor after the last item taken
}

// source is where a topic's items come from: a [*framework.Subscription],
// or a [reading] of its history.
type source interface {
	Poll(ctx context.Context, limit int) (framework.Batch, error)
	Cursor() string
	Close()
}

// Options says what a request follows.
type Options struct {
	// Name picks the one topic of a single-topic route; nil means a
	// multiplexed request, whose topics are its "topic" query parameters.
	Name func(*http.Request) string
	// MaxTopics bounds the topics of a multiplexed request; 0 means
	// [MaxTopics].
	MaxTopics int
	// Retry is the base of a 503's Retry-After.
	Retry time.Duration
	// Linger keeps each topic followed that long after the session's end
	// when it was the topic's last subscriber (see
	// [framework.SubscribeOptions]): polls come and go.
	Linger time.Duration
	// PresenceHold keeps the session's user present that long after it
	// ends ([framework.SubscribeOptions]): a short poll's interval.
	PresenceHold time.Duration
	// Notify, when set, is called whenever Ready is signalled, from the
	// goroutine that has news (see [framework.SubscribeOptions]): it must
	// not block.
	Notify func()
	// Read, above 0, makes a session that reads the topics' history
	// instead of subscribing (a short poll): Open reads each topic's
	// first page ([framework.Hub.Read]), of its fair share of Read
	// events, and Take delivers it, reading on while a topic's history
	// holds more. Nothing is followed, so a distributed broker starts no
	// feed for it; Linger and Notify do not apply, and Ready is
	// signalled once, by Open.
	Read int
}

// Open is the front end of a request for hub topics: each topic is checked
// and authorized ([transport.Check]), the cursor read under every spelling
// and split into one per topic, the rewind of each topic read
// ([transport.RequestRewind]), and each topic subscribed from its own
// cursor, or, without one, from its rewind. It
// returns the session (the caller closes it) and the cursor the client
// gave, or a [*transport.StatusError].
func Open(r *http.Request, hub *framework.Hub, o Options) (*Session, string, error) {
	s := &Session{multi: o.Name == nil, hub: hub, max: o.MaxTopics, retry: o.Retry, linger: o.Linger, hold: o.PresenceHold, notify: o.Notify, ready: make(chan struct{}, 1)}
	if s.max <= 0 {
		s.max = MaxTopics
	}
	var names []string
	if s.multi {
		var err error
		if names, err = topicsOf(r, s.max); err != nil {
			return nil, "", err
		}
	} else {
		names = []string{o.Name(r)}
	}
	for _, n := range names {
		if err := transport.Check(r, n, transport.Subscribe); err != nil {
			return nil, "", transport.Refuse(err, o.Retry)
		}
	}
	limit := framework.MaxCursorLen
	if s.multi {
		limit = maxCursorLen(len(names))
	}
	cursor, err := transport.RequestCursor(r, limit)
	if err != nil {
		return nil, "", err
	}
	pos := []string{cursor}
	if s.multi {
		if pos, err = parseCursor(cursor, len(names)); err != nil {
			return nil, "", transport.Refuse(err, o.Retry)
		}
	}
	rw, err := transport.RequestRewind(r, len(names))
	if err != nil {
		return nil, "", err
	}
	for i, n := range names {
		// A topic with a position ignores its rewind: the cursor wins.
		var sub source
		if o.Read > 0 {
			sub, err = newReading(r.Context(), hub, n, pos[i], (o.Read+len(names)-1)/len(names), s.options(r, rw[i]))
		} else {
			sub, err = hub.SubscribeWith(n, pos[i], s.options(r, rw[i]))
		}
		if err != nil {
			s.Close()
			return nil, "", transport.Refuse(fmt.Errorf("topic %s: %w", n, err), o.Retry)
		}
		s.topics = append(s.topics, topic{name: n, sub: sub, pos: sub.Cursor()})
	}
	s.signal() // history is read by polling: look at once
	return s, cursor, nil
}

// topicsOf returns the topic query parameters of a multiplexed request:
// 1 to max, each once.
func topicsOf(r *http.Request, max int) ([]string, error) {
	names := r.URL.Query()["topic"]
	bad := func(format string, args ...any) error {
		return transport.Status(http.StatusBadRequest, fmt.Errorf("%w: "+format, append([]any{framework.ErrInvalidTopic}, args...)...))
	}
	switch {
	case len(names) == 0:
		return nil, bad("no topic: name one or more with ?topic=")
	case len(names) > max:
		return nil, bad("%d topics, at most %d per request", len(names), max)
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if seen[n] {
			return nil, bad("topic %q named twice", cut(n))
		}
		seen[n] = true
	}
	return names, nil
}

// Multi reports whether the session is multiplexed: its items name their
// topic on the wire and its cursor is composite.
func (s *Session) Multi() bool { return s.multi }

// Ready returns the channel signalled when any subscription may have news.
func (s *Session) Ready() <-chan struct{} { return s.ready }

func (s *Session) signal() {
	if s.notify != nil {
		s.notify()
	}
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Cursor returns the session's cursor: where a client resumes after what
// was taken (before any Take, after the cursor it gave, or each topic's
// tip).
func (s *Session) Cursor() string {
	if !s.multi {
		return s.topics[0].pos
	}
	return s.composite()
}

func (s *Session) composite() string {
	s.pos = s.pos[:0]
	for i := range s.topics {
		s.pos = append(s.pos, s.topics[i].pos)
	}
	s.buf = formatCursor(s.buf[:0], s.pos)
	return string(s.buf)
}

// Batch is what Take returns: items valid until the next Take.
type Batch struct {
	Items []Item
}

// Take returns up to max items that are ready now, without waiting: every
// topic in turn gives what it has, up to a fair share of max first, then
// what room is left, starting with the topic after the one the last Take
// started with. An empty Batch means nothing is ready; wait
// on Ready. A subscription that fails (its queue overflowed, the hub
// closed, its broker failed) ends the session: Take returns what it took
// before, which must still be delivered, and the error.
func (s *Session) Take(ctx context.Context, max int) (Batch, error) {
	clear(s.items)
	s.items = s.items[:0]
	n := len(s.topics)
	if n == 0 {
		return Batch{}, nil // every topic was removed
	}
	start := s.next % n
	s.next = (start + 1) % n
	// A first round takes a fair share of max from each topic, a second
	// what room is left.
	share, rounds := (max+n-1)/n, 2*n
	if n == 1 {
		rounds = 1
	}
	for k := 0; k < rounds && len(s.items) < max; k++ {
		t := &s.topics[(start+k)%n]
		limit := max - len(s.items)
		if k < n {
			limit = min(limit, share)
		}
		b, err := t.sub.Poll(ctx, limit)
		if err != nil {
			return Batch{Items: s.items}, fmt.Errorf("topic %s: %w", t.name, err)
		}
		if b.Gap != nil {
			it := Item{Topic: t.name, Gap: b.Gap}
			if len(b.Events) == 0 {
				t.pos = t.sub.Cursor() // the gap moves the cursor on
				it.Cursor, it.Pos = s.cursor(t), t.pos
			}
			s.items = append(s.items, it)
		}
		for _, ev := range b.Events {
			if ev.ID != "" { // a presence event has no position
				t.pos = ev.ID
			}
			s.items = append(s.items, Item{Topic: t.name, Event: ev, Cursor: s.cursor(t), Pos: t.pos})
		}
	}
	if len(s.items) == 0 && cap(s.items) > idleKeep {
		s.items = nil // a burst's buffer is not kept while idle
	}
	return Batch{Items: s.items}, nil
}

// Size estimates the bytes that items take on the wire, for a buffer
// that is then grown once, not doubled again and again: measured with
// the benchmarks' fan-out to 1,000 SSE subscribers, 1 KiB events, a CPU
// profile of the server spent 34% in growing the batch's buffer.
func Size(items []Item) int {
	n := 0
	for i := range items {
		it := &items[i]
		n += len(it.Event.Data) + len(it.Event.ID) + len(it.Event.Name) + len(it.Cursor) + len(it.Topic) + 48
	}
	return n
}

// idleKeep is the capacity of items an idle session keeps, as the
// framework's subscriptions keep 16 events.
const idleKeep = 16

// cursor is the session's cursor once t moved.
func (s *Session) cursor(t *topic) string {
	if !s.multi {
		return t.pos
	}
	return s.composite()
}

// Close ends every subscription; a later Add fails. It is idempotent.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, t := range s.topics {
		t.sub.Close()
	}
}

// errSingle is the error of Add on a single-topic session.
var errSingle = errors.New("rxstream: a single-topic session cannot follow more topics")

// Topics returns the names of the session's topics, in order, and each
// one's own cursor: where that topic resumes after what was taken (before
// any Take, the cursor it started from: the one given, or the topic's tip).
func (s *Session) Topics() (names, pos []string) {
	for _, t := range s.topics {
		names = append(names, t.name)
		pos = append(pos, t.pos)
	}
	return names, pos
}

// options are the subscribe options of a topic of s: its signals and
// linger, the rewind r asked for, and the member the hook named.
func (s *Session) options(r *http.Request, rw transport.Rewind) *framework.SubscribeOptions {
	return transport.Member(r, rw.Options(framework.SubscribeOptions{Ready: s.ready, Linger: s.linger, PresenceHold: s.hold, Notify: s.notify}))
}

// Add subscribes a multiplexed session to one more topic, from cursor, the
// topic's own ("EPOCH-SEQ"; "" starts with its next live event, after
// rw's rewind), as Open does for each of a request's topics: the name is
// checked and the guard set on r asked ([transport.Check]), and the
// subscription shares the session's ready signal. It returns the topic's cursor it starts from
// (the one given, or the topic's tip), or a [*transport.StatusError]: 400 for
// an invalid name or cursor, a topic already followed or one past
// Options.MaxTopics; the guard's status; 503 for a hub or topic at its
// limits, a broker down, or a closed session.
//
// Add is called by the session's reader (see [Session]); r is the
// request that opened the session, while its handler has not returned.
func (s *Session) Add(r *http.Request, name, cursor string, rw transport.Rewind) (string, error) {
	bad := func(format string, args ...any) error {
		return transport.Status(http.StatusBadRequest, fmt.Errorf(format, args...))
	}
	switch {
	case !s.multi:
		return "", bad("%w", errSingle)
	case s.find(name) >= 0:
		return "", bad("%w: topic %q already subscribed", framework.ErrInvalidTopic, name)
	case len(s.topics) >= s.max:
		return "", bad("%w: topic %q would be one more than %d", framework.ErrInvalidTopic, cut(name), s.max)
	}
	if err := transport.Check(r, name, transport.Subscribe); err != nil {
		return "", transport.Refuse(err, s.retry)
	}
	sub, err := s.hub.SubscribeWith(name, cursor, s.options(r, rw))
	if err != nil {
		return "", transport.Refuse(fmt.Errorf("topic %s: %w", name, err), s.retry)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sub.Close()
		return "", transport.Refuse(fmt.Errorf("topic %s: %w", name, framework.ErrClosed), s.retry)
	}
	t := topic{name: name, sub: sub, pos: sub.Cursor()}
	s.topics = append(s.topics, t)
	s.mu.Unlock()
	s.signal() // history is read by polling: look at once
	return t.pos, nil
}

// Remove ends the session's subscription to name and reports whether
// there was one. No item of that topic comes from a later Take. Remove is
// called by the session's reader (see [Session]).
func (s *Session) Remove(name string) bool {
	i := s.find(name)
	if i < 0 {
		return false
	}
	s.mu.Lock()
	s.topics[i].sub.Close()
	s.topics = slices.Delete(s.topics, i, i+1) // keeps the order: the composite's
	s.mu.Unlock()
	if i < s.next {
		s.next-- // the topic that was next still is
	}
	return true
}

func (s *Session) find(name string) int {
	for i := range s.topics {
		if s.topics[i].name == name {
			return i
		}
	}
	return -1
}
