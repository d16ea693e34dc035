package session

import (
	"context"
	"time"
)

// Stream is what a streaming transport (SSE, WebSocket) gives [Pump]: its
// encoder and writer, its keep-alive, and for WebSocket the control
// messages its read loop parses. C is the type of those messages.
type Stream[C any] struct {
	// Max bounds the items of one batch.
	Max int
	// Write encodes and writes one batch; an error ends the stream.
	Write func([]Item) error
	// Tick, while nothing is ready, calls Beat (a heartbeat, a ping); nil
	// means none.
	Tick <-chan time.Time
	Beat func() error
	// Idle is called when nothing is ready, before waiting: the moment to
	// let go of a burst's buffers.
	Idle func()
	// Park, when set, is called after Idle: it may hand the stream over to
	// a loop that waits without this goroutine, and reports whether it
	// did; then Pump returns (nil, nil) at once, and the caller does not
	// touch the stream again.
	Park func() bool
	// Control messages are served one between two batches (so that events
	// cannot starve them) and whenever they come while idle; nil means
	// none.
	Control <-chan C
	Serve   func(C) error
	// Wake is signalled by another goroutine that has news for the loop
	// (a topic revoked); Woken is then called between two batches, or at
	// once while idle. nil means none.
	Wake  <-chan struct{}
	Woken func() error
}

// Pump is the one loop of every stream: it takes what sess has ready, a
// batch of at most Max items at a time, hands each batch to Write, and
// while nothing is ready waits for news, a tick, a control message or a
// wake. It returns when ctx ends (both nil), when Park hands the stream
// over (both nil), when Write, Beat, Serve or
// Woken fails
// (wireErr), or when the session fails (sessErr, once what it took before
// has been written): a subscription overflowed, the hub closed, a broker
// failed.
func Pump[C any](ctx context.Context, sess *Session, s Stream[C]) (sessErr, wireErr error) {
	for {
		select {
		case c := <-s.Control:
			if err := s.Serve(c); err != nil {
				return nil, err
			}
		case <-s.Wake:
			if err := s.Woken(); err != nil {
				return nil, err
			}
		default:
		}
		b, err := sess.Take(ctx, s.Max)
		if ctx.Err() != nil {
			return nil, nil
		}
		if len(b.Items) > 0 {
			if werr := s.Write(b.Items); werr != nil {
				return nil, werr
			}
		}
		switch {
		case err != nil:
			return err, nil
		case len(b.Items) > 0:
			continue
		}
		if s.Idle != nil {
			s.Idle()
		}
		if s.Park != nil && s.Park() {
			return nil, nil
		}
		select {
		case <-sess.Ready():
		case c := <-s.Control:
			if err := s.Serve(c); err != nil {
				return nil, err
			}
		case <-s.Wake:
			if err := s.Woken(); err != nil {
				return nil, err
			}
		case <-s.Tick:
			if err := s.Beat(); err != nil {
				return nil, err
			}
		case <-ctx.Done():
			return nil, nil
		}
	}
}
