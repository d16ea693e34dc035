package presence

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// Package presence is a broker's share of the presence of a cluster's
// Hubs ([framework.PresenceBroker]) over a key-value store that every
// node reads and writes, with a feed of its changes ([Backend]: a NATS
// JetStream bucket, a Redis hash and channel).
//
// The store holds one key per topic, user and node ("m.<topic>.<user>.<node>",
// topic and user in unpadded base64url) whose value is that node's
// {"info","conns"} (conns 0 while the user's leave waits for its Hub's
// window), one per topic and node for its anonymous count
// ("a.<topic>.<node>"), and one per node, its heartbeat ("n.<node>"), put
// every TTL/4. Every node follows the whole store and keeps a copy of it,
// from which it lists members and derives the joins and leaves (a user on
// no node that is now on one, or the reverse) in the feed's order, so
// every node announces the same ones. A node whose heartbeat has not been
// seen for TTL/2 is dead: the nodes that see it delete its keys, and so
// announce its users' leaves, within TTL of its last heartbeat. A node
// that finds its own keys deleted (it was cut off for that long) puts them
// again; one whose feed breaks opens it again, and forgets what the store
// no longer holds.
//
// A node's writes are made by one goroutine, which puts the latest value
// of each entry that changed: a burst of changes to one entry costs one
// write. It starts with the first Set, Watch or Presence; Close deletes
// the node's keys.

// Backend is the store of a [Node]. Its methods are called from the
// Node's one goroutine.
// DefaultTTL is the brokers' default bound within which the members of a
// node that died are gone from every other node.
const DefaultTTL = 30 * time.Second

type Backend interface {
	// Open prepares the store and follows it: the feed first sends an
	// Update for every key it holds, then one with Loaded set, then every
	// change in the store's order, until ctx ends or it breaks (its
	// channel is then closed).
	Open(ctx context.Context) (<-chan Update, error)
	// Put sets key to value; Delete removes key (a key already gone is
	// no error).
	Put(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// Update is one change of the store, or the end of its first values.
type Update struct {
	Key    string
	Put    bool   // else a delete
	Value  []byte // of a put
	Rev    uint64 // the store's order of the change
	Loaded bool   // the first values are all sent; the other fields are empty
}

// Node is one node's share of the cluster's presence. All its methods
// may be called concurrently.
type Node struct {
	be      Backend
	ttl     time.Duration
	timeout time.Duration // of each request
	retry   time.Duration // between two attempts to open the store
	log     *slog.Logger
	node    string
	once    sync.Once
	wake    chan struct{}
	done    chan struct{}
	stop    context.CancelFunc

	mu      sync.Mutex
	closed  bool
	open    bool                // the store was opened (for Close's deletions)
	local   map[string][]byte   // this node's entries; nil: to delete
	dirty   map[string]struct{} // local keys to write
	fns     map[*watchFn]struct{}
	topics  map[string]*presTopic
	nodes   map[string]time.Time // when each node was last heard of
	keysOf  map[string]map[string]struct{}
	pending []presEvent // joins and leaves to hand to fns, in order
}

type watchFn struct {
	fn func(topic, event string, m framework.Member)
}

// presTopic is the store's copy for one topic.
type presTopic struct {
	users map[string]map[string]presEntry // user -> node -> entry
	anon  map[string]int                  // node -> count
}

type presEntry struct {
	Info  json.RawMessage `json:"info,omitempty"`
	Conns int             `json:"conns"`
	rev   uint64
}

type presEvent struct {
	topic, event string
	m            framework.Member
}

// New returns a Node of a fresh random name on be: ttl bounds how long the
// users of a dead node stay listed, timeout each request to the store, and
// retry is the pause before it is opened again after a failure.
func New(be Backend, ttl, timeout, retry time.Duration, log *slog.Logger) *Node {
	id := make([]byte, 8)
	rand.Read(id)
	return &Node{be: be, ttl: ttl, timeout: timeout, retry: retry, log: log, node: hex.EncodeToString(id), wake: make(chan struct{}, 1), done: make(chan struct{}),
		local: map[string][]byte{}, dirty: map[string]struct{}{}, fns: map[*watchFn]struct{}{},
		topics: map[string]*presTopic{}, nodes: map[string]time.Time{}, keysOf: map[string]map[string]struct{}{}}
}

var b64 = base64.RawURLEncoding

// start starts the run loop once.
func (p *Node) start() {
	p.once.Do(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.closed {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		p.stop = cancel
		go p.run(ctx)
	})
}

// Set records this node's connections of m.User to topic
// ([framework.PresenceBroker.SetPresence]).
func (p *Node) Set(topic string, m framework.Member) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	var key string
	var val []byte
	if m.User == "" {
		key = "a." + b64.EncodeToString([]byte(topic)) + "." + p.node
	} else {
		key = "m." + b64.EncodeToString([]byte(topic)) + "." + b64.EncodeToString([]byte(m.User)) + "." + p.node
	}
	if m.Conns > 0 || m.Conns == 0 && m.User != "" { // a user whose leave waits is listed with 0
		val, _ = json.Marshal(presEntry{Info: m.Info, Conns: m.Conns})
	}
	p.local[key] = val
	p.dirty[key] = struct{}{}
	p.mu.Unlock()
	p.start()
	p.signal()
}

func (p *Node) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Watch calls fn with the joins and leaves of every topic
// ([framework.PresenceBroker.WatchPresence]).
func (p *Node) Watch(fn func(topic, event string, m framework.Member)) (func(), error) {
	w := &watchFn{fn: fn}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, framework.ErrClosed
	}
	p.fns[w] = struct{}{}
	p.mu.Unlock()
	p.start()
	return func() {
		p.mu.Lock()
		delete(p.fns, w)
		p.mu.Unlock()
	}, nil
}

