package longpoll

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/pipenet"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// bubble is a hub, a long-poll server and its HTTP client, connected in
// memory, for tests that run in a synctest bubble (fake time).
type bubble struct {
	hub    *framework.Hub
	lp     *Server
	client *http.Client
	srv    *http.Server
	tr     *http.Transport

	mu       sync.Mutex
	outcomes []Outcome
}

func newBubble(t *testing.T, opts *Options, h *HandlerOptions, p Producer) *bubble {
	b := &bubble{hub: &framework.Hub{}}
	var err error
	if b.lp, err = New(opts); err != nil {
		t.Fatal(err)
	}
	var ho HandlerOptions
	if h != nil {
		ho = *h
	}
	user := ho.OnCompletion
	ho.OnCompletion = func(c echo.Context, o Outcome) {
		b.mu.Lock()
		b.outcomes = append(b.outcomes, o)
		b.mu.Unlock()
		if user != nil {
			user(c, o)
		}
	}
	e := echo.New()
	e.GET("/t/:topic", b.lp.Topic(b.hub, Param("topic"), &ho))
	if p != nil {
		e.GET("/p", b.lp.Stream(p, &ho))
	}
	l := pipenet.Listen()
	b.srv = &http.Server{Handler: e}
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

func (b *bubble) completions() []Outcome {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.outcomes)
}

// pending reports whether no answer has arrived, once every goroutine of
// the bubble is blocked.
func pending(got <-chan answer) bool {
	synctest.Wait()
	return len(got) == 0
}

func TestDefaultTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, nil, nil, nil)
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
		if got := b.completions(); !slices.Equal(got, []Outcome{TimedOut}) {
			t.Errorf("outcomes %v", got)
		}
	})
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name    string
		opts    *Options
		h       *HandlerOptions
		want    time.Duration
		status  int
		payload string
	}{
		{"server option", &Options{Timeout: 5 * time.Second}, nil, 5 * time.Second, http.StatusNoContent, ""},
		{"handler option", &Options{Timeout: 5 * time.Second}, &HandlerOptions{Timeout: 2 * time.Second}, 2 * time.Second, http.StatusNoContent, ""},
		{"custom result", nil, &HandlerOptions{Timeout: time.Second, OnTimeout: func(c echo.Context, cursor string) error {
			return c.JSON(http.StatusOK, map[string]string{"status": "timeout", "cursor": cursor})
		}}, time.Second, http.StatusOK, `{"cursor":"0","status":"timeout"}`},
		{"callback only", nil, &HandlerOptions{Timeout: time.Second, OnTimeout: func(c echo.Context, cursor string) error {
			return nil
		}}, time.Second, http.StatusNoContent, ""},
		{"callback error", nil, &HandlerOptions{Timeout: time.Second, OnTimeout: func(c echo.Context, cursor string) error {
			return echo.NewHTTPError(http.StatusGatewayTimeout, "too slow")
		}}, time.Second, http.StatusGatewayTimeout, `{"message":"too slow"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t, tt.opts, tt.h, nil)
				start := time.Now()
				a := <-b.start(context.Background(), "/t/t?cursor=0")
				if d := time.Since(start); d != tt.want {
					t.Errorf("answered after %v, want %v", d, tt.want)
				}
				if a.status != tt.status {
					t.Errorf("status %d, want %d", a.status, tt.status)
				}
				if tt.payload != "" && string(a.raw) != tt.payload+"\n" {
					t.Errorf("body %q, want %q", a.raw, tt.payload)
				}
				if got := b.completions(); !slices.Equal(got, []Outcome{TimedOut}) {
					t.Errorf("outcomes %v", got)
				}
			})
		})
	}
}

func TestBatchWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const window = 50 * time.Millisecond
		b := newBubble(t, &Options{BatchWindow: window}, nil, nil)
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
		b := newBubble(t, &Options{BatchWindow: time.Hour, MaxEvents: 3}, nil, nil)
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
	return func(c echo.Context, cursor string) (rxgo.Observable, error) {
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
		outcome Outcome
	}{
		{"answers after 10s", 0, 10 * time.Second, http.StatusOK, Answered},
		{"times out first", 4 * time.Second, 4 * time.Second, http.StatusNoContent, TimedOut},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var stopped atomic.Int32
				b := newBubble(t, &Options{Timeout: tt.timeout}, nil, seedPoll(&stopped))
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
				if got := b.completions(); !slices.Equal(got, []Outcome{tt.outcome}) {
					t.Errorf("outcomes %v", got)
				}
			})
		})
	}
}

// TestCallbacks checks that OnCompletion runs exactly once, with the right
// outcome, and OnError/OnTimeout when they should, for every way a request
// ends.
func TestCallbacks(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name     string
		path     string
		producer Producer
		act      func(b *bubble, cancel func())
		status   int
		outcome  Outcome
		errors   int
		timeouts int
	}{
		{"data", "/t/t", nil, func(b *bubble, cancel func()) {
			b.hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
		}, http.StatusOK, Answered, 0, 0},
		{"producer data", "/p", func(c echo.Context, cursor string) (rxgo.Observable, error) {
			return rxgo.Just("x")(), nil
		}, nil, http.StatusOK, Answered, 0, 0},
		{"timeout", "/t/t", nil, func(b *bubble, cancel func()) {
			time.Sleep(time.Minute)
		}, http.StatusNoContent, TimedOut, 0, 1},
		{"bad cursor", "/t/t?cursor=zz", nil, nil, http.StatusBadRequest, Failed, 1, 0},
		{"producer error", "/p", func(c echo.Context, cursor string) (rxgo.Observable, error) {
			return nil, boom
		}, nil, http.StatusInternalServerError, Failed, 1, 0},
		{"error item", "/p", func(c echo.Context, cursor string) (rxgo.Observable, error) {
			return rxgo.Just(boom)(), nil
		}, nil, http.StatusInternalServerError, Failed, 1, 0},
		{"HTTP error", "/p", func(c echo.Context, cursor string) (rxgo.Observable, error) {
			return nil, echo.NewHTTPError(http.StatusTeapot, "no")
		}, nil, http.StatusTeapot, Failed, 1, 0},
		{"client gone", "/t/t", nil, func(b *bubble, cancel func()) {
			cancel()
		}, -1, Gone, 0, 0},
		{"producer client gone", "/p", func(c echo.Context, cursor string) (rxgo.Observable, error) {
			return streams.Interval(time.Hour), nil
		}, func(b *bubble, cancel func()) {
			cancel()
		}, -1, Gone, 0, 0},
		{"shutdown", "/t/t", nil, func(b *bubble, cancel func()) {
			b.lp.Close()
		}, http.StatusServiceUnavailable, ShutDown, 0, 0},
		{"producer shutdown", "/p", func(c echo.Context, cursor string) (rxgo.Observable, error) {
			return streams.Interval(time.Hour), nil
		}, func(b *bubble, cancel func()) {
			b.lp.Close()
		}, http.StatusServiceUnavailable, ShutDown, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var errs, timeouts atomic.Int32
				h := &HandlerOptions{
					Timeout: 30 * time.Second,
					OnError: func(c echo.Context, err error) error {
						errs.Add(1)
						return nil
					},
					OnTimeout: func(c echo.Context, cursor string) error {
						timeouts.Add(1)
						return nil
					},
				}
				b := newBubble(t, nil, h, tt.producer)
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
				if got := b.completions(); !slices.Equal(got, []Outcome{tt.outcome}) {
					t.Errorf("outcomes %v, want [%v]", got, tt.outcome)
				}
				if int(errs.Load()) != tt.errors || int(timeouts.Load()) != tt.timeouts {
					t.Errorf("OnError %d times, OnTimeout %d times; want %d, %d", errs.Load(), timeouts.Load(), tt.errors, tt.timeouts)
				}
				if b.lp.Open() != 0 {
					t.Errorf("%d requests still open", b.lp.Open())
				}
			})
		})
	}
}

// A gap that no event follows yet (a cursor of another epoch on an empty
// topic) is held until the first event, or answered at the timeout.
func TestGapHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, &Options{Timeout: 10 * time.Second}, nil, nil)
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
