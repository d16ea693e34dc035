package websocket

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

// TestManyConnections opens and closes 1,000 connections on each kind of
// route and checks that the goroutine count returns to its baseline. (The
// process holds both ends: 2,000 files, well under the limit.)
func TestManyConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections")
	}
	const n = 1000
	hub := newHub(t)
	defer hub.Close()
	f := newFixture(t, &Options{Gate: transport.Unlimited()}) // 1,000 at once from one address: past the default limits
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	f.mux.Handle("GET /echo", f.s.Duplex(reply))
	f.mux.Handle("GET /never", f.s.Stream(func(*http.Request, string) (rxgo.Observable, error) { return rxgo.Never(), nil }))
	paths := []string{"/topics/t/ws", "/echo", "/never"}

	// Warm up: one connection of each kind, so that the pools and the
	// server's accept loop are part of the baseline.
	for _, p := range paths {
		f.dial(p, nil).Close(cws.StatusNormalClosure, "")
	}
	waitFor(t, "the warm-up connections to end", func() bool { return f.s.Connections() == 0 })
	baseline := runtime.NumGoroutine()

	conns := make([]*cws.Conn, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				c, _, err := cws.Dial(ctx, f.url(paths[i%len(paths)]), nil)
				if err != nil {
					errs <- err
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitFor(t, "every connection to be served", func() bool { return f.s.Connections() == n })
	if got := runtime.NumGoroutine() - baseline; got > 3*n {
		t.Errorf("%d goroutines for %d connections", got, n)
	}
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < n; i += 8 {
				_ = conns[i].Close(cws.StatusNormalClosure, "")
			}
		})
	}
	wg.Wait()
	waitFor(t, "every connection to end", func() bool { return f.s.Connections() == 0 })
	var now int
	waitFor(t, "the goroutines to return to the baseline", func() bool {
		now = runtime.NumGoroutine()
		return now <= baseline
	})
	t.Logf("baseline %d goroutines, after %d", baseline, now)
}
