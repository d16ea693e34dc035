package framework

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultBatchSize is the number of events [Subscription.Next] returns at
// most when asked for max <= 0.
const DefaultBatchSize = 128

// What an idle subscription keeps of its buffers for good: idleKeep events
// of its batch buffer (1 KiB) and idleSlots slots of its queue (512
// bytes); trim releases what a burst grew past them. The bounds were
// measured when buffers past them were released as soon as the reader was
// idle, with BenchmarkFanout/subscribers=1000 (3 runs on 2 shared cores),
// whose readers go idle between batches: keeping every buffer, 143-164
// ns/delivery and 5 allocs per publish; releasing the batch buffer past 8
// events and the queue past 8 slots, 186-352 ns and 85-198 allocs; these,
// 158-189 ns and 17-24 allocs.
const (
	idleKeep  = 16
	idleSlots = 64
)

// trimAfter is how long buffers grown past those bounds are kept after the
// subscription went idle: each is released once a whole trimAfter passed
// in which no more than a quarter of it was used, so that bursts that come
// back within it find their buffers instead of growing them again each
// time. Measured with BenchmarkBurst (bursts of 256 events, 100
// subscribers idle in between): see trimmed.
const trimAfter = time.Second

// Batch is what [Subscription.Next] returns: an optional gap notice followed
// by events. When Gap is set, the events in Events (if any) come after the
// gap.
type Batch struct {
	Gap    *Gap
	Events []Event
}

// Subscription is one subscriber of a [Hub] topic: it first reads the
// retained history after its cursor from the broker, then drains its queue
// of live events. It has no goroutine of its own; the reader drives it with
// Next.
//
// Next, Poll and Cursor must be called from one goroutine at a time (the reader);
// Close may be called concurrently with them, from any goroutine, any number
// of times.
type Subscription struct {
	hub    *Hub
	topic  *hubTopic
	ready  chan struct{} // signalled (never closed) when there is news
	live   atomic.Bool   // caught up with history: set by the reader with topic.mu held, read by deliver without it
	slot   int           // index in topic.subs, -1 once removed; guarded by topic.mu
	linger time.Duration // SubscribeOptions.Linger
	notify func()        // SubscribeOptions.Notify

	mu         sync.Mutex
	after      uint64    // sequence of the last event delivered (or skipped over)
	lastID     string    // ID of that event: the cursor to resume from
	gapPending bool      // the next batch opens with a Gap
	queue      []*Record // shared by every subscriber of the topic
	head, n    int
	queued     atomic.Int64 // bytes of Data in queue, read by Hub.pace without mu
	err        error        // ends the subscription once the queue is drained
	closed     bool

	// trim, once started, releases the buffers grown by a burst (see
	// trimAfter); peak is the most events queued or taken at once since
	// it last looked.
	trim     *time.Timer
	trimming bool
	peak     int

	// Reader-owned buffer behind Batch.Events; while live, the reader
	// touches it only with mu held, so that trim may release it.
	out      []Event
	checkTip bool // reader-owned: the cursor given may be ahead of the tip
	// Reader-owned, set by join: the rewind still to read, the last
	// rewind events up to after, or those stored since since.
	rewind int
	since  time.Time

	// Presence, set once by the Hub before the subscription is returned
	// (user, watch, hold) and guarded by the Hub's presence lock (present).
	user    string
	watch   bool          // gets the topic's presence events
	present bool          // counted in the topic's presence
	hold    time.Duration // [SubscribeOptions.PresenceHold]
}

// Next blocks until there are events or a gap notice to deliver and returns
// at most limit events (limit <= 0 means [DefaultBatchSize]). The Batch's Events
// are valid until the next call; their Data is shared with other subscribers
// and must not be modified.
//
// Next fails with ctx's error when ctx ends, with [ErrOverflow] after the
// queue overflowed under [OverflowClose], with [ErrClosed] after Close or the
// Hub's Close, or with the broker's error when reading history fails. After
// an error the subscription is finished except for ctx errors, after which
// Next may be called again.
func (s *Subscription) Next(ctx context.Context, limit int) (Batch, error) {
	for {
		b, err := s.Poll(ctx, limit)
		if err != nil || b.Gap != nil || len(b.Events) > 0 {
			return b, err
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return Batch{}, ctx.Err()
		}
	}
}

