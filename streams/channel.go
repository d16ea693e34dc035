package streams

import (
	"context"

	"github.com/reactivex/rxgo/v2"
)

// FromChannel returns a cold observable that forwards the values received
// from ch, in order, and completes when ch is closed. It ends early when the
// context given to Observe with [rxgo.WithContext] is done; a value already
// received from ch at that moment is dropped.
//
// Values of type [rxgo.Item] are forwarded as they are, so error items stay
// error items; any other value becomes a value item.
//
// Each call to Observe starts its own reader of ch, so concurrent observers
// split the values between them, like any two readers of one channel; use a
// [framework.Hub] topic to fan values out to every subscriber. A nil ch
// emits nothing and ends only with the context.
//
// Unlike [rxgo.FromChannel], whose Observe hands out ch itself and so
// ignores the observer's context, an observation here ends with its context.
func FromChannel[T any](ch <-chan T) rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		for {
			var v T
			select {
			case <-ctx.Done():
				return
			case r, ok := <-ch:
				if !ok {
					return
				}
				v = r
			}
			item, isItem := any(v).(rxgo.Item)
			if !isItem {
				item = rxgo.Of(v)
			}
			if !item.SendContext(ctx, next) {
				return
			}
		}
	}})
}
