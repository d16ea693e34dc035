package natsbroker_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// TestCluster runs the cross-node test on NATS, file and memory storage.
func TestCluster(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			clustertest.Run(t, func(t *testing.T) clustertest.Broker { return newBroker(t, o) })
		})
	}
}

func TestClusterNATSRestart(t *testing.T) {
	ns := startNATS(t)
	// A long request timeout: publishing while NATS is down must fail at
	// once because the connection is down, not because a timeout expired
	// (the publish below would then outlast its client's 5s).
	o := natsbroker.Options{URL: ns.url(), Timeout: time.Minute}
	a, c := clustertest.StartNode(t, newBroker(t, o)), clustertest.StartNode(t, newBroker(t, o))
	rs := map[string]*clustertest.Reader{}
	for _, tr := range clustertest.Transports {
		rs[tr] = clustertest.Follow(t, tr, c.Srv.URL+"/topics/room/"+tr)
	}
	clustertest.WaitOpen(t, "c", func() bool { return c.SSE.Connections() == 1 && c.WS.Connections() == 1 && c.LP.Connections() == 1 })
	id1 := a.MustPublish(t, "room", "before")
	for tr, r := range rs {
		r.Expect(t, tr, []string{id1}, []string{"before"})
	}

	ns.stop()
	// Publishing fails, clearly and at once; the open stream ends.
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Post(a.Srv.URL+"/topics/room", "text/plain", strings.NewReader("during"))
	if err != nil {
		t.Fatalf("publish while NATS is down: %v", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(msg), "unavailable") {
		t.Fatalf("publish while NATS is down: %d %s; want 503 naming NATS unavailable", resp.StatusCode, msg)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Hub.Topics() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the topic's follow did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}

	ns.start()
	waitConnected(t, a.Broker().(*natsbroker.Broker))
	waitConnected(t, c.Broker().(*natsbroker.Broker))
	id2 := a.MustPublish(t, "room", "after")
	// The clients reconnected (after 503s while NATS was away) with their
	// last event ID and get the new events once.
	id3 := a.MustPublish(t, "room", "later")
	for tr, r := range rs {
		r.Expect(t, tr, []string{id2, id3}, []string{"after", "later"})
		r.Quiet(t, tr)
	}
}
