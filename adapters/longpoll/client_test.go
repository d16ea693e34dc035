package longpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/pipenet"
	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// quiet is the logger of clients that are expected to retry.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// publisher publishes n events to topic as fast as it can, and returns
// their IDs and data in order once done.
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

// sameEvents compares the events received with those published: same IDs
// and data, in order, each once.
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

// TestNoLossRawPolls polls by hand, waiting a random time between polls,
// while a publisher runs at full speed.
func TestNoLossRawPolls(t *testing.T) {
	const n = 3000
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	v := newEnv(t, &Options{MaxEvents: 17, BatchWindow: time.Millisecond}, nil)
	pub := publisher(v.hub, "t", n)
	var got []framework.Event
	cursor := "0"
	for len(got) < n {
		a := get(t, v.url("t", cursor))
		switch a.status {
		case http.StatusOK:
		case http.StatusNoContent:
			continue
		default:
			t.Fatalf("status %d: %s", a.status, a.raw)
		}
		if a.body.Gap != nil {
			t.Fatalf("gap %+v", a.body.Gap)
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

// TestNoLossClient follows the topic with the Client while its consumer
// takes a random time per event.
func TestNoLossClient(t *testing.T) {
	const n = 3000
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	v := newEnv(t, &Options{MaxEvents: 23, BatchWindow: time.Millisecond}, nil)
	c, err := NewClient(v.url("t", ""), &ClientOptions{Cursor: "0"})
	if err != nil {
		t.Fatal(err)
	}
	pub := publisher(v.hub, "t", n)
	got := collect(t, c.Events(), n, func() {
		if rng.IntN(20) == 0 {
			time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
	})
	sameEvents(t, got, <-pub)
}

// collect observes obs until it has n events (failing on anything else),
// calling pause after each.
func collect(t *testing.T, obs rxgo.Observable, n int, pause func()) []framework.Event {
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
			if pause != nil {
				pause()
			}
		case <-timeout:
			t.Fatalf("only %d of %d events within 20s", len(got), n)
		}
	}
	cancel()
	for range items { // the loop ends with its context
	}
	return got
}

// restartable is an HTTP server on a fixed loopback address that can be
// stopped and started again, with a fresh long-poll Server each time.
type restartable struct {
	t    *testing.T
	addr string
	hub  *framework.Hub
	lp   *Server
	srv  *http.Server
	done chan struct{}
}

func (r *restartable) start() {
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.addr = l.Addr().String()
	r.lp, _ = New(&Options{ShutdownRetry: 10 * time.Millisecond, BatchWindow: time.Millisecond, MaxEvents: 50})
	mux := http.NewServeMux()
	mux.Handle("GET /t/{topic}", r.lp.Topic(r.hub, pathTopic))
	r.srv = &http.Server{Handler: mux}
	r.srv.RegisterOnShutdown(r.lp.Close)
	r.done = make(chan struct{})
	go func() {
		defer close(r.done)
		r.srv.Serve(l)
	}()
}

func (r *restartable) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		r.t.Error(err)
	}
	<-r.done
}

func TestClientAcrossRestarts(t *testing.T) {
	const n, restarts = 2000, 3
	// The history outlives the servers, as a NATS broker's would, and
	// holds every event.
	broker, _ := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 1 << 20})
	defer broker.Close()
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer hub.Close()
	rs := &restartable{t: t, addr: "127.0.0.1:0", hub: hub}
	rs.start()
	c, err := NewClient("http://"+rs.addr+"/t/t", &ClientOptions{Cursor: "0", MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	pub := publisher(hub, "t", n)
	var restartErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for range restarts {
			time.Sleep(5 * time.Millisecond)
			rs.stop()
			time.Sleep(5 * time.Millisecond) // clients find nobody
			l, err := net.Listen("tcp", rs.addr)
			if err != nil {
				restartErr = err
				return
			}
			l.Close()
			rs.start()
		}
	})
	got := collect(t, c.Events(), n, nil)
	wg.Wait()
	if restartErr != nil {
		t.Fatal(restartErr)
	}
	rs.stop()
	sameEvents(t, got, <-pub)
}

// A restart that loses the history (a new in-memory broker, a new epoch)
// is reported with a Gap, then the new events follow.
func TestClientGapAfterEpochChange(t *testing.T) {
	hub1 := &framework.Hub{}
	defer hub1.Close()
	rs := &restartable{t: t, addr: "127.0.0.1:0", hub: hub1}
	rs.start()
	ctx := context.Background()
	first, _ := hub1.Publish(ctx, "t", framework.Event{Data: []byte("old")})
	c, _ := NewClient("http://"+rs.addr+"/t/t", &ClientOptions{Cursor: "0", MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Logger: quiet})
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	items := c.Events().Observe(rxgo.WithContext(octx))
	if it := <-items; it.E != nil || string(it.V.(framework.Event).Data) != "old" {
		t.Fatalf("first item %+v", it)
	}
	rs.stop()
	time.Sleep(2 * time.Millisecond) // a new epoch
	hub2 := &framework.Hub{}
	defer hub2.Close()
	next, _ := hub2.Publish(ctx, "t", framework.Event{Data: []byte("new")})
	rs.hub = hub2
	rs.start()
	defer rs.stop()
	it := <-items
	if g, ok := it.V.(framework.Gap); !ok || g.Last != first || g.Next != next {
		t.Fatalf("item %+v, want a gap from %s to %s", it, first, next)
	}
	if it := <-items; string(it.V.(framework.Event).Data) != "new" {
		t.Fatalf("item %+v", it)
	}
	cancel()
	for range items {
	}
}

