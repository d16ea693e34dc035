package framework

import (
	"time"
	"unicode/utf8"
)

// Event is one message of a stream, the unit every transport carries.
//
// ID is the event's cursor: a client that presents it later resumes with the
// events after it. IDs assigned by a [Hub] are opaque strings, strictly
// increasing per topic; producers that are not hub-backed may leave ID empty
// (such events cannot be resumed from) or set their own.
type Event struct {
	// ID is the cursor of the event; empty means the event has none.
	ID string
	// Name is the event's type; empty means the transport's default
	// ("message" for SSE).
	Name string
	// Data is the payload. Transports that carry text only (SSE, the JSON
	// envelopes) carry it as UTF-8 text when it is valid UTF-8; each
	// transport documents how it carries other bytes.
	Data []byte
	// Retry is a reconnection hint for the client; zero means none.
	Retry time.Duration
}

// Text reports whether the event's data is valid UTF-8 and so can be carried
// as text on every transport.
func (e Event) Text() bool { return utf8.Valid(e.Data) }

// Gap tells a subscriber that events it asked for are no longer retained:
// everything after Last up to (not including) Next was lost to it.
type Gap struct {
	// Last is the cursor the subscriber held: the last event it saw.
	// Empty when it held none.
	Last string `json:"last"`
	// Next is the ID of the first event it gets after the gap; empty when
	// that event has not been published yet (the next live event follows).
	Next string `json:"next"`
}
