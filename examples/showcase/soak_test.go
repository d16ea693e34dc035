package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/sync/errgroup"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/framework"
)

// soakFor is how long TestSoak churns clients.
const soakFor = 20 * time.Second

// TestSoak churns clients on every transport against the real showcase for
// soakFor while a publisher feeds the topic: SSE streams and WebSockets
// that open, take an event and leave; long-polls and short-polls that
// follow the topic with their cursor; the WebSocket echo. Afterwards the
// goroutines and the live heap must be back to what they were before,
// within a tolerance.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test: skipped with -short")
	}
	// Clients churn from one address as fast as they can: no real client
	// does, and the default limits would refuse them.
	unlimited, err := adapters.NewGate(&adapters.GateOptions{MaxPerUser: -1, MaxPerAddress: -1, ConnectRate: -1})
	if err != nil {
		t.Fatal(err)
	}
	a, srv := newServerWith(t, config{gate: unlimited})
	addr := strings.TrimPrefix(srv.URL, "http://")
	conns := &clientConns{m: make(map[*clientConn]struct{})}
	tr := &http.Transport{MaxIdleConnsPerHost: 64, DialContext: conns.dial}
	client := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	wsOpts := &websocket.DialOptions{HTTPClient: client}

	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	goroutines0, heap0 := runtime.NumGoroutine(), heap()

	ctx, cancel := context.WithTimeout(t.Context(), soakFor)
	defer cancel()
	var served [5]atomic.Int64 // sse, longpoll, shortpoll, websocket, echo
	g, gctx := errgroup.WithContext(ctx)
	loop := func(n int, kind int, once func(ctx context.Context) error) {
		for range n {
			g.Go(func() error {
				for gctx.Err() == nil {
					if err := once(gctx); err != nil {
						if gctx.Err() != nil {
							return nil // the soak ended mid-request
						}
						return fmt.Errorf("client %d: %w", kind, err)
					}
					served[kind].Add(1)
				}
				return nil
			})
		}
	}
	g.Go(func() error { // the publisher
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-gctx.Done():
				return nil
			case <-tick.C:
			}
			if _, err := a.hub.Publish(gctx, "soak", framework.Event{Data: []byte(fmt.Sprintf("event %d", i))}); err != nil && gctx.Err() == nil {
				return err
			}
		}
	})
	loop(4, 0, func(ctx context.Context) error { // SSE: open, take an event, leave
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/topics/soak/sse", nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data: event ") {
				return nil
			}
		}
		return errors.New("sse: stream ended without an event")
	})
	cursors := func(path string) func(ctx context.Context) error {
		cursor := "" // one client's cursor; each loop goroutine gets its own below
		return func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path+"?cursor="+url.QueryEscape(cursor), nil)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var body struct{ Cursor string }
			switch resp.StatusCode {
			case http.StatusOK:
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					return err
				}
				cursor = body.Cursor
			case http.StatusNoContent, http.StatusNotModified:
			default:
				return errors.New(path + ": " + resp.Status)
			}
			return nil
		}
	}
	for range 4 {
		loop(1, 1, cursors("/topics/soak/longpoll"))
	}
	for range 2 {
		poll := cursors("/topics/soak/poll")
		loop(1, 2, func(ctx context.Context) error {
			time.Sleep(5 * time.Millisecond) // a short-poll client's timer
			return poll(ctx)
		})
	}
	loop(4, 3, func(ctx context.Context) error { // WebSocket topic: take an event, leave
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/topics/soak/ws", wsOpts)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		if _, _, err := c.Read(ctx); err != nil {
			return err
		}
		return c.Close(websocket.StatusNormalClosure, "")
	})
	loop(2, 4, func(ctx context.Context) error { // the echo, then a vanishing peer
		c, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", wsOpts)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		if err := c.Write(ctx, websocket.MessageText, []byte("soak")); err != nil {
			return err
		}
		_, _, err = c.Read(ctx)
		return err // CloseNow: no closing handshake
	})
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"sse", "longpoll", "shortpoll", "websocket", "echo"} {
		if served[i].Load() == 0 {
			t.Errorf("no %s client was served", name)
		}
		t.Logf("%-9s %6d clients served", name, served[i].Load())
	}

	// The client side is the test's, not the server's: a dial that a
	// cancelled request started may land in the transport later, so close
	// every connection the clients still hold.
	tr.CloseIdleConnections()
	conns.closeAll()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > goroutines0 || a.open.counts()["sse"]()+a.open.counts()["longpoll"]()+a.open.counts()["websocket"]() > 0 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the soak:\n%s", runtime.NumGoroutine(), goroutines0, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The topic's retained history (1,000 short events) and the runtime's
	// pools account for some growth; a leak of one connection's buffers
	// per client would be hundreds of megabytes.
	const tolerance = 4 << 20
	heap1 := heap()
	t.Logf("goroutines %d -> %d, live heap %.1f MiB -> %.1f MiB", goroutines0, runtime.NumGoroutine(), float64(heap0)/(1<<20), float64(heap1)/(1<<20))
	if heap1 > heap0+tolerance {
		t.Errorf("live heap grew from %d to %d bytes", heap0, heap1)
	}
}

// clientConns tracks the connections the soak's clients dial, so that the
// test can close them all before it counts the server's goroutines.
type clientConns struct {
	mu sync.Mutex
	m  map[*clientConn]struct{}
}

type clientConn struct {
	net.Conn
	owner *clientConns
}

func (c *clientConn) Close() error {
	c.owner.mu.Lock()
	delete(c.owner.m, c)
	c.owner.mu.Unlock()
	return c.Conn.Close()
}

func (cs *clientConns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c := &clientConn{Conn: conn, owner: cs}
	cs.mu.Lock()
	cs.m[c] = struct{}{}
	cs.mu.Unlock()
	return c, nil
}

func (cs *clientConns) closeAll() {
	cs.mu.Lock()
	all := make([]*clientConn, 0, len(cs.m))
	for c := range cs.m {
		all = append(all, c)
	}
	cs.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
}
