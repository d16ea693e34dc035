package framework

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Default history limits of a [MemoryBroker].
const (
	DefaultMaxEvents = 1000
	DefaultMaxAge    = time.Hour
)

// MemoryOptions configures a [MemoryBroker]. The zero value means defaults.
type MemoryOptions struct {
	// MaxEvents is how many events each topic retains; 0 means
	// [DefaultMaxEvents]. When it is full the oldest is discarded.
	MaxEvents int
	// MaxAge is how long an event is retained; 0 means [DefaultMaxAge].
	MaxAge time.Duration
}

// MemoryBroker is the in-process [Broker]: a bounded ring of events per
// topic, delivered to followers synchronously in Publish. Its epoch is drawn
// from the clock when it is created, so cursors issued by an earlier process
// are recognised as stale (the client gets a [Gap]) rather than misread.
//
// Expired events are discarded when their topic is read or published to, and
// all topics are swept for them at most every MaxAge/8 during Publish, so an
// idle topic's history is freed too. A topic's sequence number survives its
// history, so IDs never repeat within an epoch.
//
// All methods may be called concurrently.
type MemoryBroker struct {
	maxEvents int
	maxAge    time.Duration
	epoch     string

	mu        sync.Mutex
	topics    map[string]*memTopic
	lastSweep time.Time
	closed    bool
}

var _ Broker = (*MemoryBroker)(nil)

type memTopic struct {
	mu        sync.Mutex
	seq       uint64
	ring      []memRecord // circular, len(ring) grows up to maxEvents
	head, n   int
	followers map[*func(Record, error)]struct{}
}

type memRecord struct {
	Record
	at time.Time
}

// NewMemoryBroker returns a MemoryBroker; opts may be nil. It fails when a
// limit is negative.
func NewMemoryBroker(opts *MemoryOptions) (*MemoryBroker, error) {
	var o MemoryOptions
	if opts != nil {
		o = *opts
	}
	if o.MaxEvents < 0 || o.MaxAge < 0 {
		return nil, fmt.Errorf("rxstream: negative history limit (MaxEvents %d, MaxAge %v)", o.MaxEvents, o.MaxAge)
	}
	if o.MaxEvents == 0 {
		o.MaxEvents = DefaultMaxEvents
	}
	if o.MaxAge == 0 {
		o.MaxAge = DefaultMaxAge
	}
	now := time.Now()
	return &MemoryBroker{
		maxEvents: o.MaxEvents,
		maxAge:    o.MaxAge,
		epoch:     strconv.FormatInt(now.UnixMilli(), 36),
		topics:    make(map[string]*memTopic),
		lastSweep: now,
	}, nil
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
		b.topics[name] = t
	}
	return t, nil
}

// Publish implements [Broker].
func (b *MemoryBroker) Publish(ctx context.Context, topic string, ev Event) (Cursor, error) {
	if err := ctx.Err(); err != nil {
		return Cursor{}, err
	}
	t, err := b.topic(topic, true)
	if err != nil {
		return Cursor{}, err
	}
	now := time.Now()
	t.mu.Lock()
	t.seq++
	c := Cursor{Epoch: b.epoch, Seq: t.seq}
	ev.ID = c.String()
	rec := Record{Seq: t.seq, Event: ev}
	t.expire(now.Add(-b.maxAge))
	t.push(memRecord{Record: rec, at: now}, b.maxEvents)
	for fn := range t.followers {
		(*fn)(rec, nil)
	}
	t.mu.Unlock()
	b.sweep(now)
	return c, nil
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
		t.expire(cutoff)
		t.mu.Unlock()
	}
}

// Read implements [Broker].
func (b *MemoryBroker) Read(ctx context.Context, topic string, after uint64, limit int) (Page, error) {
	if err := ctx.Err(); err != nil {
		return Page{}, err
	}
	t, err := b.topic(topic, false)
	if err != nil {
		return Page{}, err
	}
	p := Page{Tip: Cursor{Epoch: b.epoch}}
	if t == nil {
		return p, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.expire(time.Now().Add(-b.maxAge))
	p.Tip.Seq = t.seq
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
			p.Records[i] = t.ring[(t.head+skip+i)%len(t.ring)].Record
		}
	}
	return p, nil
}

// Follow implements [Broker]. Its feed never breaks: fn is only called
// with records.
func (b *MemoryBroker) Follow(topic string, fn func(Record, error)) (Cursor, func(), error) {
	t, err := b.topic(topic, true)
	if err != nil {
		return Cursor{}, nil, err
	}
	key := &fn
	t.mu.Lock()
	if t.followers == nil {
		t.followers = make(map[*func(Record, error)]struct{})
	}
	t.followers[key] = struct{}{}
	tip := Cursor{Epoch: b.epoch, Seq: t.seq}
	t.mu.Unlock()
	stop := func() {
		t.mu.Lock()
		delete(t.followers, key)
		t.mu.Unlock()
	}
	return tip, stop, nil
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
		t.followers = nil
		t.ring, t.head, t.n = nil, 0, 0
		t.mu.Unlock()
	}
	return nil
}

// push appends r, discarding the oldest record when max are held.
func (t *memTopic) push(r memRecord, limit int) {
	if t.n == len(t.ring) && len(t.ring) < limit {
		grown := make([]memRecord, min(limit, max(8, 2*len(t.ring))))
		for i := range t.n {
			grown[i] = t.ring[(t.head+i)%len(t.ring)]
		}
		t.ring, t.head = grown, 0
	}
	if t.n == len(t.ring) {
		t.ring[t.head] = memRecord{}
		t.head = (t.head + 1) % len(t.ring)
		t.n--
	}
	t.ring[(t.head+t.n)%len(t.ring)] = r
	t.n++
}

// expire discards the records published before cutoff, and frees the ring
// once it is empty.
func (t *memTopic) expire(cutoff time.Time) {
	for t.n > 0 && t.ring[t.head].at.Before(cutoff) {
		t.ring[t.head] = memRecord{}
		t.head = (t.head + 1) % len(t.ring)
		t.n--
	}
	if t.n == 0 {
		t.ring, t.head = nil, 0
	}
}
