package framework

import (
	"context"
	"fmt"
	"time"
)

// DefaultKeyWindow is how long a broker remembers an idempotency key
// unless its options say otherwise: a repeat of the key on the same topic
// within it publishes nothing. Two minutes covers a client's retries of one
// publish (five attempts with backoff take seconds) with room for a slow
// network, and is JetStream's own default duplicate window.
const DefaultKeyWindow = 2 * time.Minute

// MaxKeyLen is the longest idempotency key, in bytes.
const MaxKeyLen = 255

// PublishOptions configures one publish ([Hub.PublishWith]). The zero value
// means defaults: a publish without a key.
type PublishOptions struct {
	// Key is the publish's idempotency key: 1 to [MaxKeyLen] bytes of
	// printable ASCII (space to tilde), "" for none. A publish that repeats
	// the key of an earlier one on the same topic, within the broker's key
	// window ([DefaultKeyWindow] by default), stores and delivers nothing
	// and answers the ID the earlier one got. The same key on another
	// topic is another key.
	//
	// A key names a publish, not its content: the repeat's event is not
	// compared with the original's. A client makes one key per event and
	// sends that same key with every retry of it, so that a retry after an
	// answer that was lost (the server stored the event, then the
	// connection or the node died) cannot store the event twice.
	Key string
}

// KeyedPublisher is implemented by a [Broker] that remembers idempotency
// keys, as [MemoryBroker] and the NATS broker do. A [Hub] asks its broker
// for it when a publish carries a key; a Hub whose broker lacks it refuses
// keyed publishes with an error wrapping [ErrKeysUnsupported], rather than
// remembering keys itself: a Hub sees only its own process's publishes, so
// its memory would silently fail the retries that matter most, those that
// reach another node.
type KeyedPublisher interface {
	// PublishKeyed is [Broker.Publish] with an idempotency key (see
	// [PublishOptions.Key]). When key was published to topic within the
	// broker's key window, it stores and delivers nothing and returns the
	// cursor of that earlier publish with repeat set; that event may no
	// longer be retained. Concurrent publishes of one key on one topic,
	// from any node of a distributed broker, store one event and all
	// return its cursor. An invalid key is an error wrapping
	// [ErrInvalidKey]; after Close it fails with an error wrapping
	// [ErrClosed].
	PublishKeyed(ctx context.Context, topic, key string, ev Event) (c Cursor, repeat bool, err error)
}

// CheckKey returns nil when key is a valid idempotency key, and otherwise
// an error wrapping [ErrInvalidKey] that states the rule: 1 to
// [MaxKeyLen] bytes of printable ASCII, space (0x20) to tilde (0x7E).
func CheckKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty (a key is 1 to %d bytes of printable ASCII)", ErrInvalidKey, MaxKeyLen)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidKey, len(key), MaxKeyLen)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: byte %#02x at %d is not printable ASCII (space to tilde)", ErrInvalidKey, c, i)
		}
	}
	return nil
}

// PublishWith is [Hub.Publish] with options; opts may be nil. With a
// [PublishOptions.Key] that topic saw within the broker's key window, it
// publishes nothing and returns the ID of that earlier publish with repeat
// set, so a retry is answered as the first attempt was:
//
//	id, repeat, err := hub.PublishWith(ctx, "chat", ev, &framework.PublishOptions{Key: key})
//
// A malformed key is an error wrapping [ErrInvalidKey]; a key given to a
// Hub whose broker is not a [KeyedPublisher] wraps [ErrKeysUnsupported].
// Repeats are counted in [HubStats.Repeats], not in Published.
func (h *Hub) PublishWith(ctx context.Context, topic string, ev Event, opts *PublishOptions) (id string, repeat bool, err error) {
	h.setup()
	ev.enc = nil // a delivered event published again is another event
	if err := checkPublish(topic, ev); err != nil {
		return "", false, err
	}
	var key string
	var kp KeyedPublisher
	if opts != nil && opts.Key != "" {
		key = opts.Key
		if err := CheckKey(key); err != nil {
			return "", false, err
		}
		var ok bool
		if kp, ok = h.opts.Broker.(KeyedPublisher); !ok {
			return "", false, fmt.Errorf("%w: %T", ErrKeysUnsupported, h.opts.Broker)
		}
	}
	if h.closed.Load() {
		return "", false, ErrClosed
	}
	if h.seen != nil { // MaxTopics bookkeeping; no lock otherwise
		h.mu.Lock()
		err := h.admitLocked(topic)
		h.mu.Unlock()
		if err != nil {
			return "", false, err
		}
	}
	var c Cursor
	if kp != nil {
		c, repeat, err = kp.PublishKeyed(ctx, topic, key, ev)
	} else {
		c, err = h.opts.Broker.Publish(ctx, topic, ev)
	}
	if err != nil {
		return "", false, fmt.Errorf("rxstream: publish to %s: %w", topic, err)
	}
	if repeat {
		h.stats.repeats.Add(1)
	} else {
		h.stats.published.Add(1)
		h.pace(ctx, topic)
	}
	return c.String(), repeat, nil
}
