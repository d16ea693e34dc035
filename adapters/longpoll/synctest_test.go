package longpoll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/pipenet"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// bubble is a hub, a long-poll server and its HTTP client, connected in
// memory, for tests that run in a synctest bubble (fake time), with the
// server's hooks recorded.
type bubble struct {
	hub    *framework.Hub
	lp     *Server
	rec    recorder
	client *http.Client
	srv    *http.Server
	tr     *http.Transport
}

func newBubble(t *testing.T, opts *Options, p Producer) *bubble {
	b := &bubble{hub: &framework.Hub{}}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Hooks = b.rec.hooks()
	var err error
	if b.lp, err = New(&o); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /t/{topic}", b.lp.Topic(b.hub, pathTopic))
	if p != nil {
		mux.Handle("GET /p", b.lp.Stream(p))
	}
	l := pipenet.Listen()
	b.srv = &http.Server{Handler: mux}
	go b.srv.Serve(l)
	b.tr = &http.Transport{DialContext: l.Dial}
	b.client = &http.Client{Transport: b.tr}
	t.Cleanup(func() {
		b.lp.Close()
		b.tr.CloseIdleConnections()
		b.srv.Close()
		b.hub.Close()
	})
	return b
}

// start makes a request in a goroutine; the answer arrives on the channel
// (status -1 when the request failed).
func (b *bubble) start(ctx context.Context, path string) <-chan answer {
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://pipe"+path, nil)
		a, err := fetch(b.client, req)
		if err != nil {
			a.status = -1
		}
		got <- a
	}()
	return got
}

// closed checks that every request opened was closed once, each with
// its reason, as want says (errors.Is), and returns the errors of the
// Error hook.
func (b *bubble) closed(t *testing.T, want ...error) []error {
	t.Helper()
	opened, errs, closed := b.rec.calls()
	if len(opened) != len(want) || len(closed) != len(want) {
		t.Errorf("%d opened, closed with %v; want %d closed with %v", len(opened), closed, len(want), want)
		return errs
	}
	for i := range want {
		if !errors.Is(closed[i], want[i]) {
			t.Errorf("closed with %v, want %v", closed[i], want[i])
		}
	}
	return errs
}

// pending reports whether no answer has arrived, once every goroutine of
// the bubble is blocked.
func pending(got <-chan answer) bool {
	synctest.Wait()
	return len(got) == 0
}

func TestDefaultTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, nil, nil)
		tip, _ := b.hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
		start := time.Now()
		got := b.start(context.Background(), "/t/t")
		time.Sleep(DefaultTimeout - time.Nanosecond)
		if !pending(got) {
			t.Fatalf("answered before the timeout: %+v", <-got)
		}
		a := <-got
		if d := time.Since(start); d != DefaultTimeout {
			t.Errorf("answered after %v, want %v", d, DefaultTimeout)
		}
		if a.status != http.StatusNoContent || a.header.Get(CursorHeader) != tip || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("got %d %v, want 204 with cursor %s", a.status, a.header, tip)
		}
		synctest.Wait()
		b.closed(t, ErrTimeout)
	})
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name  string
		opts  *Options
		query string
		want  time.Duration
	}{
		{"server option", &Options{Timeout: 5 * time.Second}, "", 5 * time.Second},
		{"request asks less", &Options{Timeout: 5 * time.Second}, "&timeout=2s", 2 * time.Second},
		{"request asks more", &Options{Timeout: 5 * time.Second}, "&timeout=9s", 5 * time.Second},
		{"no server timeout", &Options{Timeout: -1}, "&timeout=1h", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t, tt.opts, nil)
				start := time.Now()
				a := <-b.start(context.Background(), "/t/t?cursor=0"+tt.query)
				if d := time.Since(start); d != tt.want {
					t.Errorf("answered after %v, want %v", d, tt.want)
				}
				if a.status != http.StatusNoContent || len(a.raw) != 0 || a.header.Get(CursorHeader) != "0" {
					t.Errorf("got %d %q %v, want 204 with cursor 0", a.status, a.raw, a.header)
				}
				synctest.Wait()
				b.closed(t, ErrTimeout)
			})
		})
	}
}

func TestBatchWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window = 50 * time.Millisecond
		b := newBubble(t, &Options{BatchWindow: window}, nil)
		ctx := context.Background()
		got := b.start(ctx, "/t/t")
		time.Sleep(time.Second)
		synctest.Wait()
		first := time.Now()
		b.hub.Publish(ctx, "t", framework.Event{Data: []byte("a")})
		time.Sleep(window / 2)
		b.hub.Publish(ctx, "t", framework.Event{Data: []byte("b")})
		if !pending(got) {
			t.Fatal("answered inside the window")
		}
		a := <-got
		if d := time.Since(first); d != window {
			t.Errorf("answered %v after the first event, want %v", d, window)
		}
		b.hub.Publish(ctx, "t", framework.Event{Data: []byte("c")}) // for the next poll
		if !slices.Equal(a.data(), []string{"a", "b"}) {
			t.Errorf("events %q", a.data())
		}
		next := <-b.start(ctx, "/t/t?cursor="+a.body.Cursor)
		if !slices.Equal(next.data(), []string{"c"}) {
			t.Errorf("next poll %q", next.data())
		}
	})
}

func TestBatchFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, &Options{BatchWindow: time.Hour, MaxEvents: 3}, nil)
		ctx := context.Background()
		got := b.start(ctx, "/t/t")
		synctest.Wait()
		start := time.Now()
		for _, d := range []string{"1", "2", "3", "4"} {
			b.hub.Publish(ctx, "t", framework.Event{Data: []byte(d)})
		}
		a := <-got
		if time.Since(start) != 0 {
			t.Errorf("a full answer waited %v", time.Since(start))
		}
		if !slices.Equal(a.data(), []string{"1", "2", "3"}) {
			t.Errorf("events %q", a.data())
		}
	})
}

// seedPoll is the seed's DeferredResult example: "new message" after 10 s.
func seedPoll(stopped *atomic.Int32) Producer {
	return func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Generate(func(ctx context.Context, emit func(any) error) error {
			defer stopped.Add(1)
			select {
			case <-time.After(10 * time.Second):
				return emit("new message")
			case <-ctx.Done():
				return nil
			}
		}), nil
	}
}

func TestProducer(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		want    time.Duration
		status  int
		reason  error
	}{
		{"answers after 10s", 0, 10 * time.Second, http.StatusOK, ErrCompleted},
		{"times out first", 4 * time.Second, 4 * time.Second, http.StatusNoContent, ErrTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var stopped atomic.Int32
				b := newBubble(t, &Options{Timeout: tt.timeout}, seedPoll(&stopped))
				start := time.Now()
				a := <-b.start(context.Background(), "/p?cursor=7")
				if d := time.Since(start); d != tt.want {
					t.Errorf("answered after %v, want %v", d, tt.want)
				}
				if stopped.Load() != 1 {
					t.Error("the producer still runs after the answer")
				}
				if a.status != tt.status {
					t.Fatalf("status %d %s", a.status, a.raw)
				}
				if tt.status == http.StatusOK && (!slices.Equal(a.data(), []string{"new message"}) || a.body.Cursor != "7") {
					t.Errorf("body %s", a.raw)
				}
				synctest.Wait()
				b.closed(t, tt.reason)
			})
		})
	}
}

