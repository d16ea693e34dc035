package websocket

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/reactivex/rxgo/v2"
	"golang.org/x/sync/errgroup"

	"github.com/rxstream/rxstream/adapters/internal/session"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// pinger returns the ping ticker's channel (nil when pings are off) and its
// stop function.
func (cn *conn) pinger() (<-chan time.Time, func()) {
	if cn.opts.PingInterval <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(cn.opts.PingInterval)
	return t.C, t.Stop
}

// itemsWriter is the write loop of an observable: each item is one message.
func (cn *conn) itemsWriter(obs rxgo.Observable) writer {
	return func(ctx context.Context, g *errgroup.Group) (why, drop error) {
		items := obs.Observe(rxgo.WithContext(ctx))
		tick, stop := cn.pinger()
		defer stop()
		for {
			select {
			case it, ok := <-items:
				switch {
				case ctx.Err() != nil:
					return nil, nil
				case !ok:
					return ErrCompleted, nil
				case it.E != nil:
					return it.E, nil
				}
				typ, p, err := cn.encode(it.V)
				if err != nil {
					return err, nil
				}
				if p == nil {
					continue
				}
				if err := cn.send(typ, p); err != nil {
					return nil, err
				}
			case m := <-cn.ctl:
				err := cn.control(nil, m)
				var cw *closeWith
				switch {
				case errors.As(err, &cw):
					return cw.why, nil
				case err != nil:
					return nil, err
				}
			case <-tick:
				cn.ping(ctx, g)
			case <-ctx.Done():
				return nil, nil
			}
		}
	}
}

// sessionWriter is the write loop of hub topics. A multiplexed session's
// loop first acknowledges each topic of the URL, then also serves the
// subscribe and unsubscribe messages the read loop hands it (cn.ctl), one
// between two batches, so that the session is driven by this goroutine
// alone, and drops the topics the Gate revokes (cn.wake); every session's
// loop serves refresh messages. cn.req is the request, for the guard of a
// subscribe or refresh message: the loop runs in the handler's goroutine,
// before the handler returns.
func (cn *conn) sessionWriter(sess *session.Session) writer {
	multi := sess.Multi()
	if !multi {
		cn.cursor = sess.Cursor // a composite is no use to a client: see Server.Topics
	} else {
		cn.wake = make(chan struct{}, 1)
		cn.pass.OnTopic(cn.topicRevoked)
	}
	return func(ctx context.Context, g *errgroup.Group) (why, drop error) {
		if multi {
			names, pos := sess.Topics()
			for i, name := range names {
				if err := cn.answer(answer{typ: typeSubscribed, topic: name, cursor: pos[i]}); err != nil {
					return nil, err
				}
			}
		}
		tick, stop := cn.pinger()
		defer stop()
		err, werr := session.Pump(ctx, sess, session.Stream[control]{
			Max:     cn.opts.MaxBatch,
			Delay:   cn.opts.WriteDelay,
			Write:   func(items []session.Item) error { return cn.writeItems(multi, items) },
			Tick:    tick,
			Beat:    func() error { cn.ping(ctx, g); return nil },
			Idle:    func() { cn.buf = transport.Idle(cn.buf) },
			Control: cn.ctl,
			Serve:   func(m control) error { return cn.control(sess, m) },
			Wake:    cn.wake,
			Woken:   func() error { return cn.dropRevoked(sess) },
		})
		var cw *closeWith
		switch {
		case errors.As(werr, &cw):
			return cw.why, nil
		case werr != nil:
			return nil, werr
		}
		return sessionEnded(err), nil
	}
}

// sessionEnded is why a session's error ends its connection: the hub
// closing (1001), or the error (an overflow: 1013).
func sessionEnded(err error) error {
	if errors.Is(err, framework.ErrClosed) {
		return &endError{code: StatusGoingAway, text: "hub closed", err: err}
	}
	return err
}

// writeItems sends a batch of a session's items, in one write: as JSON
// arrays under BatchSubprotocol, else a message each.
func (cn *conn) writeItems(multi bool, items []session.Item) error {
	if cn.batched {
		return cn.sendBatch(multi, items)
	}
	cn.batch.hold()
	for _, it := range items {
		if typ, p := cn.encodeItem(multi, it); p != nil {
			if err := cn.send(typ, p); err != nil {
				cn.batch.flush()
				return err
			}
		}
	}
	return cn.batch.flush()
}

// BatchSubprotocol is the subprotocol under which a hub topic's
// connection ([Server.Topic], [Server.Topics]) sends many events in one
// message: a JSON array of the envelopes of a batch, in order (see the
// package doc).
const BatchSubprotocol = "rxstream.batch.v1"

