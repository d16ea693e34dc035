package sse

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// BenchmarkFanoutSSE publishes b.N events to one hub topic followed by N SSE
// clients over loopback HTTP, each reading its stream with bufio, and
// reports deliveries (events received by a client) per second.
func BenchmarkFanoutSSE(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprint("clients=", n), func(b *testing.B) {
			benchFanout(b, n)
		})
	}
}

func benchFanout(b *testing.B, clients int) {
	// A queue as deep as the run, so the benchmark measures delivery, not
	// the overflow policy.
	hub, err := framework.NewHub(&framework.HubOptions{QueueSize: max(b.N+1, framework.DefaultQueueSize)})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	s, err := New(&Options{Heartbeat: -1, Gate: transport.Unlimited()}) // 1,000 from one address: past the default limits
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}", s.Topic(hub, pathTopic))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: -1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/topics/bench", nil)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("GET: %s", resp.Status)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			for got := 0; got < b.N; {
				line, err := r.ReadSlice('\n')
				if err != nil {
					errs <- fmt.Errorf("after %d events: %w", got, err)
					return
				}
				if len(line) == 1 { // the blank line that ends an event
					got++
				}
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for s.Connections() < clients && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	data := []byte(strings.Repeat("x", 64))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := hub.Publish(ctx, "bench", framework.Event{Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)*float64(clients)/b.Elapsed().Seconds(), "deliveries/s")
}
