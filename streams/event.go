package streams

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

// ErrNilEvent is returned by [ToEvent] for a nil *framework.Event.
var ErrNilEvent = errors.New("rxstream: streams: nil *framework.Event")

// ErrNotEvent is wrapped by every [*EncodeError]: test for it with
// [errors.Is].
var ErrNotEvent = errors.New("rxstream: streams: not an event")

// EncodeError is the error [ToEvent] returns for a value that is not an
// event, a string, a []byte or an error: ToEvent does not guess an encoding
// for it. It wraps [ErrNotEvent].
type EncodeError struct {
	// Type is the Go type of the refused value; nil for a nil interface
	// value.
	Type reflect.Type
}

// Error returns a message naming the refused type and the ways to send it.
func (e *EncodeError) Error() string {
	what := "nil"
	if e.Type != nil {
		what = withArticle(e.Type.String())
	}
	return "rxstream: streams: cannot send " + what + " as an event: emit a string, []byte or framework.Event, or encode it with streams.MapJSON or framework.JSON"
}

// Unwrap returns [ErrNotEvent].
func (e *EncodeError) Unwrap() error { return ErrNotEvent }

// withArticle prefixes a type name with "a" or "an".
func withArticle(name string) string {
	if name != "" && strings.IndexByte("aeioAEIO", name[0]) >= 0 {
		return "an " + name
	}
	return "a " + name
}

// ToEvent converts a value of a stream into an event. It accepts exactly:
//
//   - a [framework.Event], returned as it is, and a *framework.Event,
//     dereferenced (a nil pointer gives [ErrNilEvent]);
//   - a string, which becomes the event's data, as with [framework.Text];
//   - a []byte or a [json.RawMessage], copied into the event's data, as
//     with [framework.Bytes] (a RawMessage is not validated);
//   - an error value, returned as the error.
//
// Anything else, nil included, gives an [*EncodeError] wrapping
// [ErrNotEvent]: ToEvent never encodes a value on its own guess. The match
// is on the exact type, so a value of a named string or []byte type is
// refused too; the typed [Map] and [TryMap] emit such results as plain
// strings and slices. Encode other values with [MapJSON] or
// [framework.JSON], or build a [framework.Event] (a [fmt.Stringer] with
// framework.Text(v.String())).
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
		return framework.Text(v), nil
	case []byte:
		return framework.Bytes(v), nil
	case json.RawMessage:
		return framework.Bytes(v), nil
	case error:
		return framework.Event{}, v
	default:
		return framework.Event{}, &EncodeError{Type: reflect.TypeOf(v)}
	}
}

// Events returns a cold observable that emits, for every value of obs, the
// [framework.Event] that [ToEvent] makes of it. It is what an adapter needs
// from a producer whose values are events, strings or bytes of mixed types.
//
// Each call to Observe observes obs anew with a context derived from its
// own, so cancelling the observation also stops obs. The first error ends
// the stream: an error item of obs is forwarded, and a value that ToEvent
// refuses is emitted as an error item (an [*EncodeError], or the value
// itself when it is an error); then the observation of obs is cancelled
// and the observable completes, as with [Map].
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