// maxBatchBytes bounds the message of a batch under BatchSubprotocol:
// coder/websocket's default read limit, so that a client that kept it
// reads every batch. A batch over it is sent as several messages; an
// envelope larger than it goes alone.
const maxBatchBytes = 32 << 10

// sendBatch sends the envelopes of items as JSON arrays, as few messages
// as maxBatchBytes allows, in one write.
func (cn *conn) sendBatch(multi bool, items []session.Item) error {
	cn.batch.hold()
	b := slices.Grow(cn.buf[:0], min(session.Size(items), maxBatchBytes+1024))
	var err error
	for _, it := range items {
		mark := len(b)
		b = cn.appendItem(append(b, ','), multi, it)
		if mark > 0 && len(b) > maxBatchBytes {
			// b holds a message's worth before mark: send it, and keep
			// the envelope after mark for the next one.
			one := append(cn.one[:0], b[mark+1:]...)
			b[0] = '['
			if err = cn.send(MessageText, append(b[:mark], ']')); err != nil {
				break
			}
			b = append(b[:0], ',')
			b = append(b, one...)
			cn.one = transport.Idle(one)
		}
	}
	if err == nil && len(b) > 0 {
		b[0] = '['
		err = cn.send(MessageText, append(b, ']'))
	}
	cn.buf = b
	if ferr := cn.batch.flush(); err == nil {
		err = ferr
	}
	return err
}

// appendItem appends the envelope of one item of a session. The gap's id
// moves the client's cursor past it when no event follows.
func (cn *conn) appendItem(b []byte, multi bool, it session.Item) []byte {
	topic := ""
	if multi {
		topic = it.Topic
	}
	switch {
	case it.Gap != nil:
		return transport.AppendGap(b, topic, *it.Gap, it.Pos)
	case multi:
		return it.Event.AppendEncoded(b, transport.MuxEnvelope, it.Topic)
	}
	return it.Event.AppendEncoded(b, transport.OwnEnvelope, it.Topic)
}

// encodeItem frames one item of a session; a nil p means nothing to send
// (a gap notice in a raw format). A multiplexed session's items are
// always envelopes that name their topic.
func (cn *conn) encodeItem(multi bool, it session.Item) (MessageType, []byte) {
	switch {
	case multi || cn.opts.Format == FormatEnvelope:
		cn.buf = cn.appendItem(cn.buf[:0], multi, it)
		return MessageText, cn.buf
	case it.Gap != nil:
		return 0, nil
	}
	return cn.encodeEvent(it.Event)
}

// encode frames one item of an observable; a nil p means nothing to send
// (a gap notice in a raw format).
func (cn *conn) encode(v any) (MessageType, []byte, error) {
	switch v := v.(type) {
	case Message:
		return messageType(v), v.Data, nil
	case *Message:
		if v == nil {
			return 0, nil, errors.New("rxstream: websocket: nil *Message")
		}
		return messageType(*v), v.Data, nil
	case framework.Gap:
		return cn.encodeGap(v)
	case *framework.Gap:
		if v == nil {
			return 0, nil, nil
		}
		return cn.encodeGap(*v)
	}
	ev, err := streams.ToEvent(v)
	if err != nil {
		return 0, nil, fmt.Errorf("rxstream: websocket: event cannot be sent: %w", err)
	}
	typ, p := cn.encodeEvent(ev)
	if p == nil {
		p = []byte{} // an empty raw message is still a message
	}
	return typ, p, nil
}

func (cn *conn) encodeGap(g framework.Gap) (MessageType, []byte, error) {
	if cn.opts.Format != FormatEnvelope {
		return 0, nil, nil
	}
	cn.buf = transport.AppendGap(cn.buf[:0], "", g, "")
	return MessageText, cn.buf, nil
}

func (cn *conn) encodeEvent(ev framework.Event) (MessageType, []byte) {
	switch cn.opts.Format {
	case FormatText:
		if utf8.Valid(ev.Data) {
			return MessageText, ev.Data
		}
		return MessageBinary, ev.Data
	case FormatBinary:
		return MessageBinary, ev.Data
	}
	cn.buf = transport.AppendEnvelope(cn.buf[:0], "", ev)
	return MessageText, cn.buf
}

func messageType(m Message) MessageType {
	if m.Type == MessageBinary || m.Type != MessageText && !utf8.Valid(m.Data) {
		return MessageBinary
	}
	return MessageText
}
