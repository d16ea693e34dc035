package adapters_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	rxws "github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// The multiplexed Go clients, one table over every transport: one client,
// many topics, each subscription's observable exactly its topic's items.

// multiClient is what every transport's MultiClient offers.
type multiClient interface {
	Subscribe(topic, cursor string) (*sse.Subscription, error)
	Close()
}

// muxTransport serves Topics at /topics and makes a MultiClient of it.
type muxTransport struct {
	name   string
	mount  func(mux *http.ServeMux, hub *framework.Hub)
	client func(base string) (multiClient, error)
}

var muxQuiet = slog.New(slog.DiscardHandler)

func muxTransports() []muxTransport {
	return []muxTransport{
		{
			name: "sse",
			mount: func(mux *http.ServeMux, hub *framework.Hub) {
				s := must(sse.New(&sse.Options{Heartbeat: -1}))
				mux.Handle("/topics", s.Topics(hub))
			},
			client: func(base string) (multiClient, error) {
				return sse.NewMultiClient(base+"/topics", &sse.ClientOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: muxQuiet})
			},
		},
		{
			name: "longpoll",
			mount: func(mux *http.ServeMux, hub *framework.Hub) {
				s := must(longpoll.New(&longpoll.Options{MaxEvents: 7}))
				mux.Handle("/topics", s.Topics(hub))
			},
			client: func(base string) (multiClient, error) {
				return longpoll.NewMultiClient(base+"/topics", &longpoll.ClientOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: muxQuiet})
			},
		},
		{
			name: "shortpoll",
			mount: func(mux *http.ServeMux, hub *framework.Hub) {
				s := must(shortpoll.New(&shortpoll.Options{MaxEvents: 7, Interval: time.Millisecond}))
				mux.Handle("/topics", s.Topics(hub))
			},
			client: func(base string) (multiClient, error) {
				return shortpoll.NewMultiClient(base+"/topics", &shortpoll.ClientOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: muxQuiet})
			},
		},
		{
			name: "websocket",
			mount: func(mux *http.ServeMux, hub *framework.Hub) {
				s := must(rxws.New(nil))
				mux.Handle("/topics", s.Topics(hub))
			},
			client: func(base string) (multiClient, error) {
				return rxws.NewMultiClient(base+"/topics", &rxws.ClientOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: muxQuiet})
			},
		},
	}
}

// muxServer is a transport's Topics endpoint on a fixed loopback address
// that can be restarted.
type muxServer struct {
	tr   muxTransport
	hub  *framework.Hub
	addr string
	mu   sync.Mutex
	srv  *http.Server
	done chan struct{}
}

func newMuxServer(t *testing.T, tr muxTransport, history int) *muxServer {
	t.Helper()
	broker := must(framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: history}))
	hub := must(framework.NewHub(&framework.HubOptions{Broker: broker}))
	l := must(net.Listen("tcp", "127.0.0.1:0"))
	s := &muxServer{tr: tr, hub: hub, addr: l.Addr().String()}
	s.serve(l)
	t.Cleanup(func() {
		s.stop()
		hub.Close()
		broker.Close()
	})
	return s
}

func (s *muxServer) url() string { return "http://" + s.addr }

func (s *muxServer) serve(l net.Listener) {
	mux := http.NewServeMux()
	s.tr.mount(mux, s.hub)
	s.srv = &http.Server{Handler: mux}
	s.done = make(chan struct{})
	srv, done := s.srv, s.done
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
}

func (s *muxServer) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		s.srv.Close()
		<-s.done
		s.srv = nil
	}
}

// restart closes every connection, calls down (if not nil), and serves
// again on the same address.
func (s *muxServer) restart(t *testing.T, down func()) {
	s.stop()
	time.Sleep(3 * time.Millisecond)
	if down != nil {
		down()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		t.Error(err)
		return
	}
	s.serve(l)
}

func (s *muxServer) publish(t *testing.T, topic, data string) framework.Event {
	id, err := s.hub.Publish(context.Background(), topic, framework.Event{Data: []byte(data)})
	if err != nil {
		t.Error(err)
	}
	return framework.Event{ID: id, Data: []byte(data)}
}

// collector gathers what one subscription's observable emits.
type collector struct {
	mu     sync.Mutex
	items  []any // framework.Event, framework.Gap or error
	change chan struct{}
	done   chan struct{} // closed when the observable completed
}

func collect(sub *sse.Subscription) *collector { return collectSlowly(sub, 0) }

