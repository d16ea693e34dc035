package framework

import (
	"errors"
	"strconv"
)

// Errors returned by the Hub, its subscriptions and brokers.
var (
	// ErrClosed is returned after the Hub, the Subscription or the Broker was
	// closed.
	ErrClosed = errors.New("rxstream: closed")
	// ErrOverflow ends a subscription whose queue overflowed under
	// [OverflowClose]. The client should resume from its last event ID.
	ErrOverflow = errors.New("rxstream: subscriber queue overflowed")
	// ErrInvalidTopic reports a topic name that [ValidTopic] refuses.
	ErrInvalidTopic = errors.New("rxstream: invalid topic name")
	// ErrInvalidEvent reports an event that a Hub refuses to publish.
	ErrInvalidEvent = errors.New("rxstream: invalid event")
	// ErrTooManyTopics reports a new topic beyond [HubOptions.MaxTopics].
	// Adapters answer it with HTTP 503: the server is at capacity, and a
	// client retries later with backoff.
	ErrTooManyTopics = errors.New("rxstream: too many topics")
	// ErrTooManySubscribers reports a subscription beyond
	// [HubOptions.MaxSubscribers]. Adapters answer it with HTTP 503.
	ErrTooManySubscribers = errors.New("rxstream: too many subscribers")
	// ErrInvalidCursor is wrapped by every [*CursorError].
	ErrInvalidCursor = errors.New("rxstream: invalid cursor")
	// ErrInvalidKey reports an idempotency key that [CheckKey] refuses.
	// Adapters answer it with HTTP 400.
	ErrInvalidKey = errors.New("rxstream: invalid idempotency key")
	// ErrKeysUnsupported reports a publish with an idempotency key to a
	// Hub whose [Broker] is not a [KeyedPublisher]. Adapters answer it
	// with HTTP 501: retrying will not help.
	ErrKeysUnsupported = errors.New("rxstream: the broker does not support idempotency keys")
	// ErrInvalidRewind reports a rewind that [Hub.SubscribeWith] refuses:
	// a negative one, one beyond [MaxRewind] or [MaxSince], or Rewind and
	// Since together. Adapters answer it with HTTP 400.
	ErrInvalidRewind = errors.New("rxstream: invalid rewind")
	// ErrInvalidHistory reports a page that [Hub.History] refuses to
	// read: Before and After together, or a Limit out of range. Adapters
	// answer it with HTTP 400.
	ErrInvalidHistory = errors.New("rxstream: invalid history request")
	// ErrInvalidPresence reports a member that [Hub.SubscribeWith]
	// refuses (a user or info out of bounds) or a page that
	// [Hub.Presence] refuses (a Limit out of range). Adapters answer it
	// with HTTP 400.
	ErrInvalidPresence = errors.New("rxstream: invalid presence")
)

// CursorError reports a malformed cursor (a Last-Event-ID, cursor or
// lastEventId parameter). Adapters answer it with HTTP 400.
type CursorError struct {
	Cursor string // the cursor as given, cut to 64 bytes
	Reason string // what is wrong with it
}

func (e *CursorError) Error() string {
	return "rxstream: invalid cursor " + strconv.Quote(e.Cursor) + ": " + e.Reason
}

// Unwrap returns [ErrInvalidCursor].
func (e *CursorError) Unwrap() error { return ErrInvalidCursor }
