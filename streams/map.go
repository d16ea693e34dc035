package streams

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

// Payload is the set of result types that [Map] and [TryMap] may produce:
// text, bytes or a whole event, the values [ToEvent], and so every
// transport, accepts. A result of a named string or []byte type (such as
// type Line string) is emitted as a plain string or []byte. To send any
// other value, encode it: [MapJSON] makes JSON events, and a function
// returning a [framework.Event] can encode as it likes.
type Payload interface {
	~string | ~[]byte | framework.Event
}

// ErrType is wrapped by every [*TypeError]: test for it with [errors.Is].
var ErrType = errors.New("rxstream: streams: value of the wrong type")

// TypeError is the error item that [Map], [TryMap] and [MapJSON] emit when
// a value of the observable they transform is not of their function's
// parameter type. It wraps [ErrType].
type TypeError struct {
	// Op is the operator that got the value: "Map", "TryMap" or "MapJSON".
	Op string
	// Want is the parameter type of the operator's function.
	Want reflect.Type
	// Got is the type of the value; nil for a nil interface value.
	Got reflect.Type
}

// Error returns a message naming the operator, the type it got and the
// type it wants, such as "rxstream: streams: Map got string, want int64".
func (e *TypeError) Error() string {
	got := "nil"
	if e.Got != nil {
		got = e.Got.String()
	}
	return fmt.Sprintf("rxstream: streams: %s got %s, want %v", e.Op, got, e.Want)
}

// Unwrap returns [ErrType].
func (e *TypeError) Unwrap() error { return ErrType }

// Map returns a cold observable that emits fn(v) for every value v of obs,
// in order. It is the leak-free, typed counterpart of rxgo's Map operator
// and the twin of WebFlux's Flux.map; both type parameters are inferred
// from fn:
//
//	streams.Map(streams.Interval(time.Second), func(n int64) string {
//		return fmt.Sprint("tick ", n)
//	})
//
// fn takes a T, the type of obs's values ([Interval] emits int64,
// [Generate] and [FromChannel] their type parameter), and returns a
// [Payload], so that what it emits is what a transport sends; a result of a
// named string or []byte type is emitted as a plain string or []byte. Use
// [TryMap] when fn can fail, and [MapJSON] to send other values as JSON.
//
// Each call to Observe observes obs anew with a context derived from its
// own, so cancelling the observation also stops obs. fn runs in the
// observation's producer goroutine, one value at a time.
//
// The first error ends the stream: an error item of obs is forwarded, a
// value of obs that is not a T is emitted as a [*TypeError] (a nil value
// passes as the zero T when T is an interface type), and a panic in fn is
// recovered and emitted as a [*PanicError]; then the observation of obs is
// cancelled and the observable completes. Map does not wait for obs to
// acknowledge the cancellation, so an obs that ignores its context (such as
// [rxgo.FromChannel] or [rxgo.Create]) never blocks it.
//
// Map panics if obs or fn is nil.
func Map[T any, U Payload](obs rxgo.Observable, fn func(T) U) rxgo.Observable {
	if obs == nil || fn == nil {
		panic("rxstream: streams: Map with nil observable or fn")
	}
	return forward(obs, func(v any) (any, error) {
		t, err := as[T]("Map", v)
		if err != nil {
			return nil, err
		}
		return payload(fn(t)), nil
	})
}

// TryMap is [Map] for a function that can fail: an error returned by fn is
// emitted as an error item and ends the stream, as an error of obs does
// (fn's result is then dropped).
//
// TryMap panics if obs or fn is nil.
func TryMap[T any, U Payload](obs rxgo.Observable, fn func(T) (U, error)) rxgo.Observable {
	if obs == nil || fn == nil {
		panic("rxstream: streams: TryMap with nil observable or fn")
	}
	return forward(obs, func(v any) (any, error) {
		t, err := as[T]("TryMap", v)
		if err != nil {
			return nil, err
		}
		u, err := fn(t)
		if err != nil {
			return nil, err
		}
		return payload(u), nil
	})
}

// MapJSON is [Map] for results of any type: it emits, for every value v of
// obs, a [framework.Event] whose data is the JSON encoding of fn(v), as
// produced by [json.Marshal]. The events have no ID or name; set them with
// a [Map] returning a framework.Event built with [framework.JSON] instead.
//
// A result that Marshal cannot encode (a channel, a function, a value whose
// MarshalJSON fails) ends the stream with an error item that names its type
// and wraps Marshal's error. Otherwise MapJSON behaves as Map.
//
// MapJSON panics if obs or fn is nil.
func MapJSON[T, U any](obs rxgo.Observable, fn func(T) U) rxgo.Observable {
	if obs == nil || fn == nil {
		panic("rxstream: streams: MapJSON with nil observable or fn")
	}
	return forward(obs, func(v any) (any, error) {
		t, err := as[T]("MapJSON", v)
		if err != nil {
			return nil, err
		}
		u := fn(t)
		b, err := json.Marshal(u)
		if err != nil {
			return nil, fmt.Errorf("rxstream: streams: MapJSON of %T: %w", u, err)
		}
		return framework.Event{Data: b}, nil
	})
}

// as returns v as a T, or a [*TypeError] for op. A nil v is the zero T when
// T is an interface type.
func as[T any](op string, v any) (T, error) {
	if t, ok := v.(T); ok {
		return t, nil
	}
	var zero T
	if v == nil && any(zero) == nil {
		return zero, nil
	}
	return zero, &TypeError{Op: op, Want: reflect.TypeFor[T](), Got: reflect.TypeOf(v)}
}

// payload returns u as the value to emit: a string, a []byte or a
// framework.Event, converting a named string or []byte type so that
// [ToEvent] accepts it.
func payload[U Payload](u U) any {
	switch p := any(u).(type) {
	case string, []byte, framework.Event:
		return p
	}
	v := reflect.ValueOf(u)
	if v.Kind() == reflect.String {
		return v.String()
	}
	return v.Bytes()
}

// forward returns the Defer observable behind [Map], [TryMap], [MapJSON]
// and [Events]: it observes obs with a child of the observation's context,
// applies fn to each value and sends the result, ending at the first error.
func forward(obs rxgo.Observable, fn func(v any) (any, error)) rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		// Cancelling the child on every exit stops obs also when the
		// stream ends on an error while ctx is still live.
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		up := obs.Observe(rxgo.WithContext(ctx))
		for {
			var item rxgo.Item
			select {
			case <-ctx.Done():
				return
			case it, ok := <-up:
				if !ok {
					return
				}
				item = it
			}
			if item.E != nil {
				item.SendContext(ctx, next)
				return
			}
			var v any
			err := protect(func() (err error) {
				v, err = fn(item.V)
				return err
			})
			if err != nil {
				rxgo.Error(err).SendContext(ctx, next)
				return
			}
			if !rxgo.Of(v).SendContext(ctx, next) {
				return
			}
		}
	}})
}
