// Package natsbroker is a [framework.Broker] on NATS JetStream
// (github.com/nats-io/nats.go), so that several rxstream processes serve the
// same topics behind any load balancer, without sticky sessions: an event
// published on any node reaches the subscribers of every node, and a client
// resumes on any node with the last event ID it saw on another.
//
//	b, err := natsbroker.New(ctx, &natsbroker.Options{URL: "nats://nats-1:4222,nats://nats-2:4222"})
//	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
//
// # Mapping
//
// Topic T is the subject "<Prefix>.T" (see [Subject]); a topic's dots are
// NATS token separators, and the topic name rule ([framework.ValidTopic])
// excludes wildcards and empty tokens. One stream (Options.Stream) holds
// "<Prefix>.>", with JetStream limits as the history bounds:
// MaxMsgsPerSubject events per topic, MaxAge for every event, MaxBytes for
// the whole stream (JetStream has no per-subject byte limit).
//
// # Cursors
//
// An event's ID is "EPOCH-SEQ": SEQ is its stream sequence, the same on
// every node, strictly increasing per topic but not consecutive (the topics
// share the sequence); EPOCH is the stream's creation time, so a recreated
// stream makes old cursors stale, and their clients get a [framework.Gap].
// Each event names its topic predecessor in a header that JetStream enforces
// on publish (Nats-Expected-Last-Subject-Sequence), so Read knows exactly
// whether events after a cursor were discarded; see [Broker.Read].
//
// # Idempotent publishing
//
// [Broker.PublishKeyed] (what [framework.Hub.PublishWith] calls for a
// publish with a key) sets JetStream's Nats-Msg-Id header to the event's
// subject and key, and the stream's duplicate window is Options.KeyWindow:
// a repeat of the key on the topic within it, from any node, stores
// nothing and is answered with the first event's cursor. A publisher whose
// answer was lost (the node died after JetStream stored the event) retries
// on another node with the same key and gets the same ID.
//
// # Rewinds and history
//
// The Broker is a [framework.Rewinder]: records carry the time JetStream
// stored them, ReadSince starts at the first one stored at or after a
// time (a batched direct get by start time), and ReadBefore reads the
// newest records before a cursor by walking the chain back, then in
// batches of stream sequences; see [Broker.ReadBefore] for its measured
// cost, about a millisecond for a page of 10.
//
// # Delivery
//
// The [framework.Hub] asks each node to Follow a topic once, however many
// clients it serves there: Follow reads the topic's last sequence and
// starts a push consumer just after it, so nothing falls between history
// and the live feed; the Hub fans out locally.
//
// # Outages
//
// nats.go reconnects forever (Options.ReconnectWait), logging each step
// with log/slog. While the connection is down, Publish, Read and Follow
// fail at once with an error wrapping [ErrUnavailable] (an HTTP adapter
// answers 503); every Follow ends, so the Hub ends its subscriptions and
// their clients reconnect, and resume from history once NATS is back.
// Requests are bounded by Options.Timeout.
//
// # Control subjects
//
// [Broker.Notify] and [Broker.Listen] carry messages between nodes that
// are not events, on core NATS subjects "<Prefix>-control.<channel>"
// that the stream does not hold: an adapters.Gate given the Broker as its
// Relay sends its revocations there, so that revoking a user ends their
// connections on every node.
//
// # Presence
//
// The Broker is a [framework.PresenceBroker]: a Hub on it shares who is on
// its topics with the other nodes, through a JetStream key-value bucket
// held in the servers' memory ("<Stream>_PRESENCE"): each node's
// connections per topic and user, and a heartbeat per node. The users of a
// node that dies (killed, cut off) leave every other node within
// Options.PresenceTTL (30 s by default), the survivors announcing it; a
// NATS restart loses the bucket, which the nodes fill again.
//
// # Requirements and costs
//
// NATS server 2.11 or later (batched direct get). A publish is one round
// trip to JetStream; publishes to one topic from one node are serialised
// (each names its predecessor), and a publish that races one from another
// node retries. A Read is two round trips; following a topic is one
// consumer per node, created on its first subscriber.
//
// Files: broker.go (options, connection, stream), subject.go (topic to
// subject), publish.go, read.go, rewind.go (backward and by-time reads),
// follow.go, control.go (revocations across nodes).
package natsbroker
