package sse

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// hookLog records the calls of a Server's Hooks about one stream, and
// fails the test at once on a call out of turn: a second Opened or
// Closed, an Error or Closed before Opened, anything after Closed, or a
// Conn that is not the one opened.
type hookLog struct {
	t      *testing.T
	mu     sync.Mutex
	conn   *Conn
	opened int
	closed int
	errs   []error
	reason error
}

func (h *hookLog) hooks() Hooks {
	return Hooks{
		Opened: func(c *Conn) {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.opened++; h.opened > 1 {
				h.t.Errorf("Opened called %d times", h.opened)
			}
			h.conn = c
		},
		Error: func(c *Conn, err error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.inTurn("Error", c)
			h.errs = append(h.errs, err)
		},
		Closed: func(c *Conn, reason error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.inTurn("Closed", c)
			if h.closed++; h.closed > 1 {
				h.t.Errorf("Closed called %d times, now with %v (first with %v)", h.closed, reason, h.reason)
				return
			}
			h.reason = reason
		},
	}
}

func (h *hookLog) inTurn(hook string, c *Conn) {
	switch {
	case h.opened == 0:
		h.t.Errorf("%s called before Opened", hook)
	case h.closed > 0:
		h.t.Errorf("%s called after Closed", hook)
	case c != h.conn:
		h.t.Errorf("%s called with another Conn than Opened", hook)
	}
}

