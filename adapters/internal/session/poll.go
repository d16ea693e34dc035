package session

import (
	"context"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// Gather appends to b what sess has ready now, without waiting, until b
// holds max events. It returns full when b holds max events (more may be
// waiting); b.Cursor follows what b holds.
//
// A single topic's answer has one gap field: a gap that comes after b
// already holds events (or a gap) is not added, and b ends before it with
// full true. The client resumes from b.Cursor and reads the events after it
// from history again (or gets the gap then), so nothing is lost. A gap held
// alone until its next event names it. A multiplexed answer carries its
// gap notices among its events, as envelopes of the topic named "gap", so
// it keeps them all.
//
// An error is the session's end: b holds what was taken before it.
func Gather(ctx context.Context, sess *Session, b *transport.PollAnswer, max int) (full bool, err error) {
	for b.Len() < max {
		batch, err := sess.Take(ctx, max-b.Len())
		b.Grow(Size(batch.Items))
		for _, it := range batch.Items {
			if !add(sess.multi, b, it) {
				return true, nil
			}
		}
		if err != nil || len(batch.Items) == 0 {
			return false, err
		}
	}
	return true, nil
}

// add appends it to b; false when it does not fit a single-topic answer.
func add(multi bool, b *transport.PollAnswer, it Item) bool {
	switch {
	case multi && it.Gap != nil:
		b.AddGap(it.Topic, *it.Gap)
	case multi:
		b.Add(it.Topic, it.Event, true)
	case it.Gap != nil:
		if b.Gap != nil || b.Len() > 0 {
			return false // b ends before it
		}
		g := *it.Gap
		b.Gap = &g
	default:
		if b.Gap != nil && b.Gap.Next == "" && b.Len() == 0 {
			b.Gap.Next = it.Event.ID // a gap held until its next event
		}
		b.Add(it.Topic, it.Event, false)
	}
	if it.Cursor != "" {
		b.Cursor = it.Cursor
	}
	return true
}