func TestClientNonRetryable(t *testing.T) {
	v := newEnv(t, nil, nil)
	tests := []struct {
		name    string
		url     string
		cursor  string
		status  int
		message string // contained in the StatusError's
	}{
		{"malformed cursor", v.url("t", ""), "x-y", http.StatusBadRequest, "cursor"},
		{"bad topic", v.srv.URL + "/topics/a..b/longpoll", "", http.StatusBadRequest, "a..b"},
		{"bad timeout", v.url("t", "") + "?timeout=soon", "", http.StatusBadRequest, `timeout="soon"`},
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

func TestNewClientRejects(t *testing.T) {
	for _, tt := range []struct {
		url  string
		opts *ClientOptions
	}{
		{"ftp://x/", nil},
		{"://", nil},
		{"http://x/", &ClientOptions{MinBackoff: -1}},
		{"http://x/", &ClientOptions{MaxAttempts: -1}},
	} {
		if _, err := NewClient(tt.url, tt.opts); err == nil {
			t.Errorf("NewClient(%q, %+v) accepted", tt.url, tt.opts)
		}
	}
}

// TestClientBackoff runs the client against a stub in fake time: it waits
// at least the server's Retry-After, backs off exponentially without one,
// and polls again at once after a 204.
func TestClientBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var at []time.Duration
		start := time.Now()
		answers := []func(w http.ResponseWriter){
			func(w http.ResponseWriter) { w.Header().Set("Retry-After", "7"); w.WriteHeader(503) },
			func(w http.ResponseWriter) { w.WriteHeader(502) },
			func(w http.ResponseWriter) { w.WriteHeader(502) },
			func(w http.ResponseWriter) { w.Header().Set(CursorHeader, "e-5"); w.WriteHeader(204) },
			func(w http.ResponseWriter) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"events":[{"id":"e-6","data":"aGk=","base64":true}],"cursor":"e-6"}`)
			},
		}
		var cursors []string
		stub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			i := len(at)
			at = append(at, time.Since(start))
			cursors = append(cursors, r.URL.Query().Get("cursor"))
			mu.Unlock()
			if i < len(answers) {
				answers[i](w)
				return
			}
			<-r.Context().Done()
		})
		l := pipenet.Listen()
		srv := &http.Server{Handler: stub}
		go srv.Serve(l)
		tr := &http.Transport{DialContext: l.Dial}
		c, _ := NewClient("http://pipe/x", &ClientOptions{
			HTTPClient: &http.Client{Transport: tr}, MinBackoff: time.Second, MaxBackoff: 3 * time.Second, Logger: quiet,
		})
		ctx, cancel := context.WithCancel(context.Background())
		items := c.Events().Observe(rxgo.WithContext(ctx))
		it := <-items
		if ev, ok := it.V.(framework.Event); !ok || string(ev.Data) != "hi" || ev.ID != "e-6" {
			t.Errorf("item %+v", it)
		}
		cancel()
		for range items {
		}
		tr.CloseIdleConnections()
		srv.Close()
		mu.Lock()
		defer mu.Unlock()
		if len(at) < 5 {
			t.Fatalf("%d polls", len(at))
		}
		gaps := make([]time.Duration, 4)
		for i := range gaps {
			gaps[i] = at[i+1] - at[i]
		}
		// after 503 Retry-After 7: >= 7s; after the first 502: [1s, 2s) (second failure);
		// after the second 502: [1.5s, 3s]; after the 204: at once.
		if gaps[0] < 7*time.Second || gaps[1] < time.Second || gaps[1] > 2*time.Second ||
			gaps[2] < 1500*time.Millisecond || gaps[2] > 3*time.Second || gaps[3] != 0 {
			t.Errorf("delays between polls %v", gaps)
		}
		if want := []string{"", "", "", "", "e-5"}; !slices.Equal(cursors[:len(want)], want) {
			t.Errorf("cursors sent %q, want %q", cursors, want)
		}
	})
}

// TestThousandParked parks 1,000 long-polls, then every client leaves:
// the goroutine count returns to its baseline and nothing stays open.
func TestThousandParked(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 connections")
	}
	const n = 1000
	baseline := runtime.NumGoroutine()
	hub := &framework.Hub{}
	lp, _ := New(&Options{Gate: transport.Unlimited()}) // 1,000 at once from one address: past the default limits
	mux := http.NewServeMux()
	mux.Handle("GET /t/{topic}", lp.Topic(hub, pathTopic))
	srv := httptest.NewServer(mux)
	tr := &http.Transport{MaxIdleConnsPerHost: n}
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/t/t", nil)
			if resp, err := client.Do(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	waitFor(t, func() bool { return lp.Connections() == n })
	if hub.Topics() != 1 {
		t.Errorf("%d topics", hub.Topics())
	}
	cancel()
	wg.Wait()
	waitFor(t, func() bool { return lp.Connections() == 0 && hub.Topics() == 0 })
	tr.CloseIdleConnections()
	srv.Close()
	hub.Close()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, baseline %d", runtime.NumGoroutine(), baseline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