// TestHooks checks, for every way a request ends, on hub topics and on a
// producer, that Opened and Closed are called once each, Closed with the
// reason, Error when it should, and nothing for a refused request.
func TestHooks(t *testing.T) {
	boom := errors.New("boom")
	teapot := &StatusError{Code: http.StatusTeapot, Message: "no"}
	just := func(items ...any) Producer {
		return func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return rxgo.Just(items...)(), nil
		}
	}
	hourly := func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Interval(time.Hour), nil
	}
	// refused and own are the reason of a request that is not opened (a
	// 400), and of one closed with the error given to the Error hook.
	var refused, own error
	tests := []struct {
		name     string
		path     string
		producer Producer
		act      func(b *bubble, cancel func())
		status   int
		message  string // contained in the error's message
		reason   error
		errors   []error
	}{
		{"data", "/t/t", nil, func(b *bubble, cancel func()) {
			b.hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
		}, http.StatusOK, "", ErrCompleted, nil},
		{"producer data", "/p", just("x"), nil, http.StatusOK, "", ErrCompleted, nil},
		{"producer completes empty", "/p", just(), nil, http.StatusOK, "", ErrCompleted, nil},
		{"timeout", "/t/t", nil, func(b *bubble, cancel func()) {
			time.Sleep(time.Minute)
		}, http.StatusNoContent, "", ErrTimeout, nil},
		{"producer timeout", "/p", hourly, func(b *bubble, cancel func()) {
			time.Sleep(time.Minute)
		}, http.StatusNoContent, "", ErrTimeout, nil},
		{"bad cursor", "/t/t?cursor=zz", nil, nil, http.StatusBadRequest, "cursor", refused, nil},
		{"producer bad cursor", "/p?cursor=1&lastEventId=2", just("x"), nil, http.StatusBadRequest, "cursor", refused, nil},
		{"bad timeout", "/t/t?timeout=soon", nil, nil, http.StatusBadRequest, "timeout", refused, nil},
		{"producer error", "/p", func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return nil, boom
		}, nil, http.StatusInternalServerError, "boom", boom, []error{boom}},
		{"no observable", "/p", func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return nil, nil
		}, nil, http.StatusInternalServerError, "no observable", own, nil},
		{"error item", "/p", just(boom), nil, http.StatusInternalServerError, "boom", boom, []error{boom}},
		{"status error", "/p", func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return nil, teapot
		}, nil, http.StatusTeapot, "no", teapot, []error{teapot}},
		{"not an event", "/p", just(struct{ N int }{1}), nil, http.StatusInternalServerError, "struct { N int } is not an event", own, nil},
		{"error after events", "/p", just("x", boom), nil, http.StatusOK, "", ErrCompleted, []error{boom}},
		{"client gone", "/t/t", nil, func(b *bubble, cancel func()) {
			cancel()
		}, -1, "", ErrClientGone, nil},
		{"producer client gone", "/p", hourly, func(b *bubble, cancel func()) {
			cancel()
		}, -1, "", ErrClientGone, nil},
		{"shutdown", "/t/t", nil, func(b *bubble, cancel func()) {
			b.lp.Close()
		}, http.StatusServiceUnavailable, "shutting down", ErrShutdown, nil},
		{"producer shutdown", "/p", hourly, func(b *bubble, cancel func()) {
			b.lp.Close()
		}, http.StatusServiceUnavailable, "shutting down", ErrShutdown, nil},
		{"hub closed", "/t/t", nil, func(b *bubble, cancel func()) {
			b.hub.Close()
		}, http.StatusServiceUnavailable, "closed", framework.ErrClosed, []error{framework.ErrClosed}},
		{"hub closed after events", "/t/t", nil, func(b *bubble, cancel func()) {
			b.hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
			synctest.Wait() // inside the batching window
			b.hub.Close()
		}, http.StatusOK, "", ErrCompleted, []error{framework.ErrClosed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t, &Options{Timeout: 30 * time.Second, BatchWindow: time.Second}, tt.producer)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				got := b.start(ctx, tt.path)
				synctest.Wait()
				if tt.act != nil {
					tt.act(b, cancel)
				}
				a := <-got
				synctest.Wait() // the handler's return after a client left
				if a.status != tt.status {
					t.Errorf("status %d, want %d: %s", a.status, tt.status, a.raw)
				}
				if tt.message != "" {
					var msg struct{ Message string }
					if err := json.Unmarshal(a.raw, &msg); err != nil || !strings.Contains(msg.Message, tt.message) {
						t.Errorf("body %q, want a message containing %q", a.raw, tt.message)
					}
				}
				opened, errs, closed := b.rec.calls()
				switch {
				case tt.status == http.StatusBadRequest:
					if len(opened)+len(errs)+len(closed) != 0 {
						t.Errorf("a refused request: %d opened, errors %v, closed %v", len(opened), errs, closed)
					}
				case len(opened) != 1 || len(closed) != 1:
					t.Errorf("%d opened, closed %v; want once each", len(opened), closed)
				case tt.reason == own:
					if len(errs) != 1 || closed[0] != errs[0] || !strings.Contains(closed[0].Error(), tt.message) {
						t.Errorf("errors %v, closed %v; want the same one error", errs, closed)
					}
				default:
					if !errors.Is(closed[0], tt.reason) {
						t.Errorf("closed with %v, want %v", closed[0], tt.reason)
					}
					if len(errs) != len(tt.errors) || (len(errs) > 0 && !errors.Is(errs[0], tt.errors[0])) {
						t.Errorf("errors %v, want %v", errs, tt.errors)
					}
				}
				if len(opened) == 1 {
					c := opened[0]
					if c.Transport != "longpoll" || c.ID == "" || c.URL.Path != strings.Split(tt.path, "?")[0] {
						t.Errorf("conn %+v", c)
					}
					if wantTopics := []string{"t"}; tt.producer == nil && !slices.Equal(c.Topics, wantTopics) || tt.producer != nil && c.Topics != nil {
						t.Errorf("conn topics %q", c.Topics)
					}
				}
				if n := b.lp.Connections(); n != 0 {
					t.Errorf("%d requests still open", n)
				}
			})
		})
	}
}

// A gap that no event follows yet (a cursor of another epoch on an empty
// topic) is held until the first event, or answered at the timeout.
func TestGapHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, &Options{Timeout: 10 * time.Second}, nil)
		got := b.start(context.Background(), "/t/t?cursor=old-5")
		time.Sleep(time.Second)
		if !pending(got) {
			t.Fatalf("a gap alone answered at once: %s", (<-got).raw)
		}
		id, _ := b.hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
		a := <-got
		if a.body.Gap == nil || a.body.Gap.Last != "old-5" || a.body.Gap.Next != id || !slices.Equal(a.data(), []string{"x"}) || a.body.Cursor != id {
			t.Errorf("answer %s", a.raw)
		}

		start := time.Now()
		a = <-b.start(context.Background(), "/t/u?cursor=old-5")
		if time.Since(start) != 10*time.Second || a.status != http.StatusOK || a.body.Gap == nil || len(a.body.Events) != 0 {
			t.Errorf("after %v: %d %s", time.Since(start), a.status, a.raw)
		}
	})
}
