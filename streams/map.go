package streams

import (
	"context"

	"github.com/reactivex/rxgo/v2"
)

// Map returns a cold observable that emits fn(v) for every value v of obs,
// in order. It is the leak-free counterpart of rxgo's Map operator and the
// twin of WebFlux's Flux.map:
//
//	streams.Map(streams.Interval(10*time.Second), func(any) (any, error) {
//		return streams.Text("new message"), nil
//	})
//
// Each call to Observe observes obs anew with a context derived from its
// own, so cancelling the observation also stops obs. fn runs in the
// observation's producer goroutine, one value at a time.
//
// The first error ends the stream: an error item of obs is forwarded, an
// error returned by fn is emitted as an error item, and a panic in fn is
// recovered and emitted as a [*PanicError]; then the observation of obs is
// cancelled and the observable completes. Map does not wait for obs to
// acknowledge the cancellation, so an obs that ignores its context (such as
// [rxgo.FromChannel] or [rxgo.Create]) never blocks it.
//
// Map panics if obs or fn is nil.
func Map(obs rxgo.Observable, fn func(v any) (any, error)) rxgo.Observable {
	if obs == nil || fn == nil {
		panic("rxstream: streams: Map with nil observable or fn")
	}
	return forward(obs, fn)
}

// forward returns the Defer observable behind [Map] and [Events]: it
// observes obs with a child of the observation's context, applies fn to each
// value and sends the result, ending at the first error.
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
