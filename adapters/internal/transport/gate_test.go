package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestClientAddress(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	for _, tc := range []struct {
		name    string
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string // "" for none
	}{
		{"the peer", "203.0.113.7:5000", nil, nil, "203.0.113.7/32"},
		{"an IPv6 peer counts by its /64", "[2001:db8:1:2:3:4:5:6]:443", nil, nil, "2001:db8:1:2::/64"},
		{"an IPv4-mapped peer is IPv4", "[::ffff:203.0.113.7]:80", nil, nil, "203.0.113.7/32"},
		{"X-Forwarded-For of a peer not trusted is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, proxies, "203.0.113.7/32"},
		{"X-Forwarded-For is ignored without trusted proxies", "10.0.0.1:5000", []string{"198.51.100.1"}, nil, "10.0.0.1/32"},
		{"a trusted proxy's client", "10.0.0.1:5000", []string{"198.51.100.1"}, proxies, "198.51.100.1/32"},
		{"the nearest address not trusted, from the right", "10.0.0.1:5000", []string{"192.0.2.9, 198.51.100.1, 10.2.3.4"}, proxies, "198.51.100.1/32"},
		{"several headers read as one list", "10.0.0.1:5000", []string{"192.0.2.9", "198.51.100.1"}, proxies, "198.51.100.1/32"},
		{"what the client wrote left of its own address is ignored", "10.0.0.1:5000", []string{"1.2.3.4, 198.51.100.1"}, proxies, "198.51.100.1/32"},
		{"an entry with a port", "10.0.0.1:5000", []string{"198.51.100.1:4711"}, proxies, "198.51.100.1/32"},
		{"a bracketed IPv6 entry", "[::1]:5000", []string{"[2001:db8::1]"}, proxies, "2001:db8::/64"},
		{"garbage stops at the proxy that sent it", "10.0.0.1:5000", []string{"198.51.100.1, unknown"}, proxies, "10.0.0.1/32"},
		{"only proxies: the farthest", "10.0.0.1:5000", []string{"10.9.9.9"}, proxies, "10.9.9.9/32"},
		{"a peer without an IP address", "pipe", nil, nil, ""},
		{"a Unix socket", "@", []string{"198.51.100.1"}, proxies, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := ClientAddress(r, tc.trusted)
			if tc.want == "" {
				if ok {
					t.Fatalf("%s, want none", got)
				}
				return
			}
			if !ok || got.String() != tc.want {
				t.Fatalf("%v %v, want %s", got, ok, tc.want)
			}
		})
	}
}

func request(addr string) *http.Request {
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = addr
	return r
}

// limitOf returns the limit of a refusal, or 0.
func limitOf(err error) Limit {
	var le *LimitError
	if errors.As(err, &le) {
		return le.Limit
	}
	return 0
}

func TestNewGateRefuses(t *testing.T) {
	for _, o := range []GateOptions{{ConnectBurst: -1}, {RetryAfter: -1}, {MaxAddresses: -1}, {TrustedProxies: []netip.Prefix{{}}}} {
		if _, err := NewGate(&o); err == nil {
			t.Errorf("NewGate(%+v) succeeded", o)
		}
	}
}

