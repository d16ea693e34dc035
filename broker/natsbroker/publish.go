package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/framework"
)

// Headers of a stored event. Prev and Floor make the gap computation of
// Read exact although stream sequences are not consecutive per topic.
const (
	hdrName  = "Rx-Name"  // Event.Name, when set
	hdrRetry = "Rx-Retry" // Event.Retry in milliseconds, when set
	// hdrPrev is the sequence of the topic's previous event, enforced by
	// JetStream (Nats-Expected-Last-Subject-Sequence), so the events of a
	// topic form a chain: a missing link is a lost event.
	hdrPrev = "Rx-Prev"
	// hdrFloor is set when the topic had no retained event (Prev 0): the
	// stream's first sequence then, above every event of the topic that
	// was discarded before.
	hdrFloor = "Rx-Floor"
)

// maxPublishAttempts bounds the retries of a publish that lost the race
// for the topic's next link to another node.
const maxPublishAttempts = 64

// publisher serialises the publishes of each topic on this node and caches
// the topic's last sequence, so a publish costs one round trip unless
// another node published to the topic in between.
type publisher struct {
	mu     sync.Mutex
	topics map[string]*pubTopic
}

type pubTopic struct {
	refs int // guarded by publisher.mu

	mu    sync.Mutex
	last  uint64
	known bool
}

// maxCachedTopics bounds the publisher's map; idle entries are dropped
// beyond it (their next publish looks the last sequence up).
const maxCachedTopics = 4096

func (p *publisher) acquire(subject string) *pubTopic {
	p.mu.Lock()
	if p.topics == nil {
		p.topics = make(map[string]*pubTopic)
	}
	t := p.topics[subject]
	if t == nil {
		if len(p.topics) >= maxCachedTopics {
			for k, v := range p.topics {
				if v.refs == 0 {
					delete(p.topics, k)
				}
			}
		}
		t = &pubTopic{}
		p.topics[subject] = t
	}
	t.refs++
	p.mu.Unlock()
	t.mu.Lock()
	return t
}

func (p *publisher) release(t *pubTopic) {
	t.mu.Unlock()
	p.mu.Lock()
	t.refs--
	p.mu.Unlock()
}

// Publish implements [framework.Broker]. It fails at once with an error
// wrapping [ErrUnavailable] while the connection is down, and after the
// Broker's Timeout when JetStream does not acknowledge; an invalid topic
// wraps [framework.ErrInvalidTopic].
func (b *Broker) Publish(ctx context.Context, topic string, ev framework.Event) (framework.Cursor, error) {
	c, _, err := b.publish(ctx, topic, "", ev)
	return c, err
}

// PublishKeyed implements [framework.KeyedPublisher] with JetStream's
// message deduplication: the event is published with the header
// Nats-Msg-Id set to its subject and key ("<Prefix>.<topic> <key>", so
// that each topic has keys of its own), and JetStream stores nothing for
// an ID it saw within the stream's duplicate window (Options.KeyWindow):
// its acknowledgement names the first event's sequence, the cursor
// returned. JetStream decides, so this holds across every node on the
// stream, and across a restart of a NATS server that keeps the stream on
// disk. A publish that fails with [ErrUnavailable] may have been stored
// (the acknowledgement was lost): retry it with the same key.
//
// The header is stored with the event and counts against MaxBytes.
func (b *Broker) PublishKeyed(ctx context.Context, topic, key string, ev framework.Event) (framework.Cursor, bool, error) {
	if err := framework.CheckKey(key); err != nil {
		return framework.Cursor{}, false, err
	}
	return b.publish(ctx, topic, key, ev)
}

