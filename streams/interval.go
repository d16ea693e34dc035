package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/reactivex/rxgo/v2"
)

// ErrInvalidPeriod is the error item [Interval] emits when its period is not
// positive.
var ErrInvalidPeriod = errors.New("rxstream: streams: period must be positive")

// Interval returns a cold observable that emits int64 values 0, 1, 2, ...,
// one per period, the first one period after the observation starts. It is
// the twin of WebFlux's Flux.interval(period). It never completes on its own:
// it ends when the context given to Observe with [rxgo.WithContext] is done.
//
// Its values are int64, never int, so a [Map] over it takes a func(int64) U
// (a func(int) U would end the stream with a [*TypeError] at the first
// value).
//
// Each call to Observe starts its own sequence at 0, driven by its own
// [time.Ticker], which is stopped when the observation ends.
//
// Ticks the consumer is too slow to take are dropped, as a [time.Ticker]
// drops them, rather than queued: after a stall of many periods at most two
// values are ready at once (the one waiting to be sent and one pending tick),
// then values follow the period again. Values stay contiguous: they count
// emitted items, not elapsed periods. Flux.interval differs here: it fails
// with an overflow error when the subscriber has no demand for a tick.
//
// A period that is zero or negative makes every observation emit a single
// error item wrapping [ErrInvalidPeriod] and complete; Interval never panics.
func Interval(period time.Duration) rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		if period <= 0 {
			rxgo.Error(fmt.Errorf("%w: %v", ErrInvalidPeriod, period)).SendContext(ctx, next)
			return
		}
		t := time.NewTicker(period)
		defer t.Stop()
		for i := int64(0); ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !rxgo.Of(i).SendContext(ctx, next) {
				return
			}
		}
	}})
}
