package natsbroker

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/rxstream/rxstream/framework"
)

// The control subjects carry what the nodes of a cluster tell each other
// that is not an event, such as the revocations of an adapters.Gate (whose
// Relay a Broker is): channel C is the subject "<Prefix>-control.C",
// outside the stream's "<Prefix>.>", so JetStream stores none of it.
// Delivery is core NATS: at most once, to the nodes connected when it is
// sent.

// controlSubject returns the subject of channel.
func (b *Broker) controlSubject(channel string) (string, error) {
	if !validPrefix(channel) {
		return "", fmt.Errorf("rxstream: nats: invalid control channel %q", channel)
	}
	return b.opts.Prefix + "-control." + channel, nil
}

// Notify sends data to the Listen callbacks of channel on every node
// connected now, this one included. It returns once the NATS server has
// it; while the connection is down it fails at once with an error
// wrapping [ErrUnavailable] (nothing is queued for the reconnection), and
// after Close with [framework.ErrClosed].
func (b *Broker) Notify(ctx context.Context, channel string, data []byte) error {
	subject, err := b.controlSubject(channel)
	if err != nil {
		return err
	}
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return framework.ErrClosed
	}
	if s := b.nc.Status(); s != nats.CONNECTED {
		return fmt.Errorf("%w: connection %s", ErrUnavailable, s)
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	if err := b.nc.Publish(subject, data); err != nil {
		return b.unavailable(ctx, fmt.Errorf("notify %s: %w", subject, err))
	}
	if err := b.nc.FlushWithContext(ctx); err != nil {
		return b.unavailable(ctx, fmt.Errorf("notify %s: %w", subject, err))
	}
	return nil
}

// Listen calls fn with the data of every Notify of channel, from any
// node, until stop is called or the Broker closes. fn runs on a goroutine
// of nats.go, one message at a time, and must not block for long. The
// subscription survives reconnections; what is sent while this node is
// disconnected is missed.
func (b *Broker) Listen(channel string, fn func(data []byte)) (stop func(), err error) {
	subject, err := b.controlSubject(channel)
	if err != nil {
		return nil, err
	}
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("rxstream: nats: listen %s: %w", subject, err)
	}
	return func() { _ = sub.Unsubscribe() }, nil
}
