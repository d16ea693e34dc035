package natsbroker

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/framework"
)

// Presence across nodes ([framework.PresenceBroker]).
//
// The members of every topic live in one JetStream key-value bucket,
// "<Stream>_PRESENCE", held in memory by the servers: one key per topic,
// user and node ("m.<topic>.<user>.<node>", topic and user in unpadded
// base64url) whose value is that node's {"info","conns"}, one per topic
// and node for its anonymous count ("a.<topic>.<node>"), and one per node,
// its heartbeat ("n.<node>"), put every PresenceTTL/4. Every node watches
// the whole bucket and keeps a copy of it, from which it lists members
// and derives the joins and leaves (a user on no node that is now on one,
// or the reverse) in the bucket's order, so every node announces the same
// ones. A node whose heartbeat has not been seen for PresenceTTL/2 is
// dead: the nodes that see it delete its keys, and so announce its users'
// leaves, within PresenceTTL of its last heartbeat. A node that finds its
// own keys deleted (it was cut off for that long) puts them again.
//
// A node's writes are made by one goroutine of the Broker, which puts the
// latest value of each entry that changed: a burst of changes to one
// entry costs one write. The goroutine starts with the first
// SetPresence or WatchPresence; Close deletes the node's keys.

// DefaultPresenceTTL is the default bound within which the members of a
// node that died are gone from every other node ([Options.PresenceTTL]).
const DefaultPresenceTTL = 30 * time.Second

var _ framework.PresenceBroker = (*Broker)(nil)

// presence is a Broker's share of the cluster's presence.
type presence struct {
	b    *Broker
	node string
	once sync.Once
	wake chan struct{}
	done chan struct{}
	stop context.CancelFunc

	mu      sync.Mutex
	closed  bool
	kv      jetstream.KeyValue  // once the run loop made the bucket
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

// presTopic is the bucket's copy for one topic.
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

func newPresence(b *Broker) *presence {
	id := make([]byte, 8)
	rand.Read(id)
	return &presence{b: b, node: hex.EncodeToString(id), wake: make(chan struct{}, 1), done: make(chan struct{}),
		local: map[string][]byte{}, dirty: map[string]struct{}{}, fns: map[*watchFn]struct{}{},
		topics: map[string]*presTopic{}, nodes: map[string]time.Time{}, keysOf: map[string]map[string]struct{}{}}
}

var b64 = base64.RawURLEncoding

// start starts the run loop once.
func (p *presence) start() {
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

// SetPresence records this node's connections of m.User to topic; see
// [framework.PresenceBroker].
func (b *Broker) SetPresence(topic string, m framework.Member) {
	p := b.pres
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
	if m.Conns > 0 {
		val, _ = json.Marshal(presEntry{Info: m.Info, Conns: m.Conns})
	}
	p.local[key] = val
	p.dirty[key] = struct{}{}
	p.mu.Unlock()
	p.start()
	p.signal()
}

func (p *presence) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// WatchPresence calls fn with the joins and leaves of every topic; see
// [framework.PresenceBroker].
func (b *Broker) WatchPresence(fn func(topic, event string, m framework.Member)) (func(), error) {
	p := b.pres
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

// Presence lists topic's members over every node; see
// [framework.PresenceBroker].
func (b *Broker) Presence(ctx context.Context, topic string, o framework.PresenceOptions) (framework.PresencePage, error) {
	p := b.pres
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

// run makes the bucket, watches it, writes this node's entries and
// heartbeat, and deletes the keys of dead nodes, until ctx ends; after a
// failure it starts again.
func (p *presence) run(ctx context.Context) {
	defer close(p.done)
	for ctx.Err() == nil {
		p.session(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(p.b.opts.ReconnectWait):
		}
	}
}

func (p *presence) session(ctx context.Context) {
	o := p.b.opts
	storage := jetstream.MemoryStorage
	cctx, cancel := context.WithTimeout(ctx, o.Timeout)
	kv, err := p.b.js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{
		Bucket: o.Stream + "_PRESENCE", Storage: storage, Replicas: o.Replicas, History: 1,
	})
	cancel()
	if err != nil {
		p.b.log.Debug("rxstream: nats: presence bucket", "err", err)
		return
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		p.b.log.Debug("rxstream: nats: presence watch", "err", err)
		return
	}
	defer w.Stop()
	p.mu.Lock()
	p.kv = kv
	for k := range p.local { // (re)start: every entry is written again
		p.dirty[k] = struct{}{}
	}
	p.mu.Unlock()
	tick := time.NewTicker(o.PresenceTTL / 4)
	defer tick.Stop()
	if !p.beat(ctx, kv) {
		return
	}
	p.flush(ctx, kv)
	// The keys of the first values, the bucket as it is now: what the
	// copy holds beyond them is gone (the bucket was lost with a NATS
	// restart, or changed while this node was away).
	initial := map[string]struct{}{}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return
			case e == nil && initial != nil:
				p.forget(initial)
				initial = nil
			case e != nil:
				if initial != nil {
					initial[e.Key()] = struct{}{}
				}
				p.apply(e.Key(), e.Operation() == jetstream.KeyValuePut, e.Value(), e.Revision())
			}
			p.deliver()
		case <-p.wake:
			p.flush(ctx, kv)
		case <-tick.C:
			if !p.beat(ctx, kv) {
				return // the bucket may be gone: make it again
			}
			p.sweep(ctx, kv)
			p.flush(ctx, kv)
		}
	}
}

