package framework

import "sync/atomic"

// HubStats is a snapshot of a [Hub]'s counters, for metrics. The counters
// (Published, Repeats, Paced, Delivered, Overflows, Gaps) only grow; Topics and Subscribers
// are current values.
type HubStats struct {
	// Published counts the events published through the Hub.
	Published uint64
	// Repeats counts the publishes whose idempotency key the broker had
	// seen on their topic within its key window: answered with the
	// earlier publish's ID, they stored nothing ([Hub.PublishWith]).
	Repeats uint64
	// Paced counts the publishes that waited for their topic's
	// subscribers to take their backlog ([HubOptions.PaceBacklog]).
	Paced uint64
	// Delivered counts the events handed to subscribers' readers (history
	// and live), one per event per subscriber.
	Delivered uint64
	// Overflows counts the times a subscriber's queue was full when an
	// event arrived (the subscription ended under [OverflowClose], or lost
	// its oldest event under [OverflowDropOldest]).
	Overflows uint64
	// Gaps counts the gap notices handed to subscribers.
	Gaps uint64
	// Topics is the number of topics the Hub follows (those with at least
	// one subscriber).
	Topics int
	// Subscribers is the number of open subscriptions.
	Subscribers int
	// Members is the number of users present on the Hub's topics by its
	// own subscriptions (not those of other nodes), one
	// per topic and user, those whose leave waits for the coalescing
	// window included ([Hub.Presence]).
	Members int
}

// hubCounters are the Hub's atomic counters; their zero value is ready.
// delivered, which every subscriber's reader adds to after each batch, has
// a cache line of its own, so that readers on other cores do not contend
// with the publisher's counters.
type hubCounters struct {
	published, repeats, paced, overflows, gaps atomic.Uint64
	subscribers                                atomic.Int64
	_                                          [64]byte
	delivered                                  atomic.Uint64
	_                                          [56]byte
}

// Stats returns a snapshot of the Hub's counters. It is cheap (one lock for
// the topic count) and may be called concurrently with everything else.
func (h *Hub) Stats() HubStats {
	return HubStats{
		Published:   h.stats.published.Load(),
		Repeats:     h.stats.repeats.Load(),
		Paced:       h.stats.paced.Load(),
		Delivered:   h.stats.delivered.Load(),
		Overflows:   h.stats.overflows.Load(),
		Gaps:        h.stats.gaps.Load(),
		Topics:      h.Topics(),
		Subscribers: int(h.stats.subscribers.Load()),
		Members:     h.members(),
	}
}

// MemoryStats is a snapshot of what a [MemoryBroker] retains.
type MemoryStats struct {
	// Topics is the number of topics the broker knows (it keeps each
	// topic's sequence number even after its history expired).
	Topics int
	// Events is the number of events retained over all topics.
	Events int
	// Bytes is the size of the events retained over all topics, as
	// counted against [MemoryOptions.MaxBytes]: data, name and ID plus
	// [RecordOverhead] per event.
	Bytes int64
	// Keys is the number of idempotency keys remembered over all topics
	// (bounded by [MemoryOptions.MaxKeys]); expired keys still count
	// until the next publish.
	Keys int
	// KeyBytes is the memory those keys take: the length of each key
	// and of its topic, plus [KeyOverhead].
	KeyBytes int64
}

// Stats returns a snapshot of what the broker retains. It visits every
// topic, so it costs a lock per topic: call it at scrape time, not per
// event. Expired events still count until their topic is next read,
// published to or swept.
func (b *MemoryBroker) Stats() MemoryStats {
	b.mu.Lock()
	topics := make([]*memTopic, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	st := MemoryStats{Topics: len(topics)}
	for _, t := range topics {
		t.mu.Lock()
		st.Events += t.n
		st.Bytes += t.bytes
		t.mu.Unlock()
	}
	st.Keys, st.KeyBytes = b.keys.stats()
	return st
}
