package sse

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// waitFor polls cond until it holds or a generous bound passes; the bound
// only stops a broken test, it is never what a test measures.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// app is an SSE server and a hub on a ServeMux, served by httptest.
type app struct {
	mux *http.ServeMux
	s   *Server
	hub *framework.Hub
	ts  *httptest.Server
}

// quiet is a Logger for tests whose streams fail on purpose.
var quiet = slog.New(slog.DiscardHandler)

// pathTopic picks the topic of a "/topics/{topic}" pattern.
func pathTopic(r *http.Request) string { return r.PathValue("topic") }

// wrap is a middleware: it serves a request with the writer or the
// request that f makes of them.
func wrap(h http.Handler, f func(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(f(w, r))
	})
}

func newApp(t *testing.T, opts *Options, hubOpts *framework.HubOptions) *app {
	t.Helper()
	// Every stream of these tests that can be parked is: the default.
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hub, err := framework.NewHub(hubOpts)
	if err != nil {
		t.Fatal(err)
	}
	a := &app{mux: http.NewServeMux(), s: s, hub: hub}
	a.ts = httptest.NewServer(a.mux)
	t.Cleanup(func() {
		a.ts.Close()
		a.hub.Close()
	})
	return a
}

func (a *app) publish(t *testing.T, topic, data string) string {
	t.Helper()
	id, err := a.hub.Publish(context.Background(), topic, framework.Event{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// rawEvent is one block of a stream as plain net/http reads it.
type rawEvent struct {
	id, event, data, retry string
	hasID, hasData         bool
	comments               []string
}

// rawStream reads an event stream line by line, without the package's
// decoder, so the tests check the wire and not the decoder's reading of it.
type rawStream struct {
	resp *http.Response
	r    *bufio.Reader
	tip  string // the ID of the last block that held only an id
}

func get(t *testing.T, rawURL string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func openRaw(t *testing.T, rawURL string, header http.Header) *rawStream {
	t.Helper()
	resp := get(t, rawURL, header)
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", rawURL, resp.StatusCode, body)
	}
	return &rawStream{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next block (event, retry hint or comments), or an error
// at the end of the response. A block with only an id (the tip a stream
// without cursor opens with) is recorded in rs.tip and skipped.
func (rs *rawStream) next() (rawEvent, error) {
	for {
		ev, err := rs.block()
		if err == nil && ev.hasID && ev.event == "" && ev.retry == "" && !ev.hasData && ev.comments == nil {
			rs.tip = ev.id
			continue
		}
		return ev, err
	}
}

func (rs *rawStream) block() (rawEvent, error) {
	var ev rawEvent
	var data []string
	seen := false
	for {
		line, err := rs.r.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if !seen {
				continue
			}
			ev.data, ev.hasData = strings.Join(data, "\n"), data != nil
			return ev, nil
		}
		seen = true
		if c, ok := strings.CutPrefix(line, ":"); ok {
			ev.comments = append(ev.comments, strings.TrimPrefix(c, " "))
			if len(data) == 0 && ev.id == "" && ev.event == "" && ev.retry == "" {
				// A comment alone (heartbeat) has no blank line after it.
				return ev, nil
			}
			continue
		}
		name, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch name {
		case "id":
			ev.id, ev.hasID = value, true
		case "event":
			ev.event = value
		case "data":
			data = append(data, value)
		case "retry":
			ev.retry = value
		}
	}
}

func (rs *rawStream) mustNext(t *testing.T) rawEvent {
	t.Helper()
	ev, err := rs.next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return ev
}

// events collects n items from the Go client.
func clientEvents(t *testing.T, rawURL string, opts *ClientOptions, n int) []rxgo.Item {
	t.Helper()
	c, err := NewClient(rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := c.Events().Observe(rxgo.WithContext(ctx))
	defer func() {
		cancel()
		for range ch {
		}
	}()
	var items []rxgo.Item
	timeout := time.After(10 * time.Second)
	for len(items) < n {
		select {
		case it, ok := <-ch:
			if !ok {
				return items
			}
			items = append(items, it)
		case <-timeout:
			t.Fatalf("got %d of %d items", len(items), n)
		}
	}
	return items
}

func TestTopicDelivers(t *testing.T) {
	a := newApp(t, nil, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	datas := []string{"one", "two\rlines", "three\nlines", "four\r\nlines\r\nCRLF", "服务器回复: 你好", ""}
	want := []string{"one", "two\nlines", "three\nlines", "four\nlines\nCRLF", "服务器回复: 你好", ""}

	rs := openRaw(t, a.ts.URL+"/topics/news", nil)
	for name, v := range map[string]string{
		"Content-Type":      "text/event-stream; charset=utf-8",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	} {
		if got := rs.resp.Header.Get(name); got != v {
			t.Errorf("header %s = %q, want %q", name, got, v)
		}
	}
	goClient := make(chan []rxgo.Item)
	go func() {
		goClient <- clientEvents(t, a.ts.URL+"/topics/news", &ClientOptions{MaxAttempts: 1}, len(datas))
	}()
	waitFor(t, "two streams", func() bool { return a.s.Connections() == 2 })

	var ids []string
	for _, d := range datas {
		ids = append(ids, a.publish(t, "news", d))
	}
	for i := range datas {
		ev := rs.mustNext(t)
		if ev.id != ids[i] || ev.data != want[i] || ev.event != "" {
			t.Errorf("raw event %d = %+v, want id %q data %q", i, ev, ids[i], want[i])
		}
	}
	items := <-goClient
	if len(items) != len(datas) {
		t.Fatalf("Go client got %d items, want %d", len(items), len(datas))
	}
	for i, it := range items {
		ev, ok := it.V.(framework.Event)
		if it.E != nil || !ok || ev.ID != ids[i] || string(ev.Data) != want[i] {
			t.Errorf("Go client item %d = %+v, want id %q data %q", i, it, ids[i], want[i])
		}
	}
}

// TestTopicOpensWithTip checks that a stream without a cursor opens with a
// block that sets Last-Event-ID to the topic's tip: a client cut off before
// its first event resumes from there and loses nothing.
func TestTopicOpensWithTip(t *testing.T) {
	a := newApp(t, nil, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	a.publish(t, "news", "before")
	tip := a.publish(t, "news", "tip")

	rs := openRaw(t, a.ts.URL+"/topics/news", nil)
	first, err := rs.block()
	if err != nil {
		t.Fatal(err)
	}
	if !first.hasID || first.id != tip || first.hasData {
		t.Fatalf("first block %+v, want only id %q", first, tip)
	}
	// Cut off before any event; what is published meanwhile is not lost.
	rs.resp.Body.Close()
	missed := a.publish(t, "news", "while away")
	again := openRaw(t, a.ts.URL+"/topics/news", http.Header{"Last-Event-ID": {first.id}})
	if ev := again.mustNext(t); ev.id != missed || ev.data != "while away" {
		t.Fatalf("resumed with %+v, want %q", ev, missed)
	}
	if again.tip != "" {
		t.Fatalf("a stream with a cursor opened with tip %q", again.tip)
	}
}

func TestTopicResume(t *testing.T) {
	a := newApp(t, nil, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	tests := []struct {
		name   string
		query  func(ids []string) string
		header func(ids []string) http.Header
	}{
		{"Last-Event-ID header", nil, func(ids []string) http.Header { return http.Header{"Last-Event-Id": {ids[1]}} }},
		{"lastEventId query", func(ids []string) string { return "?lastEventId=" + url.QueryEscape(ids[1]) }, nil},
		{
			"header wins over query",
			func(ids []string) string { return "?lastEventId=" + url.QueryEscape(ids[0]) },
			func(ids []string) http.Header { return http.Header{"Last-Event-Id": {ids[1]}} },
		},
	}
	for n, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprint("resume-", n)
			var ids []string
			for i := range 5 {
				ids = append(ids, a.publish(t, topic, strconv.Itoa(i)))
			}
			var query string
			var header http.Header
			if tt.query != nil {
				query = tt.query(ids)
			}
			if tt.header != nil {
				header = tt.header(ids)
			}
			rs := openRaw(t, a.ts.URL+"/topics/"+topic+query, header)
			for i := 2; i < 5; i++ {
				ev := rs.mustNext(t)
				if ev.id != ids[i] || ev.data != strconv.Itoa(i) {
					t.Fatalf("event = %+v, want id %q data %d", ev, ids[i], i)
				}
			}
			// Exactly those: the next one is live.
			marker := a.publish(t, topic, "marker")
			if ev := rs.mustNext(t); ev.id != marker {
				t.Fatalf("after the history got %+v, want the marker %q", ev, marker)
			}
		})
	}

	t.Run("Go client", func(t *testing.T) {
		var ids []string
		for i := range 5 {
			ids = append(ids, a.publish(t, "news", strconv.Itoa(i)))
		}
		items := clientEvents(t, a.ts.URL+"/topics/news", &ClientOptions{Cursor: ids[3]}, 1)
		if ev, _ := items[0].V.(framework.Event); ev.ID != ids[4] {
			t.Errorf("first item %+v, want id %q", items[0], ids[4])
		}
	})
}

func TestTopicGap(t *testing.T) {
	broker, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	a := newApp(t, nil, &framework.HubOptions{Broker: broker})
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	var ids []string
	for i := range 6 {
		ids = append(ids, a.publish(t, "news", strconv.Itoa(i)))
	}

	rs := openRaw(t, a.ts.URL+"/topics/news", http.Header{"Last-Event-Id": {ids[0]}})
	ev := rs.mustNext(t)
	var g framework.Gap
	if ev.event != "gap" || json.Unmarshal([]byte(ev.data), &g) != nil {
		t.Fatalf("first block %+v, want a gap event", ev)
	}
	if g != (framework.Gap{Last: ids[0], Next: ids[3]}) {
		t.Errorf("gap %+v, want last %q next %q", g, ids[0], ids[3])
	}
	for i := 3; i < 6; i++ {
		if ev := rs.mustNext(t); ev.id != ids[i] || ev.data != strconv.Itoa(i) {
			t.Errorf("event %+v, want id %q", ev, ids[i])
		}
	}

	items := clientEvents(t, a.ts.URL+"/topics/news", &ClientOptions{Cursor: ids[0]}, 4)
	if g, ok := items[0].V.(framework.Gap); !ok || g.Next != ids[3] {
		t.Errorf("Go client first item %+v, want a framework.Gap to %q", items[0], ids[3])
	}
	if ev, _ := items[3].V.(framework.Event); ev.ID != ids[5] {
		t.Errorf("Go client last item %+v, want id %q", items[3], ids[5])
	}
}

// jsonError reads an error response written as JSON {"message": ...}.
func jsonError(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var body struct{ Message string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("error body: %v", err)
	}
	return body.Message
}

func TestTopicBadRequest(t *testing.T) {
	a := newApp(t, nil, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	tests := []struct {
		name, path string
		header     http.Header
	}{
		{"malformed header cursor", "/topics/news", http.Header{"Last-Event-Id": {"not-a-cursor"}}},
		{"malformed query cursor", "/topics/news?lastEventId=zz", nil},
		{"bad topic", "/topics/a..b", nil},
		{"topic with a space", "/topics/a%20b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, a.ts.URL+tt.path, tt.header)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status %d, want 400", resp.StatusCode)
			}
			if msg := jsonError(t, resp); msg == "" {
				t.Error("empty error message")
			}
		})
	}
	if a.s.Connections() != 0 || a.hub.Topics() != 0 {
		t.Errorf("after refusals: %d open streams, %d topics", a.s.Connections(), a.hub.Topics())
	}
}

func TestStream(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name     string
		producer func(cursor string) rxgo.Observable
		want     []rawEvent // then the response ends, unless open
		open     bool
	}{
		{
			name: "interval",
			producer: func(string) rxgo.Observable {
				return streams.Map(streams.Interval(time.Millisecond), func(n int64) framework.Event {
					return framework.Event{ID: fmt.Sprint(n), Name: "tick", Data: []byte(fmt.Sprint("tick ", n))}
				})
			},
			want: []rawEvent{{id: "0", event: "tick", data: "tick 0"}, {id: "1", event: "tick", data: "tick 1"}, {id: "2", event: "tick", data: "tick 2"}},
			open: true,
		},
		{
			name: "completion ends the response",
			producer: func(string) rxgo.Observable {
				return streams.Generate(func(ctx context.Context, emit func(any) error) error {
					for _, s := range []string{"a", "b\nc"} {
						if err := emit(s); err != nil {
							return err
						}
					}
					return nil
				})
			},
			want: []rawEvent{{data: "a"}, {data: "b\nc"}},
		},
		{
			name: "error item ends the response",
			producer: func(string) rxgo.Observable {
				return streams.Generate(func(ctx context.Context, emit func(any) error) error {
					if err := emit("a"); err != nil {
						return err
					}
					return errBoom
				})
			},
			want: []rawEvent{{data: "a"}, {event: "error", data: "boom"}},
		},
		{
			name: "an item that cannot be sent ends the response",
			producer: func(string) rxgo.Observable {
				return rxgo.Just(framework.Event{Data: []byte("a")}, framework.Event{Data: []byte("\xff")}, framework.Event{Data: []byte("never")})()
			},
			want: []rawEvent{{data: "a"}, {event: "error", data: "rxstream: sse: event cannot be sent: rxstream: sse: data is not valid UTF-8"}},
		},
		{
			name: "cursor is passed",
			producer: func(cursor string) rxgo.Observable {
				return rxgo.Just(framework.Event{Data: []byte("resumed after " + cursor)})()
			},
			want: []rawEvent{{data: "resumed after 41"}},
		},
		{
			name: "gap items",
			producer: func(cursor string) rxgo.Observable {
				return rxgo.Just(framework.Gap{Last: "1", Next: "5"})()
			},
			want: []rawEvent{{event: "gap", data: `{"last":"1","next":"5"}`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(t, nil, nil)
			a.mux.Handle("GET /s", a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
				return tt.producer(cursor), nil
			}))
			rs := openRaw(t, a.ts.URL+"/s", http.Header{"Last-Event-Id": {"41"}})
			for i, w := range tt.want {
				ev := rs.mustNext(t)
				if ev.id != w.id || ev.event != w.event || ev.data != w.data {
					t.Errorf("event %d = %+v, want %+v", i, ev, w)
				}
			}
			if !tt.open {
				if ev, err := rs.next(); err != io.EOF {
					t.Errorf("after the last event: %+v, %v; want the end of the response", ev, err)
				}
			}
			rs.resp.Body.Close()
			waitFor(t, "the stream to end", func() bool { return a.s.Connections() == 0 })
		})
	}
}

func TestStreamClientGone(t *testing.T) {
	a := newApp(t, nil, nil)
	cancelled := make(chan error, 1)
	a.mux.Handle("GET /s", a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Generate(func(ctx context.Context, emit func(any) error) error {
			if err := emit("hello"); err != nil {
				return err
			}
			<-ctx.Done()
			cancelled <- ctx.Err()
			return ctx.Err()
		}), nil
	}))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, a.ts.URL+"/s", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rs := &rawStream{resp: resp, r: bufio.NewReader(resp.Body)}
	if ev := rs.mustNext(t); ev.data != "hello" {
		t.Fatalf("got %+v", ev)
	}
	cancel()
	select {
	case err := <-cancelled:
		if err == nil {
			t.Error("producer context ended without an error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the producer's context was not cancelled")
	}
	waitFor(t, "the handler to return", func() bool { return a.s.Connections() == 0 })
	// TestMain's goleak check proves the producer's goroutines ended too.
}

