//go:build linux

package sse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// closings records the reasons Hooks.Closed is told, stream after stream.
type closings struct {
	mu      sync.Mutex
	reasons []error
}

func (c *closings) hooks() Hooks {
	return Hooks{Closed: func(_ *Conn, reason error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.reasons = append(c.reasons, reason)
	}}
}

// check fails unless the reasons are want, n times.
func (c *closings) check(t *testing.T, want error, n int) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reasons) != n {
		t.Fatalf("Closed told %v, want %v %d times", c.reasons, want, n)
	}
	for _, r := range c.reasons {
		if !errors.Is(r, want) {
			t.Errorf("Closed told %v, want %v", r, want)
		}
	}
	c.reasons = nil
}

// parkedStream opens path on a and waits until its stream is parked.
func parkedStream(t *testing.T, a *app, path string, parked int) *rawStream {
	t.Helper()
	rs := openRaw(t, a.ts.URL+path, nil)
	waitFor(t, "the stream parked", func() bool { return a.s.loop().Len() == parked })
	return rs
}

// TestParkedDelivers: a parked stream is woken by its topic's events and
// by its heartbeats, frames them as net/http would (the client reads a
// well-formed chunked body to its clean end), and ends with the retry hint
// at shutdown.
func TestParkedDelivers(t *testing.T) {
	var log closings
	a := newApp(t, &Options{Heartbeat: 20 * time.Millisecond, Hooks: log.hooks()}, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	a.mux.Handle("GET /topics", a.s.Topics(a.hub))
	one := parkedStream(t, a, "/topics/news", 1)
	multi := parkedStream(t, a, "/topics?topic=news&topic=sport", 2)
	var ids []string
	for i := range 3 {
		ids = append(ids, a.publish(t, "news", fmt.Sprint("event ", i)))
	}
	for i, id := range ids {
		ev := one.mustNext(t)
		if ev.id != id || ev.data != fmt.Sprint("event ", i) {
			t.Fatalf("event %d: %+v, want id %s", i, ev, id)
		}
		if ev = multi.mustNext(t); !strings.Contains(ev.data, `"topic":"news"`) || !strings.Contains(ev.data, id) {
			t.Fatalf("multiplexed event %d: %+v", i, ev)
		}
	}
	for { // a heartbeat comes while it is parked
		ev, err := one.block()
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.comments) > 0 && ev.comments[0] == "heartbeat" {
			break
		}
	}
	if n := a.s.loop().Len(); n != 2 {
		t.Fatalf("%d parked, want 2", n)
	}
	a.s.Close()
	for _, rs := range []*rawStream{one, multi} {
		rest, err := io.ReadAll(rs.r) // io.ErrUnexpectedEOF without the last chunk
		if err != nil || !strings.Contains(string(rest), "retry: ") {
			t.Fatalf("after Close: %q, %v; want a retry hint and a clean end", rest, err)
		}
	}
	waitFor(t, "the streams closed", func() bool { return a.s.Connections() == 0 && a.s.loop().Len() == 0 })
	log.check(t, ErrShutdown, 2)
}

// openFDs counts the process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestParkedKilledClient: clients that vanish without a FIN (a reset:
// SetLinger(0), then Close) are released by the poller, long before any
// heartbeat, and leave no descriptor behind.
func TestParkedKilledClient(t *testing.T) {
	const n = 50
	var log closings
	a := newApp(t, &Options{Heartbeat: time.Hour, Hooks: log.hooks()}, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	u, err := url.Parse(a.ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(t)
	var conns []*net.TCPConn
	for range n {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c.(*net.TCPConn))
		fmt.Fprintf(c, "GET /topics/news HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%v %v", resp, err)
		}
	}
	waitFor(t, "every stream parked", func() bool { return a.s.loop().Len() == n })
	for _, c := range conns {
		if err := c.SetLinger(0); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	waitFor(t, "every stream released", func() bool { return a.s.Connections() == 0 && a.s.loop().Len() == 0 })
	waitFor(t, "every descriptor closed", func() bool { return openFDs(t) <= before })
	log.check(t, ErrClientGone, n)
}

// TestParkedAuthorizationEnds: a parked stream's authorization still ends
// it, with the expired or revoked event and the cursor to resume from.
func TestParkedAuthorizationEnds(t *testing.T) {
	var log closings
	a := newApp(t, &Options{Heartbeat: time.Hour, Hooks: log.hooks()}, nil)
	expiry := make(chan time.Time, 1)
	guard := func(r *http.Request, topic string, _ transport.Action) error {
		transport.SetUser(r, "ann")
		select {
		case exp := <-expiry:
			transport.ExpiresAt(r, exp)
		default:
		}
		return nil
	}
	a.mux.Handle("GET /topics/{topic}", wrap(a.s.Topic(a.hub, pathTopic), func(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
		return w, transport.WithGuard(r, guard)
	}))
	for _, tt := range []struct {
		name, event string
		end         func()
	}{
		{"expired", EventExpired, func() { expiry <- time.Now().Add(200 * time.Millisecond) }},
		{"revoked", EventRevoked, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.end != nil {
				tt.end()
			}
			rs := parkedStream(t, a, "/topics/news", 1)
			id := a.publish(t, "news", "before")
			if ev := rs.mustNext(t); ev.id != id {
				t.Fatalf("%+v, want id %s", ev, id)
			}
			if tt.end == nil {
				if n, err := a.s.Gate().Revoke(context.Background(), "ann"); n != 1 || err != nil {
					t.Fatalf("revoked %d, %v", n, err)
				}
			}
			ev := rs.mustNext(t)
			if ev.event != tt.event || !strings.Contains(ev.data, id) {
				t.Fatalf("%+v, want a %s event with cursor %s", ev, tt.event, id)
			}
			if _, err := rs.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the %s event: %v, want the end", tt.event, err)
			}
			waitFor(t, "the stream closed", func() bool { return a.s.Connections() == 0 && a.s.loop().Len() == 0 })
			want := ErrExpired
			if tt.end == nil {
				want = ErrRevoked
			}
			log.check(t, want, 1)
		})
	}
}

