package natsbroker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/presence"
)

// Presence across nodes ([framework.PresenceBroker]): the members of
// every topic live in one JetStream key-value bucket, "<Stream>_PRESENCE",
// held in memory by the servers, with one key per topic, user and node,
// and one heartbeat per node put every PresenceTTL/4. Every node watches
// the whole bucket and keeps a copy of it, from which it lists members
// and derives the joins and leaves in the bucket's order, so every node
// announces the same ones. A node not heard of for PresenceTTL/2 is dead:
// the others delete its keys, and so announce its users' leaves, within
// PresenceTTL. A key is deleted with a marker that expires after
// PresenceTTL, so the bucket holds the current members and the leaves of
// the last PresenceTTL, not every key ever seen. A NATS restart loses the bucket: the nodes make it again
// and put their entries back. Writes are made by one goroutine of the
// Broker, the latest value of each entry: a burst of changes to one entry
// costs one write. Close deletes the node's keys.

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

// bucket is the presence store on JetStream.
type bucket struct {
	b  *Broker
	kv jetstream.KeyValue // set by Open, read by the same goroutine
}

func (k *bucket) Open(ctx context.Context) (<-chan presence.Update, error) {
	o := k.b.opts
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	kv, err := k.b.js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{
		Bucket: o.Stream + "_PRESENCE", Storage: jetstream.MemoryStorage, Replicas: o.Replicas, History: 1,
		LimitMarkerTTL: k.markerTTL(),
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("presence bucket: %w", err)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("presence watch: %w", err)
	}
	k.kv = kv
	feed := make(chan presence.Update)
	go func() { // owned by the Node's session: it ends with ctx
		defer close(feed)
		defer w.Stop()
		for {
			var u presence.Update
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					u.Loaded = true
				} else {
					u = presence.Update{Key: e.Key(), Put: e.Operation() == jetstream.KeyValuePut, Value: e.Value(), Rev: e.Revision()}
				}
			}
			select {
			case feed <- u:
			case <-ctx.Done():
				return
			}
		}
	}()
	return feed, nil
}

func (k *bucket) Put(ctx context.Context, key string, value []byte) error {
	_, err := k.kv.Put(ctx, key, value)
	return err
}

// Delete purges key with a marker that the servers drop after
// markerTTL: a plain delete's marker stays for good, and the bucket would
// grow with every topic, user and node ever seen (300 joins and leaves
// left 301 messages). A watcher sees the marker when it is written; one
// that opens the bucket after it is gone does not find the key, and
// forgets it.
func (k *bucket) Delete(ctx context.Context, key string) error {
	return k.kv.Purge(ctx, key, jetstream.PurgeTTL(k.markerTTL()))
}

// markerTTL is PresenceTTL, at least the servers' minimum of a second:
// a watcher behind by that much is taken for cut off anyway.
func (k *bucket) markerTTL() time.Duration { return max(k.b.opts.PresenceTTL, time.Second) }
