package websocket

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

var benchEvent = framework.Event{ID: "mi2x8k1z-42", Name: "update", Data: []byte(`{"price":42.5,"symbol":"ACME","note":"上涨"}`)}

// BenchmarkServerToClient measures messages per second from a producer to
// one client over loopback, one frame per event.
func BenchmarkServerToClient(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format Format
	}{{"envelope", FormatEnvelope}, {"text", FormatText}} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, &Options{Format: bc.format})
			n := b.N
			f.mux.Handle("GET /ws", f.s.Stream(func(*http.Request, string) (rxgo.Observable, error) {
				return streams.Generate(func(ctx context.Context, emit func(any) error) error {
					for range n {
						if err := emit(benchEvent); err != nil {
							return err
						}
					}
					return nil
				}), nil
			}))
			c := f.dial("/ws", nil)
			b.ReportAllocs()
			b.ResetTimer()
			for range n {
				if _, _, err := c.Read(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// BenchmarkHubToClient measures a hub topic's messages per second to one
// client (publish, subscription queue, envelope, frame).
func BenchmarkHubToClient(b *testing.B) {
	hub := newHub(b)
	defer hub.Close()
	f := newFixture(b, nil)
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	c := f.dial("/topics/bench/ws", nil)
	waitFor(b, "the subscription", func() bool { return hub.Topics() == 1 })
	// At most 256 events in flight: a publisher that outruns the client by
	// more than its queue (512) would have it closed with 1013.
	credits := make(chan struct{}, 256)
	done := make(chan error, 1)
	go func() {
		for range b.N {
			if _, _, err := c.Read(context.Background()); err != nil {
				done <- err
				return
			}
			<-credits
		}
		done <- nil
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		credits <- struct{}{}
		if _, err := hub.Publish(context.Background(), "bench", framework.Event{Data: benchEvent.Data}); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkEchoRoundTrip measures the seed's echo: one message to the
// server and its reply back, in sequence.
func BenchmarkEchoRoundTrip(b *testing.B) {
	f := newFixture(b, &Options{Format: FormatText})
	f.mux.Handle("GET /ws", f.s.Duplex(reply))
	c := f.dial("/ws", nil)
	msg := []byte("你好, rxstream")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.Write(ctx, cws.MessageText, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
}

// BenchmarkIdleConnection opens b.N idle hub-topic connections (at most
// 4,000: the process holds both ends of each, and may open 20,000 files)
// from raw TCP clients, whose own cost is a socket, and reports the heap,
// stack and goroutines per connection, on the handler's goroutine and
// parked (Options.Park). Run it with -benchtime=2000x.
func BenchmarkIdleConnection(b *testing.B) {
	for _, parked := range []bool{false, true} {
		name := "today"
		if parked {
			name = "parked"
		}
		b.Run(name, func(b *testing.B) {
			n := min(b.N, 4000)
			hub := newHub(b)
			defer hub.Close()
			f := newFixture(b, &Options{Park: parked, Gate: transport.Unlimited()}) // n from one address: past the default limits
			f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
			url := f.url("/topics/idle/ws")
			f.dial("/topics/idle/ws", nil) // warm-up: the topic, the pools and the park loop exist
			heap0, stack0, g0 := memory()
			conns := make([]net.Conn, 0, n)
			for range n {
				conns = append(conns, rawUpgrade(b, url))
			}
			waitFor(b, "every connection to be served", func() bool { return f.s.Connections() == n+1 })
			if parked {
				waitFor(b, "every connection to be parked", func() bool { return f.s.loop().Len() == n+1 })
			}
			time.Sleep(50 * time.Millisecond) // let the handlers park
			heap1, stack1, g1 := memory()
			per := func(d float64) float64 { return d / float64(n) }
			b.ReportMetric(per(float64(heap1+stack1)-float64(heap0+stack0)), "B/conn")
			b.ReportMetric(per(float64(heap1)-float64(heap0)), "heapB/conn")
			b.ReportMetric(per(float64(stack1)-float64(stack0)), "stackB/conn")
			b.ReportMetric(per(float64(g1-g0)), "goroutines/conn")
			for _, c := range conns {
				c.Close()
			}
		})
	}
}

// memory returns the heap and the stacks in use after a collection, and
// the goroutine count.
func memory() (heap, stack uint64, goroutines int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.StackInuse, runtime.NumGoroutine()
}

// BenchmarkEnvelope compares the write path's encoder with encoding/json.
func BenchmarkEnvelope(b *testing.B) {
	b.Run("append", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = transport.AppendEnvelope(buf[:0], "", benchEvent)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(transport.NewEnvelope(benchEvent)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
