package main

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/internal/redistest"
)

func TestMain(m *testing.M) {
	if nodeProcess() { // the test binary run again as a node (TestProcessesKilled)
		return
	}
	goleak.VerifyTestMain(m)
}

// TestCluster starts the example with three nodes, on an embedded NATS
// and on a Redis server (as -redis does), publishes on the first node and
// reads the event over SSE on the others.
func TestCluster(t *testing.T) {
	for _, mode := range []string{"nats", "redis"} {
		t.Run(mode, func(t *testing.T) {
			cfg := config{nodes: 3, log: slog.New(slog.DiscardHandler)}
			if mode == "redis" {
				cfg.redisURL = redistest.Start(t).URL()
			}
			testCluster(t, cfg)
		})
	}
}

func TestFlags(t *testing.T) {
	err := run(context.Background(), config{nodes: 1, natsURL: "nats://x", redisURL: "redis://x", log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "-nats and -redis") {
		t.Fatalf("both -nats and -redis: %v", err)
	}
}

func testCluster(t *testing.T, cfg config) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlsc := make(chan []string, 1)
	errc := make(chan error, 1)
	cfg.ready = func(u []string) { urlsc <- u }
	go func() {
		errc <- run(ctx, cfg)
	}()
	var urls []string
	select {
	case urls = <-urlsc:
	case err := <-errc:
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	type stream struct {
		resp *http.Response
		r    *bufio.Reader
	}
	var streams []stream
	for _, u := range urls[1:] {
		resp, err := client.Get(u + "/topics/news/sse")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", u, resp.Status)
		}
		streams = append(streams, stream{resp, bufio.NewReader(resp.Body)})
	}
	resp, err := client.Post(urls[0]+"/topics/news", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ ID string }
	err = json.NewDecoder(resp.Body).Decode(&v)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || v.ID == "" {
		t.Fatalf("publish: %s, %+v, %v", resp.Status, v, err)
	}
	for i, s := range streams {
		// The first block that carries data (a stream may open with a
		// block that only sets the client's cursor).
		var got []string
		for {
			line, err := s.r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream %d: %v after %q", i, err, got)
			}
			line = strings.TrimRight(line, "\n")
			if line == "" {
				if strings.Contains(strings.Join(got, "\n"), "data:") {
					break
				}
				got = got[:0]
				continue
			}
			if !strings.HasPrefix(line, ":") {
				got = append(got, line)
			}
		}
		want := []string{"id: " + v.ID, "data: hello"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Fatalf("stream %d got %q; want %q", i, got, want)
		}
	}
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
