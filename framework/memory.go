package framework

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Default history limits of a [MemoryBroker].
//
// DefaultMaxBytes (256 MiB) bounds what a default in-process server holds
// for history whatever its clients publish: it fits beside the Go runtime
// and thousands of connections in the smallest common container sizes
// (512 MiB to 1 GiB), while holding, for example, the full default 1,000
// events of 200 topics of 1 KiB events. Without it, a client allowed to
// publish could make the process hold MaxTopics x MaxEvents events of any
// size (20 topics of 300 events of 60 KB took a server from 14 MB to 484 MB).
//
// DefaultMaxTopicBytes (32 MiB) keeps the full default 1,000 events of a
// topic for events up to 32 KiB, and keeps any one topic to an eighth of
// DefaultMaxBytes, so a single busy topic cannot take every other topic's
// history with it.
const (
	DefaultMaxEvents     = 1000
	DefaultMaxAge        = time.Hour
	DefaultMaxBytes      = 256 << 20
	DefaultMaxTopicBytes = 32 << 20
)

// RecordOverhead is the fixed size, in bytes, counted for each retained
// event on top of its data, name and ID against the byte bounds of a
// [MemoryBroker]: it covers the event's slot in its topic's history (96
// bytes on 64-bit platforms) and its entry in the broker's eviction queue
// (16 bytes), rounded up. It does not cover the allocator's rounding of the
// data, nor a topic's spare slots (its history grows by doubling and
// shrinks when less than a quarter full, so up to three spare slots per
// event).
const RecordOverhead = 128

// MemoryOptions configures a [MemoryBroker]. The zero value means defaults.
type MemoryOptions struct {
	// MaxEvents is how many events each topic retains; 0 means
	// [DefaultMaxEvents]. When it is full the oldest is discarded.
	MaxEvents int
	// MaxAge is how long an event is retained; 0 means [DefaultMaxAge].
	MaxAge time.Duration
	// MaxBytes bounds the size of the events retained over all topics
	// together; 0 means [DefaultMaxBytes]. An event's size is the length
	// of its data, name and ID plus [RecordOverhead]. A publish that takes
	// the total past it discards the oldest events of all topics, in
	// publish order, until the total fits again.
	MaxBytes int64
	// MaxTopicBytes bounds the size of the events each topic retains; 0
	// means [DefaultMaxTopicBytes]. A publish that takes its topic past it
	// discards the topic's oldest events until the topic fits again. A
	// MaxTopicBytes above MaxBytes acts as MaxBytes.
	MaxTopicBytes int64
	// KeyWindow is how long an idempotency key is remembered
	// ([MemoryBroker.PublishKeyed]); 0 means [DefaultKeyWindow]. Keys are
	// kept apart from the events: a key outlives its event when the
	// history discards the event first, and a repeat is answered with the
	// event's ID all the same.
	KeyWindow time.Duration
	// MaxKeys bounds the idempotency keys remembered over all topics; 0
	// means [DefaultMaxKeys]. Past it the oldest key is forgotten before
	// its window ends, and a repeat of it publishes again.
	MaxKeys int
}

// MemoryBroker is the in-process [Broker]: a bounded history per topic,
// delivered to followers synchronously in Publish, in order, after the
// record is stored and outside the topic's lock. Its epoch is drawn from
// the clock when it is created, so cursors issued by an earlier process are
// recognised as stale (the client gets a [Gap]) rather than misread.
//
// History is bounded four ways: by count and by size per topic (MaxEvents,
// MaxTopicBytes), by age (MaxAge), and by size over all topics (MaxBytes).
// Every bound discards the oldest events first: those of the topic for a
// per-topic bound, those published first over all topics for MaxBytes. A
// topic's history is always its newest events, without holes, so a client
// whose cursor is older than it gets a gap notice ([Page.Lost]) whichever
// bound discarded the events it missed.
//
// An event larger than MaxTopicBytes (or MaxBytes) is still delivered to
// followers and gets its ID, but it is not retained, and the older events of
// its topic are discarded with it (a topic's history ends at its newest
// event); other topics keep theirs. A reader whose cursor is older than it
// gets a gap notice.
//
// Expired events are discarded when their topic is read or published to, and
// all topics are swept for them at most every MaxAge/8 during Publish, so an
// idle topic's history is freed too. A topic's sequence number survives its
// history, so IDs never repeat within an epoch.
//
// It remembers the idempotency keys of [MemoryBroker.PublishKeyed] for
// KeyWindow, at most MaxKeys of them over all topics (the oldest are
// forgotten first); expired keys are freed at the next publish to any
// topic. [MemoryStats] counts them apart from the events: they do not
// count against the byte bounds of the history.
//
// All methods may be called concurrently.
type MemoryBroker struct {
	maxEvents     int
	maxAge        time.Duration
	maxBytes      int64
	maxTopicBytes int64 // at most maxBytes
	epoch         string

	mu        sync.Mutex
	topics    map[string]*memTopic
	lastSweep time.Time
	closed    bool

	// Lock order: evictMu, then a topic's mu, then queueMu; a topic's
	// fanMu is taken with no other lock held, and followers are called
	// with only it held.
	retained atomic.Int64 // bytes retained over all topics
	evictMu  sync.Mutex   // serialises the evictions for MaxBytes
	queueMu  sync.Mutex
	queue    []memRef // retained events in publish order, with stale entries
	compact  int      // len(queue) at which stale entries are dropped

	keys memKeys // idempotency keys; taken after a topic's mu
}