// Poll is Next without the wait: it returns an empty Batch when there is
// nothing to deliver now. Readers that wait on other things too (a heartbeat
// timer) select on [Subscription.Ready] and call Poll.
func (s *Subscription) Poll(ctx context.Context, limit int) (Batch, error) {
	b, err := s.poll(ctx, limit)
	if b.Gap != nil {
		s.hub.stats.gaps.Add(1)
	}
	if len(b.Events) > 0 {
		s.hub.stats.delivered.Add(uint64(len(b.Events)))
	}
	return b, err
}

func (s *Subscription) poll(ctx context.Context, limit int) (Batch, error) {
	if limit <= 0 {
		limit = DefaultBatchSize
	}
	for !s.live.Load() {
		b, err := s.catchUp(ctx, limit)
		if err != nil || b.Gap != nil || len(b.Events) > 0 {
			return b, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 || s.gapPending {
		return s.take(limit), nil
	}
	s.idle()
	return Batch{}, s.err
}

// idle, once the reader has taken everything, makes the previous batch
// (no longer valid) keep no event data reachable, and has trim release
// buffers a burst grew. s.mu is held.
func (s *Subscription) idle() {
	clear(s.out)
	s.out = s.out[:0]
	s.startTrim()
}

// startTrim starts trim when the buffers are past what an idle
// subscription keeps. s.mu is held.
func (s *Subscription) startTrim() {
	if s.trimming || s.err != nil || (len(s.queue) <= idleSlots && cap(s.out) <= idleKeep) {
		return
	}
	s.trimming, s.peak = true, s.n
	if s.trim == nil {
		s.trim = time.AfterFunc(trimAfter, s.trimmed)
	} else {
		s.trim.Reset(trimAfter)
	}
}

// trimmed runs trimAfter after startTrim: a buffer of which a quarter at
// most was used meanwhile is released (the queue when empty), and trim
// starts again while one is left. BenchmarkBurst, 6 interleaved runs on 2
// shared cores, medians (min-max), releasing the queue past 64 slots and
// the batch buffer past 16 events as soon as the subscription was idle,
// against this: 2235 against 1538 allocations per burst (the 7 of each
// subscriber's regrowth gone, the publishes' own left), 57.5 (57.4-57.5)
// against 3.4 (3.3-3.4) B/delivery, 270 (199-408) against 165 (138-242)
// ns/delivery.
func (s *Subscription) trimmed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimming = false
	if s.n == 0 && s.peak*4 <= len(s.queue) {
		s.queue, s.head = nil, 0
	}
	if s.peak*4 <= cap(s.out) {
		s.out = nil // a batch given out stays valid: its array is its own
	}
	s.startTrim()
}

// reuse empties the batch buffer for n events: the previous batch's events
// are cleared, so that none stays reachable, and a buffer too small (or
// released by trim) is allocated once at the size needed.
func (s *Subscription) reuse(n int) {
	clear(s.out)
	s.out = s.out[:0]
	if cap(s.out) < n {
		s.out = make([]Event, 0, n)
	}
}

// catchUp reads one page of history after s.after, and goes live when it has
// reached the newest event the topic's feed delivered.
func (s *Subscription) catchUp(ctx context.Context, limit int) (Batch, error) {
	s.mu.Lock()
	after, err := s.after, s.err
	s.mu.Unlock()
	if err != nil {
		return Batch{}, err
	}
	if s.rewind > 0 || !s.since.IsZero() {
		return s.rewound(ctx, after, limit)
	}
	p, err := s.hub.opts.Broker.Read(ctx, s.topic.name, after, limit)
	if err != nil {
		return Batch{}, err
	}
	// A cursor of this epoch beyond the broker's tip names no event: it
	// gets a gap and resumes from the tip. The broker's tip decides, not
	// the topic's feed, which may lag behind the node that issued the
	// cursor.
	ahead := s.checkTip && after > p.Tip.Seq
	s.checkTip = false
	if ahead {
		after = p.Tip.Seq
		if p, err = s.hub.opts.Broker.Read(ctx, s.topic.name, after, limit); err != nil {
			s.checkTip = true // the next call asks again
			return Batch{}, err
		}
	}
	return s.advance(p, after, ahead), nil
}

// advance delivers the page p read after `after` and moves the
// subscription past it, with a gap notice first when p lost records, the
// subscription has one pending, or its cursor was ahead of the tip; it goes
// live once it has reached the newest event the topic's feed delivered.
func (s *Subscription) advance(p Page, after uint64, ahead bool) Batch {
	var b Batch
	s.reuse(len(p.Records))
	for _, r := range p.Records {
		s.out = append(s.out, r.Event)
		after = r.Seq
	}
	if len(p.Records) == 0 {
		after = max(after, p.Tip.Seq) // nothing is retained up to the tip
	}
	t := s.topic
	t.mu.Lock()
	s.mu.Lock()
	if s.err != nil {
		// The subscription failed while the page was read (its feed
		// broke, the hub closed), which also dropped any gap it owed:
		// deliver nothing more, so that no event goes out without its
		// gap notice; the next call returns the error.
		s.mu.Unlock()
		t.mu.Unlock()
		return Batch{}
	}
	if p.Lost || s.gapPending || ahead {
		b.Gap = &Gap{Last: s.lastID}
		if len(s.out) > 0 {
			b.Gap.Next = s.out[0].ID
		}
		s.gapPending = false
	}
	s.after = after
	if len(s.out) > 0 {
		s.lastID = s.out[len(s.out)-1].ID
		b.Events = s.out
	} else if b.Gap != nil {
		// Nothing retained after the gap: resume from the tip (even
		// "EPOCH-0"), so the same gap is not reported again.
		s.lastID = p.Tip.String()
	}
	if after >= t.last {
		s.live.Store(true)
	}
	s.mu.Unlock()
	t.mu.Unlock()
	return b
}

// take moves up to limit queued events into a Batch. s.mu is held.
func (s *Subscription) take(limit int) Batch {
	var b Batch
	if s.gapPending {
		b.Gap = &Gap{Last: s.lastID}
		if s.n > 0 {
			b.Gap.Next = s.queue[s.head].Event.ID
		}
		s.gapPending = false
	}
	s.reuse(min(s.n, limit))
	for s.n > 0 && len(s.out) < limit {
		r := s.queue[s.head]
		s.queue[s.head] = nil
		s.head = (s.head + 1) % len(s.queue)
		s.n--
		s.queued.Add(-int64(len(r.Event.Data)))
		s.out = append(s.out, r.Event)
		if r.Seq != 0 { // a presence event has no position
			s.after, s.lastID = r.Seq, r.Event.ID
		}
	}
	s.peak = max(s.peak, len(s.out))
	if s.n == 0 {
		s.startTrim()
	}
	b.Events = s.out
	return b
}

// push queues a live record, applying the overflow policy, and returns the
// bytes queued. It is called by the topic's deliver (or, for a presence
// event, Seq 0, with the presence lock held); it never blocks.
func (s *Subscription) push(r *Record) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil || (r.Seq <= s.after && r.Seq != 0) {
		return int(s.queued.Load())
	}
	limit := s.hub.opts.QueueSize
	if s.n == limit {
		s.hub.stats.overflows.Add(1)
		if s.hub.opts.Overflow != OverflowDropOldest {
			s.failLocked(ErrOverflow)
			return 0
		}
		s.gapPending = s.gapPending || s.queue[s.head].Seq != 0 // a presence event lost is no gap
		s.queued.Add(-int64(len(s.queue[s.head].Event.Data)))
		s.queue[s.head] = nil
		s.head = (s.head + 1) % len(s.queue)
		s.n--
	}
	if s.n == len(s.queue) {
		grown := make([]*Record, min(limit, max(8, 2*len(s.queue))))
		for i := range s.n {
			grown[i] = s.queue[(s.head+i)%len(s.queue)]
		}
		s.queue, s.head = grown, 0
	}
	s.queue[(s.head+s.n)%len(s.queue)] = r
	s.n++
	q := s.queued.Add(int64(len(r.Event.Data)))
	s.peak = max(s.peak, s.n)
	s.signal()
	return int(q)
}

func (s *Subscription) signal() {
	if s.notify != nil {
		s.notify()
	}
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// fail ends the subscription with err, dropping what is queued.
func (s *Subscription) fail(err error) {
	s.mu.Lock()
	s.failLocked(err)
	s.mu.Unlock()
}

func (s *Subscription) failLocked(err error) {
	if s.err == nil {
		s.err = err
	}
	s.queue, s.head, s.n, s.gapPending = nil, 0, 0, false
	s.queued.Store(0)
	if s.trim != nil {
		s.trim.Stop()
	}
	s.signal()
}

// Cursor returns the ID of the last event delivered (or, before any, the
// cursor the subscription started from): the cursor from which a client
// resumes without loss or repetition.
func (s *Subscription) Cursor() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastID
}

// Ready returns a channel that receives a value when the subscription may
// have news; Next does the waiting for most callers. It is never closed.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Close ends the subscription: a Next in progress or later returns
// [ErrClosed]. It is idempotent and safe to call from any goroutine.
func (s *Subscription) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.failLocked(ErrClosed)
	s.mu.Unlock()
	s.hub.remove(s)
}
