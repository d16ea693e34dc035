package framework

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// DefaultQueueSize is the default bound of a subscriber's queue.
const DefaultQueueSize = 512

// OverflowPolicy says what a [Hub] does with a subscriber whose queue is
// full when an event arrives.
type OverflowPolicy int

const (
	// OverflowClose ends the subscription with [ErrOverflow] (the default).
	// The client reconnects with its last event ID and catches up from
	// history, so nothing is lost while the history holds.
	OverflowClose OverflowPolicy = iota + 1
	// OverflowDropOldest discards the oldest queued event and tells the
	// subscriber with a [Gap] before its next event.
	OverflowDropOldest
)

// HubOptions configures a [Hub]. The zero value means defaults.
type HubOptions struct {
	// Broker stores and carries the events. nil means a [MemoryBroker] with
	// default limits, owned (and closed) by the Hub.
	Broker Broker
	// QueueSize bounds each subscriber's queue of live events; 0 means
	// [DefaultQueueSize]. The queue's memory grows with use, and what a
	// burst grew is released about a second after the bursts stop, so an
	// idle subscriber holds little.
	QueueSize int
	// Overflow is the policy for a subscriber whose queue is full; 0 means
	// [OverflowClose].
	Overflow OverflowPolicy
	// MaxTopics bounds the distinct topics the Hub has published to or
	// subscribed to since it was created; 0 means no bound. Publish or
	// Subscribe of a topic beyond it fails with [ErrTooManyTopics]; known
	// topics keep working. A topic is never forgotten, because the default
	// [MemoryBroker] keeps each topic's sequence number for good (so that
	// IDs never repeat): the bound is what keeps clients that invent topic
	// names from growing the process without limit.
	MaxTopics int
	// MaxSubscribers bounds the open subscriptions of one topic; 0 means no
	// bound. Subscribe beyond it fails with [ErrTooManySubscribers].
	MaxSubscribers int
	// PresenceWindow is how long a user's leave of a topic waits for the
	// user to come back before it is announced (see [Hub.Presence]); 0
	// means [DefaultPresenceWindow], a negative value announces at once.
	PresenceWindow time.Duration
	// PaceBacklog paces publishers to their subscribers. While the live
	// subscribers of a topic on this node have more than PaceBacklog
	// bytes of event data queued on average, a Publish to it, once its
	// event is stored, waits until they have taken half of that, for at
	// most PaceWait. A publisher faster than the node can write is thus
	// slowed to the node's pace instead of queueing events that every
	// subscriber would receive later and later. It is an average, so one
	// slow subscriber among many does not slow the publisher (QueueSize
	// and Overflow deal with it); a wait that runs out turns the topic's
	// pacing off until its backlog is down to half, so subscribers that
	// stall cost a publisher one PaceWait, not one per publish. 0 means
	// [DefaultPaceBacklog]; a negative value turns pacing off.
	PaceBacklog int
	// PaceWait bounds the wait of one paced Publish; 0 means
	// [DefaultPaceWait].
	PaceWait time.Duration
}

// Pacing defaults (see [HubOptions.PaceBacklog]). Measured with the
// benchmarks' fan-out of 200 events of 1 KiB to 1,000 parked SSE
// subscribers, published as fast as the load generator's window allows
// (go run ./cmd/rxbench -scenarios fanout -cases 'N=1000 1024B'
// -contenders rxstream-sse,rxstream-sse-unparked,raw-sse -reps 3; medians
// (min-max), each run beside raw net/http): unpaced, p99 335 ms (313-382)
// against raw's 115, 323 k deliveries per CPU-second; 16 KiB, 66.6 ms
// (64.7-188) against 140, 260 k; 32 KiB, 107 ms (104-119) against 122,
// 303 k; 64 KiB, 304 ms (192-761) against 130, 308 k (its waits outlast
// PaceWait, and the pacing gives up). 32 KiB keeps the latency of a
// saturated node below raw's and nine tenths of the unpaced throughput.
const (
	DefaultPaceBacklog = 32 << 10
	DefaultPaceWait    = 100 * time.Millisecond
)