// collectSlowly takes each item after a pause: the connection is then
// often waiting for this observer when something else happens.
func collectSlowly(sub *sse.Subscription, pause time.Duration) *collector {
	c := &collector{change: make(chan struct{}, 1), done: make(chan struct{})}
	ch := sub.Events().Observe()
	go func() {
		defer close(c.done)
		for it := range ch {
			if pause > 0 {
				time.Sleep(pause)
			}
			c.mu.Lock()
			if it.E != nil {
				c.items = append(c.items, it.E)
			} else {
				c.items = append(c.items, it.V)
			}
			c.mu.Unlock()
			select {
			case c.change <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

func (c *collector) snapshot() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.items)
}

// events returns the events received, failing on anything else.
func (c *collector) events(t *testing.T) []framework.Event {
	t.Helper()
	var evs []framework.Event
	for _, it := range c.snapshot() {
		ev, ok := it.(framework.Event)
		if !ok {
			t.Fatalf("item %v (%T), want only events", it, it)
		}
		evs = append(evs, ev)
	}
	return evs
}

// waitFor waits until the collector holds n items.
func (c *collector) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if got := len(c.snapshot()); got >= n {
			return
		}
		select {
		case <-c.change:
		case <-c.done:
			if got := len(c.snapshot()); got < n {
				t.Fatalf("observable completed after %d items, want %d: %v", got, n, c.snapshot())
			}
		case <-deadline:
			t.Fatalf("%d items after 5s, want %d: %v", len(c.snapshot()), n, c.snapshot())
		}
	}
}

// closed waits for the observable to complete.
func (c *collector) closed(t *testing.T) {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("observable did not complete")
	}
}

// sameEvents fails unless got is want: same IDs and data, in order.
func sameEvents(t *testing.T, topic string, got, want []framework.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: received %d events, published %d\ngot  %v\nwant %v", topic, len(got), len(want), ids(got), ids(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID || string(got[i].Data) != string(want[i].Data) {
			t.Fatalf("%s: event %d is %s %q, want %s %q", topic, i, got[i].ID, got[i].Data, want[i].ID, want[i].Data)
		}
	}
}

func ids(evs []framework.Event) []string {
	s := make([]string, len(evs))
	for i, ev := range evs {
		s[i] = ev.ID
	}
	return s
}

// publishing publishes to each topic in turn, every interval, until the
// returned stop is called; stop returns what it published per topic.
func publishing(t *testing.T, s *muxServer, topics []string, interval time.Duration) (stop func() map[string][]framework.Event) {
	quit := make(chan struct{})
	out := make(chan map[string][]framework.Event, 1)
	go func() {
		pub := map[string][]framework.Event{}
		for i := 0; ; i++ {
			select {
			case <-quit:
				out <- pub
				return
			case <-time.After(interval):
			}
			for _, topic := range topics {
				id, err := s.hub.Publish(context.Background(), topic, framework.Event{Data: []byte(fmt.Sprintf("%s %d", topic, i))})
				if err == nil {
					pub[topic] = append(pub[topic], framework.Event{ID: id, Data: []byte(fmt.Sprintf("%s %d", topic, i))})
				}
			}
		}
	}()
	stop = sync.OnceValue(func() map[string][]framework.Event {
		close(quit)
		return <-out
	})
	t.Cleanup(func() { stop() })
	return stop
}

func TestMultiClientTopics(t *testing.T) {
	for _, tr := range muxTransports() {
		t.Run(tr.name, func(t *testing.T) {
			s := newMuxServer(t, tr, 1000)
			topics := []string{"a", "b.c", "d_e"}
			seeds := map[string]string{}
			for _, topic := range topics {
				seeds[topic] = s.publish(t, topic, "seed").ID
			}
			c := must(tr.client(s.url()))
			defer c.Close()
			cols := map[string]*collector{}
			for _, topic := range topics {
				cols[topic] = collect(must(c.Subscribe(topic, seeds[topic])))
			}
			const n = 60
			want := map[string][]framework.Event{}
			for i := range n {
				// Uneven: a gets every event, b.c every other, d_e one in three.
				for j, topic := range topics {
					if i%(j+1) == 0 {
						want[topic] = append(want[topic], s.publish(t, topic, fmt.Sprintf("%s %d", topic, i)))
					}
				}
			}
			for _, topic := range topics {
				cols[topic].waitFor(t, len(want[topic]))
			}
			time.Sleep(20 * time.Millisecond) // nothing more may come
			for _, topic := range topics {
				sameEvents(t, topic, cols[topic].events(t), want[topic])
			}
		})
	}
}

