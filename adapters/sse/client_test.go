package sse

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// fast are client options for tests: reconnections after a millisecond or
// two, and no log lines.
func fast(o ClientOptions) *ClientOptions {
	if o.MinBackoff == 0 {
		o.MinBackoff = time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 4 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &o
}

// requestLog is a middleware that records the Last-Event-ID of every
// request and, when cut is positive, ends every request's context after cut,
// so every stream ends quickly and the client must reconnect.
type requestLog struct {
	cut time.Duration
	mu  sync.Mutex
	ids []string
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.ids = append(l.ids, r.Header.Get("Last-Event-ID"))
		l.mu.Unlock()
		if l.cut > 0 {
			ctx, cancel := context.WithTimeout(r.Context(), l.cut)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

func (l *requestLog) requests() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

func TestClientReconnectsAndResumes(t *testing.T) {
	a := newApp(t, &Options{Heartbeat: -1}, nil)
	log := &requestLog{cut: 30 * time.Millisecond}
	a.mux.Handle("GET /topics/{topic}", log.wrap(a.s.Topic(a.hub, pathTopic)))
	seed := a.publish(t, "feed", "seed")

	const n = 200
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Microsecond):
			}
			a.hub.Publish(context.Background(), "feed", framework.Event{Data: []byte(strconv.Itoa(i))})
		}
	}()
	defer func() {
		close(stop)
		<-published
	}()

	items := clientEvents(t, a.ts.URL+"/topics/feed", fast(ClientOptions{Cursor: seed}), n)
	if len(items) != n {
		t.Fatalf("got %d items, want %d", len(items), n)
	}
	for i, it := range items {
		ev, ok := it.V.(framework.Event)
		if it.E != nil || !ok || string(ev.Data) != strconv.Itoa(i) {
			t.Fatalf("item %d = %+v, want data %d", i, it, i)
		}
	}
	reqs := log.requests()
	if len(reqs) < 2 {
		t.Fatalf("%d requests: the client never reconnected", len(reqs))
	}
	if reqs[0] != seed {
		t.Errorf("first request's Last-Event-ID %q, want %q", reqs[0], seed)
	}
	for i, id := range reqs[1:] {
		if id == "" || id == seed && i > 0 {
			t.Errorf("request %d did not resend the last event ID (%q)", i+1, id)
		}
	}
}