// Hub is the meeting point of publishers and subscribers: named topics whose
// events carry strictly increasing IDs, a bounded history per topic (kept by
// its [Broker]), and a bounded queue per subscriber so that a slow subscriber
// never delays the others.
//
// The zero Hub is ready to use with default options. All methods may be
// called concurrently. A subscriber costs no goroutine: it is a queue that
// the publisher fills and the reader drains.
type Hub struct {
	opts HubOptions // read-only after init
	init sync.Once
	own  *MemoryBroker // the default broker, when the Hub made it

	// mu guards the topic map and MaxTopics bookkeeping only, and is never
	// held while waiting for a topic's lock: a topic's deliver held that
	// lock for its whole fan-out (it now holds it only to copy the
	// subscriber list), so a join or leave that waited for it under mu
	// held up every topic. Measured with
	// BenchmarkPublishBesideFanout on 2 shared cores (a Publish on a quiet
	// topic, idle and while another topic fans out to 10,000 subscribers
	// who join and leave continuously; medians of 5): before, 1054 ns idle
	// against 42839 ns busy (40x); after, 532 ns against 1239 ns (2.3x),
	// the rest being the fan-out's share of the CPU, not waiting for locks.
	mu     sync.Mutex
	topics map[string]*hubTopic
	seen   map[string]struct{} // every topic used, when MaxTopics > 0
	closed atomic.Bool         // set under mu; read without it by Publish

	stats hubCounters
	pres  presence
	// behind counts the topics whose backlog is over PaceBacklog, so that
	// a Publish while none is looks no further (see pace).
	behind atomic.Int32
}

type hubTopic struct {
	hub   *Hub
	name  string
	ready chan struct{} // closed once the broker's Follow returned
	err   error         // Follow's error, set before ready is closed
	stop  func()        // ends the Follow (idempotent); set before ready is closed

	mu    sync.Mutex
	epoch string
	last  uint64 // newest sequence delivered by Follow
	// subs are the topic's subscriptions, each at its slot. deliver walks
	// fan, its copy of subs made under mu when they changed (changed), and
	// pushes without mu, so that a join or leave waits for a copy, not for
	// a whole fan-out; fan is deliver's alone, as Follow never calls it
	// concurrently. Measured with BenchmarkJoinDuringFanout (10,000
	// subscribers, one publisher, 6 interleaved runs on 2 shared cores,
	// medians (min-max)), the whole fan-out under mu against this: a join
	// and leave 39.6 µs (20.3-93.5) against 9.9 µs (7.3-15.1), its 99.9th
	// percentile 155 µs (30-2130) against 43 µs (31-64), 17 (9-28)
	// against 31 (22-56) publishes/s meanwhile; BenchmarkFanout at 1,000
	// subscribers 1338 (619-4562) against 661 (269-2561) ns/delivery.
	subs    []*Subscription
	fan     []*Subscription
	changed bool
	// gone is set when the topic is no longer the Hub's to join: its last
	// subscriber left, its feed broke, or the Hub closed. It never clears;
	// a Subscribe that finds it set follows the topic anew.
	gone bool
	// idle, once a last subscriber with a linger left, ends the feed
	// when the linger is up and no one joined (see expire).
	idle *time.Timer
	// over is set by deliver when the subscribers' mean backlog passed
	// PaceBacklog, and cleared by the publisher that saw it fall to half;
	// unpaced is set by a publisher whose wait ran out, and cleared by
	// deliver when the backlog is down to half (see Hub.pace).
	over, unpaced atomic.Bool
}

// NewHub returns a Hub with the given options; opts may be nil. It fails when
// an option is out of range.
func NewHub(opts *HubOptions) (*Hub, error) {
	h := &Hub{}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.QueueSize < 0 {
		return nil, fmt.Errorf("rxstream: negative QueueSize %d", h.opts.QueueSize)
	}
	if h.opts.Overflow < 0 || h.opts.Overflow > OverflowDropOldest {
		return nil, fmt.Errorf("rxstream: unknown OverflowPolicy %d", h.opts.Overflow)
	}
	if h.opts.MaxTopics < 0 || h.opts.MaxSubscribers < 0 {
		return nil, fmt.Errorf("rxstream: negative limit (MaxTopics %d, MaxSubscribers %d)", h.opts.MaxTopics, h.opts.MaxSubscribers)
	}
	if h.opts.PaceWait < 0 {
		return nil, fmt.Errorf("rxstream: negative PaceWait %v", h.opts.PaceWait)
	}
	h.setup()
	return h, nil
}