// check waits for the server's streams to end (its handlers call every
// hook before they stop counting as connections), then checks that the
// stream was opened once, met errs errors and was closed once with want.
func (h *hookLog) check(t *testing.T, s *Server, want error, errs int) {
	t.Helper()
	waitFor(t, "the stream to end", func() bool { return s.Connections() == 0 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.opened != 1 || h.closed != 1 {
		t.Fatalf("Opened %d times, Closed %d times; want once each", h.opened, h.closed)
	}
	if !errors.Is(h.reason, want) {
		t.Errorf("Closed with %v, want %v", h.reason, want)
	}
	if len(h.errs) != errs {
		t.Errorf("Error called with %v, want %d errors", h.errs, errs)
	}
	for _, err := range h.errs {
		if !errors.Is(h.reason, err) && !errors.Is(err, want) {
			t.Errorf("Error called with %v, which did not end the stream (%v)", err, h.reason)
		}
	}
}

// noHooks fails the test on any call: for requests that are refused.
func noHooks(t *testing.T) Hooks {
	return Hooks{
		Opened: func(c *Conn) { t.Errorf("Opened called for %s", c.URL) },
		Error:  func(c *Conn, err error) { t.Errorf("Error called for %s: %v", c.URL, err) },
		Closed: func(c *Conn, reason error) { t.Errorf("Closed called for %s: %v", c.URL, reason) },
	}
}

// drain reads rs to the end of the response.
func drain(t *testing.T, rs *rawStream) {
	t.Helper()
	for {
		if _, err := rs.next(); err != nil {
			if err != io.EOF {
				t.Errorf("the response ended with %v, want its end", err)
			}
			return
		}
	}
}

// hookFixture is what ends a stream of TestHooks: its app, the stream, and
// the gate of the route that holds its second write.
type hookFixture struct {
	*app
	rs               *rawStream
	entered, release chan struct{}
}

// TestHooks: for each way an SSE stream ends, a producer's or a hub's, the
// hooks are told once each, in turn, with the reason.
func TestHooks(t *testing.T) {
	errBoom := errors.New("boom")
	const queue = 2
	waitDone := func(ctx context.Context, emit func(any) error) error {
		<-ctx.Done()
		return ctx.Err() // an error item after the end: not the reason
	}
	tests := []struct {
		name     string
		producer func(ctx context.Context, emit func(any) error) error // served at /s
		path     string
		header   http.Header
		end      func(t *testing.T, f *hookFixture)
		reason   error
		errs     int
		cursor   string
		topics   []string
	}{
		{
			name: "producer completes",
			producer: func(ctx context.Context, emit func(any) error) error {
				return emit("a")
			},
			path:   "/s",
			header: http.Header{"Last-Event-Id": {"41"}},
			end:    func(t *testing.T, f *hookFixture) { drain(t, f.rs) },
			reason: ErrCompleted,
			cursor: "41",
		},
		{
			name: "producer's error",
			producer: func(ctx context.Context, emit func(any) error) error {
				if err := emit("a"); err != nil {
					return err
				}
				return errBoom
			},
			path:   "/s",
			end:    func(t *testing.T, f *hookFixture) { drain(t, f.rs) },
			reason: errBoom,
			errs:   1,
		},
		{
			name: "an item that cannot be sent",
			producer: func(ctx context.Context, emit func(any) error) error {
				return emit(framework.Event{Data: []byte("\xff")})
			},
			path:   "/s",
			end:    func(t *testing.T, f *hookFixture) { drain(t, f.rs) },
			reason: ErrNotText,
			errs:   1,
		},
		{
			name:     "producer, client gone",
			producer: waitDone,
			path:     "/s",
			end:      func(t *testing.T, f *hookFixture) { f.rs.resp.Body.Close() },
			reason:   ErrClientGone,
		},
		{
			name:     "producer, Close",
			producer: waitDone,
			path:     "/s",
			end: func(t *testing.T, f *hookFixture) {
				f.s.Close()
				drain(t, f.rs)
			},
			reason: ErrShutdown,
		},
		{
			name:     "producer, a deadline on the request",
			producer: waitDone,
			path:     "/deadline/s",
			end:      func(t *testing.T, f *hookFixture) { drain(t, f.rs) },
			reason:   context.DeadlineExceeded,
			errs:     1,
		},
		{
			name:   "topic, client gone",
			path:   "/topics/news",
			end:    func(t *testing.T, f *hookFixture) { f.rs.resp.Body.Close() },
			reason: ErrClientGone,
			topics: []string{"news"},
		},
		{
			name: "topic, Close",
			path: "/topics/news",
			end: func(t *testing.T, f *hookFixture) {
				f.s.Close()
				drain(t, f.rs)
			},
			reason: ErrShutdown,
			topics: []string{"news"},
		},
		{
			name: "topic, hub closed",
			path: "/topics/news",
			end: func(t *testing.T, f *hookFixture) {
				f.hub.Close()
				drain(t, f.rs)
			},
			reason: framework.ErrClosed,
			errs:   1,
			topics: []string{"news"},
		},
		{
			name:   "topics, client gone",
			path:   "/topics?topic=a&topic=b",
			end:    func(t *testing.T, f *hookFixture) { f.rs.resp.Body.Close() },
			reason: ErrClientGone,
			topics: []string{"a", "b"},
		},
		{
			name: "topic overflows",
			path: "/gated/topics/news",
			end: func(t *testing.T, f *hookFixture) {
				f.publish(t, "news", "first")
				<-f.entered // its write is held: the queue fills up
				for range queue + 2 {
					f.publish(t, "news", "more")
				}
				close(f.release)
				drain(t, f.rs)
			},
			reason: framework.ErrOverflow,
			errs:   1,
			topics: []string{"news"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &hookLog{t: t}
			a := newApp(t, &Options{Hooks: log.hooks(), Heartbeat: -1, Logger: quiet}, &framework.HubOptions{QueueSize: queue})
			producer := a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
				return streams.Generate(tt.producer), nil
			})
			a.mux.Handle("GET /s", producer)
			a.mux.HandleFunc("GET /deadline/s", func(w http.ResponseWriter, r *http.Request) {
				ctx, cancel := context.WithTimeout(r.Context(), 10*time.Millisecond)
				defer cancel()
				producer.ServeHTTP(w, r.WithContext(ctx))
			})
			a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
			a.mux.Handle("GET /topics", a.s.Topics(a.hub))
			f := &hookFixture{app: a, entered: make(chan struct{}), release: make(chan struct{})}
			a.mux.Handle("GET /gated/topics/{topic}", wrap(a.s.Topic(a.hub, pathTopic), func(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
				return &gatedWriter{ResponseWriter: w, at: 2, entered: f.entered, release: f.release}, r
			}))

			f.rs = openRaw(t, a.ts.URL+tt.path, tt.header)
			tt.end(t, f)
			log.check(t, a.s, tt.reason, tt.errs)
			c := log.conn
			if c.Transport != "sse" || c.ID == "" || c.Cursor != tt.cursor || !slices.Equal(c.Topics, tt.topics) {
				t.Errorf("Conn %+v, want transport sse, an ID, cursor %q, topics %q", c, tt.cursor, tt.topics)
			}
			if !strings.HasPrefix(tt.path, c.URL.Path) {
				t.Errorf("Conn URL %s, want %s", c.URL, tt.path)
			}
		})
	}
}

