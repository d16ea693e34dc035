package sse

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// Subscription is one topic of a [MultiClient]. Topic returns its topic;
// Cursor the cursor it resumes from (the ID of the last item its observer
// took, or where the server placed it); Events its observable of [framework.Event]
// and [framework.Gap] items, which may be observed once and completes when
// the subscription is closed (an error item first when the server refused
// it); Close ends it. The observer's context ending closes it too.
//
// A subscription's items wait for its observer: one that is not observed
// holds up every topic of its client.
type Subscription = transport.Subscription

// Errors of a [MultiClient].
var (
	// ErrSubscribed is returned by [MultiClient.Subscribe] for a topic
	// that the client already follows.
	ErrSubscribed = transport.ErrSubscribed
	// ErrObserved is the error item of a second Observe of a
	// [Subscription]'s events.
	ErrObserved = transport.ErrObserved
)

// MultiClient follows several topics of a [Server.Topics] endpoint on one
// connection: it asks for all its subscriptions' topics
// (?topic=a&topic=b) and resumes the whole set with the composite last
// event ID, so each topic receives its events once and in order across
// reconnections and server restarts. Subscribing or closing a
// subscription reconnects at once with the new set, from each topic's
// last ID: no topic loses or repeats an event. Failures back off, and a
// silent connection is dropped, as with a [Client].
//
// All methods may be called concurrently. Close releases its goroutine.
type MultiClient struct {
	c   *Client
	url url.URL
	mux *transport.Mux
}

// NewMultiClient returns a MultiClient for the endpoint at rawURL (without
// topic parameters: they come from [MultiClient.Subscribe]); opts may be
// nil. Its Cursor must be empty: each topic's cursor is given to
// Subscribe.
func NewMultiClient(rawURL string, opts *ClientOptions) (*MultiClient, error) {
	if opts != nil && opts.Cursor != "" {
		return nil, errors.New("rxstream: sse: ClientOptions.Cursor is for one topic; give each topic's cursor to Subscribe")
	}
	c, err := NewClient(rawURL, opts)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(rawURL) // NewClient parsed it
	if u.Query().Has("topic") {
		return nil, errors.New("rxstream: sse: the URL of a MultiClient has no topic parameter; Subscribe adds them")
	}
	m := &MultiClient{c: c, url: *u}
	m.mux = transport.NewMux(m.run)
	return m, nil
}

// Subscribe follows topic after cursor (one topic's event ID; empty starts
// with its next event). It fails on an invalid topic or cursor, with
// [ErrSubscribed] for a topic already followed, and with
// [framework.ErrClosed] after Close.
func (m *MultiClient) Subscribe(topic, cursor string) (*Subscription, error) {
	return m.mux.Subscribe(topic, cursor)
}

// Close ends every subscription (their observables complete) and the
// connection, and waits for them.
func (m *MultiClient) Close() { m.mux.Close() }

// run connects for each set of subscriptions until ctx ends: at once when
// the set changed, after a backoff when a connection failed.
func (m *MultiClient) run(ctx context.Context, mux *transport.Mux) {
	retry := m.c.retry()
	var hint time.Duration // the server's retry
	for ctx.Err() == nil {
		subs, sctx := mux.Snapshot()
		if len(subs) == 0 {
			<-sctx.Done()
			continue
		}
		got, err := m.connect(sctx, subs, &hint)
		if sctx.Err() != nil {
			continue // a new set, or Close
		}
		var se *StatusError
		switch {
		case errors.As(err, &se):
			mux.Fail(subs, err)
			retry.Reset()
			continue
		case errors.Is(err, errNoContent):
			mux.Fail(subs, nil) // the server ended the streams
			retry.Reset()
			continue
		}
		if got {
			retry.Reset()
		}
		d, gaveUp := retry.Failed(err, hint)
		if gaveUp != nil {
			mux.Fail(subs, gaveUp)
			retry.Reset()
			continue
		}
		m.c.opts.Logger.Info("rxstream: sse: reconnecting", "url", m.url.Redacted(), "topics", len(subs), "in", d, "err", err)
		transport.Sleep(sctx, d)
	}
}

// connect reads one connection for subs until it ends; each item is
// delivered under parent, which ends when the set changes. got reports
// whether it delivered anything.
func (m *MultiClient) connect(parent context.Context, subs []*Subscription, hint *time.Duration) (got bool, err error) {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	u := m.url
	u.RawQuery = transport.WithTopics(u.RawQuery, subs)
	dec, release, err := m.c.open(ctx, cancel, u.String(), transport.Composite(subs), hint)
	if err != nil {
		return false, err
	}
	defer release()
	byTopic := make(map[string]*Subscription, len(subs))
	for _, s := range subs {
		byTopic[s.Topic()] = s
	}
	for {
		ev, err := dec.Next()
		if d := dec.Retry(); d > 0 {
			*hint = d
		}
		if err != nil {
			// A block with only an id (the tips, on open) moved the cursor.
			transport.SetComposite(subs, dec.LastEventID())
			return got, streamEnded(err)
		}
		got = true
		if s, it, pos, ok := m.item(ev, byTopic); ok {
			if !transport.Deliver(parent, s, it, pos) {
				return got, parent.Err()
			}
		}
		transport.SetComposite(subs, ev.ID)
	}
}

// muxData is the data of an event or gap notice of a multiplexed stream.
type muxData struct {
	Topic string  `json:"topic"`
	ID    string  `json:"id"`
	Data  *string `json:"data"`
	framework.Gap
}

// item decodes a block of a multiplexed stream: the subscription it is
// for, its item and the topic's cursor after it. ok is false for a block
// of no subscription's.
func (m *MultiClient) item(ev framework.Event, byTopic map[string]*Subscription) (s *Subscription, it rxgo.Item, pos string, ok bool) {
	var d muxData
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		m.c.opts.Logger.Debug("rxstream: sse: not a multiplexed event", "id", ev.ID, "err", err)
		return nil, rxgo.Item{}, "", false
	}
	if s = byTopic[d.Topic]; s == nil {
		return nil, rxgo.Item{}, "", false
	}
	if ev.Name == "gap" && d.ID == "" && d.Data == nil {
		return s, rxgo.Of(d.Gap), "", true
	}
	var data []byte
	if d.Data != nil {
		data = []byte(*d.Data)
	}
	return s, rxgo.Of(framework.Event{ID: d.ID, Name: ev.Name, Data: data, Retry: ev.Retry}), d.ID, true
}