func (h *Hub) setup() {
	h.init.Do(func() {
		if h.opts.QueueSize == 0 {
			h.opts.QueueSize = DefaultQueueSize
		}
		if h.opts.Overflow == 0 {
			h.opts.Overflow = OverflowClose
		}
		if h.opts.PaceBacklog == 0 {
			h.opts.PaceBacklog = DefaultPaceBacklog
		}
		if h.opts.PaceWait == 0 {
			h.opts.PaceWait = DefaultPaceWait
		}
		if h.opts.PresenceWindow == 0 {
			h.opts.PresenceWindow = DefaultPresenceWindow
		}
		if h.opts.Broker == nil {
			h.own, _ = NewMemoryBroker(nil) // cannot fail with nil options
			h.opts.Broker = h.own
		}
		h.topics = make(map[string]*hubTopic)
		h.sharePresence()
		if h.opts.MaxTopics > 0 {
			h.seen = make(map[string]struct{})
		}
	})
}

// Publish appends ev to topic and returns the ID assigned to it. Its ID field
// is ignored. ev.Name must not contain CR, LF or NUL, and ev.Data must be
// UTF-8 text, because every transport (SSE among them) must be able to carry
// it: encode binary payloads as base64 or JSON. Invalid input is an error
// wrapping [ErrInvalidTopic] or [ErrInvalidEvent].
//
// A publish that a client may retry should carry an idempotency key: see
// [Hub.PublishWith].
func (h *Hub) Publish(ctx context.Context, topic string, ev Event) (string, error) {
	id, _, err := h.PublishWith(ctx, topic, ev, nil)
	return id, err
}

// checkPublish returns the error of a publish to topic of ev that every
// transport could not carry.
func checkPublish(topic string, ev Event) error {
	if !ValidTopic(topic) {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, topic)
	}
	if strings.ContainsAny(ev.Name, "\r\n\x00") {
		return fmt.Errorf("%w: name contains CR, LF or NUL", ErrInvalidEvent)
	}
	if !utf8.Valid(ev.Data) {
		return fmt.Errorf("%w: data is not UTF-8 text", ErrInvalidEvent)
	}
	if ev.Retry < 0 {
		return fmt.Errorf("%w: negative retry", ErrInvalidEvent)
	}
	return nil
}

// Subscribe follows topic from cursor: the subscription delivers the
// retained events after cursor, then live events, in order, each once. An
// empty cursor starts with the next live event. A cursor older than the
// retained history, from an earlier epoch, or ahead of the topic's newest
// event in this epoch, gets a [Gap] first; a cursor ahead resumes from the
// newest event.
//
// A malformed cursor is a [*CursorError]; a bad topic name wraps
// [ErrInvalidTopic]; beyond the Hub's limits it fails with
// [ErrTooManyTopics] or [ErrTooManySubscribers]. The caller must Close the
// subscription.
func (h *Hub) Subscribe(topic, cursor string) (*Subscription, error) {
	return h.SubscribeWith(topic, cursor, nil)
}

// SubscribeOptions configures one subscription. The zero value means
// defaults.
type SubscribeOptions struct {
	// Ready, when set, is the channel the subscription signals when it may
	// have news, instead of one of its own: a reader of several
	// subscriptions (one connection following many topics) gives them all
	// the same channel and waits on that one. Signals never block, so give
	// it a buffer of one; a signal means that any of them may have news,
	// so such a reader calls Poll on each, not Next.
	Ready chan struct{}
	// Notify, when set, is called as well as Ready is signalled: a reader
	// that holds no goroutine while it waits (a parked connection) is told
	// this way. It is called with the subscription's lock held, from the
	// publisher's goroutine: it must not block nor call the subscription.
	Notify func()
	// Rewind, for a subscription without a cursor, starts it with up to
	// that many of the topic's newest retained events, at most
	// [MaxRewind], before its live events: a late joiner's "last N".
	Rewind int
	// Since, for a subscription without a cursor, starts it with the
	// retained events stored within that duration before the
	// subscription was made, at most [MaxSince].
	//
	// A cursor wins over Rewind and Since: the subscription resumes from
	// it. Asking for more than is retained starts with the oldest
	// retained event, without a gap notice: the subscriber asked for
	// recent history, not for a position. Until its first batch a
	// rewinding subscription's Cursor is the topic's tip, as for one
	// without rewind: the rewound events come before it. Rewind and Since
	// together, or out of range, are an error wrapping [ErrInvalidRewind].
	Since time.Duration
	// Linger keeps the topic followed for that long after this
	// subscription closes when it was the topic's last one, so that a
	// subscriber that comes and goes (a long poll) does not make the
	// broker start and stop following the topic each time (a NATS
	// JetStream consumer, say). 0 stops following at once.
	Linger time.Duration

	// User names the subscriber for its topic's presence ([Hub.Presence]):
	// at most [MaxUserLen] bytes of UTF-8 text; "" is anonymous, only
	// counted. Info is the member's info, JSON of at most [MaxInfoSize]
	// bytes (copied), for a subscription with a User only. A bad one is
	// an error wrapping [ErrInvalidPresence].
	User string
	Info json.RawMessage
	// Presence asks for the topic's join and leave events among the
	// subscription's events: events named [EventJoin] and [EventLeave],
	// without an ID, live only (see [Hub.Presence]).
	Presence bool
	// PresenceHold keeps the user present that long after the
	// subscription ends (or, for [Hub.Read], after the read), before its
	// leave waits out the coalescing window: a short poll gives its
	// interval, so that a client that polls at it stays listed between
	// its reads (listed with Conns 0, as a user whose leave waits).
	PresenceHold time.Duration
}

