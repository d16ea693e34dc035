package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// Cuttable dials until Kill, then refuses, and Kill closes the
// connections it made: a node that vanishes without a word, as one killed
// with -9 does. Dial is a NATS custom dialer, DialContext a Redis one.
type Cuttable struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

// Dial dials like net.Dial until Kill.
func (c *Cuttable) Dial(network, addr string) (net.Conn, error) {
	return c.DialContext(context.Background(), network, addr)
}

// DialContext dials like a net.Dialer until Kill.
func (c *Cuttable) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
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

// Kill closes every connection made and refuses new ones until Heal.
func (c *Cuttable) Kill() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = true
	for _, conn := range c.conns {
		conn.Close()
	}
	c.conns = nil
}

// Heal lets dials through again.
func (c *Cuttable) Heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.cut = false
}

// PresenceNode is one node of a cluster for presence: a Hub on its own
// broker, which dials through Dial.
type PresenceNode struct {
	Hub  *framework.Hub
	Dial *Cuttable
}

// NewPresenceHub returns a hub whose broker dials through dial and keeps
// presence entries for ttl; the hub has no coalescing window, so that
// joins and leaves are announced at once.
type NewPresenceHub func(t *testing.T, ttl time.Duration, dial *Cuttable) *framework.Hub

// StartPresenceNode starts a node made by newHub; the test's cleanup
// closes its hub.
func StartPresenceNode(t *testing.T, ttl time.Duration, newHub NewPresenceHub) *PresenceNode {
	t.Helper()
	d := &Cuttable{}
	hub := newHub(t, ttl, d)
	t.Cleanup(func() { hub.Close() })
	return &PresenceNode{Hub: hub, Dial: d}
}

// Join subscribes user (anonymous when "") to topic, watching its joins
// and leaves when watch; the test's cleanup closes the subscription.
func (n *PresenceNode) Join(t *testing.T, topic, user string, watch bool) *framework.Subscription {
	t.Helper()
	o := &framework.SubscribeOptions{User: user, Presence: watch}
	if user != "" {
		o.Info = json.RawMessage(`{"on":"node"}`)
	}
	s, err := n.Hub.SubscribeWith(topic, "", o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// Members lists topic's members on n as "[alice:1 bob:2]+ANONYMOUS".
func (n *PresenceNode) Members(t *testing.T, topic string) string {
	t.Helper()
	page, err := n.Hub.Presence(context.Background(), topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range page.Members {
		out = append(out, fmt.Sprintf("%s:%d", m.User, m.Conns))
	}
	return fmt.Sprintf("%v+%d", out, page.Anonymous)
}

// WaitMembers waits up to d until topic's members on n are want.
func (n *PresenceNode) WaitMembers(t *testing.T, d time.Duration, topic, want string) {
	t.Helper()
	end := time.Now().Add(d)
	for got := n.Members(t, topic); got != want; got = n.Members(t, topic) {
		if time.Now().After(end) {
			t.Fatalf("members %s after %v, want %s", got, d, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// presenceOf reads the presence events s holds now, as "join alice".
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

// sortLeaves sorts the trailing leaves, which the dead node's sweep
// deletes in any order, and the first two joins, made concurrently.
func sortLeaves(evs []string) []string {
	out := slices.Clone(evs)
	if len(out) >= 2 {
		slices.Sort(out[:2])
	}
	i := len(out)
	for i > 0 && strings.HasPrefix(out[i-1], "leave ") {
		i--
	}
	slices.Sort(out[i:])
	return out
}

// Presence is the cross-node presence test: users joining on either node
// are listed on both, joins and leaves are announced on both in order,
// and a node cut off without a word loses its users within the entries'
// lifetime (the documented bound, PresenceTTL, and 2 s of slack for a
// loaded machine), the survivor announcing their leaves.
func Presence(t *testing.T, newHub NewPresenceHub) {
	const ttl = 800 * time.Millisecond
	a, b := StartPresenceNode(t, ttl, newHub), StartPresenceNode(t, ttl, newHub)
	wa, wb := a.Join(t, "room", "", true), b.Join(t, "room", "", true)

	a.Join(t, "room", "alice", false)
	bob := b.Join(t, "room", "bob", false)
	a.Join(t, "room", "bob", false)
	for _, n := range []*PresenceNode{a, b} {
		n.WaitMembers(t, 10*time.Second, "room", "[alice:1 bob:2]+2")
	}
	bob.Close() // bob is still on a
	b.Join(t, "room", "carol", false)
	a.WaitMembers(t, 10*time.Second, "room", "[alice:1 bob:1 carol:1]+2")
	if got, want := fmt.Sprint(sortLeaves(presenceOf(t, wa))), "[join alice join bob join carol]"; got != want {
		t.Fatalf("a announced %v, want %s", got, want)
	}

	a.Dial.Kill() // a is gone: alice and bob with it, and a's watcher
	b.WaitMembers(t, ttl+2*time.Second, "room", "[carol:1]+1")
	if got, want := fmt.Sprint(sortLeaves(presenceOf(t, wb))), "[join alice join bob join carol leave alice leave bob]"; got != want {
		t.Fatalf("b announced %v, want %s", got, want)
	}
}

// PresenceWaiting: a user whose last connection closed, its leave waiting
// for the hubs' coalescing window (newHub makes hubs with a long one), is
// listed with 0 connections on every node, and with its connections again
// once back.
func PresenceWaiting(t *testing.T, newHub NewPresenceHub) {
	const ttl = 800 * time.Millisecond
	a, b := StartPresenceNode(t, ttl, newHub), StartPresenceNode(t, ttl, newHub)
	alice := a.Join(t, "room", "alice", false)
	for _, n := range []*PresenceNode{a, b} {
		n.WaitMembers(t, 10*time.Second, "room", "[alice:1]+0")
	}
	alice.Close()
	for _, n := range []*PresenceNode{a, b} {
		n.WaitMembers(t, 10*time.Second, "room", "[alice:0]+0")
	}
	b.Join(t, "room", "alice", false) // back, on the other node
	for _, n := range []*PresenceNode{a, b} {
		n.WaitMembers(t, 10*time.Second, "room", "[alice:1]+0")
	}
}
