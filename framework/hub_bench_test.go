package framework

import (
	"context"
	"strconv"
	"sync"
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