// TestParkedSlowClient: clients that stop reading do not hold the shared
// writers: with more of them than there are writers, each with a full
// socket, the live client still receives every event; a stalled one ends
// when its write fails.
func TestParkedSlowClient(t *testing.T) {
	a := newApp(t, &Options{Heartbeat: time.Hour, WriteTimeout: time.Hour, Logger: quiet}, nil)
	a.mux.Handle("GET /topics/{topic}", a.s.Topic(a.hub, pathTopic))
	u, _ := url.Parse(a.ts.URL)
	var stalled []net.Conn
	for range runtime.GOMAXPROCS(0) + 1 {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		fmt.Fprintf(c, "GET /topics/news HTTP/1.1\r\nHost: %s\r\n\r\n", u.Host)
		stalled = append(stalled, c)
		waitFor(t, "the stalled stream parked", func() bool { return a.s.loop().Len() == len(stalled) })
	}
	live := parkedStream(t, a, "/topics/news", len(stalled)+1)
	big := strings.Repeat("x", 32<<10)
	for range 200 { // 6.4 MB: more than the stalled sockets hold
		id := a.publish(t, "news", big)
		if ev := live.mustNext(t); ev.id != id {
			t.Fatalf("live client: %+v, want id %s", ev.id, id)
		}
	}
	for _, c := range stalled {
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	waitFor(t, "the stalled streams ended", func() bool { return a.s.Connections() == 1 })
	live.resp.Body.Close()
	waitFor(t, "the live stream closed", func() bool { return a.s.Connections() == 0 && a.s.loop().Len() == 0 })
}

// TestDisableParking: streams are parked by default, their connections
// taken over from net/http; with DisableParking none is, and each stream
// lives and ends on net/http's goroutine.
func TestDisableParking(t *testing.T) {
	for _, disable := range []bool{false, true} {
		t.Run(fmt.Sprint("DisableParking=", disable), func(t *testing.T) {
			s, err := New(&Options{DisableParking: disable, Heartbeat: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			hub, err := framework.NewHub(nil)
			if err != nil {
				t.Fatal(err)
			}
			defer hub.Close()
			ts := httptest.NewUnstartedServer(s.Topic(hub, func(*http.Request) string { return "news" }))
			var hijacked atomic.Int32
			ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
				if st == http.StateHijacked {
					hijacked.Add(1)
				}
			}
			ts.Start()
			defer ts.Close()
			rs := openRaw(t, ts.URL, nil)
			id, err := hub.Publish(context.Background(), "news", framework.Event{Data: []byte("one")})
			if err != nil {
				t.Fatal(err)
			}
			if ev := rs.mustNext(t); ev.id != id {
				t.Fatalf("%+v, want id %s", ev, id)
			}
			if !disable {
				waitFor(t, "the stream parked", func() bool { return hijacked.Load() == 1 && s.loop().Len() == 1 })
			}
			rs.resp.Body.Close()
			waitFor(t, "the stream ended", func() bool { return s.Connections() == 0 })
			if disable && hijacked.Load() != 0 {
				t.Fatalf("%d connections taken over from net/http, want none", hijacked.Load())
			}
		})
	}
}
