// Package streams provides producers for rxstream: rxgo observables that
// honour their observer's context and leak no goroutine, and typed
// operators that turn the values they carry into what a transport sends.
//
// # Producers
//
//   - [Interval] emits the int64 values 0, 1, 2, ... once per period
//     (Flux.interval).
//   - [FromChannel] forwards the values of a Go channel of any type.
//   - [Generate] runs a function that emits values of one type T, one by
//     one; T is inferred from the function's emit parameter.
//   - [Topic] follows a [framework.Hub] topic.
//
// # Operators
//
//   - [Map] transforms every value of another observable with a typed
//     func(T) U (Flux.map), where U is a [Payload]: a string, a []byte or a
//     [framework.Event], or a named string or []byte type, which Map emits
//     as a plain string or []byte. Both type parameters are inferred:
//     streams.Map(streams.Interval(time.Second), func(n int64) string {...}).
//   - [TryMap] is Map for a func(T) (U, error) that can fail.
//   - [MapJSON] sends a value of any type as a JSON event.
//   - [Events] converts every value of another observable into a
//     [framework.Event] with [ToEvent].
//
// A value that is not a T ends a typed operator's stream with a
// [*TypeError]. The single-event constructors are in the framework package
// ([framework.Text], [framework.Bytes], [framework.JSON]), so publishing to
// a hub needs neither rxgo nor this package.
//
// # What a transport sends
//
// The transports convert the values of a stream with [ToEvent], which is
// strict: it accepts a framework.Event (or a non-nil pointer to one), a
// string, a []byte, a json.RawMessage, and an error (which ends the stream),
// and refuses anything else, nil included, with an [*EncodeError] wrapping
// [ErrNotEvent]. It never JSON-encodes a value on its own guess: a struct
// sent by mistake ends the stream with an error naming its type instead of
// reaching clients in an encoding nobody chose. Emit a Payload with Map, or
// encode with MapJSON or framework.JSON.
//
// # Lifetime
//
// Every producer and operator is built on [rxgo.Defer], so it is cold: each
// call to Observe starts a fresh producer goroutine, owned by that
// observation. The goroutine selects on the observation's context for every
// send, so it ends promptly once the context is done, even when it is
// blocked sending an item that nobody will read; then the item channel is
// closed. Errors are error items, and an error item is the last item of a
// stream.
//
// # Observing
//
// Observe with a context, and cancel it when the consumer leaves:
//
//	ctx, cancel := context.WithCancel(ctx)
//	defer cancel()
//	for item := range obs.Observe(rxgo.WithContext(ctx)) {
//		if item.E != nil {
//			return item.E
//		}
//		use(item.V)
//	}
//
// Without [rxgo.WithContext], rxgo hands the producer [context.Background],
// and a producer whose consumer stops reading stays blocked forever.
//
// # Why not rxgo's own
//
// rxgo v2.5.0 has an Interval, a FromChannel, a Create and a Map operator,
// but each of them breaks the rule that a stream's goroutines end with it:
//
//   - [rxgo.Interval] starts its goroutines when it is built, not when it is
//     observed, fixes their context then (the observer's context does not
//     reach them), and leaks them when the consumer stops while it is blocked
//     sending.
//   - [rxgo.FromChannel] and [rxgo.Create] hand every observer the same
//     channel, so observers split the items; Create starts producing before
//     anyone subscribes, and neither stops when an observer's context ends.
//   - Operators such as Map leak unless every stage is given
//     rxgo.WithContext; the operators here pass the observation's context
//     upstream themselves.
//
// The producers here avoid these traps; fan-out to many subscribers is the
// job of a [framework.Hub] topic, not of a shared observable.
package streams