// TestMultiClientTopicsObservedInTurn: the topics of one connection are
// observed independently. An observer that waits for a's events before it
// looks at b gets them, though the server sent b's first; the connection
// did not wait for b's observer.
func TestMultiClientTopicsObservedInTurn(t *testing.T) {
	for _, tr := range muxTransports() {
		t.Run(tr.name, func(t *testing.T) {
			s := newMuxServer(t, tr, 1000)
			seedA, seedB := s.publish(t, "a", "seed").ID, s.publish(t, "b", "seed").ID
			var want []framework.Event
			for i := range 3 {
				want = append(want, s.publish(t, "b", fmt.Sprintf("b %d", i)))
			}
			wantA := s.publish(t, "a", "a 0")
			c := must(tr.client(s.url()))
			defer c.Close()
			subB, subA := must(c.Subscribe("b", seedB)), must(c.Subscribe("a", seedA))
			a, b := subA.Events().Observe(), subB.Events().Observe()
			select {
			case it := <-a:
				if ev, ok := it.V.(framework.Event); !ok || ev.ID != wantA.ID {
					t.Fatalf("a: %+v, want %s", it, wantA.ID)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("a's event did not come while b's observer waited")
			}
			for _, w := range want {
				select {
				case it := <-b:
					if ev, ok := it.V.(framework.Event); !ok || ev.ID != w.ID {
						t.Fatalf("b: %+v, want %s", it, w.ID)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("b: no %s", w.ID)
				}
			}
		})
	}
}

func TestMultiClientSubscribeMidStream(t *testing.T) {
	for _, tr := range muxTransports() {
		t.Run(tr.name, func(t *testing.T) {
			s := newMuxServer(t, tr, 10000)
			seedA := s.publish(t, "a", "seed").ID
			seedX := s.publish(t, "x", "seed").ID
			c := must(tr.client(s.url()))
			defer c.Close()
			// a's observer is slow: changes of the set come while an item
			// of a waits for it, and that item must be neither lost nor
			// repeated.
			colA := collectSlowly(must(c.Subscribe("a", seedA)), 400*time.Microsecond)
			stop := publishing(t, s, []string{"a", "x", "live"}, time.Millisecond)

			// x comes and goes while a streams; each new x resumes after
			// the last x event the previous one received.
			var gotX []framework.Event
			cursorX := seedX
			for range 6 {
				sub := must(c.Subscribe("x", cursorX))
				col := collect(sub)
				col.waitFor(t, 3)
				sub.Close()
				col.closed(t)
				time.Sleep(5 * time.Millisecond) // x goes on without it
				evs := col.events(t)
				gotX = append(gotX, evs...)
				cursorX = evs[len(evs)-1].ID
				if sub.Cursor() != cursorX {
					t.Fatalf("closed subscription's cursor %s, want its last event's %s", sub.Cursor(), cursorX)
				}
			}
			// A topic subscribed without a cursor starts live: what it
			// gets is a run of its topic's events, without holes.
			colLive := collect(must(c.Subscribe("live", "")))
			colLive.waitFor(t, 5)
			if _, err := c.Subscribe("a", ""); err == nil {
				t.Error("a second subscription to a was accepted")
			}
			want := stop()
			colA.waitFor(t, len(want["a"]))
			time.Sleep(20 * time.Millisecond)
			sameEvents(t, "a", colA.events(t), want["a"])
			sameEvents(t, "x", gotX, want["x"][:len(gotX)])
			live := colLive.events(t)
			start := slices.IndexFunc(want["live"], func(ev framework.Event) bool { return ev.ID == live[0].ID })
			if start < 0 || start+len(live) != len(want["live"]) {
				t.Fatalf("live: got %v, want a run to the end of %v", ids(live), ids(want["live"]))
			}
			sameEvents(t, "live", live, want["live"][start:])
		})
	}
}

func TestMultiClientResumesAcrossRestarts(t *testing.T) {
	for _, tr := range muxTransports() {
		t.Run(tr.name, func(t *testing.T) {
			s := newMuxServer(t, tr, 10000)
			topics := []string{"a", "b", "c"}
			c := must(tr.client(s.url()))
			defer c.Close()
			cols := map[string]*collector{}
			for _, topic := range topics {
				cols[topic] = collect(must(c.Subscribe(topic, s.publish(t, topic, "seed").ID)))
			}
			// quiet starts live and gets its first events while the server
			// is down: the client must have kept the tip it was told (a
			// long-poll tells it with its first answer, for another topic).
			stop := publishing(t, s, topics, 500*time.Microsecond)
			quiet := must(c.Subscribe("quiet", ""))
			colQuiet := collect(quiet)
			for deadline := time.Now().Add(5 * time.Second); quiet.Cursor() == ""; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("a live subscription learned no position in 5s")
				}
			}
			var wantQuiet []framework.Event
			for i := range 4 {
				time.Sleep(15 * time.Millisecond)
				s.restart(t, func() {
					wantQuiet = append(wantQuiet, s.publish(t, "quiet", fmt.Sprint("quiet ", i)))
				})
			}
			time.Sleep(10 * time.Millisecond)
			want := stop()
			want["quiet"] = wantQuiet
			cols["quiet"] = colQuiet
			for topic, col := range cols {
				col.waitFor(t, len(want[topic]))
			}
			time.Sleep(20 * time.Millisecond)
			for topic, col := range cols {
				sameEvents(t, topic, col.events(t), want[topic])
			}
		})
	}
}