// TestRefusals: a request that is not served is answered with a JSON
// message, and is never opened: no hook is called.
func TestRefusals(t *testing.T) {
	a := newApp(t, &Options{Hooks: noHooks(t), Logger: quiet}, nil)
	producer := a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		if cursor == "refuse" {
			return nil, &StatusError{Code: http.StatusForbidden, Message: "not yours"}
		}
		return streams.Interval(time.Hour), nil
	})
	a.mux.Handle("/any/s", producer) // no method in the pattern
	a.mux.Handle("/any/topics/{topic}", a.s.Topic(a.hub, pathTopic))
	a.mux.Handle("/any/topics", a.s.Topics(a.hub))
	tests := []struct {
		name, method, path string
		header             http.Header
		status             int
	}{
		{"POST a producer", http.MethodPost, "/any/s", nil, http.StatusMethodNotAllowed},
		{"POST a topic", http.MethodPost, "/any/topics/news", nil, http.StatusMethodNotAllowed},
		{"DELETE topics", http.MethodDelete, "/any/topics?topic=a", nil, http.StatusMethodNotAllowed},
		{"HEAD a producer", http.MethodHead, "/any/s", nil, http.StatusMethodNotAllowed},
		{"HEAD a topic", http.MethodHead, "/any/topics/news", nil, http.StatusMethodNotAllowed},
		{"producer refuses", http.MethodGet, "/any/s", http.Header{"Last-Event-Id": {"refuse"}}, http.StatusForbidden},
		{"bad cursor", http.MethodGet, "/any/topics/news", http.Header{"Last-Event-Id": {"zz"}}, http.StatusBadRequest},
		{"bad topic", http.MethodGet, "/any/topics/a..b", nil, http.StatusBadRequest},
		{"no topic", http.MethodGet, "/any/topics", nil, http.StatusBadRequest},
		{"topic twice", http.MethodGet, "/any/topics?topic=a&topic=a", nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A request that is served would hang: fail it instead.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tt.method, a.ts.URL+tt.path, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == http.StatusMethodNotAllowed {
				if allow := resp.Header.Get("Allow"); allow != http.MethodGet {
					t.Errorf("Allow %q, want GET", allow)
				}
			}
			if tt.method == http.MethodHead {
				resp.Body.Close()
				return
			}
			if msg := jsonError(t, resp); msg == "" {
				t.Error("empty message")
			}
		})
	}
	t.Run("after Close", func(t *testing.T) {
		a.s.Close()
		for _, path := range []string{"/any/s", "/any/topics/news", "/any/topics?topic=a"} {
			resp := get(t, a.ts.URL+path, nil)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				t.Errorf("%s: %d, Retry-After %q; want 503 with one", path, resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			jsonError(t, resp)
		}
	})
	if n := a.s.Connections(); n != 0 {
		t.Errorf("%d connections after refusals", n)
	}
	waitFor(t, "no topic", func() bool { return a.hub.Topics() == 0 })
}
