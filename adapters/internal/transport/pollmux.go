package transport

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

// NewMux returns the Mux of a poll client made for a MultiClient: one
// whose Cursor is empty (each topic's cursor goes to Subscribe) and whose
// URL names no topic (Subscribe adds them).
func (p *PollClient) NewMux() (*Mux, error) {
	if p.Cursor != "" {
		return nil, errors.New("rxstream: " + p.Name + ": ClientOptions.Cursor is for one topic; give each topic's cursor to Subscribe")
	}
	if p.URL.Query().Has("topic") {
		return nil, errors.New("rxstream: " + p.Name + ": the URL of a MultiClient has no topic parameter; Subscribe adds them")
	}
	return NewMux(p.RunMux), nil
}

// RunMux polls for the subscriptions of m until ctx ends: one request for
// all of them (a topic query parameter each, in subscription order), each
// event and gap notice delivered to its topic's subscription. A change of
// the set ends the poll under way and polls again at once for the new set,
// from the composite of each topic's cursor; while the set stays the same
// each poll carries the server's cursor, as [PollClient.Run] does. An
// answer that polling again will not fix, or MaxAttempts failures, ends
// every subscription of the request with that error.
func (p *PollClient) RunMux(ctx context.Context, m *Mux) {
	retry := p.retry()
	for ctx.Err() == nil {
		subs, sctx := m.Snapshot()
		if len(subs) == 0 {
			<-sctx.Done()
			continue
		}
		st := pollState{cursor: Composite(subs)}
		u := *p.URL
		u.RawQuery = WithTopics(u.RawQuery, subs)
		for sctx.Err() == nil {
			pause, err := p.pollMux(sctx, u, subs, &st)
			if sctx.Err() != nil {
				break
			}
			var se *StatusError
			if errors.As(err, &se) {
				m.Fail(subs, err)
				retry.Reset()
				break
			}
			if err == nil {
				retry.Reset()
				st.floor = 0
			} else if pause, err = p.failed(&retry, &st, err); err != nil {
				m.Fail(subs, err)
				retry.Reset()
				break
			}
			Sleep(sctx, pause)
		}
	}
}

// pollMux makes one request for subs to u.
func (p *PollClient) pollMux(ctx context.Context, u url.URL, subs []*Subscription, st *pollState) (time.Duration, error) {
	a, err := p.fetch(ctx, u, st)
	if err != nil {
		return 0, err
	}
	if a.body == nil {
		SetComposite(subs, st.cursor)
		return a.pause, nil
	}
	byTopic := make(map[string]*Subscription, len(subs))
	for _, s := range subs {
		byTopic[s.topic] = s
	}
	for _, env := range a.body.Events {
		s := byTopic[env.Topic]
		if s == nil {
			continue // not asked for
		}
		it, err := MuxItem(env)
		if err != nil {
			return 0, Status(http.StatusOK, err)
		}
		pos := env.ID
		if env.Event == "gap" {
			pos = "" // a gap's cursor is the answer's
		}
		if !Deliver(ctx, s, it, pos) {
			return 0, ctx.Err()
		}
	}
	if a.body.Cursor != "" {
		st.cursor = a.body.Cursor
		SetComposite(subs, st.cursor)
	}
	return a.pause, nil
}

// MuxItem is the item of a multiplexed envelope: a [framework.Gap] for a
// gap notice (an envelope named "gap" whose data is the gap's JSON), a
// [framework.Event] otherwise.
func MuxItem(env Envelope) (rxgo.Item, error) {
	ev, err := env.ToEvent()
	if err != nil {
		return rxgo.Item{}, err
	}
	if ev.Name == "gap" {
		var g framework.Gap
		if json.Unmarshal(ev.Data, &g) == nil {
			return rxgo.Of(g), nil
		}
	}
	return rxgo.Of(ev), nil
}