// TestGateLimits: each limit refuses past its value with a 429 naming
// it, and admits again once what it counts is given back (or, for the
// rate, once time has passed).
func TestGateLimits(t *testing.T) {
	t.Run("connect rate", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g, _ := NewGate(&GateOptions{ConnectRate: 2, ConnectBurst: 3, MaxPerAddress: -1})
			for i := range 3 {
				_, p, err := Enter(g, request("192.0.2.1:1"))
				if err != nil {
					t.Fatalf("attempt %d of the burst: %v", i, err)
				}
				p.Release() // released or not, each attempt counts
			}
			_, _, err := Enter(g, request("192.0.2.1:2"))
			var se *StatusError
			if !errors.As(err, &se) || se.Code != http.StatusTooManyRequests || limitOf(err) != LimitRate || se.RetryAfter < time.Second {
				t.Fatalf("past the burst: %v", err)
			}
			if _, p, err := Enter(g, request("192.0.2.2:1")); err != nil {
				t.Fatalf("another address: %v", err)
			} else {
				p.Release()
			}
			time.Sleep(500 * time.Millisecond) // one attempt more at 2 a second
			if _, p, err := Enter(g, request("192.0.2.1:3")); err != nil {
				t.Fatalf("after half a second: %v", err)
			} else {
				p.Release()
			}
		})
	})
	t.Run("connections per address", func(t *testing.T) {
		g, _ := NewGate(&GateOptions{MaxPerAddress: 2, ConnectRate: -1, RetryAfter: 3 * time.Second})
		var held []*Pass
		for range 2 {
			_, p, err := Enter(g, request("192.0.2.1:1"))
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, p)
		}
		_, _, err := Enter(g, request("192.0.2.1:9"))
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 429 || limitOf(err) != LimitAddress || se.RetryAfter < 3*time.Second || se.RetryAfter >= 6*time.Second {
			t.Fatalf("a third: %v (Retry-After %v)", err, se.RetryAfter)
		}
		if _, p, err := Enter(g, request("192.0.2.2:1")); err != nil {
			t.Fatalf("another address: %v", err)
		} else {
			p.Release()
		}
		held[0].Release()
		held[0].Release() // idempotent: gives back one place only
		_, p, err := Enter(g, request("192.0.2.1:9"))
		if err != nil {
			t.Fatalf("after one left: %v", err)
		}
		if _, _, err := Enter(g, request("192.0.2.1:10")); limitOf(err) != LimitAddress {
			t.Fatalf("then one more: %v", err)
		}
		p.Release()
		held[1].Release()
	})
	t.Run("connections per user", func(t *testing.T) {
		g, _ := NewGate(&GateOptions{MaxPerUser: 2, ConnectRate: -1})
		admit := func(user, addr string) (*Pass, error) {
			r, p, err := Enter(g, request(addr))
			if err != nil {
				return nil, err
			}
			SetUser(r, user)
			if err := p.Admit([]string{"t"}); err != nil {
				p.Release()
				return nil, err
			}
			return p, nil
		}
		a1, _ := admit("alice", "192.0.2.1:1")
		a2, _ := admit("alice", "192.0.2.2:1") // from anywhere
		if _, err := admit("alice", "192.0.2.3:1"); limitOf(err) != LimitUser {
			t.Fatalf("a third of alice's: %v", err)
		}
		b, err := admit("bob", "192.0.2.3:1")
		if err != nil {
			t.Fatalf("bob: %v", err)
		}
		anon, err := admit("", "192.0.2.3:2")
		if err != nil {
			t.Fatalf("anonymous: %v", err)
		}
		if n := g.Connections(); n != 4 {
			t.Errorf("%d connections admitted, want 4", n)
		}
		a1.Release()
		a3, err := admit("alice", "192.0.2.3:3")
		if err != nil {
			t.Fatalf("alice after one left: %v", err)
		}
		for _, p := range []*Pass{a2, a3, b, anon} {
			p.Release()
		}
		if n := g.Connections(); n != 0 {
			t.Errorf("%d connections after every release", n)
		}
	})
	t.Run("expiry already past", func(t *testing.T) {
		g := &Gate{}
		r, p, _ := Enter(g, request("192.0.2.1:1"))
		defer p.Release()
		ExpiresAt(r, time.Now().Add(-time.Second))
		err := p.Admit(nil)
		var se *StatusError
		if !errors.As(err, &se) || se.Code != http.StatusUnauthorized || !errors.Is(err, ErrExpired) || se.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%v", err)
		}
	})
	t.Run("no address: no per-address limits", func(t *testing.T) {
		g, _ := NewGate(&GateOptions{MaxPerAddress: 1, ConnectRate: 1, ConnectBurst: 1})
		for range 5 {
			_, p, err := Enter(g, request("pipe"))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
		}
	})
}

