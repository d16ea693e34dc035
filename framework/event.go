package framework

import (
	"bytes"
	"encoding/json"
	"fmt"
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

	enc *encodings // the shared wire forms of a hub's live event
}

// Text reports whether the event's data is valid UTF-8 and so can be carried
// as text on every transport. The function [Text] builds a text event.
func (e Event) Text() bool { return utf8.Valid(e.Data) }

// Text returns an event whose data is s, with no ID, name or retry hint: a
// line of text to publish, as in
//
//	hub.Publish(ctx, "chat", framework.Text("hi"))
//
// (the method [Event.Text] is another thing: it reports whether an event's
// data is valid UTF-8).
func Text(s string) Event {
	return Event{Data: []byte(s)}
}

// Bytes returns an event whose data is a copy of b, so the caller may reuse
// b while the event travels to other goroutines. A nil b gives nil data.
func Bytes(b []byte) Event {
	return Event{Data: bytes.Clone(b)}
}

// JSON returns an event whose data is the JSON encoding of v, as produced by
// [json.Marshal]. When Marshal fails, the error wraps Marshal's (such as a
// [*json.UnsupportedTypeError] for a channel or a function).
func JSON(v any) (Event, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return Event{}, fmt.Errorf("rxstream: JSON event: %w", err)
	}
	return Event{Data: b}, nil
}

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