// publish is Publish with an idempotency key, "" for none.
func (b *Broker) publish(ctx context.Context, topic, key string, ev framework.Event) (framework.Cursor, bool, error) {
	subject, err := Subject(b.opts.Prefix, topic)
	if err != nil {
		return framework.Cursor{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return framework.Cursor{}, false, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	st, epoch, err := b.lookup(ctx, false)
	if err != nil {
		return framework.Cursor{}, false, err
	}
	opts := []jetstream.PublishOpt{nil}
	if key != "" {
		opts = append(opts, jetstream.WithMsgID(subject+" "+key))
	}
	t := b.pub.acquire(subject)
	defer b.pub.release(t)
	for attempt := 1; ; attempt++ {
		if !t.known {
			if t.last, err = b.lastSeq(ctx, st, subject); err != nil {
				return framework.Cursor{}, false, err
			}
			t.known = true
		}
		m := nats.NewMsg(subject)
		m.Data = ev.Data
		if ev.Name != "" {
			m.Header.Set(hdrName, ev.Name)
		}
		if ev.Retry > 0 {
			m.Header.Set(hdrRetry, strconv.FormatInt(ev.Retry.Milliseconds(), 10))
		}
		m.Header.Set(hdrPrev, strconv.FormatUint(t.last, 10))
		if t.last == 0 {
			info, err := st.Info(ctx)
			if err != nil {
				return framework.Cursor{}, false, b.unavailable(ctx, fmt.Errorf("stream info: %w", err))
			}
			m.Header.Set(hdrFloor, strconv.FormatUint(info.State.FirstSeq, 10))
		}
		// A JetStream server (2.15) checks the expected last sequence
		// before the message ID, so a repeat that names a stale
		// predecessor is refused as such and retried below with the
		// actual one; only then is it answered as a duplicate. (A
		// replicated stream checks the ID first.)
		opts[0] = jetstream.WithExpectLastSequencePerSubject(t.last)
		ack, err := b.js.PublishMsg(ctx, m, opts...)
		if err != nil {
			t.known = false
			if last, ok := wrongLast(err); ok && attempt < maxPublishAttempts {
				t.last, t.known = last, last > 0
				// Another node won the race for this link: back off a little,
				// jittered, so contending nodes do not collide again.
				timer := time.NewTimer(time.Duration(rand.Int64N(int64(attempt) * int64(time.Millisecond))))
				select {
				case <-timer.C:
				case <-ctx.Done():
					timer.Stop()
					return framework.Cursor{}, false, b.unavailable(ctx, fmt.Errorf("publish to %s: %w", subject, ctx.Err()))
				}
				continue
			}
			b.markStale(err)
			return framework.Cursor{}, false, b.unavailable(ctx, err)
		}
		if ack.Duplicate {
			// Nothing was stored: the topic's last sequence is still
			// t.last, which JetStream has just confirmed.
			return framework.Cursor{Epoch: epoch, Seq: ack.Sequence}, true, nil
		}
		t.last = ack.Sequence
		return framework.Cursor{Epoch: epoch, Seq: ack.Sequence}, false, nil
	}
}

// wrongLast reports a publish refused because another event of the topic
// was published since its last sequence was read, and the topic's actual
// last sequence when the server said it (0 when not).
func wrongLast(err error) (uint64, bool) {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || (apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequence &&
		apiErr.ErrorCode != jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return 0, false
	}
	_, n, _ := strings.Cut(apiErr.Description, "wrong last sequence: ")
	last, _ := strconv.ParseUint(n, 10, 64)
	return last, true
}

// markStale makes the next call look the stream up again when err says it
// is gone.
func (b *Broker) markStale(err error) {
	if errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, errNoStream) {
		b.mu.Lock()
		b.stale = true
		b.mu.Unlock()
	}
}

// lastSeq returns the sequence of the newest retained event of subject, 0
// when there is none.
func (b *Broker) lastSeq(ctx context.Context, st jetstream.Stream, subject string) (uint64, error) {
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		b.markStale(err)
		return 0, b.unavailable(ctx, fmt.Errorf("last of %s: %w", subject, err))
	}
	return m.Sequence, nil
}

// decode turns a stored message into the Record of sequence seq.
func decode(h nats.Header, data []byte, seq uint64, epoch string) framework.Record {
	ev := framework.Event{
		ID:   framework.Cursor{Epoch: epoch, Seq: seq}.String(),
		Name: h.Get(hdrName),
		Data: data,
	}
	if ms, err := strconv.ParseInt(h.Get(hdrRetry), 10, 64); err == nil && ms > 0 {
		ev.Retry = time.Duration(ms) * time.Millisecond
	}
	return framework.Record{Seq: seq, Event: ev}
}
