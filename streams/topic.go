package streams

import (
	"context"
	"errors"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

// Topic follows a hub topic as an observable: the retained events after
// cursor, then live ones, as [framework.Event] items, with a
// [framework.Gap] item wherever the history no longer held what cursor asked
// for. Each Observe subscribes anew; the subscription ends with the
// observer's context.
//
// Its items are of two types, which the transports send as they are. A
// [Map] over it should take an any and switch on the type: a Map taking a
// framework.Event ends the stream with a [*TypeError] at the first gap, and
// [ToEvent], hence [Events], refuses a Gap.
//
// It completes when the hub closes, and ends with an error item when the
// subscription fails: a malformed cursor or topic name, or
// [framework.ErrOverflow] for an observer too slow for its queue (resume from
// the last event's ID to catch up).
func Topic(hub *framework.Hub, topic, cursor string) rxgo.Observable {
	return rxgo.Defer([]rxgo.Producer{func(ctx context.Context, next chan<- rxgo.Item) {
		sub, err := hub.Subscribe(topic, cursor)
		if err != nil {
			rxgo.Error(err).SendContext(ctx, next)
			return
		}
		defer sub.Close()
		for {
			b, err := sub.Next(ctx, 0)
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, framework.ErrClosed) {
					rxgo.Error(err).SendContext(ctx, next)
				}
				return
			}
			if b.Gap != nil && !rxgo.Of(*b.Gap).SendContext(ctx, next) {
				return
			}
			for _, ev := range b.Events {
				if !rxgo.Of(ev).SendContext(ctx, next) {
					return
				}
			}
		}
	}})
}