var (
	_ Broker   = (*MemoryBroker)(nil)
	_ Rewinder = (*MemoryBroker)(nil)
)

type memTopic struct {
	mu      sync.Mutex
	seq     uint64
	ring    []Record // circular; grows up to maxEvents, shrinks when sparse
	head, n int
	bytes   int64 // size of the retained records
	closed  bool
	// fans are the followers, copied on write under mu and read without
	// it by fanOut. The records are handed to them outside mu, so that
	// a fan-out to many subscribers holds up neither Read nor the next
	// Publish's storing; fanMu, held while handing one record out, and
	// fanned, the last sequence handed out, keep them in order.
	fans    atomic.Pointer[[]*memFollower]
	fanMu   sync.Mutex
	fanCond sync.Cond // L is &fanMu: signalled when fanned moves
	fanned  uint64
	// first is the sequence of the oldest retained record (seq+1 when
	// none): the eviction queue reads it without the topic's mu to tell
	// stale entries. It only grows.
	first atomic.Uint64
}

// memRef names a retained record in the eviction queue. It is stale once
// the record was discarded: seq < t.first.
type memRef struct {
	t   *memTopic
	seq uint64
}

// minCompact is the smallest queue length at which stale entries are
// dropped.
const minCompact = 1024

// NewMemoryBroker returns a MemoryBroker; opts may be nil. It fails when a
// limit is negative.
func NewMemoryBroker(opts *MemoryOptions) (*MemoryBroker, error) {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	for _, l := range []struct {
		name  string
		value any
		bad   bool
	}{
		{"MaxEvents", o.MaxEvents, o.MaxEvents < 0},
		{"MaxAge", o.MaxAge, o.MaxAge < 0},
		{"MaxBytes", o.MaxBytes, o.MaxBytes < 0},
		{"MaxTopicBytes", o.MaxTopicBytes, o.MaxTopicBytes < 0},
		{"KeyWindow", o.KeyWindow, o.KeyWindow < 0},
		{"MaxKeys", o.MaxKeys, o.MaxKeys < 0},
	} {
		if l.bad {
			return nil, fmt.Errorf("rxstream: negative %s %v", l.name, l.value)
		}
	}
	if o.MaxEvents == 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxTopicBytes == 0 {
		o.MaxTopicBytes = DefaultMaxTopicBytes
	}
	if o.KeyWindow == 0 {
		o.KeyWindow = DefaultKeyWindow
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = DefaultMaxKeys
	}
	now := time.Now()
	b := &MemoryBroker{
		maxEvents:     o.MaxEvents,
		maxAge:        o.MaxAge,
		maxBytes:      o.MaxBytes,
		maxTopicBytes: min(o.MaxTopicBytes, o.MaxBytes),
		epoch:         strconv.FormatInt(now.UnixMilli(), 36),
		topics:        make(map[string]*memTopic),
		lastSweep:     now,
		compact:       minCompact,
	}
	b.keys.init(o.KeyWindow, o.MaxKeys)
	return b, nil
}

// Epoch returns the epoch of every cursor this broker issues.
func (b *MemoryBroker) Epoch() string { return b.epoch }

