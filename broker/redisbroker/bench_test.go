package redisbroker_test

import (
	"testing"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// benchHubs returns the publishing and the subscribing Hub of a setup:
// the in-memory Hub (one process), or two nodes on one redis-server,
// without persistence ("redis") or with an append-only file fsynced every
// second ("redis-aof", Redis's usual durable setting).
func benchHubs(b *testing.B, kind string) (pub, sub *framework.Hub) {
	b.Helper()
	if kind == "memory" {
		return clustertest.Memory(b)
	}
	var args []string
	if kind == "redis-aof" {
		args = []string{"--appendonly", "yes", "--appendfsync", "everysec"}
	}
	o := redisbroker.Options{URL: startRedis(b, args...).URL()}
	return clustertest.Nodes(b, func() framework.Broker { return newBroker(b, o) })
}

var benchKinds = []string{"memory", "redis", "redis-aof"}

// BenchmarkDeliveryLatency publishes one event at a time on one node and
// waits for it on another: ns/op is the publish-to-delivery latency.
func BenchmarkDeliveryLatency(b *testing.B) { clustertest.DeliveryLatency(b, benchKinds, benchHubs) }

// BenchmarkDeliveryThroughput publishes from 8 goroutines on one node
// while another node's subscribers drain: ns/op is per event delivered.
func BenchmarkDeliveryThroughput(b *testing.B) {
	clustertest.DeliveryThroughput(b, benchKinds[1:], benchHubs)
}

// BenchmarkDeliveryLatencyFollowing is BenchmarkDeliveryLatency with the
// subscribing node following other, idle topics too: its one XREAD names
// every followed topic, so each wake-up costs Redis and the reader in
// proportion to them.
func BenchmarkDeliveryLatencyFollowing(b *testing.B) {
	clustertest.DeliveryLatencyFollowing(b, "redis", benchHubs)
}