func TestStreamProducerRefuses(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		message    string // "" : any
		retryAfter string
	}{
		{"StatusError keeps its status", &StatusError{Code: http.StatusForbidden, Message: "not yours"}, http.StatusForbidden, "not yours", ""},
		{"wrapped StatusError", fmt.Errorf("auth: %w", &StatusError{Code: http.StatusUnauthorized, Message: "who?"}), http.StatusUnauthorized, "who?", ""},
		{"StatusError's Retry-After", &StatusError{Code: http.StatusServiceUnavailable, Message: "busy", RetryAfter: 3 * time.Second}, http.StatusServiceUnavailable, "busy", "3"},
		{"plain error: its text is not sent", errors.New("broken"), http.StatusInternalServerError, "Internal Server Error", ""},
		{"no observable", nil, http.StatusInternalServerError, "Internal Server Error", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newApp(t, &Options{Logger: quiet}, nil)
			a.mux.Handle("GET /s", a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
				return nil, tt.err
			}))
			resp := get(t, a.ts.URL+"/s", nil)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, tt.retryAfter)
			}
			if msg := jsonError(t, resp); msg != tt.message {
				t.Errorf("message %q, want %q", msg, tt.message)
			}
			waitFor(t, "the handler to return", func() bool { return a.s.Connections() == 0 })
		})
	}
	t.Run("cursor too long", func(t *testing.T) {
		a := newApp(t, nil, nil)
		a.mux.Handle("GET /s", a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
			t.Error("producer called")
			return nil, nil
		}))
		resp := get(t, a.ts.URL+"/s", http.Header{"Last-Event-Id": {strings.Repeat("1", 65)}})
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("status %d, want 400", resp.StatusCode)
		}
		jsonError(t, resp)
	})
}

