package framework

import (
	"context"
	"fmt"
	"time"
)

// Read returns what a subscription to topic from cursor would deliver
// first, up to limit events (0 or less means [DefaultBatchSize]), read
// from the broker's history without subscribing: nothing is followed, so
// a distributed broker starts no feed for it (no NATS JetStream consumer
// is created and deleted). It is how a short poll answers.
//
// The page is a subscription's first batch: the retained events after
// cursor, oldest first, with the same [Gap] a subscription would open
// with (a cursor older than the retained history, of an earlier epoch,
// or ahead of the tip), and Cursor the one to read from next. Without a
// cursor, opts' Rewind or Since give the topic's last events, as for a
// subscription; with neither the page is empty and Cursor is the topic's
// tip. More reports that retained events follow the page.
//
// Of opts, Read uses Rewind, Since, User, Info and PresenceHold; the
// rest concerns a live subscription. A User is present on the topic for
// the instant of the read ([Hub.Presence]): it joins, and its leave
// waits PresenceHold and then the coalescing window, so a client that
// reads again within them stays listed; an anonymous read is not
// counted. Presence events are live
// only: a read carries none.
//
// Read fails where [Hub.SubscribeWith] would, for the same reasons and
// with the same errors (a topic beyond MaxTopics, or one that has
// MaxSubscribers, included), and with the broker's error when the read
// fails.
func (h *Hub) Read(ctx context.Context, topic, cursor string, limit int, opts *SubscribeOptions) (HistoryPage, error) {
	h.setup()
	var o SubscribeOptions
	if opts != nil {
		o = *opts
	}
	if !ValidTopic(topic) {
		return HistoryPage{}, fmt.Errorf("%w: %q", ErrInvalidTopic, topic)
	}
	if _, _, err := ParseCursor(cursor); err != nil {
		return HistoryPage{}, err
	}
	if err := checkRewind(o.Rewind, o.Since); err != nil {
		return HistoryPage{}, err
	}
	if err := checkMember(o.User, o.Info); err != nil {
		return HistoryPage{}, err
	}
	if err := h.admitRead(topic); err != nil {
		return HistoryPage{}, err
	}
	if limit <= 0 {
		limit = DefaultBatchSize
	}
	if o.User != "" {
		s := &Subscription{hub: h, topic: &hubTopic{name: topic}}
		h.enter(s, &SubscribeOptions{User: o.User, Info: o.Info, PresenceHold: o.PresenceHold})
		h.exit(s)
	}
	if cursor != "" {
		return h.historyAfter(ctx, topic, HistoryOptions{After: cursor, Limit: limit})
	}
	var p Page
	var err error
	switch {
	case o.Rewind > 0:
		p, err = readBefore(ctx, h.opts.Broker, topic, 0, o.Rewind)
	case o.Since > 0:
		p, err = readSince(ctx, h.opts.Broker, topic, time.Now().Add(-o.Since), limit)
	default:
		p, err = h.opts.Broker.Read(ctx, topic, 0, 0) // the tip alone
	}
	if err != nil {
		return HistoryPage{}, fmt.Errorf("rxstream: read %s: %w", topic, err)
	}
	// A rewind delivers the oldest of its events first; what is beyond
	// limit is read after them, forward.
	hp := HistoryPage{Cursor: p.Tip.String()}
	for _, r := range p.Records[:min(len(p.Records), limit)] {
		hp.Events = append(hp.Events, r.Event)
		hp.Cursor, hp.More = r.Event.ID, r.Seq < p.Tip.Seq
	}
	return hp, nil
}

// admitRead refuses a read of topic where a subscription would be
// refused: after Close, beyond MaxTopics, on a topic with
// MaxSubscribers.
func (h *Hub) admitRead(topic string) error {
	h.mu.Lock()
	if h.closed.Load() {
		h.mu.Unlock()
		return ErrClosed
	}
	t := h.topics[topic]
	if t == nil {
		err := h.admitLocked(topic)
		h.mu.Unlock()
		return err
	}
	h.mu.Unlock() // never held while waiting for a topic's lock
	if h.opts.MaxSubscribers <= 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.subs) >= h.opts.MaxSubscribers {
		return fmt.Errorf("%w: %d on %q", ErrTooManySubscribers, len(t.subs), t.name)
	}
	return nil
}
