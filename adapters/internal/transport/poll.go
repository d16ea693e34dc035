package transport

import (
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// CursorHeader is the response header of the long-poll and short-poll
// transports that carries the cursor to send next time, on every answer that
// knows it (events, timeouts, shutdown).
const CursorHeader = "X-Cursor"

// PollBody is the JSON body of a long-poll or short-poll answer, as a
// client decodes it (a server builds a [PollAnswer]):
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

// PollAnswer is a poll answer as a server builds it, encoded as a
// [PollBody]. Its events are JSON envelopes appended as they come, each
// hub event's from its shared encoding ([OwnEnvelope], [MuxEnvelope]):
// an event that many polls answer (long polls woken by its publish) is
// encoded once, and each answer copies its bytes, without reflection nor
// a second check of what the Hub checked at publish. Measured with the
// session package's BenchmarkPollAnswer (16 events of 512 bytes of JSON,
// 6 interleaved runs on 2 shared cores, medians), against envelopes
// built per request and json.Marshal: an answer of live events shared by
// 100 polls, 41.6 us (37.7-43.0) -> 7.9 us (7.8-12.1), 24.9 -> 14.2 KB,
// 28 -> 7 allocations; one read from history, 47.8 us (45.0-52.3) ->
// 32.7 us (30.1-34.9), 29.7 -> 19.0 KB, 48 -> 26 allocations.
type PollAnswer struct {
	Cursor string
	Gap    *framework.Gap
	Retry  *int64
	buf    []byte // the JSON up to the events' end: `{"events":[` and the envelopes
	n      int
}

const answerHead = `{"events":[`

// Len returns the number of events (gap notices among them) appended.
func (a *PollAnswer) Len() int { return a.n }

// Grow makes room for n more bytes of envelopes, so that a batch grows
// the answer once.
func (a *PollAnswer) Grow(n int) {
	a.buf = slices.Grow(a.buf, len(answerHead)+n+answerTail)
}

// answerTail bounds what JSON appends after the events.
const answerTail = 3*(framework.MaxCursorLen+16) + 64

// Add appends ev, an event of topic; multi makes its envelope name the
// topic, as a multiplexed answer's do.
func (a *PollAnswer) Add(topic string, ev framework.Event, multi bool) {
	enc := OwnEnvelope
	if multi {
		enc = MuxEnvelope
	}
	a.buf = ev.AppendEncoded(a.next(), enc, topic)
	a.n++
}

// AddGap appends the gap notice of topic as an envelope named "gap" that
// names its topic, as a multiplexed answer carries it.
func (a *PollAnswer) AddGap(topic string, g framework.Gap) {
	a.buf = AppendGap(a.next(), topic, g, "")
	a.n++
}

// next returns the buffer ready for one more envelope.
func (a *PollAnswer) next() []byte {
	if a.n > 0 {
		return append(a.buf, ',')
	}
	return append(a.buf[:0], answerHead...)
}

// JSON returns the answer as JSON, the [PollBody] a client decodes, built
// in the answer's buffer: valid until the next Add.
func (a *PollAnswer) JSON() []byte {
	if a.n == 0 {
		a.buf = append(a.buf[:0], answerHead...)
	}
	b := append(a.buf, `],"cursor":`...)
	b = AppendJSONString(b, ValidUTF8(a.Cursor))
	if g := a.Gap; g != nil {
		b = append(b, `,"gap":{"last":`...)
		b = AppendJSONString(b, ValidUTF8(g.Last))
		b = append(b, `,"next":`...)
		b = AppendJSONString(b, ValidUTF8(g.Next))
		b = append(b, '}')
	}
	if a.Retry != nil {
		b = append(b, `,"retry":`...)
		b = strconv.AppendInt(b, *a.Retry, 10)
	}
	return append(b, '}')
}

// RetryAfter formats d for a Retry-After header: whole seconds, rounded up,
// at least 1.
func RetryAfter(d time.Duration) string {
	s := int64(math.Ceil(d.Seconds()))
	return strconv.FormatInt(max(s, 1), 10)
}
