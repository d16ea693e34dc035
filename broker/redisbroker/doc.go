// Package redisbroker is a [framework.Broker] on Redis Streams
// (github.com/redis/go-redis/v9), so that several rxstream processes serve
// the same topics behind any load balancer, without sticky sessions, on
// the Redis most teams already run: an event published on any node reaches
// the subscribers of every node, and a client resumes on any node with the
// last event ID it saw on another.
//
//	b, err := redisbroker.New(ctx, &redisbroker.Options{URL: "redis://redis-1:6379"})
//	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
//
// # Mapping
//
// Topic T is the stream "<Prefix>:{T}" beside the hash "<Prefix>:{T}:meta"
// that holds its epoch and its newest ID (see [TopicKeys]). Publish is one
// Lua script: it creates the topic when it is missing, appends the event
// (XADD with MAXLEN ~ Options.MaxLen) and trims the events older than
// Options.MaxAge (XTRIM MINID). Redis has no per-stream byte bound: bound
// its memory with maxmemory (with noeviction, a publish past it fails with
// an error wrapping [ErrUnavailable]; with an eviction policy, a topic
// whose keys were evicted starts a new epoch).
//
// # Cursors
//
// An event's ID is "EPOCH-SEQ". SEQ is its stream ID "MS-N" as one number,
// MS<<20 | N, exact both ways and in the same order ([ToID], [FromID]):
// the publish script writes IDs from Redis's clock itself, and moves to the
// next millisecond rather than let N reach 2^20, so every ID it writes
// maps. EPOCH is drawn when the topic is created and kept in its meta
// hash; a topic whose stream or hash went missing (deleted, evicted,
// expired, or a Redis restarted without persistence) is created anew with
// a new epoch, so old cursors are stale and their clients get a
// [framework.Gap].
//
// Each entry names its predecessor in the topic (in two small integers),
// so Read knows
// exactly whether events after a cursor were discarded, whichever bound
// discarded them, and a Follow knows that it missed none (Redis 7's
// max-deleted-entry-id would not do: trimming leaves it unchanged).
//
// # Delivery
//
// The [framework.Hub] asks each node to Follow a topic once, however many
// clients it serves there. A node reads all its followed topics with one
// XREAD BLOCK on one connection of its own, re-issued at once (CLIENT
// UNBLOCK from the pool) when a topic is followed anew, and at least every
// Options.Heartbeat, when it also checks that the followed topics keep
// their epochs. Following a thousand topics costs one connection, not a
// thousand.
//
// # Idempotent publish
//
// [Broker.PublishKey] checks an idempotency key and appends the event in
// the same script: a retry within the key's window answers the first
// publish's cursor and stores nothing, whichever node it reaches.
//
// # Outages
//
// While Redis cannot be reached, Publish, Read and Follow fail at once
// with an error wrapping [ErrUnavailable] (an HTTP adapter answers 503);
// every Follow ends, so the Hub ends its subscriptions and their clients
// reconnect, and resume from history once Redis is back. The node's follow
// connection tries Redis again every Options.ReconnectWait; one that
// dropped but reconnects at once (Redis restarted with its append-only
// file) keeps its follows. Requests are
// not retried (a publish retried after a lost answer would store its event
// twice) and are bounded by Options.Timeout.
//
// # Control channels
//
// [Broker.Notify] and [Broker.Listen] carry messages between nodes that
// are not events, on Redis pub/sub channels "<Prefix>:control:<channel>"
// that store nothing: an adapters.Gate given the Broker as its Relay
// sends its revocations there, so that revoking a user ends their
// connections on every node. A node not subscribed when one is sent (Redis
// down, the node reconnecting) misses it.
//
// # Deployments
//
// A single Redis; Redis Sentinel, through go-redis's universal client
// (Options.Redis with MasterName and the sentinels' Addrs: the same
// *redis.Client as a single node, not tested here); Redis Cluster with
// Options.HashTag. A multi-key XREAD must name keys of one hash slot, so
// that a node's one blocking read can follow all its topics only when they
// share a slot: HashTag gives every topic's keys that one tag, and the
// follow connection goes to the slot's master (asked again whenever it
// reconnects, so after a failover its follows end, their clients
// reconnect, and it follows on the new master). The cost is that one
// cluster node holds and serves all the Broker's topics; several
// Brokers (several prefixes or tags) spread over several. Without
// HashTag, a Cluster client is refused with [ErrUnsupported]. Every
// script touches one topic's keys, all in one slot either way.
//
// Tested: Redis 7.0.15 (Debian's package) as a single server, with and
// without an append-only file, and as a three-master cluster without
// replicas. Redis 6.2 or later.
//
// # Presence
//
// The Broker is a [framework.PresenceBroker]: a Hub on it shares who is on
// its topics with the other nodes, through one hash of each node's
// connections per topic and user, and a heartbeat per node, whose changes
// are published on a channel. The users of a node that dies (killed, cut
// off) leave every other node within Options.PresenceTTL (30 s by
// default), the survivors announcing it.
//
// # Costs
//
// A publish is one round trip and one script run; a Read is one round
// trip (a read-only script); the first Follow of a topic on a node is one
// round trip, and its entries then come with every other followed topic's
// on the node's one connection. That one XREAD names every followed topic,
// so each time it returns and is issued again Redis handles every name:
// measured on 2 shared cores (BenchmarkDeliveryLatencyFollowing, medians
// of 3), a delivery across two nodes took 166 us with no other topic
// followed, 285 us beside 100 idle ones and 593 us beside 1,000. A node
// that follows thousands of topics with steady traffic pays that on each
// wake-up; Redis keeps serving other clients in between.
//
// Each event costs Redis its data plus about 6 bytes (its predecessor);
// each topic a stream and a hash of about 500 bytes when empty (MEMORY
// USAGE, Redis 7.0.15), kept for good unless Options.TopicTTL is set.
package redisbroker