func (b *MemoryBroker) topic(name string, create bool) (*memTopic, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	t := b.topics[name]
	if t == nil && create {
		t = &memTopic{}
		t.fanCond.L = &t.fanMu
		b.topics[name] = t
	}
	return t, nil
}

// Publish implements [Broker].
func (b *MemoryBroker) Publish(ctx context.Context, topic string, ev Event) (Cursor, error) {
	c, _, err := b.publish(ctx, topic, "", ev)
	return c, err
}

// publish is Publish with an idempotency key, "" for none.
func (b *MemoryBroker) publish(ctx context.Context, topic, key string, ev Event) (Cursor, bool, error) {
	if err := ctx.Err(); err != nil {
		return Cursor{}, false, err
	}
	t, err := b.topic(topic, true)
	if err != nil {
		return Cursor{}, false, err
	}
	t.mu.Lock()
	// Under the lock, so that a topic's record times do not decrease.
	now := time.Now()
	if t.closed { // Close came between b.topic and t.mu
		t.mu.Unlock()
		return Cursor{}, false, ErrClosed
	}
	if key != "" {
		name := keyName(topic, key)
		if seq, ok := b.keys.lookup(name); ok {
			t.mu.Unlock()
			return Cursor{Epoch: b.epoch, Seq: seq}, true, nil
		}
		b.keys.add(name, t.seq+1)
	}
	t.seq++
	c := Cursor{Epoch: b.epoch, Seq: t.seq}
	ev.ID = c.String()
	rec := Record{Seq: t.seq, Event: ev, Time: now}
	t.expire(b, now.Add(-b.maxAge))
	if size := recordSize(ev); size > b.maxTopicBytes {
		// Not retained; the older events go too, so that the history
		// stays the topic's newest events without a hole.
		for t.n > 0 {
			t.pop(b)
		}
	} else {
		t.push(b, rec, size)
		for t.bytes > b.maxTopicBytes {
			t.pop(b)
		}
		b.enqueue(memRef{t: t, seq: t.seq})
	}
	t.settle()
	t.mu.Unlock()
	t.fanOut(rec)
	b.sweep(now)
	if b.retained.Load() > b.maxBytes {
		b.evict()
	}
	b.keys.expire()
	return c, false, nil
}

// recordSize is what a retained event counts against the byte bounds.
func recordSize(ev Event) int64 {
	return int64(len(ev.Data)+len(ev.Name)+len(ev.ID)) + RecordOverhead
}

// enqueue appends r to the eviction queue, dropping its stale entries when
// it has doubled since they were last dropped, so that it holds at most
// about twice the retained events (and minCompact). The caller holds r.t.mu.
func (b *MemoryBroker) enqueue(r memRef) {
	b.queueMu.Lock()
	defer b.queueMu.Unlock()
	b.queue = append(b.queue, r)
	if len(b.queue) < b.compact {
		return
	}
	live := 0
	for _, q := range b.queue {
		if q.seq >= q.t.first.Load() {
			live++
		}
	}
	kept := make([]memRef, 0, 2*live)
	for _, q := range b.queue {
		if q.seq >= q.t.first.Load() {
			kept = append(kept, q)
		}
	}
	b.queue = kept
	b.compact = max(2*len(kept), minCompact)
}

// evict discards the oldest events over all topics until the total fits
// MaxBytes. It is called without any lock held.
func (b *MemoryBroker) evict() {
	b.evictMu.Lock()
	defer b.evictMu.Unlock()
	for b.retained.Load() > b.maxBytes {
		b.queueMu.Lock()
		if len(b.queue) == 0 {
			b.queueMu.Unlock()
			return
		}
		r := b.queue[0]
		b.queue[0] = memRef{}
		b.queue = b.queue[1:]
		b.queueMu.Unlock()
		t := r.t
		t.mu.Lock()
		// Entries of a topic are queued in sequence order, so this
		// discards r's record, unless it is gone already.
		for t.n > 0 && t.ring[t.head].Seq <= r.seq {
			t.pop(b)
		}
		t.settle()
		t.mu.Unlock()
	}
}