// Presence lists topic's members over every node
// ([framework.PresenceBroker.Presence]).
func (p *Node) Presence(ctx context.Context, topic string, o framework.PresenceOptions) (framework.PresencePage, error) {
	p.start()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return framework.PresencePage{}, framework.ErrClosed
	}
	var ms []framework.Member
	anon := 0
	if t := p.topics[topic]; t != nil {
		for _, n := range t.anon {
			anon += n
		}
		for user, nodes := range t.users {
			if user <= o.After {
				continue
			}
			m := framework.Member{User: user}
			var rev uint64
			for _, e := range nodes {
				m.Conns += e.Conns
				if e.rev > rev { // the latest info given
					m.Info, rev = e.Info, e.rev
				}
			}
			ms = append(ms, m)
		}
	}
	return framework.MembersPage(ms, anon, o), nil
}

// run opens the store, follows it, writes this node's entries and
// heartbeat, and deletes the keys of dead nodes, until ctx ends; after a
// failure it opens the store again.
func (p *Node) run(ctx context.Context) {
	defer close(p.done)
	for ctx.Err() == nil {
		p.session(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(p.retry):
		}
	}
}

func (p *Node) session(ctx context.Context) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the feed
	feed, err := p.be.Open(sctx)
	if err != nil {
		p.log.Debug("rxstream: presence: open", "err", err)
		return
	}
	p.mu.Lock()
	p.open = true
	for k := range p.local { // (re)start: every entry is written again
		p.dirty[k] = struct{}{}
	}
	p.mu.Unlock()
	tick := time.NewTicker(p.ttl / 4)
	defer tick.Stop()
	if !p.beat(ctx) {
		return
	}
	p.flush(ctx)
	// The keys of the first values, the store as it is now: what the
	// copy holds beyond them is gone (the store was lost with a restart,
	// or changed while this node was away).
	initial := map[string]struct{}{}
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-feed:
			switch {
			case !ok:
				return
			case u.Loaded:
				if initial != nil {
					p.forget(initial)
					initial = nil
				}
			default:
				if initial != nil {
					initial[u.Key] = struct{}{}
				}
				p.apply(u.Key, u.Put, u.Value, u.Rev)
			}
			p.deliver()
		case <-p.wake:
			p.flush(ctx)
		case <-tick.C:
			if !p.beat(ctx) {
				return // the store may be gone: open it again
			}
			p.sweep(ctx)
			p.flush(ctx)
		}
	}
}

// forget deletes from the copy the keys not among those of the bucket.
func (p *Node) forget(keys map[string]struct{}) {
	p.mu.Lock()
	var gone []string
	for _, held := range p.keysOf {
		for k := range held {
			if _, ok := keys[k]; !ok {
				gone = append(gone, k)
			}
		}
	}
	p.mu.Unlock()
	for _, k := range gone {
		p.apply(k, false, nil, 0)
	}
}

// beat puts this node's heartbeat, and reports whether it could.
func (p *Node) beat(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	if err := p.be.Put(cctx, "n."+p.node, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		p.log.Debug("rxstream: presence: heartbeat", "err", err)
		return false
	}
	return true
}

