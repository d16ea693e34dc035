package redisbroker

import (
	"context"
	"fmt"

	"github.com/rxstream/rxstream/framework"
)

// Read implements [framework.Broker]: one read-only script run (one round
// trip) returns the topic's epoch, its newest ID and up to limit entries
// after `after`, none older than MaxAge.
//
// Lost is exact: each entry names its predecessor in the topic, so when
// the first entry read names one newer than `after`, that predecessor and
// what came before it were discarded; when nothing is retained after
// `after` but the topic's newest ID is newer, everything after `after` was
// discarded. A topic that does not exist (never published to or followed,
// or deleted) reads as empty, with no epoch.
func (b *Broker) Read(ctx context.Context, topic string, after uint64, limit int) (framework.Page, error) {
	k, err := TopicKeys(b.opts.Prefix, b.opts.HashTag, topic)
	if err != nil {
		return framework.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return framework.Page{}, err
	}
	if err := b.usable(); err != nil {
		return framework.Page{}, err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	res, err := readScript.Run(ctx, b.rdb, []string{k.Stream, k.Meta},
		ToID(after), max(limit, 0), b.opts.MaxAge.Milliseconds()).Slice()
	if err != nil {
		return framework.Page{}, b.unavailable(fmt.Errorf("read %s: %w", k.Stream, err))
	}
	var p framework.Page
	if len(res) == 0 {
		return p, nil
	}
	bad := func(what string) (framework.Page, error) {
		return framework.Page{}, fmt.Errorf("rxstream: redis: read %s: %s", k.Stream, what)
	}
	if len(res) != 3 {
		return bad(fmt.Sprintf("answer of %d items", len(res)))
	}
	epoch, _ := res[0].(string)
	last, _ := res[1].(string)
	entries, _ := res[2].([]any)
	tip, err := FromID(last)
	if err != nil {
		return bad(err.Error())
	}
	p.Tip = framework.Cursor{Epoch: epoch, Seq: tip}
	if len(entries) > 0 {
		p.Records = make([]framework.Record, 0, len(entries))
	}
	for i, e := range entries {
		id, values, ok := entry(e)
		if !ok {
			return bad(fmt.Sprintf("entry %d malformed", i))
		}
		rec, prev, _, err := decode(id, values, epoch)
		if err != nil {
			return framework.Page{}, err
		}
		if i == 0 {
			ps, err := FromID(prev)
			if err != nil {
				return framework.Page{}, err
			}
			p.Lost = ps > after
		}
		p.Records = append(p.Records, rec)
	}
	if len(p.Records) == 0 && limit > 0 {
		p.Lost = tip > after
	}
	return p, nil
}

// entry reads one XRANGE entry, [ID, [field, value, ...]], as a script
// returns it.
func entry(e any) (string, map[string]any, bool) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return "", nil, false
	}
	id, ok := pair[0].(string)
	fields, ok2 := pair[1].([]any)
	if !ok || !ok2 || len(fields)%2 != 0 {
		return "", nil, false
	}
	values := make(map[string]any, len(fields)/2)
	for i := 0; i < len(fields); i += 2 {
		f, _ := fields[i].(string)
		values[f] = fields[i+1]
	}
	return id, values, true
}
