package redisbroker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/redistest"
)

// cuttable dials Redis until cut, then refuses, and cut closes the
// connections it made: a node that vanishes without a word, as one
// killed with -9 does.
type cuttable struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cuttable) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("cut off")
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cuttable) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = false
}

func (c *cuttable) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.Close()
	}
}

type presenceNode struct {
	hub  *framework.Hub
	dial *cuttable
}

func newPresenceNode(t *testing.T, srv *redistest.Server, ttl time.Duration) *presenceNode {
	t.Helper()
	d := &cuttable{}
	b := newBroker(t, redisbroker.Options{PresenceTTL: ttl, Redis: &redis.UniversalOptions{Addrs: []string{srv.Addr()}, Dialer: d.dial}})
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b, PresenceWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return &presenceNode{hub: hub, dial: d}
}

func (n *presenceNode) join(t *testing.T, topic, user string, watch bool) *framework.Subscription {
	t.Helper()
	s, err := n.hub.SubscribeWith(topic, "", &framework.SubscribeOptions{User: user, Presence: watch})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func (n *presenceNode) members(t *testing.T, topic string) string {
	t.Helper()
	page, err := n.hub.Presence(context.Background(), topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range page.Members {
		out = append(out, fmt.Sprintf("%s:%d", m.User, m.Conns))
	}
	return fmt.Sprintf("%v+%d", out, page.Anonymous)
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", d, what)
		}
	}
}

func presenceOf(t *testing.T, s *framework.Subscription) []string {
	t.Helper()
	var out []string
	for {
		b, err := s.Poll(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) == 0 {
			return out
		}
		for _, ev := range b.Events {
			var m framework.Member
			json.Unmarshal(ev.Data, &m)
			out = append(out, ev.Name+" "+m.User)
		}
	}
}

// TestPresenceAcrossNodes: as natsbroker's, on Redis: users joining on
// either node are listed on both, joins and leaves are announced on both,
// and a node cut off without a word loses its users within the bound,
// the survivor announcing their leaves.
func TestPresenceAcrossNodes(t *testing.T) {
	const ttl = 800 * time.Millisecond
	srv := startRedis(t)
	a, b := newPresenceNode(t, srv, ttl), newPresenceNode(t, srv, ttl)
	wa, wb := a.join(t, "room", "", true), b.join(t, "room", "", true)
	a.join(t, "room", "alice", false)
	bob := b.join(t, "room", "bob", false)
	a.join(t, "room", "bob", false)
	for _, n := range []*presenceNode{a, b} {
		waitFor(t, 10*time.Second, "alice and bob on both nodes", func() bool { return n.members(t, "room") == "[alice:1 bob:2]+2" })
	}
	bob.Close()
	b.join(t, "room", "carol", false)
	waitFor(t, 10*time.Second, "carol on a", func() bool { return a.members(t, "room") == "[alice:1 bob:1 carol:1]+2" })
	onA := presenceOf(t, wa)
	slices.Sort(onA[:2])
	if want := "[join alice join bob join carol]"; fmt.Sprint(onA) != want {
		t.Fatalf("a announced %v, want %s", onA, want)
	}

	a.dial.kill()
	waitFor(t, 10*ttl, "a's users gone from b", func() bool { return b.members(t, "room") == "[carol:1]+1" })
	got := presenceOf(t, wb)
	if len(got) == 5 {
		slices.Sort(got[:2])
		slices.Sort(got[3:])
	}
	if want := "[join alice join bob join carol leave alice leave bob]"; fmt.Sprint(got) != want {
		t.Fatalf("b announced %v, want %s", got, want)
	}
}

// TestPresenceCutOff: a node cut off from Redis for a while (its
// subscription lost what was published meanwhile) reads the hash again
// when it is back, so that a leave made meanwhile is seen.
func TestPresenceCutOff(t *testing.T) {
	const ttl = 800 * time.Millisecond
	srv := startRedis(t)
	a, b := newPresenceNode(t, srv, ttl), newPresenceNode(t, srv, ttl)
	a.join(t, "room", "alice", false)
	carol := b.join(t, "room", "carol", false)
	for _, n := range []*presenceNode{a, b} {
		waitFor(t, 10*time.Second, "alice and carol", func() bool { return n.members(t, "room") == "[alice:1 carol:1]+0" })
	}
	a.dial.kill()
	carol.Close() // while a is cut off
	waitFor(t, 10*time.Second, "carol gone from b", func() bool { return b.members(t, "room") == "[alice:1]+0" })
	a.dial.heal()
	waitFor(t, 20*time.Second, "carol gone from a once it is back", func() bool { return a.members(t, "room") == "[alice:1]+0" })
}