func TestMultiClientGap(t *testing.T) {
	for _, tr := range muxTransports() {
		t.Run(tr.name, func(t *testing.T) {
			s := newMuxServer(t, tr, 3)
			old := s.publish(t, "lossy", "gone").ID
			var kept []framework.Event
			for i := range 5 {
				kept = append(kept, s.publish(t, "lossy", fmt.Sprint("lossy ", i)))
			}
			kept = kept[2:] // the broker retains 3
			seedB := s.publish(t, "whole", "seed").ID
			c := must(tr.client(s.url()))
			defer c.Close()
			colB := collect(must(c.Subscribe("whole", seedB)))
			colL := collect(must(c.Subscribe("lossy", old)))
			wantB := []framework.Event{s.publish(t, "whole", "whole 0")}
			colL.waitFor(t, 1+len(kept))
			more := s.publish(t, "lossy", "lossy 5")
			colL.waitFor(t, 1+len(kept)+1)
			colB.waitFor(t, 1)
			time.Sleep(20 * time.Millisecond)
			items := colL.snapshot()
			g, ok := items[0].(framework.Gap)
			if !ok || g.Last != old || g.Next != kept[0].ID {
				t.Fatalf("lossy's first item %#v, want a gap from %s to %s", items[0], old, kept[0].ID)
			}
			var got []framework.Event
			for _, it := range items[1:] {
				ev, ok := it.(framework.Event)
				if !ok {
					t.Fatalf("lossy: item %#v after the gap", it)
				}
				got = append(got, ev)
			}
			sameEvents(t, "lossy", got, append(kept, more))
			sameEvents(t, "whole", colB.events(t), wantB) // no gap here
		})
	}
}

func TestMultiClientClose(t *testing.T) {
	for _, tr := range muxTransports() {
		t.Run(tr.name, func(t *testing.T) {
			s := newMuxServer(t, tr, 100)
			c := must(tr.client(s.url()))
			col := collect(must(c.Subscribe("a", s.publish(t, "a", "seed").ID)))
			want := []framework.Event{s.publish(t, "a", "a 0")}
			col.waitFor(t, 1)
			c.Close()
			col.closed(t)
			sameEvents(t, "a", col.events(t), want)
			if _, err := c.Subscribe("b", ""); err == nil {
				t.Error("Subscribe after Close succeeded")
			}
			// A second Observe of one subscription is an error.
			c2 := must(tr.client(s.url()))
			defer c2.Close()
			sub := must(c2.Subscribe("a", ""))
			first, second := sub.Events().Observe(), sub.Events().Observe()
			sub.Close()
			var errs []error
			for _, ch := range []<-chan rxgo.Item{first, second} {
				for it := range ch {
					errs = append(errs, it.E)
				}
			}
			if len(errs) != 1 || !errors.Is(errs[0], sse.ErrObserved) {
				t.Errorf("two Observes of one subscription emitted %v, want one ErrObserved", errs)
			}
		})
	}
}

