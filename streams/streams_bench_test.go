package streams_test

import (
	"context"
	"strconv"
	"sync"
	"testing"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/streams"
)

// source returns a channel fed with 0, 1, 2, ... by a goroutine that ends
// with ctx; wg waits for it.
func source(ctx context.Context, wg *sync.WaitGroup) <-chan int {
	src := make(chan int)
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case src <- i:
			case <-ctx.Done():
				return
			}
		}
	})
	return src
}

// BenchmarkPipeline compares streams.Map over streams.FromChannel with the
// hand-written channel loop that does the same work: a feeder goroutine, a
// mapping stage that honours the context and formats each int as text, and
// the consumer. Each op carries one item from the source channel to the
// consumer, so ns/op is the cost per item and items/s the throughput of one
// stream.
func BenchmarkPipeline(b *testing.B) {
	format := func(n int) string { return strconv.Itoa(n + 1) }

	b.Run("streams", func(b *testing.B) {
		b.ReportAllocs()
		var wg sync.WaitGroup
		defer wg.Wait()
		ctx, cancel := context.WithCancel(b.Context())
		defer cancel()
		ch := streams.Map(streams.FromChannel(source(ctx, &wg)), format).Observe(rxgo.WithContext(ctx))
		for b.Loop() {
			if item := <-ch; item.E != nil {
				b.Fatal(item.E)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	})

	b.Run("channel", func(b *testing.B) {
		b.ReportAllocs()
		var wg sync.WaitGroup
		defer wg.Wait()
		ctx, cancel := context.WithCancel(b.Context())
		defer cancel()
		src := source(ctx, &wg)
		out := make(chan string)
		wg.Go(func() {
			defer close(out)
			for {
				select {
				case v := <-src:
					select {
					case out <- format(v):
					case <-ctx.Done():
						return
					}
				case <-ctx.Done():
					return
				}
			}
		})
		for b.Loop() {
			<-out
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	})
}
