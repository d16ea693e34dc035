package redisbroker

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/framework"
)

// The control channels carry what the nodes of a cluster tell each other
// that is not an event, such as the revocations of an adapters.Gate (whose
// Relay a Broker is): channel C is the Redis pub/sub channel
// "<Prefix>:control:C", which stores nothing. Delivery is at most once, to
// the nodes subscribed when it is sent (on a Redis Cluster, PUBLISH
// reaches every node's subscribers).

// controlChannel returns the pub/sub channel of channel.
func (b *Broker) controlChannel(channel string) (string, error) {
	if !validPrefix(channel) {
		return "", fmt.Errorf("rxstream: redis: invalid control channel %q", channel)
	}
	return b.opts.Prefix + ":control:" + channel, nil
}

// Notify sends data to the Listen callbacks of channel on every node
// subscribed now, this one included. It returns once Redis has it; while
// Redis is down it fails at once with an error wrapping [ErrUnavailable]
// (nothing is queued for later), and after Close with
// [framework.ErrClosed].
func (b *Broker) Notify(ctx context.Context, channel string, data []byte) error {
	ch, err := b.controlChannel(channel)
	if err != nil {
		return err
	}
	if err := b.usable(); err != nil {
		return err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	if err := b.rdb.Publish(ctx, ch, data).Err(); err != nil {
		return b.unavailable(fmt.Errorf("notify %s: %w", ch, err))
	}
	return nil
}

// Listen calls fn with the data of every Notify of channel, from any
// node, until stop is called or the Broker closes. It returns once Redis
// confirmed the subscription, so that a Notify after it is heard. fn runs
// on a goroutine of the Listen, one message at a time, and must not block
// for long. The subscription is renewed when the connection drops; what
// is sent meanwhile is missed.
func (b *Broker) Listen(channel string, fn func(data []byte)) (stop func(), err error) {
	ch, err := b.controlChannel(channel)
	if err != nil {
		return nil, err
	}
	if err := b.usable(); err != nil {
		return nil, err
	}
	ctx, cancel := b.bound(context.Background())
	defer cancel()
	ps := b.rdb.Subscribe(ctx, ch)
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		_ = ps.Close()
		return nil, b.unavailable(fmt.Errorf("listen %s: %w", ch, err))
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		_ = ps.Close()
		return nil, framework.ErrClosed
	}
	b.listens[ps] = struct{}{}
	b.wg.Add(1)
	b.mu.Unlock()
	msgs := ps.Channel()
	go func() {
		defer b.wg.Done()
		for m := range msgs { // closed by ps.Close
			fn([]byte(m.Payload))
		}
	}()
	return func() { b.endListen(ps) }, nil
}

// endListen closes a Listen's subscription, once.
func (b *Broker) endListen(ps *redis.PubSub) {
	b.mu.Lock()
	_, ok := b.listens[ps]
	delete(b.listens, ps)
	b.mu.Unlock()
	if ok {
		_ = ps.Close()
	}
}
