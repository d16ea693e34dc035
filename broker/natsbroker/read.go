package natsbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/rxstream/rxstream/framework"
)

// directGet is the request of JetStream's batched direct get (NATS server
// 2.11 and later): up to Batch messages of NextFor from Seq on.
type directGet struct {
	Seq     uint64 `json:"seq"`
	NextFor string `json:"next_by_subj"`
	Batch   int    `json:"batch"`
}

// Read implements [framework.Broker]. It costs two round trips: the topic's
// tip, then one batched direct get of up to limit events.
//
// Stream sequences are not consecutive per topic, so Lost is computed from
// the chain the events carry (see Publish): the first event read after
// `after` names its predecessor in the topic; when that predecessor is
// newer than `after`, it is gone, and so is what the client missed. When the
// topic had no retained event as that event was published, Lost is reported
// if `after` is below the stream's first sequence of that time, which may
// name a gap that did not happen but never misses one (manual deletes and
// purges aside).
func (b *Broker) Read(ctx context.Context, topic string, after uint64, limit int) (framework.Page, error) {
	subject, err := Subject(b.opts.Prefix, topic)
	if err != nil {
		return framework.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return framework.Page{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	st, epoch, err := b.lookup(ctx, false)
	if err != nil {
		return framework.Page{}, err
	}
	p := framework.Page{Tip: framework.Cursor{Epoch: epoch}}
	// The tip first: an event published after it is read below, and the
	// Hub never skips past a tip it was not given.
	if p.Tip.Seq, err = b.lastSeq(ctx, st, subject); err != nil {
		return framework.Page{}, err
	}
	if limit <= 0 {
		return p, nil
	}
	if p.Tip.Seq <= after {
		if p.Tip.Seq == 0 && after > 0 {
			// The topic holds nothing: events after `after` may have been
			// published and discarded; they were below the stream's first
			// sequence.
			info, err := st.Info(ctx)
			if err != nil {
				return framework.Page{}, b.unavailable(ctx, fmt.Errorf("stream info: %w", err))
			}
			p.Lost = after+1 < info.State.FirstSeq
		}
		return p, nil
	}
	msgs, err := b.directGet(ctx, directGet{Seq: after + 1, NextFor: subject, Batch: limit})
	if err != nil {
		return framework.Page{}, err
	}
	if len(msgs) == 0 {
		p.Lost = true // events up to the tip were published, none is retained
		return p, nil
	}
	p.Records = make([]framework.Record, 0, len(msgs))
	for _, m := range msgs {
		seq, err := strconv.ParseUint(m.Header.Get(nats.JSSequence), 10, 64)
		if err != nil || seq <= after {
			return framework.Page{}, fmt.Errorf("rxstream: nats: direct get of %s: bad sequence %q", subject, m.Header.Get(nats.JSSequence))
		}
		p.Records = append(p.Records, decode(m.Header, m.Data, seq, epoch))
	}
	first := msgs[0].Header
	prev, _ := strconv.ParseUint(first.Get(hdrPrev), 10, 64)
	floor, _ := strconv.ParseUint(first.Get(hdrFloor), 10, 64)
	p.Lost = prev > after || prev == 0 && after+1 < floor
	p.Tip.Seq = max(p.Tip.Seq, p.Records[len(p.Records)-1].Seq)
	return p, nil
}

// directGet sends a batched direct get and collects the answers up to the
// end-of-batch marker.
func (b *Broker) directGet(ctx context.Context, req directGet) ([]*nats.Msg, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	inbox := b.nc.NewRespInbox()
	sub, err := b.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, b.unavailable(ctx, fmt.Errorf("direct get: %w", err))
	}
	defer sub.Unsubscribe()
	if err := b.nc.PublishRequest("$JS.API.DIRECT.GET."+b.opts.Stream, inbox, body); err != nil {
		return nil, b.unavailable(ctx, fmt.Errorf("direct get: %w", err))
	}
	var msgs []*nats.Msg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, b.unavailable(ctx, fmt.Errorf("direct get: %w", err))
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			msgs = append(msgs, m)
		case "204", "404": // end of batch; nothing at or after Seq
			return msgs, nil
		case "503":
			b.markStale(errNoStream)
			return nil, fmt.Errorf("%w: direct get: no responders for stream %s", ErrUnavailable, b.opts.Stream)
		default:
			return nil, fmt.Errorf("rxstream: nats: direct get: status %s %s", status, m.Header.Get("Description"))
		}
	}
}

var errNoStream = errors.New("no stream")