// countingWriter counts the writes and flushes a handler makes.
type countingWriter struct {
	http.ResponseWriter
	writes, flushes *atomic.Int32
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	return w.ResponseWriter.Write(p)
}

func (w countingWriter) Flush() {
	w.flushes.Add(1)
	http.NewResponseController(w.ResponseWriter).Flush()
}

func (w countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestCoalescing: events that queue up while a write is in progress go out
// in one write and one flush, whether they come from history or live.
func TestCoalescing(t *testing.T) {
	t.Run("history", func(t *testing.T) {
		a := newApp(t, nil, nil)
		var writes, flushes atomic.Int32
		count := func(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
			return countingWriter{w, &writes, &flushes}, r
		}
		a.mux.Handle("GET /topics/{topic}", wrap(a.s.Topic(a.hub, pathTopic), count))
		seed := a.publish(t, "news", "seed")
		var ids []string
		for i := range 50 {
			ids = append(ids, a.publish(t, "news", strconv.Itoa(i)))
		}
		rs := openRaw(t, a.ts.URL+"/topics/news", http.Header{"Last-Event-Id": {seed}})
		for i := range 50 {
			if ev := rs.mustNext(t); ev.id != ids[i] {
				t.Fatalf("event %d: %+v", i, ev)
			}
		}
		// One flush for the headers, one write and one flush for the 50 events.
		if w, f := writes.Load(), flushes.Load(); w != 1 || f != 2 {
			t.Errorf("50 queued events took %d writes and %d flushes, want 1 and 2", w, f)
		}
	})
	t.Run("live", func(t *testing.T) {
		a := newApp(t, nil, nil)
		var writes, flushes atomic.Int32
		entered, release := make(chan struct{}), make(chan struct{})
		gate := func(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
			return &gatedWriter{
				ResponseWriter: countingWriter{w, &writes, &flushes},
				at:             2, entered: entered, release: release,
			}, r
		}
		a.mux.Handle("GET /topics/{topic}", wrap(a.s.Topic(a.hub, pathTopic), gate))
		rs := openRaw(t, a.ts.URL+"/topics/news", nil) // write 1: the tip's id
		first := a.publish(t, "news", "first")
		<-entered // write 2, of "first", is held: the next 50 queue up live
		var ids []string
		for i := range 50 {
			ids = append(ids, a.publish(t, "news", strconv.Itoa(i)))
		}
		close(release)
		if ev := rs.mustNext(t); ev.id != first {
			t.Fatalf("first event: %+v", ev)
		}
		for i := range 50 {
			if ev := rs.mustNext(t); ev.id != ids[i] {
				t.Fatalf("event %d: %+v", i, ev)
			}
		}
		if w := writes.Load(); w != 3 {
			t.Errorf("the tip, one event, then 50 queued live: %d writes, want 3", w)
		}
	})
}

// gatedWriter holds its at-th write until release is closed, telling
// entered when it starts holding.
type gatedWriter struct {
	http.ResponseWriter
	n                int
	at               int
	entered, release chan struct{}
}

func (w *gatedWriter) Write(p []byte) (int, error) {
	if w.n++; w.n == w.at {
		close(w.entered)
		<-w.release
	}
	return w.ResponseWriter.Write(p)
}

func (w *gatedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestIdleReleasesBurstBuffers: after a burst of 128 events of 1 KiB, an
// idle stream holds what it held before the burst, within 1 KiB.
func TestIdleReleasesBurstBuffers(t *testing.T) {
	broker, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 1}) // history holds 1 KiB
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(t, &Options{Heartbeat: -1}, &framework.HubOptions{Broker: broker})
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	const conns, burst = 100, 128
	streams := make([]*rawStream, conns)
	for i := range streams {
		streams[i] = openRaw(t, a.ts.URL+"/topics/burst", nil)
	}
	heap := func() int64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()
	data := strings.Repeat("x", 1<<10)
	for range burst {
		a.publish(t, "burst", data)
	}
	for _, rs := range streams {
		for range burst {
			rs.mustNext(t)
		}
	}
	// The handlers let go of their buffers once they find nothing more to
	// send, just after their last write: wait for that, bounded.
	var grown int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		grown = (heap() - before) / conns
		if grown <= 1<<10 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if grown > 1<<10 {
		t.Fatalf("an idle stream holds %d bytes more after a burst of %d x 1 KiB, want at most 1 KiB", grown, burst)
	}
}

