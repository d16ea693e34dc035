package shortpoll

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/pipenet"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// recorder records the calls of the Hooks it makes.
type recorder struct {
	mu     sync.Mutex
	opened []*Conn
	errs   []error
	closed []error
}

func (rec *recorder) hooks() Hooks {
	return Hooks{
		Opened: func(c *Conn) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.opened = append(rec.opened, c)
		},
		Error: func(c *Conn, err error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.errs = append(rec.errs, err)
		},
		Closed: func(c *Conn, reason error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.closed = append(rec.closed, reason)
		},
	}
}

// calls returns the Conns opened, the errors and the reasons of Closed.
func (rec *recorder) calls() (opened []*Conn, errs, closed []error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.opened), slices.Clone(rec.errs), slices.Clone(rec.closed)
}

// bubble is a hub, a short-poll server and its HTTP client, connected in
// memory, for tests that run in a synctest bubble (fake time), with the
// server's hooks recorded: /t/{topic} serves the hub, /p the producer.
type bubble struct {
	hub    *framework.Hub
	sp     *Server
	rec    recorder
	client *http.Client
}

func newBubble(t *testing.T, opts *Options, p Producer) *bubble {
	b := &bubble{hub: &framework.Hub{}}
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Hooks = b.rec.hooks()
	var err error
	if b.sp, err = New(&o); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /t/{topic}", b.sp.Topic(b.hub, pathTopic))
	if p != nil {
		mux.Handle("GET /p", b.sp.Stream(p))
	}
	l := pipenet.Listen()
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	tr := &http.Transport{DialContext: l.Dial}
	b.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		b.sp.Close()
		tr.CloseIdleConnections()
		srv.Close()
		b.hub.Close()
	})
	return b
}

// start makes a request in a goroutine; the answer arrives on the channel
// (status -1 when the request failed).
func (b *bubble) start(ctx context.Context, path string, header ...string) <-chan answer {
	got := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://pipe"+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		a, err := fetch(b.client, req)
		if err != nil {
			a.status = -1
		}
		got <- a
	}()
	return got
}

func TestStream(t *testing.T) {
	just := func(items ...any) Producer {
		return func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return rxgo.Just(items...)(), nil
		}
	}
	hourly := func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Interval(time.Hour), nil
	}
	tests := []struct {
		name   string
		opts   *Options
		p      Producer
		query  string
		after  time.Duration
		status int
		data   []string
		cursor string
	}{
		{"first item at once", nil, just("a", "b"), "", 0, http.StatusOK, []string{"a"}, ""},
		{"the client's cursor", nil, just("a"), "?cursor=c-7", 0, http.StatusOK, []string{"a"}, "c-7"},
		{"the event's ID", nil, just(framework.Event{ID: "e-9", Data: []byte("a")}), "?cursor=c-7", 0, http.StatusOK, []string{"a"}, "e-9"},
		{"completes empty", nil, just(), "", 0, http.StatusOK, nil, ""},
		{"nothing within the wait", nil, hourly, "?cursor=c-7", DefaultWait, http.StatusNoContent, nil, "c-7"},
		{"a wait of its own", &Options{Wait: time.Second}, hourly, "", time.Second, http.StatusNoContent, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var stopped atomic.Int32
				p := func(r *http.Request, cursor string) (rxgo.Observable, error) {
					context.AfterFunc(r.Context(), func() { stopped.Add(1) })
					return tt.p(r, cursor)
				}
				b := newBubble(t, tt.opts, p)
				start := time.Now()
				a := <-b.start(context.Background(), "/p"+tt.query)
				if d := time.Since(start); d != tt.after {
					t.Errorf("answered after %v, want %v", d, tt.after)
				}
				bodyCursor := tt.cursor
				if tt.status != http.StatusOK {
					bodyCursor = "" // no body
				}
				if a.status != tt.status || !slices.Equal(a.data(), tt.data) || a.body.Cursor != bodyCursor || a.header.Get(CursorHeader) != tt.cursor {
					t.Errorf("got %d %q %v, want %d %q cursor %q", a.status, a.raw, a.header, tt.status, tt.data, tt.cursor)
				}
				interval := strconv.FormatInt(DefaultInterval.Milliseconds(), 10)
				if a.header.Get(IntervalHeader) != interval || a.header.Get("Cache-Control") != "no-store" || a.header.Get("ETag") != "" {
					t.Errorf("headers %v", a.header)
				}
				if tt.status == http.StatusOK && (a.body.Retry == nil || *a.body.Retry != DefaultInterval.Milliseconds()) {
					t.Errorf("retry %v", a.body.Retry)
				}
				synctest.Wait() // AfterFunc's goroutine
				if stopped.Load() != 1 {
					t.Error("the producer still runs after the answer")
				}
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
	// own is the reason of a request closed with the error given to the
	// Error hook; refused that of one not opened.
	var own, refused error
	tests := []struct {
		name     string
		path     string
		header   []string
		producer Producer
		act      func(b *bubble, cancel func())
		status   int
		message  string // contained in the error's message
		reason   error
		errors   []error
	}{
		{"data", "/t/t?cursor=0", nil, nil, nil, http.StatusOK, "", ErrCompleted, nil},
		{"not modified", "/t/t", []string{"If-None-Match", "*"}, nil, nil, http.StatusNotModified, "", ErrCompleted, nil},
		{"bad cursor", "/t/t?cursor=zz", nil, nil, nil, http.StatusBadRequest, "cursor", refused, nil},
		{"bad topic", "/t/a..b", nil, nil, nil, http.StatusBadRequest, "a..b", refused, nil},
		{"after close", "/t/t", nil, nil, func(b *bubble, cancel func()) {
			b.sp.Close()
		}, http.StatusServiceUnavailable, "shutting down", refused, nil},
		{"producer data", "/p", nil, just("x"), nil, http.StatusOK, "", ErrCompleted, nil},
		{"producer nothing", "/p", nil, hourly, nil, http.StatusNoContent, "", ErrCompleted, nil},
		{"producer error", "/p", nil, func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return nil, boom
		}, nil, http.StatusInternalServerError, "boom", boom, []error{boom}},
		{"error item", "/p", nil, just(boom), nil, http.StatusInternalServerError, "boom", boom, []error{boom}},
		{"status error", "/p", nil, func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return nil, teapot
		}, nil, http.StatusTeapot, "no", teapot, []error{teapot}},
		{"not an event", "/p", nil, just(struct{ N int }{1}), nil, http.StatusInternalServerError, "struct { N int } is not an event", own, nil},
		{"producer client gone", "/p", nil, hourly, func(b *bubble, cancel func()) {
			cancel()
		}, -1, "", ErrClientGone, nil},
		{"producer shutdown", "/p", nil, hourly, func(b *bubble, cancel func()) {
			b.sp.Close()
		}, http.StatusServiceUnavailable, "shutting down", ErrShutdown, nil},
		{"producer after close", "/p", nil, just("x"), func(b *bubble, cancel func()) {
			b.sp.Close()
		}, http.StatusServiceUnavailable, "shutting down", refused, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := newBubble(t, &Options{Wait: time.Minute}, tt.producer)
				b.hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				if strings.Contains(tt.name, "after close") {
					tt.act(b, cancel) // before the request
				}
				got := b.start(ctx, tt.path, tt.header...)
				synctest.Wait()
				if tt.act != nil && !strings.Contains(tt.name, "after close") {
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
				case tt.status == http.StatusBadRequest || strings.Contains(tt.name, "after close"):
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
					if c.Transport != "shortpoll" || c.ID == "" || c.URL.Path != strings.Split(tt.path, "?")[0] {
						t.Errorf("conn %+v", c)
					}
					if wantTopics := []string{"t"}; tt.producer == nil && !slices.Equal(c.Topics, wantTopics) || tt.producer != nil && c.Topics != nil {
						t.Errorf("conn topics %q", c.Topics)
					}
				}
				if n := b.sp.Connections(); n != 0 {
					t.Errorf("%d requests still open", n)
				}
			})
		})
	}
}

