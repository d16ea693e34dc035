package redisbroker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// MaxKeyLen is the longest idempotency key that [Broker.PublishKey]
// accepts.
const MaxKeyLen = 256

// Publish implements [framework.Broker]: one script run (one round trip)
// that creates the topic when it is missing, appends the event with the
// next ID and trims the topic's history. It fails at once with an error
// wrapping [ErrUnavailable] while Redis is down, and after the Broker's
// Timeout when Redis does not answer; an invalid topic wraps
// [framework.ErrInvalidTopic].
//
// A publish whose answer was lost (the connection broke after Redis ran
// the script) reports ErrUnavailable although the event was stored: a
// publisher that retries it stores it twice. [Broker.PublishKey] closes
// that hole.
func (b *Broker) Publish(ctx context.Context, topic string, ev framework.Event) (framework.Cursor, error) {
	c, _, err := b.publish(ctx, topic, ev, "", 0)
	return c, err
}

// PublishKey is Publish made safe to retry: the first publish with key on
// topic within window appends ev and remembers its cursor for window; a
// publish with the same key on the same topic within window appends
// nothing and answers that cursor, with duplicate true (even when the
// original event has since been discarded from the history). The check and
// the append are one atomic script, so concurrent publishes with one key,
// from any node, store one event.
//
// Keys are scoped to the topic (a Redis Cluster constraint: a script's
// keys share a slot, hence the topic's hash tag). key must be 1 to
// [MaxKeyLen] bytes and window at least a millisecond; a key is held in
// Redis as "<Prefix>:{T}:idem:<key>" with the window as its TTL.
func (b *Broker) PublishKey(ctx context.Context, topic string, ev framework.Event, key string, window time.Duration) (cur framework.Cursor, duplicate bool, err error) {
	if key == "" || len(key) > MaxKeyLen {
		return framework.Cursor{}, false, fmt.Errorf("rxstream: redis: idempotency key of %d bytes: want 1 to %d", len(key), MaxKeyLen)
	}
	if window < time.Millisecond {
		return framework.Cursor{}, false, fmt.Errorf("rxstream: redis: idempotency window %v: want at least 1ms", window)
	}
	return b.publish(ctx, topic, ev, key, window)
}

// PublishKeyed is [Broker.PublishKey] with [Options.KeyWindow]: what a
// [framework.Hub] calls for a publish with a key
// ([framework.Hub.PublishWith], an Idempotency-Key header). A key that
// [framework.CheckKey] refuses is an error wrapping
// [framework.ErrInvalidKey].
func (b *Broker) PublishKeyed(ctx context.Context, topic, key string, ev framework.Event) (framework.Cursor, bool, error) {
	if err := framework.CheckKey(key); err != nil {
		return framework.Cursor{}, false, err
	}
	return b.PublishKey(ctx, topic, ev, key, b.opts.KeyWindow)
}

var _ framework.KeyedPublisher = (*Broker)(nil)

func (b *Broker) publish(ctx context.Context, topic string, ev framework.Event, key string, window time.Duration) (framework.Cursor, bool, error) {
	k, err := TopicKeys(b.opts.Prefix, b.opts.HashTag, topic)
	if err != nil {
		return framework.Cursor{}, false, err
	}
	if err := ctx.Err(); err != nil {
		return framework.Cursor{}, false, err
	}
	if err := b.usable(); err != nil {
		return framework.Cursor{}, false, err
	}
	keys := []string{k.Stream, k.Meta}
	if key != "" {
		keys = append(keys, k.Idem+key)
	}
	retry := int64(0)
	if ev.Retry > 0 {
		retry = max(ev.Retry.Milliseconds(), 1)
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	res, err := publishScript.Run(ctx, b.rdb, keys,
		newEpoch(), b.opts.MaxLen, b.opts.MaxAge.Milliseconds(), b.ttlMS,
		window.Milliseconds(), ev.Data, ev.Name, retry).Slice()
	if err != nil {
		return framework.Cursor{}, false, b.unavailable(fmt.Errorf("publish to %s: %w", k.Stream, err))
	}
	if len(res) != 2 {
		return framework.Cursor{}, false, fmt.Errorf("rxstream: redis: publish to %s: answer %v", k.Stream, res)
	}
	answer, _ := res[0].(string)
	dup, _ := res[1].(int64)
	c, err := parseAnswer(answer)
	if err != nil {
		return framework.Cursor{}, false, fmt.Errorf("rxstream: redis: publish to %s: %w", k.Stream, err)
	}
	return c, dup == 1, nil
}

// parseAnswer reads the publish script's "EPOCH MS-SEQ".
func parseAnswer(s string) (framework.Cursor, error) {
	epoch, id, ok := strings.Cut(s, " ")
	if !ok {
		return framework.Cursor{}, fmt.Errorf("answer %q: want EPOCH MS-SEQ", s)
	}
	seq, err := FromID(id)
	if err != nil {
		return framework.Cursor{}, err
	}
	return framework.Cursor{Epoch: epoch, Seq: seq}, nil
}

// decode turns a stream entry's fields into the record of ID id, and
// returns the ID of its predecessor (fields "pm" and "ps", see
// publishScript) and the epoch it names (field "e", on an epoch's first
// entry only).
func decode(id string, values map[string]any, epoch string) (rec framework.Record, prev, named string, err error) {
	seq, err := FromID(id)
	if err != nil {
		return framework.Record{}, "", "", err
	}
	str := func(f string) string { v, _ := values[f].(string); return v }
	ev := framework.Event{
		ID:   framework.Cursor{Epoch: epoch, Seq: seq}.String(),
		Name: str("n"),
		Data: []byte(str("d")),
	}
	if ms, err := strconv.ParseInt(str("r"), 10, 64); err == nil && ms > 0 {
		ev.Retry = time.Duration(ms) * time.Millisecond
	}
	pm, err1 := strconv.ParseUint(str("pm"), 10, 64)
	ps, err2 := strconv.ParseUint(str("ps"), 10, 64)
	ms := seq >> seqBits
	if err1 != nil || err2 != nil || pm > ms || ps > seqMask {
		return framework.Record{}, "", "", fmt.Errorf("rxstream: redis: entry %s names no predecessor: not written by this broker", id)
	}
	prev = strconv.FormatUint(ms-pm, 10) + "-" + strconv.FormatUint(ps, 10)
	// The ID's milliseconds are Redis's clock when it stored the entry
	// (or a millisecond or so later, when its clock stood still or went
	// back): the record's time, for rewinds by duration.
	return framework.Record{Seq: seq, Event: ev, Time: time.UnixMilli(int64(ms))}, prev, str("e"), nil
}