// plainWriter is a response writer that cannot flush, as a timeout
// middleware's buffering writer is (echo's old Timeout middleware).
type plainWriter struct{ w http.ResponseWriter }

func (p plainWriter) Header() http.Header         { return p.w.Header() }
func (p plainWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p plainWriter) WriteHeader(code int)        { p.w.WriteHeader(code) }

// TestCannotFlush: a stream behind a writer that cannot flush is refused
// with a 500 that names the likely cause, before any subscription or
// producer.
func TestCannotFlush(t *testing.T) {
	a := newApp(t, &Options{Hooks: noHooks(t)}, nil)
	producer := a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		t.Error("producer called")
		return nil, nil
	})
	topic := a.s.Topic(a.hub, pathTopic)
	plain := func(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
		return plainWriter{w}, r
	}
	a.mux.Handle("GET /plain/topics/{topic}", wrap(topic, plain))
	a.mux.Handle("GET /plain/s", wrap(producer, plain))
	a.mux.Handle("GET /timeout/topics/{topic}", http.TimeoutHandler(topic, time.Minute, "timeout"))
	a.mux.Handle("GET /timeout/s", http.TimeoutHandler(producer, time.Minute, "timeout"))
	for _, path := range []string{"/plain/topics/news", "/plain/s", "/timeout/topics/news", "/timeout/s"} {
		t.Run(path, func(t *testing.T) {
			resp := get(t, a.ts.URL+path, nil)
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("status %d, want 500", resp.StatusCode)
			}
			msg := jsonError(t, resp)
			if !strings.Contains(msg, "cannot flush") || !strings.Contains(msg, "echo's Timeout middleware") {
				t.Errorf("message %q does not say the writer cannot flush, nor name echo's Timeout middleware", msg)
			}
		})
	}
	if a.hub.Topics() != 0 {
		t.Errorf("%d topics left", a.hub.Topics())
	}
}

