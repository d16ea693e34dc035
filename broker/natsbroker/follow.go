package natsbroker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/framework"
)

// consumerInactive is how long the server keeps a follow's consumer after
// its node stopped listening without deleting it (the node crashed).
const consumerInactive = 30 * time.Second

// follow is one topic followed by this node: a push consumer delivering to
// one inbox subscription, checked for order and loss.
type follow struct {
	b       *Broker
	subject string
	epoch   string
	fn      func(framework.Record, error)
	sub     *nats.Subscription // set before the follow is registered

	mu       sync.Mutex
	done     bool
	cseq     uint64 // consumer sequence of the last message delivered
	last     uint64 // stream sequence of the last record delivered
	consumer string // the consumer's name, once created
	st       jetstream.Stream
	watchdog *time.Timer // fails the follow when heartbeats stop
}

// Follow implements [framework.Broker]. It reads the topic's tip, then
// creates a push consumer starting at the sequence after it, so no event
// falls between the tip and the feed. The feed breaks (fn gets an error)
// when the connection drops, when the server deleted the consumer, or when
// a message was missed (the consumer sequence skipped, or the subscription
// overflowed); the Hub then ends the topic's subscriptions and their clients
// resume from history.
func (b *Broker) Follow(topic string, fn func(framework.Record, error)) (framework.Cursor, func(), error) {
	subject, err := Subject(b.opts.Prefix, topic)
	if err != nil {
		return framework.Cursor{}, nil, err
	}
	ctx, cancel := b.bound(context.Background())
	defer cancel()
	st, epoch, err := b.lookup(ctx, false)
	if err != nil {
		return framework.Cursor{}, nil, err
	}
	tip, err := b.lastSeq(ctx, st, subject)
	if err != nil {
		return framework.Cursor{}, nil, err
	}
	f := &follow{b: b, subject: subject, epoch: epoch, fn: fn, last: tip, st: st}
	inbox := b.nc.NewInbox()
	// The subscription exists before the consumer, so the first message
	// finds it.
	f.sub, err = b.nc.Subscribe(inbox, f.onMsg)
	if err != nil {
		return framework.Cursor{}, nil, b.unavailable(ctx, fmt.Errorf("follow %s: %w", subject, err))
	}
	f.mu.Lock() // no message is handled before the follow is complete
	pc, err := st.CreatePushConsumer(ctx, jetstream.ConsumerConfig{
		DeliverSubject:    inbox,
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       tip + 1,
		AckPolicy:         jetstream.AckNonePolicy,
		MemoryStorage:     true,
		Replicas:          1,
		InactiveThreshold: consumerInactive,
		IdleHeartbeat:     b.opts.Heartbeat,
		Description:       "rxstream follow of " + subject,
	})
	if err != nil {
		f.done = true
		f.mu.Unlock()
		_ = f.sub.Unsubscribe()
		b.markStale(err)
		return framework.Cursor{}, nil, b.unavailable(ctx, fmt.Errorf("follow %s: %w", subject, err))
	}
	f.consumer = pc.CachedInfo().Name
	f.watchdog = time.AfterFunc(3*b.opts.Heartbeat, f.missed)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		f.mu.Unlock()
		f.stop()
		return framework.Cursor{}, nil, framework.ErrClosed
	}
	b.follows[f] = struct{}{}
	b.mu.Unlock()
	f.mu.Unlock()
	if !b.nc.IsConnected() { // dropped before the follow was registered
		f.stop()
		return framework.Cursor{}, nil, fmt.Errorf("%w: follow %s: disconnected", ErrUnavailable, subject)
	}
	return framework.Cursor{Epoch: epoch, Seq: tip}, f.stop, nil
}

// onMsg handles one message of the consumer, in the subscription's
// goroutine.
func (f *follow) onMsg(m *nats.Msg) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return
	}
	f.watchdog.Reset(3 * f.b.opts.Heartbeat)
	if status := m.Header.Get("Status"); status != "" {
		switch {
		case status == "100" && m.Reply != "":
			_ = m.Respond(nil) // a flow control request
		case status == "100":
			// An idle heartbeat names the consumer's last delivery: one we
			// did not get is lost to us.
			last := m.Header.Get("Nats-Last-Consumer")
			if last != "" && last != strconv.FormatUint(f.cseq, 10) {
				f.failLocked(fmt.Errorf("rxstream: nats: follow of %s: missed deliveries (%s after %d)", f.subject, last, f.cseq))
			}
		default: // 409 consumer deleted, and the like
			f.failLocked(fmt.Errorf("%w: follow of %s: %s %s", ErrUnavailable, f.subject, status, m.Header.Get("Description")))
		}
		return
	}
	meta, err := m.Metadata()
	if err != nil {
		f.failLocked(fmt.Errorf("rxstream: nats: follow of %s: %w", f.subject, err))
		return
	}
	if meta.Sequence.Consumer != f.cseq+1 || meta.Sequence.Stream <= f.last {
		f.failLocked(fmt.Errorf("rxstream: nats: follow of %s: out of sequence (consumer %d after %d)",
			f.subject, meta.Sequence.Consumer, f.cseq))
		return
	}
	f.cseq, f.last = meta.Sequence.Consumer, meta.Sequence.Stream
	rec := decode(m.Header, m.Data, meta.Sequence.Stream, f.epoch)
	rec.Time = meta.Timestamp
	f.fn(rec, nil)
}

// missed fails the follow when no message nor heartbeat came for three
// heartbeat intervals.
func (f *follow) missed() {
	f.fail(fmt.Errorf("%w: follow of %s: heartbeats missed", ErrUnavailable, f.subject))
}

// fail breaks the follow: fn gets err, once, and nothing after it.
func (f *follow) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.done {
		f.failLocked(err)
	}
}

func (f *follow) failLocked(err error) {
	f.b.log.Info("rxstream: nats: follow ended", "subject", f.subject, "err", err)
	f.release()
	f.fn(framework.Record{}, err)
}

// stop ends the follow without calling fn; it is the stop function Follow
// returns, and harmless after fail.
func (f *follow) stop() {
	f.mu.Lock()
	wasDone := f.done
	if !wasDone {
		f.release()
	}
	f.mu.Unlock()
	if wasDone || f.consumer == "" || !f.b.nc.IsConnected() {
		return
	}
	// In the background, so a client leaving does not wait for NATS; if it
	// fails, the server drops the consumer once inactive. Registered under
	// b.mu so that Close, once it set closed, waits for every deletion.
	f.b.mu.Lock()
	defer f.b.mu.Unlock()
	if f.b.closingDone {
		return
	}
	f.b.cleanup.Go(func() {
		ctx, cancel := f.b.bound(context.Background())
		_ = f.st.DeleteConsumer(ctx, f.consumer)
		cancel()
	})
}

// release marks the follow done, unsubscribes and unregisters it. f.mu is
// held.
func (f *follow) release() {
	f.done = true
	if f.watchdog != nil {
		f.watchdog.Stop()
	}
	_ = f.sub.Unsubscribe()
	f.b.mu.Lock()
	delete(f.b.follows, f)
	f.b.mu.Unlock()
}
