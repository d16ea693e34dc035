package transport

import (
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
// A multiplexed answer's events name their topic, its gap notices are
// among them (envelopes named "gap"), and its cursor is composite.
// Retry (milliseconds) is the short-poll's suggested delay before the next
// poll; long-poll answers omit it.
type PollBody struct {
	Events []Envelope     `json:"events"`
	Cursor string         `json:"cursor"`
	Gap    *framework.Gap `json:"gap,omitempty"`
	Retry  *int64         `json:"retry,omitempty"`
}

// RetryAfter formats d for a Retry-After header: whole seconds, rounded up,
// at least 1.
func RetryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}
