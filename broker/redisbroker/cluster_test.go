package redisbroker_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// TestCluster runs the cross-node test on one Redis.
func TestCluster(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	clustertest.Run(t, func(t *testing.T) clustertest.Broker { return newBroker(t, o) })
}

func TestClusterRedisRestart(t *testing.T) {
	rs := startRedis(t, "--appendonly", "yes")
	// A long request timeout: publishing while Redis is down must fail at
	// once because the Broker knows it is down, not because a timeout
	// expired (the publish below would then outlast its client's 5s).
	o := redisbroker.Options{URL: rs.URL(), Timeout: time.Minute}
	a, c := clustertest.StartNode(t, newBroker(t, o)), clustertest.StartNode(t, newBroker(t, o))
	readers := map[string]*clustertest.Reader{}
	for _, tr := range clustertest.Transports {
		readers[tr] = clustertest.Follow(t, tr, c.Srv.URL+"/topics/room/"+tr)
	}
	clustertest.WaitOpen(t, "c", func() bool { return c.SSE.Connections() == 1 && c.WS.Connections() == 1 && c.LP.Connections() == 1 })
	id1 := a.MustPublish(t, "room", "before")
	for tr, r := range readers {
		r.Expect(t, tr, []string{id1}, []string{"before"})
	}

	rs.Stop()
	// Publishing fails, clearly and at once; the open stream ends.
	hc := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	resp, err := hc.Post(a.Srv.URL+"/topics/room", "text/plain", strings.NewReader("during"))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("publish while Redis is down: %v", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(msg), "redis: unavailable") || took > time.Second {
		t.Fatalf("publish while Redis is down: %d %s after %v; want 503 naming Redis unavailable, at once", resp.StatusCode, msg, took)
	}
	// So does opening a stream of a topic the node does not follow yet,
	// on every transport.
	for _, tr := range clustertest.Transports {
		req, _ := http.NewRequest(http.MethodGet, c.Srv.URL+"/topics/other/"+tr, nil)
		if tr == "ws" { // a handshake, refused before it is accepted
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Since(start) > time.Second {
			t.Fatalf("%s stream while Redis is down: %d after %v; want 503 at once", tr, resp.StatusCode, time.Since(start))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.Hub.Topics() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the topic's follow did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}

	rs.Start()
	waitUp(t, a.Broker().(*redisbroker.Broker))
	waitUp(t, c.Broker().(*redisbroker.Broker))
	id2 := a.MustPublish(t, "room", "after")
	// The clients reconnected (after 503s while Redis was away) with their
	// last event ID and get the new events once.
	id3 := a.MustPublish(t, "room", "later")
	for tr, r := range readers {
		r.Expect(t, tr, []string{id2, id3}, []string{"after", "later"})
		r.Quiet(t, tr)
	}
}

// TestRevokeOnEveryNode runs the cross-node revocation test on Redis.
func TestRevokeOnEveryNode(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	clustertest.Revoke(t, func(t *testing.T) clustertest.RelayBroker { return newBroker(t, o) })
}