func TestGracefulShutdown(t *testing.T) {
	// 2ms: the hint is a whole number of milliseconds, and rounding it up
	// must not reach 2*ShutdownRetry.
	for _, retry := range []time.Duration{200 * time.Millisecond, 2 * time.Millisecond} {
		t.Run(retry.String(), func(t *testing.T) {
			testGracefulShutdown(t, retry)
		})
	}
}

func testGracefulShutdown(t *testing.T, retry time.Duration) {
	a := newApp(t, &Options{ShutdownRetry: retry}, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	a.mux.Handle("GET /s", a.s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Interval(time.Hour), nil
	}))
	a.ts.Config.RegisterOnShutdown(a.s.Close)
	paths := []string{"/topics/a", "/topics/b", "/s"}
	var rss []*rawStream
	for _, p := range paths {
		rss = append(rss, openRaw(t, a.ts.URL+p, nil))
	}
	waitFor(t, "3 streams", func() bool { return a.s.Connections() == 3 })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.ts.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for i, rs := range rss {
		var hint string
		for {
			ev, err := rs.next()
			if err != nil {
				break
			}
			if ev.retry != "" {
				hint = ev.retry
			}
		}
		ms, err := strconv.Atoi(hint)
		if err != nil || time.Duration(ms)*time.Millisecond < retry || time.Duration(ms)*time.Millisecond >= 2*retry {
			t.Errorf("%s: retry hint %q, want [%d, %d) ms", paths[i], hint, retry.Milliseconds(), 2*retry.Milliseconds())
		}
	}
	if n := a.s.Connections(); n != 0 {
		t.Errorf("%d streams open after Shutdown", n)
	}

	// A new request after Close is refused.
	ts2 := httptest.NewServer(a.mux)
	defer ts2.Close()
	for _, p := range paths {
		resp := get(t, ts2.URL+p, nil)
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s after Close: %d, Retry-After %q; want 503 with Retry-After", p, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
		jsonError(t, resp)
	}
}