func TestClientRetryHint(t *testing.T) {
	const hint = 40 * time.Millisecond
	a := newApp(t, &Options{Retry: hint, Heartbeat: -1}, nil)
	log := &requestLog{cut: time.Millisecond}
	a.mux.Handle("GET /topics/{topic}", log.wrap(a.s.Topic(a.hub, pathTopic)))
	c, err := NewClient(a.ts.URL+"/topics/hinted", fast(ClientOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	r := run{c: c, next: make(chan rxgo.Item)}
	if _, err := r.connect(context.Background()); err == nil {
		t.Fatal("connect returned no error when the server ended the stream")
	}
	if r.retry != hint {
		t.Fatalf("retry after the connection: %v, want the server's %v", r.retry, hint)
	}
	for range 100 { // like EventSource, the client waits the server's retry
		if d := r.backoff(1); d != hint {
			t.Fatalf("backoff %v with retry hint %v, want the hint", d, hint)
		}
	}
}

func TestClientBackoff(t *testing.T) {
	tests := []struct {
		name           string
		min, max, hint time.Duration
		attempt        int
		want           time.Duration // the un-jittered delay d
	}{
		{"first attempt", 100 * time.Millisecond, time.Second, 0, 1, 100 * time.Millisecond},
		{"doubles", 100 * time.Millisecond, time.Second, 0, 3, 400 * time.Millisecond},
		{"capped", 100 * time.Millisecond, time.Second, 0, 10, time.Second},
		{"hint above min", 100 * time.Millisecond, time.Second, 300 * time.Millisecond, 1, 300 * time.Millisecond},
		{"hint above max", 100 * time.Millisecond, time.Second, 5 * time.Second, 4, 5 * time.Second},
		{"hint below the backoff", 100 * time.Millisecond, time.Second, 150 * time.Millisecond, 3, 600 * time.Millisecond},
		{"tiny even", 2, 2, 0, 1, 2},
		{"tiny odd", 3, 3, 0, 1, 3},
		{"one nanosecond", 1, 1, 0, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient("http://example.com/", &ClientOptions{MinBackoff: tt.min, MaxBackoff: tt.max})
			if err != nil {
				t.Fatal(err)
			}
			r := run{c: c, retry: tt.hint}
			lo, hi := max(tt.want/2, tt.hint), tt.want // never below the server's hint
			if hi == lo {
				hi = lo + 1 // exactly lo
			}
			if tt.want == 1 {
				hi = 1 // [0, 1) is {0}
			}
			seen := map[time.Duration]bool{}
			for range 2000 {
				d := r.backoff(tt.attempt)
				if d < lo || d >= hi {
					t.Fatalf("backoff(%d) = %v, want [%v, %v)", tt.attempt, d, lo, hi)
				}
				seen[d] = true
			}
			if tt.want >= 100 && tt.want/2 > tt.hint && len(seen) < 2 {
				t.Errorf("backoff(%d) is always %v: no jitter", tt.attempt, lo)
			}
		})
	}
}

func TestClientEnds(t *testing.T) {
	a := newApp(t, &Options{Logger: quiet}, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	a.mux.HandleFunc("GET /done", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	a.mux.HandleFunc("GET /html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<p>not a stream</p>"))
	})
	a.mux.Handle("GET /forbidden", a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return nil, &StatusError{Code: http.StatusForbidden, Message: "not yours"}
	}))
	tests := []struct {
		name    string
		path    string
		cursor  string
		status  int    // 0: completes without error
		message string // in the StatusError's message
	}{
		{"404", "/nowhere", "", http.StatusNotFound, "not found"},
		{"400 malformed cursor", "/topics/feed", "garbage", http.StatusBadRequest, "cursor"},
		{"400 bad topic", "/topics/a..b", "", http.StatusBadRequest, "topic"},
		{"403 from the producer", "/forbidden", "", http.StatusForbidden, "not yours"},
		{"200 not a stream", "/html", "", http.StatusOK, "<p>not a stream</p>"},
		{"204 completes", "/done", "", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := clientEvents(t, a.ts.URL+tt.path, fast(ClientOptions{Cursor: tt.cursor}), 2)
			if tt.status == 0 {
				if len(items) != 0 {
					t.Errorf("items %+v, want completion", items)
				}
				return
			}
			if len(items) != 1 || items[0].E == nil {
				t.Fatalf("items %+v, want one error", items)
			}
			var se *StatusError
			if !errors.As(items[0].E, &se) || se.Code != tt.status {
				t.Fatalf("error %v, want a *StatusError %d", items[0].E, tt.status)
			}
			if !strings.Contains(se.Message, tt.message) || strings.HasPrefix(se.Message, "{") {
				t.Errorf("StatusError message %q, want the answer's message, holding %q", se.Message, tt.message)
			}
		})
	}
}

// TestClientRetries: a 5xx is retried after the backoff, a 503 no sooner
// than its Retry-After; the client then reads the stream.
func TestClientRetries(t *testing.T) {
	a := newApp(t, nil, nil)
	var calls atomic.Int32
	topic := a.s.Topic(a.hub, pathTopic)
	a.mux.HandleFunc("GET /flaky/{topic}", func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			http.Error(w, "oops", http.StatusBadGateway)
		case 2:
			transport.WriteError(w, &StatusError{Code: http.StatusServiceUnavailable, Message: "busy", RetryAfter: time.Second}, 0)
		default:
			topic.ServeHTTP(w, r)
		}
	})
	seed := a.publish(t, "flaky", "seed")
	id := a.publish(t, "flaky", "after the failures")
	start := time.Now()
	items := clientEvents(t, a.ts.URL+"/flaky/flaky", fast(ClientOptions{Cursor: seed}), 1)
	if ev, _ := items[0].V.(framework.Event); items[0].E != nil || ev.ID != id {
		t.Fatalf("item %+v, want the event %q", items[0], id)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("retried after %v, before the 503's Retry-After of 1s", d)
	}
}

