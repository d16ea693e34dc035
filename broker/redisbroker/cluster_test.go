package redisbroker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
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
	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
)

// node is one rxstream process of a cluster: echo, a Hub on its own Redis
// Broker, and the SSE, long-poll and WebSocket adapters.
type node struct {
	b    *redisbroker.Broker
	hub  *framework.Hub
	sse  *sse.Server
	lp   *longpoll.Server
	ws   *websocket.Server
	srv  *httptest.Server
	once sync.Once
}

func startNode(t *testing.T, o redisbroker.Options) *node {
	t.Helper()
	n := &node{b: newBroker(t, o)}
	var err error
	if n.hub, err = framework.NewHub(&framework.HubOptions{Broker: n.b}); err != nil {
		t.Fatal(err)
	}
	if n.sse, err = sse.New(&sse.Options{ShutdownRetry: 10 * time.Millisecond, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	if n.lp, err = longpoll.New(&longpoll.Options{ShutdownRetry: 10 * time.Millisecond, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	if n.ws, err = websocket.New(&websocket.Options{Logger: discard}); err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/topics/:topic/sse", rxecho.Wrap(n.sse.Topic(n.hub, adapters.Param("topic"))))
	e.GET("/topics/:topic/longpoll", rxecho.Wrap(n.lp.Topic(n.hub, adapters.Param("topic"))))
	e.GET("/topics/:topic/ws", rxecho.Wrap(n.ws.Topic(n.hub, adapters.Param("topic"))))
	e.POST("/topics/:topic", publishHandler(n.hub))
	n.srv = httptest.NewServer(e)
	t.Cleanup(n.stop)
	return n
}

// publishHandler publishes the request body to the topic and answers
// {"id": ...}; an unavailable Redis is a 503.
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

// stop ends the node the way a process shutdown does: streams are told to
// come back, then everything closes.
func (n *node) stop() {
	n.once.Do(func() {
		n.sse.Close()
		n.lp.Close()
		n.ws.Close()
		n.srv.Close()
		n.hub.Close()
		n.b.Close()
	})
}

// publish POSTs data to topic on n and returns the status and the ID.
func (n *node) publish(t *testing.T, topic, data string) (int, string) {
	t.Helper()
	resp, err := http.Post(n.srv.URL+"/topics/"+topic, "text/plain", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v.ID
}

func (n *node) mustPublish(t *testing.T, topic, data string) string {
	t.Helper()
	code, id := n.publish(t, topic, data)
	if code != http.StatusOK {
		t.Fatalf("publish %q: status %d", data, code)
	}
	return id
}

// balancer is a load balancer without sticky sessions: each request goes
// to the next backend that is up, round robin.
type balancer struct {
	srv      *httptest.Server
	backends []*url.URL
	down     []atomic.Bool
	next     atomic.Uint64
}

func newBalancer(t *testing.T, nodes ...*node) *balancer {
	lb := &balancer{down: make([]atomic.Bool, len(nodes))}
	for _, n := range nodes {
		u, _ := url.Parse(n.srv.URL)
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
	lb.srv = httptest.NewServer(proxy)
	t.Cleanup(lb.srv.Close)
	return lb
}

// reader follows an SSE URL with the Go client and hands over what it
// gets.
type reader struct {
	items  chan any // framework.Event or framework.Gap
	cancel context.CancelFunc
	done   chan struct{}
}

func follow(t *testing.T, transport, u string) *reader {
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
	r := &reader{items: make(chan any, 1000), cancel: cancel, done: make(chan struct{})}
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
	t.Cleanup(r.stop)
	return r
}

func (r *reader) stop() {
	r.cancel()
	<-r.done
}

// expect reads the next events and checks their IDs and data, in order;
// a gap notice fails.
func (r *reader) expect(t *testing.T, who string, ids []string, data []string) {
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

// quiet checks that nothing more arrived (a duplicate would).
func (r *reader) quiet(t *testing.T, who string) {
	t.Helper()
	select {
	case v := <-r.items:
		t.Fatalf("%s: unexpected %#v", who, v)
	default:
	}
}

// waitOpen waits until cond (about the streams a node serves) holds.
func waitOpen(t *testing.T, node string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("node %s does not serve the streams expected", node)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// transports are the ones a client follows a topic with through the
// balancer in TestCluster.
var transports = []string{"sse", "longpoll", "ws"}

func TestCluster(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	{
		{
			a, b, c := startNode(t, o), startNode(t, o), startNode(t, o)
			// One client per transport through a balancer whose first
			// request goes to b, and one on c directly.
			viaLB := map[string]*reader{}
			for _, tr := range transports {
				lb := newBalancer(t, b, c)
				viaLB[tr] = follow(t, tr, lb.srv.URL+"/topics/room/"+tr)
			}
			waitOpen(t, "b", func() bool { return b.sse.Connections() == 1 && b.ws.Connections() == 1 && b.lp.Connections() == 1 })
			onC := follow(t, "sse", c.srv.URL+"/topics/room/sse")
			waitOpen(t, "c", func() bool { return c.sse.Connections() == 1 })

			var ids, data []string
			pub := func(n *node, k int) {
				for range k {
					d := "m" + strconv.Itoa(len(ids))
					ids = append(ids, n.mustPublish(t, "room", d))
					data = append(data, d)
				}
			}
			pub(a, 5)
			for _, tr := range transports {
				viaLB[tr].expect(t, tr+" client on b", ids, data)
			}
			onC.expect(t, "client on c", ids, data)
			if b.hub.Topics() != 1 || c.hub.Topics() != 1 {
				t.Fatalf("followed topics: b %d, c %d", b.hub.Topics(), c.hub.Topics())
			}

			// Node b goes away while its clients stream: they come back
			// through the balancer to c, with no loss and no duplicate.
			b.stop()
			pub(a, 3) // while the clients reconnect
			waitOpen(t, "c", func() bool { return c.sse.Connections() == 2 && c.ws.Connections() == 1 })
			pub(c, 2)
			for _, tr := range transports {
				viaLB[tr].expect(t, tr+" client moved to c", ids[5:], data[5:])
			}
			onC.expect(t, "client on c", ids[5:], data[5:])
			for _, tr := range transports {
				viaLB[tr].quiet(t, tr+" client moved to c")
			}
			onC.quiet(t, "client on c")
		}
	}
}

func TestClusterRedisRestart(t *testing.T) {
	rs := startRedis(t, "--appendonly", "yes")
	// A long request timeout: publishing while Redis is down must fail at
	// once because the Broker knows it is down, not because a timeout
	// expired (the publish below would then outlast its client's 5s).
	o := redisbroker.Options{URL: rs.URL(), Timeout: time.Minute}
	a, c := startNode(t, o), startNode(t, o)
	readers := map[string]*reader{}
	for _, tr := range transports {
		readers[tr] = follow(t, tr, c.srv.URL+"/topics/room/"+tr)
	}
	waitOpen(t, "c", func() bool { return c.sse.Connections() == 1 && c.ws.Connections() == 1 && c.lp.Connections() == 1 })
	id1 := a.mustPublish(t, "room", "before")
	for tr, r := range readers {
		r.expect(t, tr, []string{id1}, []string{"before"})
	}

	rs.Stop()
	// Publishing fails, clearly and at once; the open stream ends.
	hc := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	resp, err := hc.Post(a.srv.URL+"/topics/room", "text/plain", strings.NewReader("during"))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("publish while Redis is down: %v", err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(msg), "redis: unavailable") || took > time.Second {
		t.Fatalf("publish while Redis is down: %d %s after %v; want 503 naming Redis unavailable, at once", resp.StatusCode, msg, took)
	}
	// So does opening a stream of a topic the node does not follow yet,
	// on every transport.
	for _, tr := range transports {
		req, _ := http.NewRequest(http.MethodGet, c.srv.URL+"/topics/other/"+tr, nil)
		if tr == "ws" { // a handshake, refused before it is accepted
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Sec-WebSocket-Version", "13")
			req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		}
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Since(start) > time.Second {
			t.Fatalf("%s stream while Redis is down: %d after %v; want 503 at once", tr, resp.StatusCode, time.Since(start))
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.hub.Topics() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the topic's follow did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}

	rs.Start()
	waitUp(t, a.b)
	waitUp(t, c.b)
	id2 := a.mustPublish(t, "room", "after")
	// The clients reconnected (after 503s while Redis was away) with their
	// last event ID and get the new events once.
	id3 := a.mustPublish(t, "room", "later")
	for tr, r := range readers {
		r.expect(t, tr, []string{id2, id3}, []string{"after", "later"})
		r.quiet(t, tr)
	}
}
