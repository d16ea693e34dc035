package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
)

// benchHubs returns the publishing and the subscribing Hub of a setup:
// the in-memory Hub (one process), or two nodes on one redis-server,
// without persistence ("redis") or with an append-only file fsynced every
// second ("redis-aof", Redis's usual durable setting).
func benchHubs(b *testing.B, kind string) (pub, sub *framework.Hub) {
	b.Helper()
	if kind == "memory" {
		h, err := framework.NewHub(nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		return h, h
	}
	var args []string
	if kind == "redis-aof" {
		args = []string{"--appendonly", "yes", "--appendfsync", "everysec"}
	}
	o := redisbroker.Options{URL: startRedis(b, args...).URL()}
	hubs := make([]*framework.Hub, 2)
	for i := range hubs {
		h, err := framework.NewHub(&framework.HubOptions{Broker: newBroker(b, o), QueueSize: 1 << 16})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { h.Close() })
		hubs[i] = h
	}
	return hubs[0], hubs[1]
}

var benchKinds = []string{"memory", "redis", "redis-aof"}

// BenchmarkDeliveryLatency publishes one event at a time on one node and
// waits for it on another: ns/op is the publish-to-delivery latency.
func BenchmarkDeliveryLatency(b *testing.B) {
	for _, kind := range benchKinds {
		b.Run(kind, func(b *testing.B) {
			pub, subHub := benchHubs(b, kind)
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
		})
	}
}

// BenchmarkDeliveryThroughput publishes from 8 goroutines on one node, to
// one topic or spread over 8, while another node's subscribers drain: ns/op
// is per event delivered. (The in-memory Hub is left out: a publisher
// outruns its subscriber, whose queue overflows.)
func BenchmarkDeliveryThroughput(b *testing.B) {
	for _, kind := range benchKinds[1:] {
		for _, topics := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/topics=%d", kind, topics), func(b *testing.B) {
				pub, subHub := benchHubs(b, kind)
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

// BenchmarkDeliveryLatencyFollowing is BenchmarkDeliveryLatency with the
// subscribing node following other, idle topics too: its one XREAD names
// every followed topic, so each wake-up costs Redis and the reader in
// proportion to them.
func BenchmarkDeliveryLatencyFollowing(b *testing.B) {
	for _, idle := range []int{0, 100, 1000} {
		b.Run(fmt.Sprintf("idle=%d", idle), func(b *testing.B) {
			pub, subHub := benchHubs(b, "redis")
			for i := range idle {
				s, err := subHub.Subscribe("idle"+strconv.Itoa(i), "")
				if err != nil {
					b.Fatal(err)
				}
				defer s.Close()
			}
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
		})
	}
}
