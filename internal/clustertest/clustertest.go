// Package clustertest is the cross-node test that every distributed
// broker passes: three nodes (a Hub on a Broker of its own, served over
// HTTP on SSE, long-poll and WebSocket) behind a load balancer without
// sticky sessions, clients on every transport, a node stopped mid-stream
// and its clients resuming on another with no loss and no duplicate; and
// the helpers the brokers' own cluster tests build on.
package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// Broker is a node's broker, closed when the node stops.
type Broker interface {
	framework.Broker
	Close() error
}

var discard = slog.New(slog.DiscardHandler)

// Node is one rxstream process of a cluster: echo, a Hub on its own
// Broker, and the SSE, long-poll and WebSocket adapters.
type Node struct {
	Hub  *framework.Hub
	SSE  *sse.Server
	LP   *longpoll.Server
	WS   *websocket.Server
	Srv  *httptest.Server
	b    Broker
	once sync.Once
}

// StartNode starts a node on b, stopped by the test's cleanup.
func StartNode(t *testing.T, b Broker) *Node {
	t.Helper()
	n := &Node{b: b}
	var err error
	if n.Hub, err = framework.NewHub(&framework.HubOptions{Broker: n.b}); err != nil {
		t.Fatal(err)
	}
	if n.SSE, err = sse.New(&sse.Options{ShutdownRetry: 10 * time.Millisecond, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	if n.LP, err = longpoll.New(&longpoll.Options{ShutdownRetry: 10 * time.Millisecond, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	if n.WS, err = websocket.New(&websocket.Options{Logger: discard}); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/topics/:topic/sse", rxecho.Wrap(n.SSE.Topic(n.Hub, adapters.Param("topic"))))
	e.GET("/topics/:topic/longpoll", rxecho.Wrap(n.LP.Topic(n.Hub, adapters.Param("topic"))))
	e.GET("/topics/:topic/ws", rxecho.Wrap(n.WS.Topic(n.Hub, adapters.Param("topic"))))
	e.POST("/topics/:topic", publishHandler(n.Hub))
	n.Srv = httptest.NewServer(e)
	t.Cleanup(n.Stop)
	return n
}

// publishHandler publishes the request body to the topic and answers
// {"id": ...}; an unavailable broker is a 503.
func publishHandler(hub *framework.Hub) echo.HandlerFunc {
	return func(c echo.Context) error {
		body, err := io.ReadAll(io.LimitReader(c.Request().Body, 1<<20))
		if err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		id, err := hub.Publish(c.Request().Context(), c.Param("topic"), framework.Event{Data: body})
		switch {
		case errors.Is(err, framework.ErrInvalidTopic), errors.Is(err, framework.ErrInvalidEvent):
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		case err != nil:
			return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
		}
		return c.JSON(http.StatusOK, map[string]string{"id": id})
	}
}

// Broker returns the node's broker.
func (n *Node) Broker() Broker { return n.b }

// Stop ends the node the way a process shutdown does: streams are told to
// come back, then everything closes.
func (n *Node) Stop() {
	n.once.Do(func() {
		n.SSE.Close()
		n.LP.Close()
		n.WS.Close()
		n.Srv.Close()
		n.Hub.Close()
		n.b.Close()
	})
}

// Publish POSTs data to topic on n and returns the status and the ID.
func (n *Node) Publish(t *testing.T, topic, data string) (int, string) {
	t.Helper()
	resp, err := http.Post(n.Srv.URL+"/topics/"+topic, "text/plain", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v.ID
}

// MustPublish is Publish that fails the test unless the answer is 200.
func (n *Node) MustPublish(t *testing.T, topic, data string) string {
	t.Helper()
	code, id := n.Publish(t, topic, data)
	if code != http.StatusOK {
		t.Fatalf("publish %q: status %d", data, code)
	}
	return id
}

// Balancer is a load Balancer without sticky sessions: each request goes
// to the next backend that is up, round robin.
type Balancer struct {
	Srv      *httptest.Server
	backends []*url.URL
	down     []atomic.Bool
	next     atomic.Uint64
}

// NewBalancer starts a balancer in front of nodes.
func NewBalancer(t *testing.T, nodes ...*Node) *Balancer {
	lb := &Balancer{down: make([]atomic.Bool, len(nodes))}
	for _, n := range nodes {
		u, _ := url.Parse(n.Srv.URL)
		lb.backends = append(lb.backends, u)
	}
	proxy := &httputil.ReverseProxy{
		FlushInterval: -1,
		Rewrite: func(r *httputil.ProxyRequest) {
			for range lb.backends {
				i := int(lb.next.Add(1)-1) % len(lb.backends)
				if !lb.down[i].Load() {
					r.SetURL(lb.backends[i])
					return
				}
			}
			r.SetURL(lb.backends[0])
		},
		// A backend that fails is taken out (a passive health check).
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			for i, u := range lb.backends {
				if u.Host == r.URL.Host {
					lb.down[i].Store(true)
				}
			}
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	lb.Srv = httptest.NewServer(proxy)
	t.Cleanup(lb.Srv.Close)
	return lb
}

// Reader follows an SSE URL with the Go client and hands over what it
// gets.
type Reader struct {
	items  chan any // framework.Event or framework.Gap
	cancel context.CancelFunc
	done   chan struct{}
}

// Follow follows u with the Go client of transport ("sse", "longpoll" or
// "ws") until the test ends.
func Follow(t *testing.T, transport, u string) *Reader {
	t.Helper()
	var obs rxgo.Observable
	switch transport {
	case "sse":
		c, err := sse.NewClient(u, &sse.ClientOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		obs = c.Events()
	case "longpoll":
		c, err := longpoll.NewClient(u, &longpoll.ClientOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		obs = c.Events()
	case "ws":
		c, err := websocket.NewClient(u, &websocket.ClientOptions{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: discard})
		if err != nil {
			t.Fatal(err)
		}
		obs = c.Events()
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Reader{items: make(chan any, 1000), cancel: cancel, done: make(chan struct{})}
	ch := obs.Observe(rxgo.WithContext(ctx))
	go func() {
		defer close(r.done)
		for it := range ch {
			if it.E == nil {
				select {
				case r.items <- it.V:
				case <-ctx.Done():
				}
			}
		}
	}()
	t.Cleanup(r.Stop)
	return r
}

// Stop ends the client.
func (r *Reader) Stop() {
	r.cancel()
	<-r.done
}

// Expect reads the next events and checks their IDs and data, in order;
// a gap notice fails.
func (r *Reader) Expect(t *testing.T, who string, ids []string, data []string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for i := range ids {
		select {
		case v := <-r.items:
			ev, ok := v.(framework.Event)
			if !ok {
				t.Fatalf("%s: got %#v; want event %d %s", who, v, i, ids[i])
			}
			if ev.ID != ids[i] || string(ev.Data) != data[i] {
				t.Fatalf("%s: event %d is %s %q; want %s %q", who, i, ev.ID, ev.Data, ids[i], data[i])
			}
		case <-timeout:
			t.Fatalf("%s: timed out waiting for event %d (%s)", who, i, ids[i])
		}
	}
}

// Quiet checks that nothing more arrived (a duplicate would).
func (r *Reader) Quiet(t *testing.T, who string) {
	t.Helper()
	select {
	case v := <-r.items:
		t.Fatalf("%s: unexpected %#v", who, v)
	default:
	}
}

// WaitOpen waits until cond (about the streams a node serves) holds.
func WaitOpen(t *testing.T, node string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("node %s does not serve the streams expected", node)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Transports are the ones a client follows a topic with through the
// Balancer in TestCluster.
var Transports = []string{"sse", "longpoll", "ws"}

// Run is the cross-node test: node a publishes, clients follow node b
// through the balancer on every transport and node c directly; b stops
// mid-stream, its clients come back through the balancer to c, with no
// loss and no duplicate. newBroker makes each node's broker, all on the
// same store.
func Run(t *testing.T, newBroker func(t *testing.T) Broker) {
	{
		{
			a, b, c := StartNode(t, newBroker(t)), StartNode(t, newBroker(t)), StartNode(t, newBroker(t))
			// One client per transport through a Balancer whose first
			// request goes to b, and one on c directly.
			viaLB := map[string]*Reader{}
			for _, tr := range Transports {
				lb := NewBalancer(t, b, c)
				viaLB[tr] = Follow(t, tr, lb.Srv.URL+"/topics/room/"+tr)
			}
			WaitOpen(t, "b", func() bool { return b.SSE.Connections() == 1 && b.WS.Connections() == 1 && b.LP.Connections() == 1 })
			onC := Follow(t, "sse", c.Srv.URL+"/topics/room/sse")
			WaitOpen(t, "c", func() bool { return c.SSE.Connections() == 1 })

			var ids, data []string
			pub := func(n *Node, k int) {
				for range k {
					d := "m" + strconv.Itoa(len(ids))
					ids = append(ids, n.MustPublish(t, "room", d))
					data = append(data, d)
				}
			}
			pub(a, 5)
			for _, tr := range Transports {
				viaLB[tr].Expect(t, tr+" client on b", ids, data)
			}
			onC.Expect(t, "client on c", ids, data)
			if b.Hub.Topics() != 1 || c.Hub.Topics() != 1 {
				t.Fatalf("followed topics: b %d, c %d", b.Hub.Topics(), c.Hub.Topics())
			}

			// Node b goes away while its clients stream: they come back
			// through the Balancer to c, with no loss and no duplicate.
			b.Stop()
			pub(a, 3) // while the clients reconnect
			WaitOpen(t, "c", func() bool { return c.SSE.Connections() == 2 && c.WS.Connections() == 1 })
			pub(c, 2)
			for _, tr := range Transports {
				viaLB[tr].Expect(t, tr+" client moved to c", ids[5:], data[5:])
			}
			onC.Expect(t, "client on c", ids[5:], data[5:])
			for _, tr := range Transports {
				viaLB[tr].Quiet(t, tr+" client moved to c")
			}
			onC.Quiet(t, "client on c")
		}
	}
}