// TestGateForgetsIdleAddresses: the per-address table keeps an entry
// while its address holds connections or its connect budget refills, and
// forgets it afterwards; past MaxAddresses it forgets idle ones at once.
func TestGateForgetsIdleAddresses(t *testing.T) {
	addr := func(i int) string { return fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255) }
	synctest.Test(t, func(t *testing.T) {
		g, _ := NewGate(&GateOptions{ConnectRate: 10}) // refilled within 2 s
		held, _ := enter(t, g, "192.0.2.1:1")
		for i := range 5000 {
			_, p, err := Enter(g, request(addr(i)))
			if err != nil {
				t.Fatal(err)
			}
			p.Release()
		}
		if n := g.Addresses(); n != 5001 {
			t.Fatalf("%d addresses right after, want 5001", n)
		}
		time.Sleep(sweepEvery + 2*time.Second)
		_, p, _ := Enter(g, request("192.0.2.2:1")) // a new address sweeps
		p.Release()
		if n := g.Addresses(); n != 2 {
			t.Fatalf("%d addresses after they went idle, want the one holding a connection and the newest", n)
		}
		held.Release()
	})
	synctest.Test(t, func(t *testing.T) {
		g, _ := NewGate(&GateOptions{MaxAddresses: 100})
		for i := range 10000 {
			_, p, err := Enter(g, request(addr(i)))
			if err != nil {
				t.Fatal(err)
			}
			p.Release()
			if i%97 == 0 {
				time.Sleep(sweepEvery / 100) // forced sweeps are at most this often
			}
		}
		if n := g.Addresses(); n > 200 {
			t.Fatalf("%d addresses kept, MaxAddresses 100", n)
		}
	})
}

func enter(t *testing.T, g *Gate, addr string) (*Pass, *http.Request) {
	t.Helper()
	r, p, err := Enter(g, request(addr))
	if err != nil {
		t.Fatal(err)
	}
	return p, r
}

// TestPassExpiry: a bound context ends at the expiry the hook gave, with
// ErrExpired; a refresh moves it, or fails.
func TestPassExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &Gate{}
		start := time.Now()
		p, r := enter(t, g, "192.0.2.1:1")
		defer p.Release()
		SetUser(r, "alice")
		ExpiresAt(r, start.Add(3*time.Second))
		ExpiresAt(r, start.Add(2*time.Second)) // the earliest holds
		ExpiresAt(r, time.Time{})
		if err := p.Admit([]string{"t"}); err != nil {
			t.Fatal(err)
		}
		ctx := p.Bind(context.Background())
		<-ctx.Done()
		if d := time.Since(start); d != 2*time.Second || !errors.Is(context.Cause(ctx), ErrExpired) || AuthEnded(ctx) == nil {
			t.Fatalf("ended after %v with %v", d, context.Cause(ctx))
		}
	})
	synctest.Test(t, func(t *testing.T) {
		g := &Gate{}
		start := time.Now()
		p, r := enter(t, g, "192.0.2.1:1")
		defer p.Release()
		SetUser(r, "alice")
		ExpiresAt(r, start.Add(2*time.Second))
		_ = p.Admit(nil)
		ctx := p.Bind(context.Background())
		time.Sleep(time.Second)
		refreshed := func(user string, exp time.Time) error {
			_, gr := Collect(request("192.0.2.1:1"))
			gr.user, gr.expires = user, exp
			return p.Refresh(gr)
		}
		if err := refreshed("bob", start.Add(time.Hour)); !errors.Is(err, ErrRevoked) {
			t.Fatalf("a refresh naming another user: %v", err)
		}
		if err := refreshed("alice", start); !errors.Is(err, ErrExpired) {
			t.Fatalf("a refresh already expired: %v", err)
		}
		if err := refreshed("alice", start.Add(5*time.Second)); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done()
		if d := time.Since(start); d != 5*time.Second {
			t.Fatalf("ended after %v, want the refreshed 5s", d)
		}
	})
}