// flush writes the local entries that changed, the latest value of each.
func (p *Node) flush(ctx context.Context) {
	p.mu.Lock()
	keys := make([]string, 0, len(p.dirty))
	for k := range p.dirty {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	for _, k := range keys {
		p.mu.Lock()
		v, ok := p.local[k]
		delete(p.dirty, k)
		p.mu.Unlock()
		if !ok {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, p.timeout)
		var err error
		if v == nil {
			err = p.be.Delete(cctx, k)
		} else {
			err = p.be.Put(cctx, k, v)
		}
		cancel()
		p.mu.Lock()
		switch {
		case err != nil:
			p.dirty[k] = struct{}{} // the next tick tries again
		case v == nil && p.local[k] == nil:
			delete(p.local, k) // deleted, and not set again meanwhile
		}
		p.mu.Unlock()
		if err != nil {
			p.log.Debug("rxstream: presence: write", "key", k, "err", err)
			return
		}
	}
}

// sweep deletes the keys of the nodes not heard of for TTL/2.
func (p *Node) sweep(ctx context.Context) {
	dead := time.Now().Add(-p.ttl / 2)
	var keys []string
	p.mu.Lock()
	for node, seen := range p.nodes {
		if node == p.node || seen.After(dead) {
			continue
		}
		for k := range p.keysOf[node] {
			keys = append(keys, k)
		}
		keys = append(keys, "n."+node)
		p.nodes[node] = time.Now() // not swept again at once
	}
	p.mu.Unlock()
	for _, k := range keys {
		cctx, cancel := context.WithTimeout(ctx, p.timeout)
		err := p.be.Delete(cctx, k)
		cancel()
		if err != nil {
			p.log.Debug("rxstream: presence: sweep", "key", k, "err", err)
			return
		}
	}
}

// apply updates the copy of the bucket with one of its entries (a put of
// value at revision rev, or a delete), and queues the join or leave it
// makes.
func (p *Node) apply(key string, put bool, value []byte, rev uint64) {
	parts := strings.Split(key, ".")
	p.mu.Lock()
	defer p.mu.Unlock()
	node := parts[len(parts)-1]
	if node != p.node || parts[0] == "n" {
		if _, ok := p.nodes[node]; !ok || parts[0] == "n" && put {
			p.nodes[node] = time.Now()
		}
	}
	if parts[0] == "n" {
		if !put && len(p.keysOf[node]) == 0 {
			delete(p.nodes, node)
		}
		return
	}
	if (parts[0] != "m" || len(parts) != 4) && (parts[0] != "a" || len(parts) != 3) {
		return // not ours
	}
	tb, err := b64.DecodeString(parts[1])
	if err != nil {
		return
	}
	topic := string(tb)
	if node == p.node && !put {
		if v, ok := p.local[key]; ok && v != nil { // deleted by another node: put it again
			p.dirty[key] = struct{}{}
			p.signal()
		}
	}
	keys := p.keysOf[node]
	if put {
		if keys == nil {
			keys = map[string]struct{}{}
			p.keysOf[node] = keys
		}
		keys[key] = struct{}{}
	} else {
		delete(keys, key)
		if len(keys) == 0 {
			delete(p.keysOf, node)
		}
	}
	t := p.topics[topic]
	if t == nil {
		if !put {
			return
		}
		t = &presTopic{users: map[string]map[string]presEntry{}, anon: map[string]int{}}
		p.topics[topic] = t
	}
	defer func() {
		if len(t.users) == 0 && len(t.anon) == 0 {
			delete(p.topics, topic)
		}
	}()
	var v presEntry
	if put && json.Unmarshal(value, &v) != nil {
		return
	}
	v.rev = rev
	if parts[0] == "a" {
		if put {
			t.anon[node] = v.Conns
		} else {
			delete(t.anon, node)
		}
		return
	}
	ub, err := b64.DecodeString(parts[2])
	if err != nil {
		return
	}
	user := string(ub)
	nodes := t.users[user]
	was := len(nodes) > 0
	if put {
		if nodes == nil {
			nodes = map[string]presEntry{}
			t.users[user] = nodes
		}
		nodes[node] = v
	} else {
		delete(nodes, node)
		if len(nodes) == 0 {
			delete(t.users, user)
		}
	}
	switch now := len(nodes) > 0; {
	case !was && now:
		p.pending = append(p.pending, presEvent{topic, framework.EventJoin, framework.Member{User: user, Info: v.Info, Conns: v.Conns}})
	case was && !now:
		p.pending = append(p.pending, presEvent{topic, framework.EventLeave, framework.Member{User: user}})
	}
}

// deliver hands the queued joins and leaves to the watchers, without the
// lock (a watcher takes its Hub's locks, which call SetPresence).
func (p *Node) deliver() {
	p.mu.Lock()
	evs := p.pending
	p.pending = nil
	fns := make([]*watchFn, 0, len(p.fns))
	for w := range p.fns {
		fns = append(fns, w)
	}
	p.mu.Unlock()
	for _, ev := range evs {
		for _, w := range fns {
			w.fn(ev.topic, ev.event, ev.m)
		}
	}
}

// Close stops the Node's goroutine and deletes its keys, so that its
// users leave at once rather than at the bound; connected tells whether
// the store can be reached at all (no deletion is tried otherwise). Set
// does nothing after it, and Watch and Presence fail with
// [framework.ErrClosed].
func (p *Node) Close(connected bool) {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.once.Do(func() {}) // no run loop from now on, and the one started has its stop set
	p.mu.Lock()
	stop := p.stop
	p.mu.Unlock()
	if stop == nil {
		return
	}
	stop()
	<-p.done
	p.mu.Lock()
	open := p.open
	keys := []string{"n." + p.node}
	for k, v := range p.local {
		if v != nil {
			keys = append(keys, k)
		}
	}
	p.mu.Unlock()
	if !open || !connected {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	for _, k := range keys {
		if p.be.Delete(ctx, k) != nil {
			return
		}
	}
}
