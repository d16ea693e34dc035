package redisbroker_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
	"github.com/rxstream/rxstream/internal/redistest"
)

// TestRedisCluster runs the Broker on a three-master Redis Cluster: with a
// HashTag every topic shares one slot, so one connection follows them all,
// and two nodes' Hubs share topics as on a single Redis.
func TestRedisCluster(t *testing.T) {
	servers := redistest.StartCluster(t, 3)
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr())
	}
	if _, err := redisbroker.New(context.Background(), &redisbroker.Options{Redis: &redis.UniversalOptions{Addrs: addrs}}); !errors.Is(err, redisbroker.ErrUnsupported) {
		t.Fatalf("a cluster without HashTag: %v; want ErrUnsupported", err)
	}
	const name = "rx-cluster"
	o := redisbroker.Options{Redis: &redis.UniversalOptions{Addrs: addrs, ClientName: name}, HashTag: "rx"}
	a, b := newBroker(t, o), newBroker(t, o)
	ctx := context.Background()

	// Publish, read back on the other node, gaps and idempotent publish.
	cs := clustertest.PublishN(t, a, "orders", "o", 3)
	p, err := b.Read(ctx, "orders", cs[0].Seq, 10)
	if err != nil || p.Lost || len(p.Records) != 2 || p.Records[1].Event.ID != cs[2].String() {
		t.Fatalf("read on the other node: %+v, %v", p, err)
	}
	c1, _, err := a.PublishKey(ctx, "orders", framework.Event{Data: []byte("k")}, "key", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if c2, dup, err := b.PublishKey(ctx, "orders", framework.Event{Data: []byte("k")}, "key", time.Minute); err != nil || !dup || c2 != c1 {
		t.Fatalf("repeat on the other node: %v %v %v", c2, dup, err)
	}

	// One XREAD for many topics, on the master of the tag's slot.
	const topics = 50
	cols := make([]*clustertest.Collector, topics)
	for i := range topics {
		cols[i] = clustertest.NewCollector()
		_, stop, err := b.Follow("t"+strconv.Itoa(i), cols[i].Fn)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	for i := range topics {
		clustertest.PublishN(t, a, "t"+strconv.Itoa(i), "x", 1)
	}
	for i, c := range cols {
		c.Wait(t, "topic "+strconv.Itoa(i), func(rs []framework.Record, err error) bool { return len(rs) == 1 || err != nil })
		if c.Err != nil {
			t.Fatal(c.Err)
		}
	}
	readers := 0
	for _, s := range servers {
		for _, l := range clients(t, s, name) {
			if strings.Contains(l, " cmd=xread ") {
				readers++
			}
		}
	}
	if readers != 1 {
		t.Fatalf("%d connections in XREAD over the cluster; want one", readers)
	}

	// Through Hubs: a subscriber on b gets what a publishes.
	hubA, _ := framework.NewHub(&framework.HubOptions{Broker: a})
	defer hubA.Close()
	hubB, _ := framework.NewHub(&framework.HubOptions{Broker: b})
	defer hubB.Close()
	sub, err := hubB.Subscribe("room", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	id, err := hubA.Publish(ctx, "room", framework.Event{Data: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	batch, err := sub.Next(nctx, 0)
	if err != nil || len(batch.Events) != 1 || batch.Events[0].ID != id {
		t.Fatalf("hub on the other node: %+v, %v", batch, err)
	}
}