func TestManySubscribers(t *testing.T) {
	const n = 500
	// 500 streams at once from one address: past the default limits.
	a := newApp(t, &Options{Heartbeat: -1, Gate: transport.Unlimited()}, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	tr := &http.Transport{MaxIdleConnsPerHost: -1}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	base := runtime.NumGoroutine()

	leave := make(chan struct{})
	got := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			resp, err := client.Get(a.ts.URL + "/topics/crowd")
			if err != nil {
				got <- err.Error()
				return
			}
			defer resp.Body.Close()
			ev, err := (&rawStream{resp: resp, r: bufio.NewReader(resp.Body)}).next()
			if err != nil {
				got <- err.Error()
			} else {
				got <- ev.data
			}
			<-leave
		})
	}
	waitFor(t, fmt.Sprint(n, " streams"), func() bool { return a.s.Connections() == n })
	a.publish(t, "crowd", "to all")
	for i := range n {
		if d := <-got; d != "to all" {
			t.Fatalf("client %d got %q", i, d)
		}
	}
	close(leave)
	wg.Wait()
	tr.CloseIdleConnections()
	waitFor(t, "every stream to end", func() bool { return a.s.Connections() == 0 })
	waitFor(t, "the topic to go", func() bool { return a.hub.Topics() == 0 })
	var now int
	deadline := time.Now().Add(10 * time.Second)
	for now = runtime.NumGoroutine(); now > base && time.Now().Before(deadline); now = runtime.NumGoroutine() {
		time.Sleep(5 * time.Millisecond)
	}
	if now > base {
		t.Errorf("%d goroutines, baseline %d", now, base)
	}
}
