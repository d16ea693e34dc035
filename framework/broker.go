package framework

import (
	"context"
	"time"
)

// Record is an event as a [Broker] stores it: the event, its ID already set
// to the string form of its cursor, the cursor's sequence number, and when
// the broker stored it.
type Record struct {
	Seq   uint64
	Event Event
	// Time is when the broker stored the record (its publish time, by
	// the broker's clock), or the zero Time when the broker does not know
	// it. A rewind by time ([SubscribeOptions.Since]) reads it.
	Time time.Time
}

// Page is the answer of [Broker.Read].
type Page struct {
	// Records are the retained records after the requested sequence, oldest
	// first.
	Records []Record
	// Lost reports that records after the requested sequence are no longer
	// retained: they were published before Records[0] (or, when Records is
	// empty, before the tip) and discarded.
	Lost bool
	// Tip is the cursor of the newest record of the topic when it was read
	// (Seq 0 when none was ever published), with the broker's epoch.
	Tip Cursor
	// Start, set by [Rewinder.ReadBefore], reports that the page reaches
	// the start of the topic's retained history: no retained record is
	// older than Records[0] (when Records is empty, none is older than the
	// bound asked). Lost then reports that older records were published
	// and are no longer retained. [Broker.Read] leaves it false.
	Start bool
}

// Broker stores the events of a [Hub]'s topics and carries them to it. It
// assigns every event its sequence number (strictly increasing per topic, not
// necessarily consecutive), keeps a bounded history, and delivers each topic's
// new records to the Hub in order. The Hub does the fan-out to subscribers;
// a Broker is asked to deliver each topic once per Hub, however many clients
// follow it.
//
// [MemoryBroker] is the in-process default. A distributed Broker (one whose
// Publish on one node reaches Follow on every node) lets several processes
// serve the same topics. All methods may be called concurrently.
type Broker interface {
	// Publish appends ev (whose ID is ignored) to topic and returns the
	// cursor assigned to it. After Publish returns, the record is retained
	// (until the history limits discard it) and reaches every Follow of the
	// topic. It fails with an error wrapping [ErrClosed] after Close.
	Publish(ctx context.Context, topic string, ev Event) (Cursor, error)

	// Read returns up to limit retained records of topic with a sequence
	// number greater than after, oldest first. A topic never published to
	// reads as empty, not as an error.
	Read(ctx context.Context, topic string, after uint64, limit int) (Page, error)

	// Follow calls fn with every record published to topic after Follow
	// returned, in sequence order, never concurrently with itself; fn must
	// not block. It returns the topic's tip at the time Follow started
	// delivering and a stop function; once stop returns, fn is not called
	// again. Records published before the tip are read with Read.
	//
	// A Follow that breaks (a distributed broker lost its connection, so it
	// can no longer promise every record) calls fn once with a non-nil
	// error, from a goroutine of its own (never from inside Follow), and
	// then never again; its resources are released and calling stop is
	// harmless. The Hub then ends the topic's
	// subscriptions with that error, so their clients reconnect and resume
	// from history. While err is non-nil, the Record is zero.
	Follow(topic string, fn func(Record, error)) (tip Cursor, stop func(), err error)
}

// Rewinder is implemented by a [Broker] that reads a topic's history
// backward and by time: the rewinds of [SubscribeOptions] and the pages of
// [Hub.History] use it. Both brokers of this module implement it. A
// Broker without it is read forward from its oldest retained record
// instead, a scan of the topic's whole retained history for every rewind
// and every page, and a rewind by time finds nothing in it unless its
// records carry their Time.
//
// Both methods may be called concurrently with every other method; like
// Read, they fail with an error wrapping [ErrClosed] after Close, and read
// a topic never published to as empty.
type Rewinder interface {
	// ReadBefore returns the newest up to limit retained records of topic
	// with a sequence number below before (0 means no bound: the newest),
	// oldest first. Page.Start reports that none older is retained, and
	// Page.Lost, with it, that older ones were published and discarded.
	// Page.Tip is as for Read.
	ReadBefore(ctx context.Context, topic string, before uint64, limit int) (Page, error)

	// ReadSince returns up to limit retained records of topic, oldest
	// first, from the oldest one stored at or after since on: a since
	// before the retained history starts at its oldest record. Page.Tip is
	// as for Read; Lost and Start are left false.
	ReadSince(ctx context.Context, topic string, since time.Time, limit int) (Page, error)
}

// PresenceBroker is implemented by a distributed [Broker] that shares the
// presence of a [Hub]'s topics ([Hub.Presence]) between the nodes of a
// cluster. A Hub on such a broker tells it its own connections, lists the
// members from it, and takes its join and leave events from it instead of
// announcing its own: a user is then present while it is connected to
// any node, and a node that dies (killed, cut off) loses its users within
// the broker's bound, the surviving nodes announcing their leaves.
//
// All methods may be called concurrently.
type PresenceBroker interface {
	// SetPresence records, without blocking, that this node holds
	// m.Conns connections of m.User to topic, with m.Info (m.User ""
	// is the node's anonymous count). Conns 0 keeps a user listed with
	// no connection (its leave waits for the Hub's coalescing window);
	// a negative Conns, or 0 for the anonymous count, removes the entry:
	// the Hub removes a user's after its window. The latest value of an
	// entry wins. After Close it does nothing.
	SetPresence(topic string, m Member)

	// Presence lists topic's members over every node, their Conns
	// summed, sorted by user and paged as [Hub.Presence] does; opts is
	// checked by the Hub. After Close it fails with [ErrClosed].
	Presence(ctx context.Context, topic string, opts PresenceOptions) (PresencePage, error)

	// WatchPresence calls fn with every join (a user on no node is now on
	// one) and leave (a user is on no node any more) of every topic,
	// seen from now on, in order per topic, never concurrently with
	// itself; fn must not block. Once stop returns, fn is not called
	// again.
	WatchPresence(fn func(topic, event string, m Member)) (stop func(), err error)
}
