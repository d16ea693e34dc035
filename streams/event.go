package streams

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

// ErrNilEvent is returned by [ToEvent] for a nil *framework.Event.
var ErrNilEvent = errors.New("rxstream: streams: nil *framework.Event")

// Text returns an event whose data is s.
func Text(s string) framework.Event {
	return framework.Event{Data: []byte(s)}
}

// Bytes returns an event whose data is a copy of b, so the caller may reuse
// b while the event travels to other goroutines.
func Bytes(b []byte) framework.Event {
	return framework.Event{Data: bytes.Clone(b)}
}

// JSON returns an event whose data is the JSON encoding of v, as produced by
// [json.Marshal].
func JSON(v any) (framework.Event, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return framework.Event{}, fmt.Errorf("rxstream: streams: JSON event: %w", err)
	}
	return framework.Event{Data: b}, nil
}

// ToEvent converts a value of a stream into an event:
//
//   - a [framework.Event] is returned as it is, and a *framework.Event is
//     dereferenced (a nil pointer gives [ErrNilEvent]);
//   - a string becomes the event's data, as with [Text];
//   - a []byte or a [json.RawMessage] is copied into the event's data, as
//     with [Bytes] (a RawMessage is not validated);
//   - an error value is returned as the error;
//   - anything else, nil and [fmt.Stringer] values included, is encoded as
//     JSON, as with [JSON] (use Text(v.String()) for a Stringer's text).
func ToEvent(v any) (framework.Event, error) {
	switch v := v.(type) {
	case framework.Event:
		return v, nil
	case *framework.Event:
		if v == nil {
			return framework.Event{}, ErrNilEvent
		}
		return *v, nil
	case string:
		return Text(v), nil
	case []byte:
		return Bytes(v), nil
	case json.RawMessage:
		return Bytes(v), nil
	case error:
		return framework.Event{}, v
	default:
		return JSON(v)
	}
}

// Events returns a cold observable that emits, for every value of obs, the
// [framework.Event] that [ToEvent] makes of it. It is what an adapter needs
// from a producer of arbitrary values.
//
// Each call to Observe observes obs anew with a context derived from its
// own, so cancelling the observation also stops obs. The first error ends
// the stream: an error item of obs is forwarded, and a value that ToEvent
// cannot convert is emitted as an error item; then the observation of obs is
// cancelled and the observable completes, as with [Map].
//
// Events panics if obs is nil.
func Events(obs rxgo.Observable) rxgo.Observable {
	if obs == nil {
		panic("rxstream: streams: Events with nil observable")
	}
	return forward(obs, func(v any) (any, error) {
		ev, err := ToEvent(v)
		if err != nil {
			return nil, err
		}
		return ev, nil
	})
}