// relay is an in-memory Relay between the Gates that listen to it.
type relay struct {
	mu   sync.Mutex
	subs map[int]func([]byte)
	next int
	sent int
}

func (rl *relay) Notify(_ context.Context, channel string, data []byte) error {
	rl.mu.Lock()
	fns := make([]func([]byte), 0, len(rl.subs))
	for _, fn := range rl.subs {
		fns = append(fns, fn)
	}
	rl.sent++
	rl.mu.Unlock()
	for _, fn := range fns {
		fn(data)
	}
	return nil
}

func (rl *relay) Listen(channel string, fn func([]byte)) (func(), error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.subs == nil {
		rl.subs = map[int]func([]byte){}
	}
	id := rl.next
	rl.next++
	rl.subs[id] = fn
	return func() { rl.mu.Lock(); delete(rl.subs, id); rl.mu.Unlock() }, nil
}

// TestRevoke: Revoke ends a user's passes on every Gate of the relay,
// once bound or as soon as they are; RevokeTopic calls OnTopic where one
// is set and ends the others.
func TestRevoke(t *testing.T) {
	rl := &relay{}
	quiet := slog.New(slog.DiscardHandler)
	node1, _ := NewGate(&GateOptions{Relay: rl, Logger: quiet})
	node2, _ := NewGate(&GateOptions{Relay: rl, Logger: quiet})
	defer node1.Close()
	defer node2.Close()
	admitted := func(g *Gate, user string, topics ...string) *Pass {
		p, r := enter(t, g, "192.0.2.1:1")
		SetUser(r, user)
		if err := p.Admit(topics); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a1, a2, b := admitted(node1, "alice", "x"), admitted(node2, "alice", "y"), admitted(node2, "bob", "x", "y")
	defer a1.Release()
	defer a2.Release()
	defer b.Release()
	c1, c2 := a1.Bind(context.Background()), b.Bind(context.Background()) // a2 is not bound yet
	n, err := node1.Revoke(context.Background(), "alice")
	if n != 1 || err != nil || rl.sent != 1 {
		t.Fatalf("Revoke: %d, %v, %d relayed", n, err, rl.sent)
	}
	<-c1.Done()
	if !errors.Is(context.Cause(c1), ErrRevoked) {
		t.Fatalf("node 1: %v", context.Cause(c1))
	}
	if c := a2.Bind(context.Background()); !errors.Is(context.Cause(c), ErrRevoked) {
		t.Fatalf("node 2, bound after the revocation: %v", context.Cause(c))
	}
	if c2.Err() != nil {
		t.Fatal("bob's pass ended")
	}
	var dropped []string
	b.OnTopic(func(topic string) { dropped = append(dropped, topic) })
	other := admitted(node1, "carol", "y")
	defer other.Release()
	c3 := other.Bind(context.Background())
	if n, _ := node2.RevokeTopic(context.Background(), "y"); n != 2 { // a2 (ended, not released) and b
		t.Fatalf("RevokeTopic reached %d here, want 2", n)
	}
	<-c3.Done()
	if RevokedTopic(context.Cause(c3)) != "y" || !errors.Is(context.Cause(c3), ErrRevoked) {
		t.Fatalf("carol on node 1: %v", context.Cause(c3))
	}
	if len(dropped) != 1 || dropped[0] != "y" || c2.Err() != nil {
		t.Fatalf("bob's multiplexed pass: dropped %v, ended %v", dropped, c2.Err())
	}
	b.RemoveTopic("y")
	if n, _ := node2.RevokeTopic(context.Background(), "y"); n != 1 { // a2 still follows y
		t.Fatalf("after bob dropped y, RevokeTopic reached %d, want a2 only", n)
	}
	node1.received([]byte("not json")) // logged, ignored
}
