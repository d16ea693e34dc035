package transport

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// CursorHeader is the response header of the long-poll and short-poll
// transports that carries the cursor to send next time, on every answer that
// knows it (events, timeouts, shutdown).
const CursorHeader = "X-Cursor"

// PollBody is the JSON body of a long-poll or short-poll answer:
//
//	{"events":[{"id":..,"event":..,"data":..}],"cursor":..,"gap":{"last":..,"next":..},"retry":..}
//
// Events is never null. Cursor is the ID to send with the next poll. Gap is
// present when events after the request's cursor were no longer retained.
// Retry (milliseconds) is the short-poll's suggested delay before the next
// poll; long-poll answers omit it.
type PollBody struct {
	Events []Envelope     `json:"events"`
	Cursor string         `json:"cursor"`
	Gap    *framework.Gap `json:"gap,omitempty"`
	Retry  *int64         `json:"retry,omitempty"`
}

// PollGather appends to b what sub can deliver now, without waiting, until b
// holds max events. It returns full when b holds max events (more may be
// waiting) and got when it added anything; b.Cursor follows the
// subscription.
//
// A gap that sub reports after b already holds events is not added: that
// batch is dropped, b ends before it, and full is true. The client resumes
// from b.Cursor and reads the dropped events from history again (or gets the
// gap then), so nothing is lost.
func PollGather(ctx context.Context, sub *framework.Subscription, b *PollBody, max int) (got, full bool, err error) {
	for len(b.Events) < max {
		batch, err := sub.Poll(ctx, max-len(b.Events))
		if err != nil {
			return got, false, err
		}
		if batch.Gap == nil && len(batch.Events) == 0 {
			return got, false, nil
		}
		if batch.Gap != nil {
			if b.Gap != nil || len(b.Events) > 0 {
				return got, true, nil
			}
			g := *batch.Gap
			b.Gap = &g
		}
		if b.Gap != nil && b.Gap.Next == "" && len(b.Events) == 0 && len(batch.Events) > 0 {
			b.Gap.Next = batch.Events[0].ID // a gap held until its next event
		}
		for _, ev := range batch.Events {
			b.Events = append(b.Events, NewEnvelope(ev))
		}
		b.Cursor = sub.Cursor()
		got = true
	}
	return got, true, nil
}

// RetryAfter formats d for a Retry-After header: whole seconds, rounded up,
// at least 1.
func RetryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}
