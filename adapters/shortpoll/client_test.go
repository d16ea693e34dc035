package shortpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func publisher(hub *framework.Hub, topic string, n int) <-chan []framework.Event {
	out := make(chan []framework.Event, 1)
	go func() {
		var evs []framework.Event
		for i := range n {
			data := fmt.Sprintf("event %d", i)
			id, err := hub.Publish(context.Background(), topic, framework.Event{Data: []byte(data)})
			if err != nil {
				break
			}
			evs = append(evs, framework.Event{ID: id, Data: []byte(data)})
			if i%50 == 0 {
				runtime.Gosched()
			}
		}
		out <- evs
	}()
	return out
}

func sameEvents(t *testing.T, got, want []framework.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("received %d events, published %d", len(got), len(want))
	}
	seen := make(map[string]bool, len(got))
	for i := range got {
		if seen[got[i].ID] {
			t.Fatalf("event %s received twice", got[i].ID)
		}
		seen[got[i].ID] = true
		if got[i].ID != want[i].ID || string(got[i].Data) != string(want[i].Data) {
			t.Fatalf("event %d: got %s %q, want %s %q", i, got[i].ID, got[i].Data, want[i].ID, want[i].Data)
		}
	}
}

func collect(t *testing.T, obs rxgo.Observable, n int) []framework.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	items := obs.Observe(rxgo.WithContext(ctx))
	var got []framework.Event
	timeout := time.After(20 * time.Second)
	for len(got) < n {
		select {
		case it, ok := <-items:
			if !ok {
				t.Fatalf("observable ended after %d events", len(got))
			}
			if it.E != nil {
				t.Fatalf("error item after %d events: %v", len(got), it.E)
			}
			ev, ok := it.V.(framework.Event)
			if !ok {
				t.Fatalf("item %T %v", it.V, it.V)
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatalf("only %d of %d events within 20s", len(got), n)
		}
	}
	cancel()
	for range items {
	}
	return got
}

// TestNoLossRawPolls polls by hand, a random time apart, while a publisher
// runs at full speed.
func TestNoLossRawPolls(t *testing.T) {
	const n = 3000
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	v := newEnv(t, &Options{MaxEvents: 19}, 1<<20)
	pub := publisher(v.hub, "t", n)
	var got []framework.Event
	cursor := "0"
	for len(got) < n {
		a := get(t, v.url("t", cursor))
		if a.status != http.StatusOK || a.body.Gap != nil {
			t.Fatalf("status %d: %s", a.status, a.raw)
		}
		for _, e := range a.body.Events {
			ev, err := e.ToEvent()
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ev)
		}
		cursor = a.body.Cursor
		time.Sleep(time.Duration(rng.IntN(1000)) * time.Microsecond)
	}
	sameEvents(t, got, <-pub)
}

func TestNoLossClient(t *testing.T) {
	const n = 3000
	v := newEnv(t, &Options{MaxEvents: 31, Interval: time.Millisecond}, 1<<20)
	c, err := NewClient(v.url("t", ""), &ClientOptions{Cursor: "0"})
	if err != nil {
		t.Fatal(err)
	}
	pub := publisher(v.hub, "t", n)
	sameEvents(t, collect(t, c.Events(), n), <-pub)
}

// TestClientConditional checks that an idle client's polls cost a 304.
func TestClientConditional(t *testing.T) {
	hub := &framework.Hub{}
	defer hub.Close()
	sp, _ := New(&Options{Interval: time.Millisecond})
	var mu sync.Mutex
	statuses := map[int]int{}
	h := sp.Topic(hub, func(*http.Request) string { return "t" })
	srv := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		mu.Lock()
		statuses[rec.status]++
		mu.Unlock()
	}))
	c, _ := NewClient(srv+"/t", nil)
	ctx, cancel := context.WithCancel(context.Background())
	items := c.Events().Observe(rxgo.WithContext(ctx))
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := statuses[http.StatusNotModified]
		mu.Unlock()
		if n >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("statuses %v", statuses)
		}
		time.Sleep(time.Millisecond)
	}
	hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
	if it := <-items; it.E != nil || string(it.V.(framework.Event).Data) != "x" {
		t.Fatalf("item %+v", it)
	}
	cancel()
	for range items {
	}
	mu.Lock()
	defer mu.Unlock()
	if statuses[http.StatusOK] < 2 {
		t.Errorf("statuses %v", statuses)
	}
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func httpServer(t *testing.T, h http.Handler) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return "http://" + l.Addr().String()
}

func TestClientAcrossRestarts(t *testing.T) {
	const n, restarts = 2000, 3
	broker, _ := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 1 << 20})
	defer broker.Close()
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer hub.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	serve := func(l net.Listener) (*http.Server, chan struct{}) {
		sp, _ := New(&Options{Interval: time.Millisecond, MaxEvents: 40})
		mux := http.NewServeMux()
		mux.Handle("GET /t/{topic}", sp.Topic(hub, pathTopic))
		srv := &http.Server{Handler: mux}
		done := make(chan struct{})
		go func() {
			defer close(done)
			srv.Serve(l)
		}()
		return srv, done
	}
	srv, done := serve(l)
	var mu sync.Mutex
	c, _ := NewClient("http://"+addr+"/t/t", &ClientOptions{Cursor: "0", MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: quiet})
	pub := publisher(hub, "t", n)
	var restartErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for range restarts {
			time.Sleep(5 * time.Millisecond)
			mu.Lock()
			srv.Close()
			<-done
			time.Sleep(5 * time.Millisecond)
			l, err := net.Listen("tcp", addr)
			if err != nil {
				restartErr = err
				mu.Unlock()
				return
			}
			srv, done = serve(l)
			mu.Unlock()
		}
	})
	got := collect(t, c.Events(), n)
	wg.Wait()
	mu.Lock()
	srv.Close()
	<-done
	mu.Unlock()
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	sameEvents(t, got, <-pub)
}

func TestClientNonRetryable(t *testing.T) {
	v := newEnv(t, nil, 1000)
	tests := []struct {
		name    string
		url     string
		cursor  string
		status  int
		message string // contained in the StatusError's
	}{
		{"malformed cursor", v.url("t", ""), "x-y", http.StatusBadRequest, "cursor"},
		{"bad topic", v.srv.URL + "/topics/.t/poll", "", http.StatusBadRequest, ".t"},
		{"no such route", v.srv.URL + "/nowhere", "", http.StatusNotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.url, &ClientOptions{Cursor: tt.cursor})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var items []rxgo.Item
			for it := range c.Events().Observe(rxgo.WithContext(ctx)) {
				items = append(items, it)
			}
			var se *StatusError
			if len(items) != 1 || !errors.As(items[0].E, &se) || se.Code != tt.status || !strings.Contains(se.Message, tt.message) {
				t.Fatalf("items %+v, want one *StatusError %d with %q", items, tt.status, tt.message)
			}
		})
	}
}

// TestClientMaxAttempts ends the observable after the attempts allowed
// against a server that keeps failing.
func TestClientMaxAttempts(t *testing.T) {
	var calls atomic.Int32
	srv := httpServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	c, _ := NewClient(srv, &ClientOptions{MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond, Logger: quiet})
	var items []rxgo.Item
	for it := range c.Events().Observe() {
		items = append(items, it)
	}
	if len(items) != 1 || items[0].E == nil || calls.Load() != 4 {
		t.Fatalf("items %+v after %d calls", items, calls.Load())
	}
}