// sweep discards expired events of every topic, at most every maxAge/8.
func (b *MemoryBroker) sweep(now time.Time) {
	b.mu.Lock()
	if now.Sub(b.lastSweep) < b.maxAge/8 {
		b.mu.Unlock()
		return
	}
	b.lastSweep = now
	topics := make([]*memTopic, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	cutoff := now.Add(-b.maxAge)
	for _, t := range topics {
		t.mu.Lock()
		t.expire(b, cutoff)
		t.settle()
		t.mu.Unlock()
	}
}

// Read implements [Broker].
func (b *MemoryBroker) Read(ctx context.Context, topic string, after uint64, limit int) (Page, error) {
	t, p, err := b.readTopic(ctx, topic)
	if t == nil || err != nil {
		return p, err
	}
	defer t.mu.Unlock()
	if after >= t.seq {
		return p, nil
	}
	oldest := t.seq - uint64(t.n) + 1 // sequence numbers are consecutive
	if after+1 < oldest {
		p.Lost = true
		after = oldest - 1
	}
	skip := int(after + 1 - oldest)
	count := min(t.n-skip, limit)
	if count > 0 {
		p.Records = make([]Record, count)
		for i := range count {
			p.Records[i] = t.ring[(t.head+skip+i)%len(t.ring)]
		}
	}
	return p, nil
}

// ReadBefore implements [Rewinder]. Sequence numbers are consecutive within
// a topic, so Lost is exact: records below the oldest retained one were
// published and discarded.
func (b *MemoryBroker) ReadBefore(ctx context.Context, topic string, before uint64, limit int) (Page, error) {
	t, p, err := b.readTopic(ctx, topic)
	if t == nil || err != nil {
		p.Start = err == nil
		return p, err
	}
	defer t.mu.Unlock()
	hi := t.seq // the newest sequence asked for
	if before != 0 && before <= t.seq {
		hi = before - 1
	}
	oldest := t.seq - uint64(t.n) + 1
	if limit <= 0 {
		return p, nil
	}
	lo := oldest
	if hi >= oldest && hi-oldest+1 > uint64(limit) {
		lo = hi - uint64(limit) + 1
	}
	for seq := lo; seq <= hi && seq >= oldest; seq++ {
		p.Records = append(p.Records, t.ring[(t.head+int(seq-oldest))%len(t.ring)])
	}
	p.Start = lo == oldest
	p.Lost = p.Start && min(oldest-1, hi) >= 1
	return p, nil
}

// ReadSince implements [Rewinder]. Records are stored in publish order
// under their topic's lock, so their times do not decrease: the first one
// at or after since is found by binary search.
func (b *MemoryBroker) ReadSince(ctx context.Context, topic string, since time.Time, limit int) (Page, error) {
	t, p, err := b.readTopic(ctx, topic)
	if t == nil || err != nil {
		return p, err
	}
	defer t.mu.Unlock()
	at := func(i int) Record { return t.ring[(t.head+i)%len(t.ring)] }
	first := sort.Search(t.n, func(i int) bool { return !at(i).Time.Before(since) })
	for i := first; i < t.n && len(p.Records) < limit; i++ {
		p.Records = append(p.Records, at(i))
	}
	return p, nil
}

// readTopic is the start of every read: the topic (nil when it was never
// used, with the page of an empty topic) with its lock held and its
// expired records discarded, and a page holding its tip.
func (b *MemoryBroker) readTopic(ctx context.Context, topic string) (*memTopic, Page, error) {
	if err := ctx.Err(); err != nil {
		return nil, Page{}, err
	}
	t, err := b.topic(topic, false)
	if err != nil {
		return nil, Page{}, err
	}
	p := Page{Tip: Cursor{Epoch: b.epoch}}
	if t == nil {
		return nil, p, nil
	}
	t.mu.Lock()
	t.expire(b, time.Now().Add(-b.maxAge))
	t.settle()
	p.Tip.Seq = t.seq
	return t, p, nil
}

// Follow implements [Broker]. Its feed never breaks: fn is only called
// with records.
func (b *MemoryBroker) Follow(topic string, fn func(Record, error)) (Cursor, func(), error) {
	t, err := b.topic(topic, true)
	if err != nil {
		return Cursor{}, nil, err
	}
	t.mu.Lock()
	f := &memFollower{fn: fn, tip: t.seq}
	t.setFans(append(t.followersLocked(), f))
	tip := Cursor{Epoch: b.epoch, Seq: t.seq}
	t.mu.Unlock()
	stop := func() {
		t.mu.Lock()
		t.setFans(slices.DeleteFunc(t.followersLocked(), func(g *memFollower) bool { return g == f }))
		t.mu.Unlock()
		t.fanMu.Lock() // a fan-out in progress may still hand f a record
		t.fanMu.Unlock()
	}
	return tip, stop, nil
}

// memFollower is one Follow of a topic: it gets the records after tip.
type memFollower struct {
	fn  func(Record, error)
	tip uint64
}

// followersLocked returns a copy of the followers to change; t.mu is held.
func (t *memTopic) followersLocked() []*memFollower {
	if fs := t.fans.Load(); fs != nil {
		return slices.Clone(*fs)
	}
	return nil
}

func (t *memTopic) setFans(fs []*memFollower) {
	if len(fs) == 0 {
		t.fans.Store(nil)
		return
	}
	t.fans.Store(&fs)
}

// fanOut hands rec to the topic's followers, after every record before it.
// t.mu is not held: a Read of the topic, or the storing of the next
// record, does not wait for a fan-out to thousands of subscribers
// (TestMemoryFanOutOutsideLock).
func (t *memTopic) fanOut(rec Record) {
	t.fanMu.Lock()
	for t.fanned+1 < rec.Seq {
		t.fanCond.Wait()
	}
	if fs := t.fans.Load(); fs != nil {
		for _, f := range *fs {
			if rec.Seq > f.tip {
				f.fn(rec, nil)
			}
		}
	}
	t.fanned = rec.Seq
	t.fanCond.Broadcast()
	t.fanMu.Unlock()
}

// Close discards every topic. Publish, Read and Follow then fail with
// [ErrClosed]; followers are not called again.
func (b *MemoryBroker) Close() error {
	b.mu.Lock()
	topics := b.topics
	b.topics, b.closed = nil, true
	b.mu.Unlock()
	for _, t := range topics {
		t.mu.Lock()
		t.closed = true
		t.setFans(nil)
		for t.n > 0 {
			t.pop(b)
		}
		t.settle()
		t.mu.Unlock()
		t.fanMu.Lock() // a fan-out in progress ends before Close returns
		t.fanMu.Unlock()
	}
	b.queueMu.Lock()
	b.queue = nil
	b.queueMu.Unlock()
	b.keys.close()
	return nil
}

// push appends r of the given size, discarding the oldest record when
// limit are held.
func (t *memTopic) push(b *MemoryBroker, r Record, size int64) {
	if t.n == len(t.ring) && len(t.ring) < b.maxEvents {
		t.resize(min(b.maxEvents, max(8, 2*len(t.ring))))
	}
	if t.n == len(t.ring) {
		t.pop(b)
	}
	t.ring[(t.head+t.n)%len(t.ring)] = r
	t.n++
	t.bytes += size
	b.retained.Add(size)
}

// pop discards the oldest record; t.n > 0. Call settle once done.
func (t *memTopic) pop(b *MemoryBroker) {
	size := recordSize(t.ring[t.head].Event)
	t.ring[t.head] = Record{}
	t.head = (t.head + 1) % len(t.ring)
	t.n--
	t.bytes -= size
	b.retained.Add(-size)
}

// expire discards the records published before cutoff. Call settle once
// done.
func (t *memTopic) expire(b *MemoryBroker, cutoff time.Time) {
	for t.n > 0 && t.ring[t.head].Time.Before(cutoff) {
		t.pop(b)
	}
}

// settle publishes the oldest retained sequence for the eviction queue, and
// frees the ring when it is empty or shrinks it to twice its records when
// they fill less than a quarter of it, so that a topic thinned by the byte
// bounds does not keep its slots.
func (t *memTopic) settle() {
	t.first.Store(t.seq - uint64(t.n) + 1)
	switch {
	case t.n == 0:
		t.ring, t.head = nil, 0
	case len(t.ring) > 8 && t.n < len(t.ring)/4:
		t.resize(max(8, 2*t.n))
	}
}

// resize moves the ring's records to a new ring of n slots; n >= t.n.
func (t *memTopic) resize(n int) {
	ring := make([]Record, n)
	for i := range t.n {
		ring[i] = t.ring[(t.head+i)%len(t.ring)]
	}
	t.ring, t.head = ring, 0
}