// SubscribeWith is [Hub.Subscribe] with options; opts may be nil.
func (h *Hub) SubscribeWith(topic, cursor string, opts *SubscribeOptions) (*Subscription, error) {
	h.setup()
	if !ValidTopic(topic) {
		return nil, fmt.Errorf("%w: %q", ErrInvalidTopic, topic)
	}
	c, hasCursor, err := ParseCursor(cursor)
	if err != nil {
		return nil, err
	}
	if opts != nil {
		if err := checkRewind(opts.Rewind, opts.Since); err != nil {
			return nil, err
		}
		if err := checkMember(opts.User, opts.Info); err != nil {
			return nil, err
		}
	}
	for {
		t, err := h.topic(topic)
		if err != nil {
			return nil, err
		}
		<-t.ready
		if t.err != nil {
			return nil, t.err
		}
		s, err := h.join(t, c, hasCursor, cursor, opts)
		if s != nil {
			h.enter(s, opts)
		}
		if s != nil || err != nil {
			return s, err
		}
		// The topic's feed broke, or its last subscriber left, while we
		// waited: follow it anew.
	}
}

// topic returns the followed topic of that name, starting to follow it
// when needed. The broker's Follow (network round trips for a distributed
// broker) runs without h.mu, so other topics are not held up; callers wait
// for t.ready.
func (h *Hub) topic(name string) (*hubTopic, error) {
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if t := h.topics[name]; t != nil {
		h.mu.Unlock()
		return t, nil
	}
	if err := h.admitLocked(name); err != nil {
		h.mu.Unlock()
		return nil, err
	}
	t := &hubTopic{hub: h, name: name, ready: make(chan struct{})}
	h.topics[name] = t
	h.mu.Unlock()

	tip, stop, err := h.opts.Broker.Follow(name, func(rec Record, err error) {
		if err != nil {
			h.broken(t, err)
			return
		}
		t.deliver(rec)
	})
	if err != nil {
		t.err = fmt.Errorf("rxstream: follow %s: %w", name, err)
		h.forget(t)
		close(t.ready)
		return t, nil
	}
	var once sync.Once
	t.stop = func() { once.Do(stop) }
	t.mu.Lock()
	t.epoch = tip.Epoch
	t.last = max(t.last, tip.Seq) // records may have been delivered already
	t.mu.Unlock()
	close(t.ready)
	h.mu.Lock()
	closed := h.closed.Load()
	h.mu.Unlock()
	if closed { // Close skipped this topic while it was not ready
		t.stop()
	}
	return t, nil
}

// forget deletes t from the topic map if it is still there. The caller
// holds no topic's lock.
func (h *Hub) forget(t *hubTopic) {
	h.mu.Lock()
	if h.topics[t.name] == t {
		delete(h.topics, t.name)
		t.settle() // a topic gone is behind no more
	}
	h.mu.Unlock()
}

