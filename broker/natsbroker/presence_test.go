package natsbroker_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// presenceHub makes the nodes of the presence tests on ns.
func presenceHub(ns *natsServer, window time.Duration) clustertest.NewPresenceHub {
	return func(t *testing.T, ttl time.Duration, dial *clustertest.Cuttable) *framework.Hub {
		b := newBroker(t, natsbroker.Options{URL: ns.url(), PresenceTTL: ttl, NATSOptions: []nats.Option{nats.SetCustomDialer(dial)}})
		hub, err := framework.NewHub(&framework.HubOptions{Broker: b, PresenceWindow: window})
		if err != nil {
			t.Fatal(err)
		}
		return hub
	}
}

func TestPresenceAcrossNodes(t *testing.T) { clustertest.Presence(t, presenceHub(startNATS(t), -1)) }

func TestPresenceWaiting(t *testing.T) {
	clustertest.PresenceWaiting(t, presenceHub(startNATS(t), time.Hour))
}

// TestPresenceNATSRestart: the bucket lives in the servers' memory, so a
// NATS restart loses it; the nodes make it again and put their entries
// back, and no member is left behind that is gone.
func TestPresenceNATSRestart(t *testing.T) {
	const ttl = 800 * time.Millisecond
	ns := startNATS(t)
	a, b := clustertest.StartPresenceNode(t, ttl, presenceHub(ns, -1)), clustertest.StartPresenceNode(t, ttl, presenceHub(ns, -1))
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

// TestPresenceBucketBounded: a leave's delete marker expires, so the
// bucket holds the current members (and the markers of the last
// PresenceTTL), not every key ever seen.
func TestPresenceBucketBounded(t *testing.T) {
	const n = 300
	ns := startNATS(t)
	b := newBroker(t, natsbroker.Options{URL: ns.url(), PresenceTTL: time.Second})
	events := make(chan string, 1)
	stop, err := b.WatchPresence(func(topic, event string, m framework.Member) { events <- event + " " + m.User })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for i := range n {
		u := "u" + strconv.Itoa(i)
		for _, c := range []int{1, -1} {
			b.SetPresence("room", framework.Member{User: u, Conns: c})
			want := map[int]string{1: framework.EventJoin, -1: framework.EventLeave}[c] + " " + u
			select {
			case got := <-events:
				if got != want {
					t.Fatalf("event %q, want %q", got, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("no %q", want)
			}
		}
	}
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var msgs uint64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s, err := js.Stream(context.Background(), "KV_"+natsbroker.DefaultStream+"_PRESENCE")
		if err != nil {
			t.Fatal(err)
		}
		if msgs = s.CachedInfo().State.Msgs; msgs <= 2 { // the heartbeat, and a marker at most
			return
		}
	}
	t.Fatalf("the bucket holds %d messages after %d joins and leaves, want at most 2", msgs, n)
}
