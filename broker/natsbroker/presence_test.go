package natsbroker_test

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

	"github.com/nats-io/nats.go"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
)

// cuttable dials NATS until cut, then refuses, and cut closes the
// connections it made: a node that vanishes without a word, as one
// killed with -9 does.
type cuttable struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func (c *cuttable) Dial(network, addr string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		return nil, errors.New("cut off")
	}
	conn, err := net.Dial(network, addr)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cuttable) kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.Close()
	}
}

// presenceNode is one node of a cluster: a Hub on its own Broker.
type presenceNode struct {
	hub  *framework.Hub
	dial *cuttable
}

func newPresenceNode(t *testing.T, ns *natsServer, ttl time.Duration) *presenceNode {
	t.Helper()
	d := &cuttable{}
	b := newBroker(t, natsbroker.Options{URL: ns.url(), PresenceTTL: ttl, NATSOptions: []nats.Option{nats.SetCustomDialer(d)}})
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b, PresenceWindow: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hub.Close() })
	return &presenceNode{hub: hub, dial: d}
}

func (n *presenceNode) join(t *testing.T, topic, user string, watch bool) *framework.Subscription {
	t.Helper()
	o := &framework.SubscribeOptions{User: user, Presence: watch}
	if user != "" {
		o.Info = json.RawMessage(`{"on":"node"}`)
	}
	s, err := n.hub.SubscribeWith(topic, "", o)
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

// waitFor polls cond until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", d, what)
		}
	}
}

// presenceOf reads the presence events s holds now, as "join alice".
func presenceOf(t *testing.T, s *framework.Subscription, into *[]string) {
	t.Helper()
	for {
		b, err := s.Poll(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Events) == 0 {
			return
		}
		for _, ev := range b.Events {
			var m framework.Member
			json.Unmarshal(ev.Data, &m)
			*into = append(*into, ev.Name+" "+m.User)
		}
	}
}

// TestPresenceAcrossNodes: users joining on either node are listed on
// both, joins and leaves are announced on both in order, and a node cut
// off without a word loses its users within the bound, the survivor
// announcing their leaves.
func TestPresenceAcrossNodes(t *testing.T) {
	const ttl = 800 * time.Millisecond
	ns := startNATS(t)
	a, b := newPresenceNode(t, ns, ttl), newPresenceNode(t, ns, ttl)
	wa, wb := a.join(t, "room", "", true), b.join(t, "room", "", true)

	a.join(t, "room", "alice", false)
	bob := b.join(t, "room", "bob", false)
	a.join(t, "room", "bob", false)
	want := "[alice:1 bob:2]+2"
	for _, n := range []*presenceNode{a, b} {
		waitFor(t, 10*time.Second, "alice and bob on both nodes", func() bool { return n.members(t, "room") == want })
	}
	bob.Close() // bob is still on a
	b.join(t, "room", "carol", false)
	waitFor(t, 10*time.Second, "carol on a", func() bool { return a.members(t, "room") == "[alice:1 bob:1 carol:1]+2" })

	var onA []string
	presenceOf(t, wa, &onA)
	if want := "[join alice join bob join carol]"; fmt.Sprint(sortLeaves(onA)) != want {
		t.Fatalf("a announced %v, want %s", onA, want)
	}

	a.dial.kill() // a is gone: alice and bob with it, and a's watcher
	waitFor(t, 10*ttl, "a's users gone from b", func() bool { return b.members(t, "room") == "[carol:1]+1" })

	var got []string
	presenceOf(t, wb, &got)
	if want := "[join alice join bob join carol leave alice leave bob]"; fmt.Sprint(sortLeaves(got)) != want {
		t.Fatalf("b announced %v, want %s", got, want)
	}
}

// sortLeaves sorts the trailing leaves, which the dead node's sweep
// deletes in any order, and the first two joins, made concurrently.
func sortLeaves(evs []string) []string {
	out := slices.Clone(evs)
	if len(out) >= 2 {
		slices.Sort(out[:2])
	}
	i := len(out)
	for i > 0 && len(out[i-1]) > 5 && out[i-1][:5] == "leave" {
		i--
	}
	slices.Sort(out[i:])
	return out
}

// TestPresenceNATSRestart: the bucket lives in the servers' memory, so a
// NATS restart loses it; the nodes make it again and put their entries
// back, and no member is left behind that is gone.
func TestPresenceNATSRestart(t *testing.T) {
	const ttl = 800 * time.Millisecond
	ns := startNATS(t)
	a, b := newPresenceNode(t, ns, ttl), newPresenceNode(t, ns, ttl)
	a.join(t, "room", "alice", false)
	carol := b.join(t, "room", "carol", false)
	for _, n := range []*presenceNode{a, b} {
		waitFor(t, 10*time.Second, "alice and carol", func() bool { return n.members(t, "room") == "[alice:1 carol:1]+0" })
	}
	ns.stop()
	carol.Close() // while NATS is down
	ns.start()
	for _, n := range []*presenceNode{a, b} {
		waitFor(t, 20*time.Second, "alice alone after the restart", func() bool { return n.members(t, "room") == "[alice:1]+0" })
	}
}