func TestClientIdleTimeout(t *testing.T) {
	a := newApp(t, &Options{Heartbeat: -1}, nil)
	log := &requestLog{}
	a.mux.Handle("GET /topics/{topic}", log.wrap(a.s.Topic(a.hub, pathTopic)))
	seed := a.publish(t, "silent", "seed")
	c, err := NewClient(a.ts.URL+"/topics/silent", fast(ClientOptions{IdleTimeout: 20 * time.Millisecond, Cursor: seed}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := c.Events().Observe(rxgo.WithContext(ctx))
	defer func() {
		cancel()
		for range ch {
		}
	}()
	waitFor(t, "3 connections", func() bool { return len(log.requests()) >= 3 })
	id := a.publish(t, "silent", "finally")
	select {
	case it := <-ch:
		if ev, _ := it.V.(framework.Event); ev.ID != id {
			t.Errorf("item %+v, want the event %q", it, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after reconnecting")
	}
	for i, h := range log.requests() {
		if h != seed && h != id { // the client may reconnect once more after the event
			t.Errorf("request %d Last-Event-ID %q, want %q or %q", i, h, seed, id)
		}
	}
}

// A consumer slower than IdleTimeout must not end the observable: the
// connection may be dropped, but the client resumes after the last event.
func TestClientSlowConsumer(t *testing.T) {
	a := newApp(t, &Options{Heartbeat: -1}, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	seed := a.publish(t, "slow", "seed")
	for i := range 3 {
		a.publish(t, "slow", strconv.Itoa(i))
	}
	c, err := NewClient(a.ts.URL+"/topics/slow", fast(ClientOptions{IdleTimeout: 10 * time.Millisecond, Cursor: seed}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := c.Events().Observe(rxgo.WithContext(ctx))
	defer func() {
		cancel()
		for range ch {
		}
	}()
	for i := range 3 {
		select {
		case it, ok := <-ch:
			if !ok {
				t.Fatalf("the observable ended after %d items", i)
			}
			if ev, _ := it.V.(framework.Event); string(ev.Data) != strconv.Itoa(i) {
				t.Fatalf("item %d = %+v", i, it)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("item %d did not come", i)
		}
		time.Sleep(30 * time.Millisecond) // three idle timeouts
	}
}

func TestClientMaxAttempts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	items := clientEvents(t, "http://"+addr+"/events", fast(ClientOptions{MaxAttempts: 3}), 2)
	if len(items) != 1 || items[0].E == nil {
		t.Fatalf("items %+v, want one error", items)
	}
	if msg := items[0].E.Error(); !strings.Contains(msg, "3 attempts failed") {
		t.Errorf("error %q, want it to count 3 attempts", msg)
	}
}

func TestNewClientRefuses(t *testing.T) {
	tests := []struct {
		url  string
		opts *ClientOptions
	}{
		{"ws://example.com/", nil},
		{"://bad", nil},
		{"http://example.com/", &ClientOptions{MinBackoff: -1}},
		{"http://example.com/", &ClientOptions{MaxAttempts: -1}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.url, tt.opts), func(t *testing.T) {
			if _, err := NewClient(tt.url, tt.opts); err == nil {
				t.Error("no error")
			}
		})
	}
}

// TestMultiClientRefused: an answer that reconnecting will not fix ends
// every subscription with the server's *StatusError; one that it will
// fix (a 503) is retried.
func TestMultiClientRefused(t *testing.T) {
	a := newApp(t, nil, nil)
	var calls atomic.Int32
	a.mux.HandleFunc("GET /topics", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			transport.WriteError(w, &StatusError{Code: http.StatusServiceUnavailable, Message: "busy"}, 0)
			return
		}
		transport.WriteError(w, &StatusError{Code: http.StatusForbidden, Message: "not yours"}, 0)
	})
	m, err := NewMultiClient(a.ts.URL+"/topics", fast(ClientOptions{}))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	sub, err := m.Subscribe("secret", "")
	if err != nil {
		t.Fatal(err)
	}
	items := sub.Events().Observe()
	select {
	case it := <-items:
		var se *StatusError
		if !errors.As(it.E, &se) || se.Code != http.StatusForbidden || se.Message != "not yours" {
			t.Fatalf("item %+v, want the 403's *StatusError", it)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no item")
	}
	if _, ok := <-items; ok {
		t.Error("the subscription goes on after its refusal")
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}