// TestWebSocketMultiClientOneConnection checks that subscribing and
// unsubscribing are messages on the open connection, not reconnections,
// and that a topic the server refuses ends alone.
func TestWebSocketMultiClientOneConnection(t *testing.T) {
	broker := must(framework.NewMemoryBroker(nil))
	defer broker.Close()
	hub := must(framework.NewHub(&framework.HubOptions{Broker: broker}))
	defer hub.Close()
	var handshakes atomic.Int32
	s := must(rxws.New(&rxws.Options{MaxTopics: 2}))
	topics := s.Topics(hub)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handshakes.Add(1)
		topics.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer s.Close()
	c := must(rxws.NewMultiClient(srv.URL+"/topics", &rxws.ClientOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Logger: muxQuiet}))
	defer c.Close()
	pub := func(topic, data string) framework.Event {
		id := must(hub.Publish(context.Background(), topic, framework.Event{Data: []byte(data)}))
		return framework.Event{ID: id, Data: []byte(data)}
	}
	colA := collect(must(c.Subscribe("a", pub("a", "seed").ID)))
	want := []framework.Event{pub("a", "a 0")}
	colA.waitFor(t, 1)
	for i := range 3 {
		b := must(c.Subscribe("b", pub("b", "seed").ID))
		colB := collect(b)
		wantB := pub("b", fmt.Sprint("b ", i))
		colB.waitFor(t, 1)
		sameEvents(t, "b", colB.events(t), []framework.Event{wantB})
		b.Close()
		colB.closed(t)
		want = append(want, pub("a", fmt.Sprint("a ", i+1)))
	}
	// A third topic is over MaxTopics: refused, alone.
	bs := must(c.Subscribe("b", ""))
	b := collect(bs)
	over := collect(must(c.Subscribe("c", "")))
	over.closed(t)
	items := over.snapshot()
	var re *rxws.StatusError
	if len(items) != 1 || !errors.As(items[0].(error), &re) || re.Topic != "c" || re.Code != http.StatusBadRequest {
		t.Fatalf("over MaxTopics: %v, want one StatusError of c with 400", items)
	}
	for deadline := time.Now().Add(5 * time.Second); bs.Cursor() == ""; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("b was not acknowledged with its tip in 5s")
		}
	}
	want = append(want, pub("a", "a last"))
	colA.waitFor(t, len(want))
	sameEvents(t, "a", colA.events(t), want)
	wantB := pub("b", "b last")
	b.waitFor(t, 1)
	sameEvents(t, "b", b.events(t), []framework.Event{wantB})
	if n := handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes, want the one connection", n)
	}
}

// TestNewMultiClientRefuses: a single topic's cursor or a URL that already
// names a topic is refused when the client is made, naming what is wrong.
func TestNewMultiClientRefuses(t *testing.T) {
	type made struct {
		name string
		err  error
	}
	for _, tc := range []struct {
		name string
		try  []made
		says string
	}{
		{"a single topic's cursor", []made{
			{"sse", second(sse.NewMultiClient("http://127.0.0.1:1/topics", &sse.ClientOptions{Cursor: "e-1"}))},
			{"longpoll", second(longpoll.NewMultiClient("http://127.0.0.1:1/topics", &longpoll.ClientOptions{Cursor: "e-1"}))},
			{"shortpoll", second(shortpoll.NewMultiClient("http://127.0.0.1:1/topics", &shortpoll.ClientOptions{Cursor: "e-1"}))},
			{"websocket", second(rxws.NewMultiClient("http://127.0.0.1:1/topics", &rxws.ClientOptions{Cursor: "e-1"}))},
		}, "is for one topic"},
		{"a topic in the URL", []made{
			{"sse", second(sse.NewMultiClient("http://127.0.0.1:1/topics?topic=a", nil))},
			{"longpoll", second(longpoll.NewMultiClient("http://127.0.0.1:1/topics?topic=a", nil))},
			{"shortpoll", second(shortpoll.NewMultiClient("http://127.0.0.1:1/topics?topic=a", nil))},
			{"websocket", second(rxws.NewMultiClient("http://127.0.0.1:1/topics?topic=a", nil))},
		}, "no topic parameter"},
	} {
		for _, m := range tc.try {
			if m.err == nil || !strings.Contains(m.err.Error(), tc.says) || !strings.Contains(m.err.Error(), m.name) {
				t.Errorf("%s, %s: %v; want an error of %s saying %q", tc.name, m.name, m.err, m.name, tc.says)
			}
		}
	}
}

// second returns the error of a constructor's answer, closing what it made.
func second[T interface{ Close() }](v T, err error) error {
	if err == nil {
		v.Close()
	}
	return err
}
