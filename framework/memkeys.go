package framework

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxKeys bounds the idempotency keys a [MemoryBroker] remembers
// unless [MemoryOptions.MaxKeys] says otherwise. Counted as
// [MemoryStats.KeyBytes] counts them, 100,000 keys of 36 bytes (a UUID) on
// topics of 8 take 14 MB, and keys of the longest 255 bytes 36 MB: well
// within the room the default history bound leaves. They cover the default
// two-minute window up to about 830 keyed publishes a second, past which
// the oldest keys are forgotten before their window ends.
const DefaultMaxKeys = 100_000

// KeyOverhead is the fixed size, in bytes, counted for each idempotency key
// a [MemoryBroker] remembers on top of the length of its topic and key (see
// [MemoryStats.KeyBytes]): its map entry, its slot in the expiry queue and
// the allocator's rounding. Measured as the heap's growth (64-bit, keys of
// 8, 36 and 255 bytes, 20,000 to 200,000 of them): 65 to 108 bytes a key,
// depending on where the map's and the queue's growth by doubling stand.
const KeyOverhead = 96

// memKeys remembers the idempotency keys of a MemoryBroker's publishes:
// topic+" "+key (topic names have no space) to the sequence number it got,
// and the same names in the order they were published, which is also the
// order they expire in (the window is the same for all). All its fields
// are guarded by mu; a topic's mu is held when it is taken, never the
// other way round.
type memKeys struct {
	window time.Duration
	max    int
	start  time.Time // the origin of at, on the monotonic clock

	mu    sync.Mutex
	seqs  map[string]uint64
	queue []memKey // oldest first, from head on
	head  int
	bytes int64
	peak  int          // the most keys seqs held since it was made
	n     atomic.Int64 // len(seqs), read without mu by Publish
}

type memKey struct {
	name string
	at   time.Duration // since start
}

func (k *memKeys) init(window time.Duration, max int) {
	k.window, k.max, k.start = window, max, time.Now()
	k.seqs = make(map[string]uint64)
}

// keyName is the name under which key is remembered for topic.
func keyName(topic, key string) string { return topic + " " + key }

// lookup returns the sequence number that the key of that name got within
// the window, once expired keys are dropped. The caller holds the topic's
// mu, so no publish of the topic comes between lookup and add.
func (k *memKeys) lookup(name string) (uint64, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.expireLocked()
	seq, ok := k.seqs[name]
	return seq, ok
}

// add remembers that the key of that name got seq, forgetting the oldest
// keys beyond max. The caller holds the topic's mu and looked it up.
func (k *memKeys) add(name string, seq uint64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.seqs[name] = seq
	k.queue = append(k.queue, memKey{name: name, at: time.Since(k.start)})
	k.bytes += int64(len(name)-1) + KeyOverhead
	k.peak = max(k.peak, len(k.seqs))
	for len(k.seqs) > k.max {
		k.popLocked()
	}
	k.n.Store(int64(len(k.seqs)))
}

// expire drops the keys whose window ended.
func (k *memKeys) expire() {
	if k.n.Load() == 0 {
		return
	}
	k.mu.Lock()
	k.expireLocked()
	k.mu.Unlock()
}

func (k *memKeys) expireLocked() {
	cutoff := time.Since(k.start) - k.window
	for k.head < len(k.queue) && k.queue[k.head].at <= cutoff {
		k.popLocked()
	}
	if k.peak > 1024 && len(k.seqs) < k.peak/4 {
		// A map never shrinks: after a burst, move the keys to one of
		// their size.
		seqs := make(map[string]uint64, len(k.seqs))
		for name, seq := range k.seqs {
			seqs[name] = seq
		}
		k.seqs, k.peak = seqs, len(seqs)
	}
	k.n.Store(int64(len(k.seqs)))
}

// popLocked forgets the oldest key, and gives the queue's slots back once
// more than half of them are spent.
func (k *memKeys) popLocked() {
	q := &k.queue[k.head]
	delete(k.seqs, q.name)
	k.bytes -= int64(len(q.name)-1) + KeyOverhead
	*q = memKey{}
	k.head++
	switch {
	case k.head == len(k.queue):
		k.queue, k.head = k.queue[:0], 0
		if cap(k.queue) > 1024 {
			k.queue = nil
		}
	case k.head > 1024 && k.head > len(k.queue)/2:
		k.queue = append([]memKey(nil), k.queue[k.head:]...)
		k.head = 0
	}
}

func (k *memKeys) stats() (n int, bytes int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.seqs), k.bytes
}

func (k *memKeys) close() {
	k.mu.Lock()
	k.seqs, k.queue, k.head, k.bytes, k.peak = map[string]uint64{}, nil, 0, 0, 0
	k.n.Store(0)
	k.mu.Unlock()
}

var _ KeyedPublisher = (*MemoryBroker)(nil)

// PublishKeyed implements [KeyedPublisher]: a repeat of key on topic within
// [MemoryOptions.KeyWindow] returns the cursor the key got, and stores and
// delivers nothing. Publishes of one topic are serialised, so concurrent
// publishes of one key store one event.
func (b *MemoryBroker) PublishKeyed(ctx context.Context, topic, key string, ev Event) (Cursor, bool, error) {
	if err := CheckKey(key); err != nil {
		return Cursor{}, false, err
	}
	return b.publish(ctx, topic, key, ev)
}