// TestConnections: a poll of a producer counts while it waits, and Close
// answers it 503 with a jittered Retry-After of the interval.
func TestConnections(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, &Options{Wait: time.Hour, Interval: 3 * time.Second}, func(r *http.Request, cursor string) (rxgo.Observable, error) {
			return streams.Interval(2 * time.Hour), nil
		})
		got := b.start(context.Background(), "/p?cursor=c-1")
		synctest.Wait()
		if n := b.sp.Connections(); n != 1 {
			t.Fatalf("%d connections, want 1", n)
		}
		b.sp.Close()
		a := <-got
		ra, err := strconv.Atoi(a.header.Get("Retry-After"))
		if a.status != http.StatusServiceUnavailable || err != nil || ra < 3 || ra > 6 || a.header.Get(CursorHeader) != "c-1" {
			t.Errorf("got %d %v", a.status, a.header)
		}
		synctest.Wait()
		if n := b.sp.Connections(); n != 0 {
			t.Errorf("%d connections after Close", n)
		}
	})
}

// TestClientStream: the Client follows a producer at the server's
// interval, whether a poll is answered with the current value or 204.
func TestClientStream(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var polls atomic.Int32
		b := newBubble(t, &Options{Interval: time.Second}, func(r *http.Request, cursor string) (rxgo.Observable, error) {
			if polls.Add(1)%2 == 0 {
				return streams.Interval(time.Hour), nil // nothing: 204
			}
			return rxgo.Just("now")(), nil
		})
		c, err := NewClient("http://pipe/p", &ClientOptions{HTTPClient: b.client, Interval: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		items := c.Events().Observe(rxgo.WithContext(ctx))
		start := time.Now()
		for range 3 {
			if it := <-items; it.E != nil || string(it.V.(framework.Event).Data) != "now" {
				t.Fatalf("item %+v", it)
			}
		}
		// Polls 1, 3 and 5 answered; 2 and 4 waited DefaultWait for a 204.
		if d, want := time.Since(start), 4*time.Second+2*DefaultWait; d != want {
			t.Errorf("3 values after %v, want %v", d, want)
		}
		cancel()
		for range items {
		}
	})
}
