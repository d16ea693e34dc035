package framework

import (
	"context"
	"fmt"
	"time"
)

// MaxRewind bounds [SubscribeOptions.Rewind]: a topic's default history
// ([DefaultMaxEvents]). To replay all that is retained, however much,
// subscribe from the cursor "0" instead: it gets a gap notice first when
// older events were discarded.
const MaxRewind = 1000

// MaxSince bounds [SubscribeOptions.Since]: a week. A Since longer than
// the history's MaxAge starts with the oldest retained event.
const MaxSince = 7 * 24 * time.Hour

// checkRewind returns an error wrapping [ErrInvalidRewind] unless n and
// since are a valid rewind (both zero is none).
func checkRewind(n int, since time.Duration) error {
	switch {
	case n < 0:
		return fmt.Errorf("%w: Rewind %d is negative", ErrInvalidRewind, n)
	case n > MaxRewind:
		return fmt.Errorf("%w: Rewind %d is more than MaxRewind (%d)", ErrInvalidRewind, n, MaxRewind)
	case since < 0:
		return fmt.Errorf("%w: Since %v is negative", ErrInvalidRewind, since)
	case since > MaxSince:
		return fmt.Errorf("%w: Since %v is more than MaxSince (%v)", ErrInvalidRewind, since, MaxSince)
	case n > 0 && since > 0:
		return fmt.Errorf("%w: Rewind and Since together: ask for one", ErrInvalidRewind)
	}
	return nil
}

// rewound reads the history of a rewinding subscription: the last
// s.rewind records up to after (the topic's tip when it subscribed, so
// that nothing published since is skipped), or the first ones stored
// since s.since, and delivers them without a gap notice, whatever the
// broker lost before them. What the page holds beyond limit is read again
// after them, forward.
func (s *Subscription) rewound(ctx context.Context, after uint64, limit int) (Batch, error) {
	b, name := s.hub.opts.Broker, s.topic.name
	var p Page
	var err error
	if s.rewind > 0 {
		p, err = readBefore(ctx, b, name, after+1, s.rewind)
	} else {
		p, err = readSince(ctx, b, name, s.since, limit)
	}
	if err != nil {
		return Batch{}, err // the next call reads again
	}
	s.rewind, s.since = 0, time.Time{}
	recs := p.Records
	if len(recs) > limit {
		recs = recs[:limit]
	}
	// An empty page leaves after where it was, not at the tip: what was
	// published since the subscription was made is read forward.
	return s.advance(Page{Records: recs}, after, false), nil
}

// scanPage is how many records a scan of a broker without [Rewinder]
// reads at a time.
const scanPage = 256

// readBefore is [Rewinder.ReadBefore] on any broker: a broker without it
// is scanned forward from its oldest retained record.
func readBefore(ctx context.Context, b Broker, topic string, before uint64, limit int) (Page, error) {
	if rw, ok := b.(Rewinder); ok {
		return rw.ReadBefore(ctx, topic, before, limit)
	}
	var out Page
	seen := 0 // records read below before
	after := uint64(0)
scan:
	for first := true; ; first = false {
		p, err := b.Read(ctx, topic, after, scanPage)
		if err != nil {
			return Page{}, err
		}
		if first {
			out.Tip, out.Lost = p.Tip, p.Lost
		}
		if limit <= 0 {
			return Page{Tip: p.Tip}, nil
		}
		for _, r := range p.Records {
			if before != 0 && r.Seq >= before {
				break scan
			}
			if len(out.Records) == limit {
				out.Records = append(out.Records[:0], out.Records[1:]...)
			}
			out.Records = append(out.Records, r)
			seen++
			after = r.Seq
		}
		if len(p.Records) == 0 || after >= p.Tip.Seq {
			break
		}
	}
	out.Start = seen <= limit
	// Read reported records before the oldest retained one discarded;
	// none can be below a bound of 1.
	out.Lost = out.Start && out.Lost && before != 1
	return out, nil
}

// readSince is [Rewinder.ReadSince] on any broker: a broker without it is
// scanned forward from its oldest retained record for the first one whose
// Time is at or after since (one without a Time is taken as older).
func readSince(ctx context.Context, b Broker, topic string, since time.Time, limit int) (Page, error) {
	if rw, ok := b.(Rewinder); ok {
		return rw.ReadSince(ctx, topic, since, limit)
	}
	var out Page
	after := uint64(0)
	for first := true; ; first = false {
		p, err := b.Read(ctx, topic, after, scanPage)
		if err != nil {
			return Page{}, err
		}
		if first {
			out.Tip = p.Tip
		}
		for _, r := range p.Records {
			if len(out.Records) >= limit {
				return out, nil
			}
			if len(out.Records) > 0 || !r.Time.IsZero() && !r.Time.Before(since) {
				out.Records = append(out.Records, r)
			}
			after = r.Seq
		}
		if len(p.Records) == 0 || after >= p.Tip.Seq {
			return out, nil
		}
	}
}