// forget deletes from the copy the keys not among those of the bucket.
func (p *presence) forget(keys map[string]struct{}) {
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
func (p *presence) beat(ctx context.Context, kv jetstream.KeyValue) bool {
	cctx, cancel := context.WithTimeout(ctx, p.b.opts.Timeout)
	defer cancel()
	if _, err := kv.Put(cctx, "n."+p.node, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		p.b.log.Debug("rxstream: nats: presence heartbeat", "err", err)
		return false
	}
	return true
}

// flush writes the local entries that changed, the latest value of each.
func (p *presence) flush(ctx context.Context, kv jetstream.KeyValue) {
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
		cctx, cancel := context.WithTimeout(ctx, p.b.opts.Timeout)
		var err error
		if v == nil {
			err = kv.Delete(cctx, k)
		} else {
			_, err = kv.Put(cctx, k, v)
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
			p.b.log.Debug("rxstream: nats: presence write", "key", k, "err", err)
			return
		}
	}
}

// sweep deletes the keys of the nodes not heard of for PresenceTTL/2.
func (p *presence) sweep(ctx context.Context, kv jetstream.KeyValue) {
	dead := time.Now().Add(-p.b.opts.PresenceTTL / 2)
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
		cctx, cancel := context.WithTimeout(ctx, p.b.opts.Timeout)
		err := kv.Delete(cctx, k)
		cancel()
		if err != nil {
			p.b.log.Debug("rxstream: nats: presence sweep", "key", k, "err", err)
			return
		}
	}
}

// apply updates the copy of the bucket with one of its entries (a put of
// value at revision rev, or a delete), and queues the join or leave it
// makes.
func (p *presence) apply(key string, put bool, value []byte, rev uint64) {
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
func (p *presence) deliver() {
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

// close stops the run loop and deletes this node's keys, so that its
// users leave at once rather than at the bound.
func (p *presence) close() {
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
	kv := p.kv
	keys := []string{"n." + p.node}
	for k, v := range p.local {
		if v != nil {
			keys = append(keys, k)
		}
	}
	p.mu.Unlock()
	if kv == nil || !p.b.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), p.b.opts.Timeout)
	defer cancel()
	for _, k := range keys {
		if kv.Delete(ctx, k) != nil {
			return
		}
	}
}
