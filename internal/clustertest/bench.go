package clustertest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// Setup makes the two nodes of a broker benchmark, by a kind the
// broker's tests name: the node that publishes and the node that
// subscribes. Each Hub has a queue of 1<<16 events, so that a
// subscriber that drains in bursts does not overflow; the test's cleanup
// closes them.
type Setup func(b *testing.B, kind string) (pub, sub *framework.Hub)

// Nodes is a Setup of two Hubs, each on a broker that newBroker makes.
func Nodes(b *testing.B, newBroker func() framework.Broker) (pub, sub *framework.Hub) {
	b.Helper()
	hubs := make([]*framework.Hub, 2)
	for i := range hubs {
		h, err := framework.NewHub(&framework.HubOptions{Broker: newBroker(), QueueSize: 1 << 16})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		hubs[i] = h
	}
	return hubs[0], hubs[1]
}

// Memory is the in-memory Hub as both nodes, the figure to compare with.
func Memory(b *testing.B) (pub, sub *framework.Hub) {
	b.Helper()
	h, err := framework.NewHub(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	return h, h
}

// DeliveryLatency publishes one event at a time on one node and waits
// for it on the other, for each kind: ns/op is the publish-to-delivery
// latency.
func DeliveryLatency(b *testing.B, kinds []string, setup Setup) {
	for _, kind := range kinds {
		b.Run(kind, func(b *testing.B) {
			pub, sub := setup(b, kind)
			roundTrips(b, pub, sub)
		})
	}
}

// roundTrips is DeliveryLatency's loop, with sub following whatever else
// the caller subscribed it to.
func roundTrips(b *testing.B, pub, subHub *framework.Hub) {
	b.Helper()
	sub, err := subHub.Subscribe("bench", "")
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	ev := framework.Event{Data: []byte(`{"n":42}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pub.Publish(ctx, "bench", ev); err != nil {
			b.Fatal(err)
		}
		if batch, err := sub.Next(ctx, 1); err != nil || len(batch.Events) != 1 {
			b.Fatalf("%+v, %v", batch, err)
		}
	}
}

// DeliveryLatencyFollowing is DeliveryLatency with the subscribing node
// following 0, 100 or 1,000 other, idle topics too: what a broker pays
// per wake-up for the topics a node follows.
func DeliveryLatencyFollowing(b *testing.B, kind string, setup Setup) {
	for _, idle := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			pub, sub := setup(b, kind)
			for i := range idle {
				s, err := sub.Subscribe("idle"+strconv.Itoa(i), "")
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
			}
			roundTrips(b, pub, sub)
		})
	}
}

// DeliveryThroughput publishes from 8 goroutines on one node, to one
// topic or spread over 8, while the other node's subscribers drain, for
// each kind: ns/op is per event delivered. (Leave the in-memory Hub out:
// a publisher outruns its subscriber, whose queue overflows.)
func DeliveryThroughput(b *testing.B, kinds []string, setup Setup) {
	for _, kind := range kinds {
		for _, topics := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/topics=%d", kind, topics), func(b *testing.B) {
				pub, subHub := setup(b, kind)
				ctx := context.Background()
				var got atomic.Int64
				errc := make(chan error, topics)
				for i := range topics {
					sub, err := subHub.Subscribe("bench"+strconv.Itoa(i), "")
					if err != nil {
						b.Fatal(err)
					}
					defer sub.Close()
					go func() {
						for got.Load() < int64(b.N) {
							nctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
							batch, err := sub.Next(nctx, 0)
							cancel()
							if err != nil && !errors.Is(err, context.DeadlineExceeded) {
								errc <- err
								return
							}
							got.Add(int64(len(batch.Events)))
						}
						errc <- nil
					}()
				}
				ev := framework.Event{Data: []byte(`{"n":42}`)}
				var next atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.SetParallelism(4) // 8 publishers on 2 CPUs
				b.RunParallel(func(pb *testing.PB) {
					topic := "bench" + strconv.Itoa(int(next.Add(1))%topics)
					for pb.Next() {
						if _, err := pub.Publish(ctx, topic, ev); err != nil {
							b.Error(err)
							return
						}
					}
				})
				for range topics {
					if err := <-errc; err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
