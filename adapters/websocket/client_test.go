package websocket

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// observe collects the items of obs until n arrived or it ends.
func observe(t *testing.T, obs rxgo.Observable, n int) (items []rxgo.Item, completed bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := obs.Observe(rxgo.WithContext(ctx))
	for len(items) < n {
		it, ok := <-ch
		if !ok {
			if ctx.Err() != nil {
				t.Fatalf("timed out after %d items", len(items))
			}
			return items, true
		}
		items = append(items, it)
	}
	cancel()
	for range ch { // the observation ends with its context
	}
	return items, false
}

func newClient(t *testing.T, url string, opts *ClientOptions) *Client {
	t.Helper()
	o := ClientOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	if opts != nil {
		o.Cursor, o.Format, o.MaxAttempts = opts.Cursor, opts.Format, opts.MaxAttempts
	}
	c, err := NewClient(url, &o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestClientResume: the server drops the first connection (1013) after two
// events; the client reconnects with the last ID and misses nothing.
func TestClientResume(t *testing.T) {
	hub := newHub(t)
	defer hub.Close()
	var conns atomic.Int32
	var mu sync.Mutex
	var cursors []string
	f := newFixture(t, &Options{Hooks: Hooks{Opened: func(c *Conn) {
		mu.Lock()
		cursors = append(cursors, c.Cursor)
		mu.Unlock()
	}}})
	f.mux.Handle("GET /t", f.s.Stream(func(_ *http.Request, cursor string) (rxgo.Observable, error) {
		topic := streams.Topic(hub, "t", cursor)
		if conns.Add(1) > 1 {
			return topic, nil
		}
		return streams.Generate(func(ctx context.Context, emit func(any) error) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			items := topic.Observe(rxgo.WithContext(ctx))
			for range 2 {
				if err := emit((<-items).V); err != nil {
					return err
				}
			}
			return framework.ErrOverflow
		}), nil
	}))
	publish := func(data string) string {
		id, err := hub.Publish(context.Background(), "t", framework.Event{Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	c := newClient(t, f.url("/t"), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := c.Events().Observe(rxgo.WithContext(ctx))
	waitFor(t, "the subscription", func() bool { return hub.Topics() == 1 })
	want := []string{publish("1"), publish("2")}
	var got []string
	for it := range ch {
		if it.E != nil {
			t.Fatal(it.E)
		}
		ev := it.V.(framework.Event)
		got = append(got, ev.ID)
		if len(got) == 2 {
			want = append(want, publish("3"), publish("4"))
		}
		if len(got) == 4 {
			cancel()
		}
	}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] || got[3] != want[3] {
		t.Fatalf("got IDs %v, want %v", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(cursors) != 2 || cursors[0] != "" || cursors[1] != want[1] {
		t.Fatalf("handshakes carried cursors %q, want [\"\" %s]", cursors, want[1])
	}
}

func TestClient(t *testing.T) {
	hub := newHub(t)
	defer hub.Close()
	if _, err := hub.Publish(context.Background(), "old", framework.Event{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	f.mux.Handle("GET /done", f.s.Stream(just("a", framework.Event{Data: []byte{0xff, 0}}, framework.Gap{Last: "1", Next: "3"})))
	text, err := New(&Options{Format: FormatText, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer text.Close()
	f.mux.Handle("GET /echo", text.Duplex(reply))

	t.Run("gap", func(t *testing.T) {
		items, _ := observe(t, newClient(t, f.url("/topics/old/ws"), &ClientOptions{Cursor: "zzz-0"}).Events(), 2)
		g, ok := items[0].V.(framework.Gap)
		ev, ok2 := items[1].V.(framework.Event)
		if !ok || g.Last != "zzz-0" || !ok2 || string(ev.Data) != "x" || g.Next != ev.ID {
			t.Fatalf("got %+v", items)
		}
	})
	t.Run("completion", func(t *testing.T) {
		items, completed := observe(t, newClient(t, f.url("/done"), nil).Events(), 4)
		if !completed || len(items) != 3 {
			t.Fatalf("got %d items %+v, completed %v; want 3 then completion", len(items), items, completed)
		}
		if ev := items[1].V.(framework.Event); string(ev.Data) != "\xff\x00" {
			t.Fatalf("binary data came back as %q", ev.Data)
		}
		if g := items[2].V.(framework.Gap); g != (framework.Gap{Last: "1", Next: "3"}) {
			t.Fatalf("gap %+v", g)
		}
	})
	t.Run("send", func(t *testing.T) {
		c := newClient(t, f.url("/echo"), &ClientOptions{Format: FormatText})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ch := c.Events().Observe(rxgo.WithContext(ctx))
		if err := c.Send(ctx, MessageText, []byte("你好")); err != nil {
			t.Fatal(err)
		}
		it := <-ch
		if ev, ok := it.V.(framework.Event); !ok || string(ev.Data) != "服务器回复: 你好" {
			t.Fatalf("got %+v", it)
		}
		cancel()
		for range ch {
		}
	})
	t.Run("refused", func(t *testing.T) {
		items, _ := observe(t, newClient(t, f.url("/missing"), nil).Events(), 1)
		var se *StatusError
		if len(items) != 1 || !errors.As(items[0].E, &se) || se.Code != http.StatusNotFound {
			t.Fatalf("got %+v, want a 404 StatusError", items)
		}
	})
	t.Run("refused with a message", func(t *testing.T) {
		f.mux.Handle("GET /login", f.s.Stream(func(*http.Request, string) (rxgo.Observable, error) {
			return nil, &StatusError{Code: http.StatusUnauthorized, Message: "log in first"}
		}))
		items, _ := observe(t, newClient(t, f.url("/login"), nil).Events(), 1)
		var se *StatusError
		if len(items) != 1 || !errors.As(items[0].E, &se) || se.Code != http.StatusUnauthorized || se.Message != "log in first" {
			t.Fatalf("got %+v, want the server's 401 StatusError", items)
		}
	})
	t.Run("attempts", func(t *testing.T) {
		f.mux.HandleFunc("GET /busy", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
		items, _ := observe(t, newClient(t, f.url("/busy"), &ClientOptions{MaxAttempts: 2}).Events(), 1)
		if len(items) != 1 || items[0].E == nil {
			t.Fatalf("got %+v, want an error after 2 attempts", items)
		}
	})
}

func TestNewClient(t *testing.T) {
	for _, tt := range []struct {
		url  string
		opts *ClientOptions
		ok   bool
	}{
		{"ws://h/p", nil, true},
		{"https://h/p", nil, true},
		{"ftp://h/p", nil, false},
		{"ws://h/p", &ClientOptions{MinBackoff: -1}, false},
		{"ws://h/p", &ClientOptions{Format: 9}, false},
	} {
		if _, err := NewClient(tt.url, tt.opts); (err == nil) != tt.ok {
			t.Errorf("NewClient(%q, %+v): %v", tt.url, tt.opts, err)
		}
	}
}

// TestClientOverflowResume: a consumer that stops reading while a topic
// races ahead has its connection closed with 1013 (its queue overflowed);
// the client reconnects with its last ID and gets every event from
// history, in order, once.
func TestClientOverflowResume(t *testing.T) {
	broker, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	hub, err := framework.NewHub(&framework.HubOptions{Broker: broker, QueueSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	f := newFixture(t, nil)
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	publish := func(i int) string {
		data := strconv.Itoa(i) + ":" + strings.Repeat("x", 32<<10)
		id, err := hub.Publish(ctx, "fast", framework.Event{Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	start := publish(0)
	ch := newClient(t, f.url("/topics/fast/ws"), &ClientOptions{Cursor: start}).Events().Observe(rxgo.WithContext(ctx))
	publish(1)
	if it := <-ch; it.E != nil || !strings.HasPrefix(string(it.V.(framework.Event).Data), "1:") {
		t.Fatalf("first item %+v", it)
	}
	// The consumer does not read while 300 events of 32 KiB are published.
	const n = 300
	for i := 2; i < n; i++ {
		publish(i)
	}
	for i := 2; i < n; i++ {
		it := <-ch
		if it.E != nil {
			t.Fatal(it.E)
		}
		if got := string(it.V.(framework.Event).Data); !strings.HasPrefix(got, strconv.Itoa(i)+":") {
			t.Fatalf("event %d: got %.10q", i, got)
		}
	}
	cancel()
	for range ch {
	}
	if cl := f.rec.next(t); !errors.Is(cl.reason, framework.ErrOverflow) || CloseCode(cl.reason) != StatusTryAgainLater {
		t.Fatalf("first connection ended with %v, want an overflow, 1013", cl.reason)
	}
}
