package natsbroker_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// presenceHub makes the nodes of the presence tests on ns.
func presenceHub(ns *natsServer) clustertest.NewPresenceHub {
	return func(t *testing.T, ttl time.Duration, dial *clustertest.Cuttable) *framework.Hub {
		b := newBroker(t, natsbroker.Options{URL: ns.url(), PresenceTTL: ttl, NATSOptions: []nats.Option{nats.SetCustomDialer(dial)}})
		hub, err := framework.NewHub(&framework.HubOptions{Broker: b, PresenceWindow: -1})
		if err != nil {
			t.Fatal(err)
		}
		return hub
	}
}

func TestPresenceAcrossNodes(t *testing.T) { clustertest.Presence(t, presenceHub(startNATS(t))) }

// TestPresenceNATSRestart: the bucket lives in the servers' memory, so a
// NATS restart loses it; the nodes make it again and put their entries
// back, and no member is left behind that is gone.
func TestPresenceNATSRestart(t *testing.T) {
	const ttl = 800 * time.Millisecond
	ns := startNATS(t)
	a, b := clustertest.StartPresenceNode(t, ttl, presenceHub(ns)), clustertest.StartPresenceNode(t, ttl, presenceHub(ns))
	a.Join(t, "room", "alice", false)
	carol := b.Join(t, "room", "carol", false)
	for _, n := range []*clustertest.PresenceNode{a, b} {
		n.WaitMembers(t, 10*time.Second, "room", "[alice:1 carol:1]+0")
	}
	ns.stop()
	carol.Close() // while NATS is down
	ns.start()
	for _, n := range []*clustertest.PresenceNode{a, b} {
		n.WaitMembers(t, 20*time.Second, "room", "[alice:1]+0")
	}
}
