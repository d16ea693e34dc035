package sse

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// BenchmarkFanoutTopicsSSE is BenchmarkFanoutSSE over multiplexed requests:
// 100 clients each follow T topics on one stream (?topic=a&topic=b...), and
// every op publishes one event to each of the T topics (so B/op and
// allocs/op, which count the in-process clients too, cover T x 100
// deliveries); it reports deliveries (one event of one topic to one client)
// per second. T = 1 is the one-element case of the
// same path, so the two compare the cost of a delivery on the multiplexed
// wire (a JSON envelope and a composite id per event).
func BenchmarkFanoutTopicsSSE(b *testing.B) {
	for _, topics := range []int{1, 10} {
		b.Run(fmt.Sprint("clients=100/topics=", topics), func(b *testing.B) {
			benchFanoutTopics(b, 100, topics)
		})
	}
}

func benchFanoutTopics(b *testing.B, clients, topics int) {
	hub, err := framework.NewHub(&framework.HubOptions{QueueSize: max(b.N+1, framework.DefaultQueueSize)})
	if err != nil {
		b.Fatal(err)
	}
	defer hub.Close()
	s, err := New(&Options{Heartbeat: -1})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /topics", s.Topics(hub))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	tr := &http.Transport{MaxIdleConnsPerHost: -1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	names := make([]string, topics)
	for i := range names {
		names[i] = fmt.Sprint("bench-", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	want := b.N * topics
	for range clients {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/topics?"+url.Values{"topic": names}.Encode(), nil)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer resp.Body.Close()
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			for got := 0; got < want; {
				line, err := r.ReadSlice('\n')
				if err != nil {
					errs <- fmt.Errorf("after %d events: %w", got, err)
					return
				}
				if strings.HasPrefix(string(line), "data:") {
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
		for _, t := range names {
			if _, err := hub.Publish(ctx, t, framework.Event{Data: data}); err != nil {
				b.Fatal(err)
			}
		}
	}
	wg.Wait()
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	deliveries := float64(b.N) * float64(topics) * float64(clients)
	b.ReportMetric(deliveries/b.Elapsed().Seconds(), "deliveries/s")
}
