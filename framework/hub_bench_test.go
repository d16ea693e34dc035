package framework

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanout publishes b.N events to a topic with n subscribers, each
// drained by its own goroutine, and reports the cost per delivery.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			h := newHub(b, &HubOptions{QueueSize: 1 << 16, Overflow: OverflowDropOldest})
			data := make([]byte, 64)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var wg sync.WaitGroup
			want := b.N
			for range n {
				s, err := h.Subscribe("t", "")
				if err != nil {
					b.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer s.Close()
					for got := 0; got < want; {
						batch, err := s.Next(ctx, 0)
						if err != nil {
							b.Error(err)
							return
						}
						got += len(batch.Events)
					}
				}()
			}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				if _, err := h.Publish(ctx, "t", Event{Data: data}); err != nil {
					b.Fatal(err)
				}
			}
			wg.Wait()
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n), "ns/delivery")
			b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "deliveries/s")
		})
	}
}

func BenchmarkPublish(b *testing.B) {
	h := newHub(b, nil)
	ev := Event{Data: make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Publish(context.Background(), "t", ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublishBesideFanout measures the latency of Publish on a quiet
// topic, idle and while another topic fans out to 10,000 subscribers whose
// readers drain and who join and leave continuously. Compare the two
// sub-benchmarks' ns/publish: a Hub-wide lock held across one topic's
// fan-out shows as a ratio far above 1. hot-publishes/s is the busy
// topic's rate meanwhile: the quiet topic's share of the two cores falls
// as it rises.
func BenchmarkPublishBesideFanout(b *testing.B) {
	for _, busy := range []bool{false, true} {
		name := "idle"
		if busy {
			name = "busy"
		}
		b.Run(name, func(b *testing.B) {
			h := newHub(b, &HubOptions{QueueSize: 1024, Overflow: OverflowDropOldest})
			hot := new(atomic.Int64)
			if busy {
				stop, published := fanOut(b, h, "hot", 10000, 2)
				defer stop()
				hot = published
			}
			from := hot.Load()
			ctx := context.Background()
			ev := Event{Data: make([]byte, 64)}
			for b.Loop() {
				if _, err := h.Publish(ctx, "quiet", ev); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/publish")
			b.ReportMetric(float64(hot.Load()-from)/b.Elapsed().Seconds(), "hot-publishes/s")
		})
	}
}

// BenchmarkJoinDuringFanout measures a join and leave of a topic that
// fans out to 10,000 subscribers (readers draining, one publisher
// publishing without pause): ns/join is one Subscribe and Close of that
// topic on average (p999-ns/join its 99.9th percentile, max-ns/join the
// slowest), publishes/s the publisher's rate meanwhile. A join that waits
// for the whole fan-out of the publish in progress shows as a tail near
// the fan-out's duration (1/publishes/s).
func BenchmarkJoinDuringFanout(b *testing.B) {
	h := newHub(b, &HubOptions{QueueSize: 1024, Overflow: OverflowDropOldest})
	stop, published := fanOut(b, h, "hot", 10000, 0)
	defer stop()
	from := published.Load()
	var took []time.Duration
	for b.Loop() {
		start := time.Now()
		s, err := h.Subscribe("hot", "")
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
		took = append(took, time.Since(start))
	}
	b.ReportMetric(float64(published.Load()-from)/b.Elapsed().Seconds(), "publishes/s")
	slices.Sort(took)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/join")
	b.ReportMetric(float64(took[len(took)*999/1000].Nanoseconds()), "p999-ns/join")
	b.ReportMetric(float64(took[len(took)-1].Nanoseconds()), "max-ns/join")
}

// fanOut keeps topic busy: n subscribers, each drained by its own reader,
// one publisher, and churn goroutines that subscribe and leave again. Every
// loop ends by itself after a minute at most; stop ends them sooner and
// waits for them. published counts the publisher's events.
func fanOut(b *testing.B, h *Hub, topic string, n, churn int) (stop func(), published *atomic.Int64) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	var wg sync.WaitGroup
	for range n {
		s, err := h.Subscribe(topic, "")
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer s.Close()
			for {
				if _, err := s.Next(ctx, 0); err != nil {
					return
				}
			}
		})
	}
	data := make([]byte, 64)
	published = new(atomic.Int64)
	wg.Go(func() {
		for ctx.Err() == nil {
			if _, err := h.Publish(ctx, topic, Event{Data: data}); err != nil {
				return
			}
			published.Add(1)
		}
	})
	for range churn {
		wg.Go(func() {
			for ctx.Err() == nil {
				s, err := h.Subscribe(topic, "")
				if err != nil {
					return
				}
				s.Close()
			}
		})
	}
	for published.Load() < 10 && ctx.Err() == nil { // the fan-out is under way
		time.Sleep(time.Millisecond)
	}
	return func() {
		cancel()
		wg.Wait()
	}, published
}
