package framework

import (
	"context"
	"fmt"
)

// Limits of a page of [Hub.History].
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 1000
)

// HistoryOptions says which page of a topic's retained history
// [Hub.History] reads. The zero value reads the newest
// [DefaultHistoryLimit] events, newest first.
type HistoryOptions struct {
	// Before, a cursor, reads the events before it, newest first: the
	// page to show above the oldest one a chat shows. "" (with After "")
	// reads from the newest event.
	Before string
	// After, a cursor, reads the events after it, oldest first, as a
	// subscription from it would deliver them ("0" reads from the oldest
	// retained event).
	After string
	// Limit bounds the events of the page: 0 means
	// [DefaultHistoryLimit]; at most [MaxHistoryLimit].
	Limit int
}

// HistoryPage is one page of a topic's retained history.
type HistoryPage struct {
	// Events are the page's events: newest first for a page read Before,
	// oldest first for one read After. Their Data is shared and must not
	// be modified.
	Events []Event
	// Cursor is where the next page in the same direction starts: give
	// it as Before (or After) again. It is the ID of the page's last
	// event; for an empty page, the cursor the page was read from (the
	// topic's tip after a gap).
	Cursor string
	// More reports that retained events lie beyond the page in its
	// direction: older ones for a page read Before, newer ones (as of the
	// read) for one read After.
	More bool
	// Gap, for a page read After, reports that events after the cursor
	// are no longer retained, as a subscription's gap notice does: they
	// were discarded before Events[0] (Gap.Next), or, when Events is
	// empty, up to the tip. A cursor of an earlier epoch, or one ahead of
	// the tip, gets one too.
	Gap *Gap
	// Truncated, for a page read Before, reports that the page reaches
	// the start of the retained history and that older events were
	// published and are no longer retained: the history limits discarded
	// them (or, for a cursor of an earlier epoch, everything before it
	// is gone). More and Truncated both false: the page reaches the
	// topic's first event. A distributed broker may not know which of the
	// two it is and then says Truncated (see its Rewinder).
	Truncated bool
}

// History reads one page of topic's retained history, backward from a
// cursor (or from the newest event) or forward after one, without
// subscribing: the history API of a chat that pages back through older
// messages. It reads the broker only; the Hub's topic limits do not
// apply.
//
// A malformed cursor is a [*CursorError]; a bad topic name wraps
// [ErrInvalidTopic]; Before and After together, or a Limit out of range,
// wrap [ErrInvalidHistory]; after Close it fails with [ErrClosed], and
// with the broker's error when the read fails.
func (h *Hub) History(ctx context.Context, topic string, opts *HistoryOptions) (HistoryPage, error) {
	h.setup()
	var o HistoryOptions
	if opts != nil {
		o = *opts
	}
	if !ValidTopic(topic) {
		return HistoryPage{}, fmt.Errorf("%w: %q", ErrInvalidTopic, topic)
	}
	switch {
	case o.Before != "" && o.After != "":
		return HistoryPage{}, fmt.Errorf("%w: Before and After together: page one way", ErrInvalidHistory)
	case o.Limit < 0 || o.Limit > MaxHistoryLimit:
		return HistoryPage{}, fmt.Errorf("%w: Limit %d, want 1 to %d (0 for %d)", ErrInvalidHistory, o.Limit, MaxHistoryLimit, DefaultHistoryLimit)
	case o.Limit == 0:
		o.Limit = DefaultHistoryLimit
	}
	if h.closed.Load() {
		return HistoryPage{}, ErrClosed
	}
	if o.After != "" {
		return h.historyAfter(ctx, topic, o)
	}
	return h.historyBefore(ctx, topic, o)
}

// historyBefore reads the page before o.Before (the newest when empty).
func (h *Hub) historyBefore(ctx context.Context, topic string, o HistoryOptions) (HistoryPage, error) {
	c, given, err := ParseCursor(o.Before)
	if err != nil {
		return HistoryPage{}, err
	}
	hp := HistoryPage{Cursor: o.Before}
	if given && c.Seq == 0 {
		return hp, nil // nothing is before the first event
	}
	p, err := readBefore(ctx, h.opts.Broker, topic, c.Seq, o.Limit)
	if err != nil {
		return HistoryPage{}, fmt.Errorf("rxstream: history of %s: %w", topic, err)
	}
	if c.Epoch != "" && c.Epoch != p.Tip.Epoch {
		// A cursor of an earlier epoch: every event of this one is newer
		// than it, and those before it are gone with their epoch.
		hp.Truncated = true
		return hp, nil
	}
	hp.Events = make([]Event, len(p.Records))
	for i, r := range p.Records {
		hp.Events[len(p.Records)-1-i] = r.Event
	}
	if len(hp.Events) > 0 {
		hp.Cursor = hp.Events[len(hp.Events)-1].ID
	}
	hp.More = !p.Start
	hp.Truncated = p.Start && p.Lost
	return hp, nil
}

// historyAfter reads the page after o.After, as a subscription would.
func (h *Hub) historyAfter(ctx context.Context, topic string, o HistoryOptions) (HistoryPage, error) {
	c, _, err := ParseCursor(o.After)
	if err != nil {
		return HistoryPage{}, err
	}
	read := func(after uint64) (Page, error) {
		p, err := h.opts.Broker.Read(ctx, topic, after, o.Limit)
		if err != nil {
			return Page{}, fmt.Errorf("rxstream: history of %s: %w", topic, err)
		}
		return p, nil
	}
	p, err := read(c.Seq)
	if err != nil {
		return HistoryPage{}, err
	}
	lost := p.Lost
	switch {
	case c.Epoch != "" && c.Epoch != p.Tip.Epoch:
		// A cursor of an earlier epoch: all of this one is new to it.
		if p, err = read(0); err != nil {
			return HistoryPage{}, err
		}
		lost = true
	case c.Seq > p.Tip.Seq:
		// Ahead of the tip: it names no event. As a subscription does,
		// say so and resume from the tip.
		return HistoryPage{Cursor: p.Tip.String(), Gap: &Gap{Last: o.After}}, nil
	}
	hp := HistoryPage{Cursor: o.After, Events: make([]Event, 0, len(p.Records))}
	for _, r := range p.Records {
		hp.Events = append(hp.Events, r.Event)
	}
	if lost {
		hp.Gap = &Gap{Last: o.After}
		if len(hp.Events) > 0 {
			hp.Gap.Next = hp.Events[0].ID
		} else {
			hp.Cursor = p.Tip.String() // nothing retained up to the tip
		}
	}
	if n := len(p.Records); n > 0 {
		hp.Cursor = hp.Events[n-1].ID
		hp.More = p.Records[n-1].Seq < p.Tip.Seq
	}
	return hp, nil
}
