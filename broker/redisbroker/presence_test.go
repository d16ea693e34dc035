package redisbroker_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
	"github.com/rxstream/rxstream/internal/redistest"
)

// presenceHub makes the nodes of the presence tests on srv.
func presenceHub(srv *redistest.Server, window time.Duration) clustertest.NewPresenceHub {
	return func(t *testing.T, ttl time.Duration, dial *clustertest.Cuttable) *framework.Hub {
		b := newBroker(t, redisbroker.Options{PresenceTTL: ttl, Redis: &redis.UniversalOptions{Addrs: []string{srv.Addr()}, Dialer: dial.DialContext}})
		hub, err := framework.NewHub(&framework.HubOptions{Broker: b, PresenceWindow: window})
		if err != nil {
			t.Fatal(err)
		}
		return hub
	}
}

func TestPresenceAcrossNodes(t *testing.T) { clustertest.Presence(t, presenceHub(startRedis(t), -1)) }

func TestPresenceWaiting(t *testing.T) {
	clustertest.PresenceWaiting(t, presenceHub(startRedis(t), time.Hour))
}

// TestPresenceCutOff: a node cut off from Redis for a while (its
// subscription lost what was published meanwhile) reads the hash again
// when it is back, so that a leave made meanwhile is seen.
func TestPresenceCutOff(t *testing.T) {
	const ttl = 800 * time.Millisecond
	srv := startRedis(t)
	a, b := clustertest.StartPresenceNode(t, ttl, presenceHub(srv, -1)), clustertest.StartPresenceNode(t, ttl, presenceHub(srv, -1))
	a.Join(t, "room", "alice", false)
	carol := b.Join(t, "room", "carol", false)
	for _, n := range []*clustertest.PresenceNode{a, b} {
		n.WaitMembers(t, 10*time.Second, "room", "[alice:1 carol:1]+0")
	}
	a.Dial.Kill()
	carol.Close() // while a is cut off
	b.WaitMembers(t, 10*time.Second, "room", "[alice:1]+0")
	a.Dial.Heal()
	a.WaitMembers(t, 20*time.Second, "room", "[alice:1]+0")
}