// join adds a subscription to a ready topic. It returns neither a
// subscription nor an error when the topic is gone; the caller then follows
// it anew. It takes only the topic's lock, so a join that waits for a
// fan-out holds up no other topic.
func (h *Hub) join(t *hubTopic, c Cursor, hasCursor bool, cursor string, opts *SubscribeOptions) (*Subscription, error) {
	t.mu.Lock()
	if t.gone {
		t.mu.Unlock()
		h.forget(t) // its remover may not have done so yet
		return nil, nil
	}
	defer t.mu.Unlock()
	if h.closed.Load() {
		return nil, ErrClosed
	}
	if h.opts.MaxSubscribers > 0 && len(t.subs) >= h.opts.MaxSubscribers {
		return nil, fmt.Errorf("%w: %d on %q", ErrTooManySubscribers, len(t.subs), t.name)
	}
	s := &Subscription{hub: h, topic: t}
	if opts != nil {
		s.linger, s.notify = opts.Linger, opts.Notify
	}
	if opts != nil && opts.Ready != nil {
		s.ready = opts.Ready
	} else {
		s.ready = make(chan struct{}, 1)
	}
	h.stats.subscribers.Add(1)
	switch {
	case !hasCursor:
		s.after = t.last
		s.live.Store(true)
		s.lastID = Cursor{Epoch: t.epoch, Seq: t.last}.String()
		if opts != nil && (opts.Rewind > 0 || opts.Since > 0) {
			// History first, read by the reader (see rewind); t.last
			// bounds it, so that nothing published from now on is
			// skipped.
			s.live.Store(false)
			s.rewind = opts.Rewind
			if opts.Since > 0 {
				s.since = time.Now().Add(-opts.Since)
			}
		}
	case c.Epoch != "" && c.Epoch != t.epoch:
		s.gapPending = true // a cursor of an earlier epoch: all of it is new
		s.lastID = cursor
	default:
		s.after = c.Seq
		s.lastID = cursor
		s.checkTip = true // catchUp compares it with the broker's tip
	}
	s.slot = len(t.subs)
	t.subs = append(t.subs, s)
	t.changed = true
	return s, nil
}

// deliver is the topic's Follow callback: it queues rec for every live
// subscriber without blocking.
func (t *hubTopic) deliver(rec Record) {
	// One copy of the record, shared by every queue: a queue slot is a
	// pointer, not a 72-byte record, so the 8 slots an idle subscriber
	// keeps cost 64 bytes instead of 576 (measured with the benchmarks'
	// muxmem, an extra topic on a connection, 3 runs: 1.35 KiB (1.23-1.42)
	// -> 0.66 KiB (0.64-0.76) of RSS on SSE; BenchmarkFanout at 1,000
	// subscribers, 6 interleaved runs on a loaded machine, median 552 ->
	// 485 ns/delivery: no slower). A record is 96 bytes since it carries
	// its time; BenchmarkFanout at 1,000 subscribers, 4 runs on 2 shared
	// cores: 284-418 ns/delivery before, 238-382 after, the same bytes and
	// allocations per publish.
	rec.Event.enc = newEncodings(t.name, rec.Event)
	r := &rec
	// The pushes run outside t.mu: a join from now on starts after rec
	// (its after is t.last) and is not in fan; one that joined before is.
	// A subscription that goes live meanwhile either was live when fan
	// was taken or has read rec from history, which push then skips.
	t.mu.Lock()
	t.last = rec.Seq
	if t.changed {
		n := len(t.fan)
		t.fan = append(t.fan[:0], t.subs...)
		if n > len(t.fan) {
			clear(t.fan[len(t.fan):n]) // the subscriptions that left
		}
		t.changed = false
	}
	fan := t.fan
	t.mu.Unlock()
	var queued, live int
	for _, s := range fan {
		if s.live.Load() {
			queued += s.push(r)
			live++
		}
	}
	if bound := t.hub.opts.PaceBacklog; bound > 0 && live > 0 {
		mean := queued / live
		switch {
		case mean > bound && !t.unpaced.Load():
			if t.over.CompareAndSwap(false, true) {
				t.hub.behind.Add(1)
			}
		case mean <= bound/2:
			t.unpaced.Store(false)
			t.settle() // a publisher that gave up waiting left it set
		}
	}
}

// pace is Publish's wait for the subscribers of topic to take half of
// their backlog, when it is over PaceBacklog (see HubOptions). A Publish
// while no topic is over costs one atomic load.
func (h *Hub) pace(ctx context.Context, topic string) {
	if h.behind.Load() == 0 {
		return
	}
	h.mu.Lock()
	t := h.topics[topic]
	h.mu.Unlock()
	if t == nil || !t.over.Load() {
		return
	}
	h.stats.paced.Add(1)
	// Polled every millisecond: a waiting publisher costs a walk of the
	// topic's subscribers per poll, and no subscriber's take pays for it.
	deadline := time.Now().Add(h.opts.PaceWait)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for t.meanBacklog() > h.opts.PaceBacklog/2 {
		if !time.Now().Before(deadline) {
			t.unpaced.Store(true)
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return // the event is stored: the publish succeeded
		}
	}
	t.settle()
}

