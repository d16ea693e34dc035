// Package streams provides producers for rxstream: rxgo observables that
// honour their observer's context and leak no goroutine, and helpers that
// turn the values they carry into [framework.Event] values.
//
// # Producers
//
//   - [Interval] emits 0, 1, 2, ... once per period (Flux.interval).
//   - [FromChannel] forwards the values of a Go channel.
//   - [Generate] runs a function that emits values one by one.
//   - [Map] transforms every value of another observable (Flux.map).
//   - [Events] converts every value of another observable into an event
//     with [ToEvent]; [Text], [Bytes] and [JSON] build single events.
//
// Every producer is built on [rxgo.Defer], so it is cold: each call to
// Observe starts a fresh producer goroutine, owned by that observation. The
// goroutine selects on the observation's context for every send, so it ends
// promptly once the context is done, even when it is blocked sending an item
// that nobody will read; then the item channel is closed. Errors are error
// items, and an error item is the last item of a stream.
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
//     rxgo.WithContext; [Map] and [Events] pass the observation's context
//     upstream themselves.
//
// The producers here avoid these traps; fan-out to many subscribers is the
// job of a [framework.Hub] topic, not of a shared observable.
package streams
