package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/presence"
)

// Presence across nodes ([framework.PresenceBroker]): the members of
// every topic live in one hash, "<Prefix>:{<HashTag>}#presence", with one
// field per topic, user and node and one heartbeat per node put every
// PresenceTTL/4; each change is one script that bumps the hash's version,
// changes the field and publishes the change, with its version, on the
// channel "<Prefix>#presence". Every node subscribes to the channel, then
// reads the whole hash (and its version), and keeps a copy of it from
// which it lists members and derives the joins and leaves in the
// versions' order, so every node announces the same ones. A node not
// heard of for PresenceTTL/2 is dead: the others delete its fields, and
// so announce its users' leaves, within PresenceTTL. A node whose
// subscription was renewed (pub/sub delivers nothing while it is down)
// reads the hash again. Writes are made by one goroutine of the Broker,
// the latest value of each entry: a burst of changes to one entry costs
// one write. Close deletes the node's fields.

// DefaultPresenceTTL is the default bound within which the members of a
// node that died are gone from every other node ([Options.PresenceTTL]).
const DefaultPresenceTTL = presence.DefaultTTL

var _ framework.PresenceBroker = (*Broker)(nil)

// SetPresence records this node's connections of m.User to topic; see
// [framework.PresenceBroker].
func (b *Broker) SetPresence(topic string, m framework.Member) { b.pres.Set(topic, m) }

// WatchPresence calls fn with the joins and leaves of every topic; see
// [framework.PresenceBroker].
func (b *Broker) WatchPresence(fn func(topic, event string, m framework.Member)) (func(), error) {
	return b.pres.Watch(fn)
}

// Presence lists topic's members over every node; see
// [framework.PresenceBroker].
func (b *Broker) Presence(ctx context.Context, topic string, o framework.PresenceOptions) (framework.PresencePage, error) {
	return b.pres.Presence(ctx, topic, o)
}

// presenceScript sets (or, with an empty value, deletes) a field of the
// presence hash and publishes the change with the hash's new version:
// "VERSION p KEY VALUE" or "VERSION d KEY".
var presenceScript = redis.NewScript(`
local v = redis.call('HINCRBY', KEYS[1], '#v', 1)
if ARGV[2] == '' then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[3], v .. ' d ' .. ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('PUBLISH', ARGV[3], v .. ' p ' .. ARGV[1] .. ' ' .. ARGV[2])
end
return v
`)

// presenceHash is the presence store on Redis.
type presenceHash struct {
	b            *Broker
	key, channel string
}

func newPresenceHash(b *Broker) *presenceHash {
	return &presenceHash{b: b, key: b.slot + "#presence", channel: b.opts.Prefix + "#presence"}
}

func (h *presenceHash) Open(ctx context.Context) (<-chan presence.Update, error) {
	ps := h.b.rdb.Subscribe(ctx, h.channel)
	cctx, cancel := context.WithTimeout(ctx, h.b.opts.Timeout)
	defer cancel()
	if _, err := ps.Receive(cctx); err != nil { // the subscription's confirmation
		ps.Close()
		return nil, fmt.Errorf("presence subscribe: %w", err)
	}
	all, err := h.b.rdb.HGetAll(cctx, h.key).Result()
	if err != nil {
		ps.Close()
		return nil, fmt.Errorf("presence read: %w", err)
	}
	since, _ := strconv.ParseUint(all["#v"], 10, 64)
	msgs := ps.ChannelWithSubscriptions()
	feed := make(chan presence.Update)
	go func() { // owned by the Node's session: it ends with ctx
		defer close(feed)
		defer ps.Close()
		send := func(u presence.Update) bool {
			select {
			case feed <- u:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for k, v := range all {
			if k != "#v" && !send(presence.Update{Key: k, Put: true, Value: []byte(v), Rev: since}) {
				return
			}
		}
		if !send(presence.Update{Loaded: true}) {
			return
		}
		for {
			var m any
			var ok bool
			select {
			case <-ctx.Done():
				return
			case m, ok = <-msgs:
				if !ok {
					return
				}
			}
			switch m := m.(type) {
			case *redis.Subscription:
				return // renewed after a disconnection, which lost what was published: read again
			case *redis.Message:
				u, err := parseChange(m.Payload)
				if err != nil {
					h.b.log.Debug("rxstream: redis: presence change", "payload", m.Payload, "err", err)
					continue
				}
				if u.Rev > since && !send(u) {
					return
				}
			}
		}
	}()
	return feed, nil
}

// parseChange reads a change the script published.
func parseChange(s string) (presence.Update, error) {
	ver, rest, _ := strings.Cut(s, " ")
	op, rest, _ := strings.Cut(rest, " ")
	key, value, _ := strings.Cut(rest, " ")
	rev, err := strconv.ParseUint(ver, 10, 64)
	switch {
	case err != nil || key == "":
		return presence.Update{}, errors.New("malformed")
	case op == "p":
		return presence.Update{Key: key, Put: true, Value: []byte(value), Rev: rev}, nil
	case op == "d":
		return presence.Update{Key: key, Rev: rev}, nil
	}
	return presence.Update{}, errors.New("unknown operation")
}

func (h *presenceHash) Put(ctx context.Context, key string, value []byte) error {
	return presenceScript.Run(ctx, h.b.rdb, []string{h.key}, key, value, h.channel).Err()
}

func (h *presenceHash) Delete(ctx context.Context, key string) error {
	return presenceScript.Run(ctx, h.b.rdb, []string{h.key}, key, "", h.channel).Err()
}
