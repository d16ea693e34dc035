package longpoll

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// BenchmarkRoundTrip measures one long-poll over loopback HTTP/1.1 with a
// kept-alive connection: "retained" is answered at once from history,
// "wake" parks until an event is published (the figure includes the
// benchmark's polling of Server.Connections in 10µs sleeps).
func BenchmarkRoundTrip(b *testing.B) {
	b.Run("retained", func(b *testing.B) {
		v := newEnv(b, nil, nil)
		first := v.publish(b, "t", "first")
		v.publish(b, "t", `{"user":"alice","text":"hello"}`)
		req := mustRequest(v.url("t", first))
		b.ReportAllocs()
		for b.Loop() {
			if a := do(b, nil, req); len(a.body.Events) != 1 {
				b.Fatalf("got %s", a.raw)
			}
		}
	})
	b.Run("wake", func(b *testing.B) {
		v := newEnv(b, &Options{BatchWindow: -1}, nil)
		cursor := v.publish(b, "t", "first")
		got := make(chan answer, 1)
		b.ReportAllocs()
		for b.Loop() {
			req := mustRequest(v.url("t", cursor))
			go func() {
				a, err := fetch(nil, req)
				if err != nil {
					a.status = -1
				}
				got <- a
			}()
			for v.lp.Connections() == 0 {
				time.Sleep(10 * time.Microsecond) // spinning would starve the server
			}
			v.publish(b, "t", `{"user":"alice","text":"hello"}`)
			a := <-got
			if len(a.body.Events) != 1 {
				b.Fatalf("got %d %s", a.status, a.raw)
			}
			cursor = a.body.Cursor
		}
	})
}

// BenchmarkParked measures what a parked long-poll costs the process:
// heap and goroutine stacks per request, with 1,000 requests parked over
// raw loopback TCP connections (the client side holds only the socket).
func BenchmarkParked(b *testing.B) {
	const n = 1000
	v := newEnv(b, &Options{Gate: transport.Unlimited()}, nil) // 1,000 at once from one address: past the default limits
	addr := v.srv.Listener.Addr().String()
	var heap, stack, starting float64
	// The runtime starts goroutines with the average stack in use at the
	// last GC: the waiting requests' depth decides every new stack's size.
	start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	for b.Loop() {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			conns = append(conns, c)
			fmt.Fprintf(c, "GET /topics/t%d/longpoll HTTP/1.1\r\nHost: x\r\n\r\n", i%10)
		}
		deadline := time.Now().Add(10 * time.Second)
		for v.lp.Connections() < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d parked", v.lp.Connections())
			}
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		heap += float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n
		stack += float64(int64(m1.StackInuse)-int64(m0.StackInuse)) / n
		metrics.Read(start)
		starting += float64(start[0].Value.Uint64())
		for _, c := range conns {
			c.Close()
		}
		for v.lp.Connections() > 0 {
			time.Sleep(time.Millisecond)
		}
	}
	b.ReportMetric(heap/float64(b.N), "heapB/parked")
	b.ReportMetric(stack/float64(b.N), "stackB/parked")
	b.ReportMetric(starting/float64(b.N), "startB")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPublishToParked runs 1,000 concurrent long-polls per
// iteration: they park, one event wakes them all, every answer is read.
// ns/poll is the whole cycle (request, park, wake, answer) per poll.
func BenchmarkPublishToParked(b *testing.B) {
	const n = 1000
	v := newEnv(b, &Options{BatchWindow: -1, Gate: transport.Unlimited()}, nil) // as BenchmarkParked
	tr := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	cursor := v.publish(b, "t", "first")
	done := make(chan error, n)
	b.ReportAllocs()
	for b.Loop() {
		for range n {
			go func() {
				resp, err := client.Get(v.url("t", cursor))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				done <- err
			}()
		}
		deadline := time.Now().Add(10 * time.Second)
		for v.lp.Connections() < n {
			if time.Now().After(deadline) {
				b.Fatalf("%d parked", v.lp.Connections())
			}
			time.Sleep(100 * time.Microsecond)
		}
		id, err := v.hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
		if err != nil {
			b.Fatal(err)
		}
		for range n {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		cursor = id
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/poll")
}