// settle clears over, and the Hub's count of topics behind with it.
func (t *hubTopic) settle() {
	if t.over.CompareAndSwap(true, false) {
		t.hub.behind.Add(-1)
	}
}

// meanBacklog returns the bytes queued per live subscriber.
func (t *hubTopic) meanBacklog() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	var queued, live int
	for _, s := range t.subs {
		if s.live.Load() {
			queued += int(s.queued.Load())
			live++
		}
	}
	if live == 0 {
		return 0
	}
	return queued / live
}

// broken ends a topic whose broker feed broke: every subscriber fails with
// err (its client reconnects and resumes from history), and the next
// Subscribe follows the topic anew. The broker released the feed itself.
func (h *Hub) broken(t *hubTopic, err error) {
	err = fmt.Errorf("rxstream: follow %s: %w", t.name, err)
	t.mu.Lock()
	t.gone = true
	for _, s := range t.subs {
		s.fail(err)
	}
	t.mu.Unlock()
	h.forget(t)
}

// remove detaches s from its topic; the last subscriber to leave marks the
// topic gone, takes it out of the Hub's map and stops its feed.
func (h *Hub) remove(s *Subscription) {
	t := s.topic
	t.mu.Lock()
	if i := s.slot; i >= 0 {
		end := len(t.subs) - 1
		moved := t.subs[end] // into s's slot
		t.subs[i], moved.slot = moved, i
		t.subs[end], s.slot = nil, -1
		t.subs = t.subs[:end]
		t.changed = true
		h.stats.subscribers.Add(-1)
	}
	last := len(t.subs) == 0 && !t.gone
	if last && s.linger > 0 && !h.closed.Load() {
		// Followed a while longer: a join until then needs no Follow.
		if t.idle == nil {
			t.idle = time.AfterFunc(s.linger, func() { h.expire(t) })
		} else {
			t.idle.Reset(s.linger)
		}
		last = false
	}
	if last {
		t.gone = true // a join from now on follows the topic anew
	}
	t.mu.Unlock()
	h.exit(s)
	if last {
		h.forget(t)
		t.stop()
	}
}

// expire stops following t when its linger ran out with no subscriber.
func (h *Hub) expire(t *hubTopic) {
	t.mu.Lock()
	last := len(t.subs) == 0 && !t.gone
	if last {
		t.gone = true
	}
	t.mu.Unlock()
	if last {
		h.forget(t)
		t.stop()
	}
}

// Close ends every subscription with [ErrClosed] and closes the default
// broker if the Hub made it. Publish and Subscribe then fail with
// [ErrClosed]. Close is idempotent.
func (h *Hub) Close() error {
	h.setup()
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		return nil
	}
	h.closed.Store(true)
	topics := h.topics
	h.topics = nil
	h.mu.Unlock()
	for _, t := range topics {
		select {
		case <-t.ready:
			if t.stop != nil {
				t.stop()
			}
		default: // still following: it stops itself when it sees h.closed
		}
		t.mu.Lock()
		t.gone = true
		if t.idle != nil {
			t.idle.Stop()
		}
		for _, s := range t.subs {
			s.fail(ErrClosed)
		}
		t.mu.Unlock()
	}
	h.closePresence()
	if h.own != nil {
		return h.own.Close()
	}
	return nil
}

// admitLocked enforces MaxTopics for topic; h.mu is held.
func (h *Hub) admitLocked(topic string) error {
	if h.seen == nil {
		return nil
	}
	if _, ok := h.seen[topic]; ok {
		return nil
	}
	if len(h.seen) >= h.opts.MaxTopics {
		return fmt.Errorf("%w: %d in use, %q refused", ErrTooManyTopics, len(h.seen), topic)
	}
	h.seen[topic] = struct{}{}
	return nil
}

// Broker returns the Hub's broker: the one in its options, or the default
// [MemoryBroker] it made.
func (h *Hub) Broker() Broker {
	h.setup()
	return h.opts.Broker
}

// Topics returns the number of topics with at least one subscriber.
func (h *Hub) Topics() int {
	h.setup()
	h.mu.Lock()
	topics := make([]*hubTopic, 0, len(h.topics))
	for _, t := range h.topics {
		topics = append(topics, t)
	}
	h.mu.Unlock()
	n := 0
	for _, t := range topics { // a topic still being followed has none yet
		t.mu.Lock()
		if len(t.subs) > 0 && !t.gone {
			n++
		}
		t.mu.Unlock()
	}
	return n
}
