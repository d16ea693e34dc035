package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/framework"
)

// readCount bounds the entries one XREAD returns per topic.
const readCount = 512

// followed is one topic that this node follows: the follows of it and the
// ID of the newest entry delivered to them.
type followed struct {
	b     *Broker
	topic string
	keys  Keys
	epoch string

	mu      sync.Mutex
	last    string // ID of the newest entry delivered, or the tip; written by the reader
	follows map[*follow]struct{}
	gone    atomic.Bool // set under mu: no longer followed; a new Follow makes a new one
}

// follow is one call of Follow.
type follow struct {
	t  *followed
	fn func(framework.Record, error)
}

// Follow implements [framework.Broker]. The first follow of a topic on
// this node runs one script (creating the topic when it is missing, so its
// epoch is fixed) and adds the topic to the node's one blocking XREAD,
// which is re-issued at once (CLIENT UNBLOCK); further follows of a
// followed topic cost no round trip. Every record after the returned tip
// is delivered by that XREAD, in order.
//
// The feed breaks (fn gets an error) when Redis cannot be reached
// (wrapping [ErrUnavailable]: the follow connection failed and a new one
// could not be opened at once; a connection that is renewed at once keeps
// every follow, since the epochs and the entries' predecessors prove that
// nothing was missed), when an entry the follow did not get was
// discarded before it could read it (its predecessor is not the last one
// delivered: the follow fell behind by more than the history), and when
// the topic was deleted or recreated (its epoch changed, seen at the next
// entry or within a Heartbeat). The Hub then ends the topic's
// subscriptions and their clients resume from history.
func (b *Broker) Follow(topic string, fn func(framework.Record, error)) (framework.Cursor, func(), error) {
	k, err := TopicKeys(b.opts.Prefix, b.opts.HashTag, topic)
	if err != nil {
		return framework.Cursor{}, nil, err
	}
	f := &follow{fn: fn}
	for {
		b.mu.Lock()
		if err := b.usableLocked(); err != nil {
			b.mu.Unlock()
			return framework.Cursor{}, nil, err
		}
		t := b.topics[topic]
		b.mu.Unlock()
		if t == nil || t.gone.Load() {
			if t, err = b.newFollowed(topic, k); err != nil {
				return framework.Cursor{}, nil, err
			}
		}
		t.mu.Lock()
		if t.gone.Load() {
			t.mu.Unlock()
			continue
		}
		f.t = t
		t.follows[f] = struct{}{}
		tip := t.last
		t.mu.Unlock()
		seq, err := FromID(tip)
		if err != nil { // checked by newFollowed; the reader writes only valid IDs
			f.stop()
			return framework.Cursor{}, nil, err
		}
		return framework.Cursor{Epoch: t.epoch, Seq: seq}, f.stop, nil
	}
}

// newFollowed looks the topic's epoch and tip up (creating the topic if
// needed) and registers it for the reader, unless another Follow did so
// meanwhile.
func (b *Broker) newFollowed(topic string, k Keys) (*followed, error) {
	ctx, cancel := b.bound(context.Background())
	res, err := followScript.Run(ctx, b.rdb, []string{k.Stream, k.Meta}, newEpoch(), b.ttlMS).StringSlice()
	cancel()
	if err != nil {
		return nil, b.unavailable(fmt.Errorf("follow %s: %w", k.Stream, err))
	}
	if len(res) != 2 {
		return nil, fmt.Errorf("rxstream: redis: follow %s: answer %q", k.Stream, res)
	}
	if _, err := FromID(res[1]); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if err := b.usableLocked(); err != nil {
		b.mu.Unlock()
		return nil, err
	}
	if t := b.topics[topic]; t != nil && !t.gone.Load() {
		b.mu.Unlock()
		return t, nil
	}
	t := &followed{b: b, topic: topic, keys: k, epoch: res[0], last: res[1], follows: make(map[*follow]struct{})}
	b.topics[topic] = t
	b.gen++
	blocked := b.blocked != 0
	b.mu.Unlock()
	b.signal(b.kick)
	if blocked {
		b.signal(b.wake)
	}
	return t, nil
}

// stop ends the follow without calling fn; it is the stop function Follow
// returns, idempotent and harmless after the feed broke. The last follow
// of a topic takes it out of the reader's XREAD (at its next issue: no
// round trip is spent on it).
func (f *follow) stop() {
	t := f.t
	t.mu.Lock()
	if _, ok := t.follows[f]; !ok {
		t.mu.Unlock()
		return
	}
	delete(t.follows, f)
	last := len(t.follows) == 0 && !t.gone.Load()
	if last {
		t.gone.Store(true)
	}
	t.mu.Unlock()
	if last {
		t.b.forget(t)
	}
}

// forget takes t out of the followed topics if it is still there.
func (b *Broker) forget(t *followed) {
	b.mu.Lock()
	if b.topics[t.topic] == t {
		delete(b.topics, t.topic)
		b.gen++
	}
	b.mu.Unlock()
}

// end breaks every follow of t with err (nil: without calling fn, for
// Close). The caller took t out of b.topics or calls forget after.
func (t *followed) end(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.gone.Store(true)
	if err != nil && len(t.follows) > 0 {
		t.b.log.Info("rxstream: redis: follow ended", "topic", t.topic, "err", err)
	}
	for f := range t.follows {
		if err != nil {
			f.fn(framework.Record{}, err)
		}
	}
	t.follows = nil
}

// deliver hands the entries the reader got to every follow of t, in order,
// checking that each names the previous one as its predecessor. It reports
// false when t is no longer followed, or it broke t's follows.
func (t *followed) deliver(msgs []redis.XMessage) bool {
	t.mu.Lock()
	if t.gone.Load() {
		t.mu.Unlock()
		return false
	}
	for _, m := range msgs {
		rec, prev, named, err := decode(m.ID, m.Values, t.epoch)
		switch {
		case err != nil:
		case prev != t.last:
			err = fmt.Errorf("rxstream: redis: follow of %s: missed the entries from %s to %s (discarded before they were read)", t.topic, t.last, prev)
		case prev == "0-0" && named != t.epoch:
			err = fmt.Errorf("rxstream: redis: follow of %s: the topic was recreated (epoch %s, followed %s)", t.topic, named, t.epoch)
		}
		if err != nil {
			t.mu.Unlock()
			t.end(err)
			t.b.forget(t)
			return false
		}
		t.last = m.ID
		for f := range t.follows {
			f.fn(rec, nil)
		}
	}
	t.mu.Unlock()
	return true
}

// read is the reader: the goroutine that owns the node's follow
// connection and issues one XREAD BLOCK over every followed topic, again
// whenever the set changes or Heartbeat passes. It also brings the Broker
// up after an outage.
func (b *Broker) read() {
	defer b.wg.Done()
	defer close(b.readDone)
	var conn *redis.Conn
	var id int64
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	hb := b.opts.Heartbeat
	var beat time.Time // the last heartbeat
	// The XREAD's arguments for the set of topics of generation gen.
	var (
		gen    uint64
		topics []*followed
		args   []any // XREAD COUNT n BLOCK ms STREAMS keys... ids...
		byKey  map[string]int
	)
	const blockArg, firstKey = 4, 6
	for {
		select {
		case <-b.quit:
			return
		default:
		}
		if conn == nil {
			c, cid, err := b.connect()
			if err != nil {
				b.fail(err)
				if !b.sleep(b.opts.ReconnectWait) {
					return
				}
				continue
			}
			conn, id = c, cid
			beat = time.Time{} // check at once
		}
		b.mu.Lock()
		suspect := b.down != nil
		b.mu.Unlock()
		if suspect || time.Since(beat) >= hb {
			if err := b.beat(conn); err != nil {
				if b.quitting() {
					return
				}
				conn.Close()
				conn, id = b.again(err)
				beat = time.Time{}
				if conn == nil && !b.sleep(b.opts.ReconnectWait) {
					return
				}
				continue
			}
			beat = time.Now()
			if suspect {
				b.up()
			}
		}
		wait := hb - time.Since(beat)
		if wait < time.Millisecond {
			continue
		}
		b.mu.Lock()
		if gen != b.gen || topics == nil {
			// The set changed: a new XREAD argument list. Otherwise the
			// last one is reused with the IDs delivered since.
			gen = b.gen
			topics = topics[:0]
			for _, t := range b.topics {
				topics = append(topics, t)
			}
			args = append(make([]any, 0, firstKey+2*len(topics)), "XREAD", "COUNT", readCount, "BLOCK", 0, "STREAMS")
			args = args[:firstKey+2*len(topics)]
			byKey = make(map[string]int, len(topics))
			for i, t := range topics {
				t.mu.Lock()
				args[firstKey+i], args[firstKey+len(topics)+i] = t.keys.Stream, t.last
				t.mu.Unlock()
				byKey[t.keys.Stream] = i
			}
		}
		if len(topics) == 0 {
			b.mu.Unlock()
			timer := time.NewTimer(wait)
			select {
			case <-b.quit:
				timer.Stop()
				return
			case <-b.kick:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		b.blocked, b.snapGen = id, gen
		b.mu.Unlock()
		select { // a kick that came before the snapshot is in it
		case <-b.kick:
		default:
		}
		// Built once per set of topics: go-redis's XRead would convert
		// every key and ID again at each call (with 1,000 idle topics
		// followed, 2,067 allocations per delivery; BenchmarkDelivery-
		// LatencyFollowing).
		args[blockArg] = wait.Milliseconds()
		ctx, cancel := context.WithTimeout(context.Background(), wait+b.opts.Timeout)
		cmd := redis.NewXStreamSliceCmd(ctx, args...)
		cmd.SetFirstKeyPos(firstKey)
		_ = conn.Process(ctx, cmd)
		cancel()
		res, err := cmd.Result()
		b.mu.Lock()
		b.blocked = 0
		b.mu.Unlock()
		if errors.Is(err, redis.Nil) { // Heartbeat passed, or CLIENT UNBLOCK
			continue
		}
		if err != nil {
			if b.quitting() {
				return
			}
			conn.Close()
			conn, id = b.again(err)
			beat = time.Time{}
			if conn == nil && !b.sleep(b.opts.ReconnectWait) {
				return
			}
			continue
		}
		for _, s := range res {
			if i, ok := byKey[s.Stream]; ok && len(s.Messages) > 0 {
				// One that is gone or broke was forgotten, which changed
				// b.gen: the next XREAD leaves it out.
				if topics[i].deliver(s.Messages) {
					args[firstKey+len(topics)+i] = s.Messages[len(s.Messages)-1].ID
				}
			}
		}
	}
}

// again handles a failure of the follow connection: after a connection
// error it opens a new one at once and, when Redis answers, keeps every
// follow (the caller checks the followed topics' epochs before reading on,
// and each entry's predecessor proves that none was missed, so a
// connection that was dropped, or a Redis restarted with its data, loses
// no record). Otherwise, or when Redis does not answer, it breaks every
// follow and marks Redis down; conn is then nil.
func (b *Broker) again(err error) (*redis.Conn, int64) {
	if connectionError(err) {
		if conn, id, cerr := b.connect(); cerr == nil {
			b.log.Info("rxstream: redis: follow connection renewed", "err", err)
			return conn, id
		}
	}
	b.fail(err)
	return nil, 0
}

// connect opens the follow connection, a connection of its own to the
// server of the topics (in a cluster, the master of their slot), and
// returns its client ID (for CLIENT UNBLOCK, sent through the Broker's
// pool for that server).
func (b *Broker) connect() (*redis.Conn, int64, error) {
	ctx, cancel := b.bound(context.Background())
	defer cancel()
	var reader, node *redis.Client
	switch c := b.rdr.(type) {
	case *redis.Client:
		reader, node = c, b.rdb.(*redis.Client)
	case *redis.ClusterClient:
		// The slot may have moved (a failover, a resharding): ask again.
		c.ReloadState(ctx)
		var err error
		if reader, err = c.MasterForKey(ctx, b.slot); err != nil {
			return nil, 0, err
		}
		if node, err = b.rdb.(*redis.ClusterClient).MasterForKey(ctx, b.slot); err != nil {
			return nil, 0, err
		}
	}
	conn := reader.Conn()
	id, err := conn.ClientID(ctx).Result()
	if err != nil {
		conn.Close()
		return nil, 0, err
	}
	b.mu.Lock()
	b.node = node
	b.mu.Unlock()
	return conn, id, nil
}

// beat checks, on the follow connection, that Redis answers and that each
// followed topic has the epoch it was followed with, ending the follows of
// the topics that were deleted or recreated; with a TopicTTL it extends
// the followed topics' keys. It fails only when the connection did.
func (b *Broker) beat(conn *redis.Conn) error {
	b.mu.Lock()
	topics := make([]*followed, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	ctx, cancel := b.bound(context.Background())
	defer cancel()
	epochs := make([]*redis.StringCmd, len(topics))
	streams := make([]*redis.IntCmd, len(topics))
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Ping(ctx)
		for i, t := range topics {
			epochs[i] = p.HGet(ctx, t.keys.Meta, "e")
			streams[i] = p.Exists(ctx, t.keys.Stream)
			if b.ttlMS > 0 {
				p.PExpire(ctx, t.keys.Stream, b.opts.TopicTTL)
				p.PExpire(ctx, t.keys.Meta, b.opts.TopicTTL)
			}
		}
		return nil
	})
	if err != nil && (connectionError(err) || timeoutError(err) || errors.Is(err, context.DeadlineExceeded) || busyError(err) || errors.Is(err, redis.ErrClosed)) {
		return err
	}
	for i, t := range topics {
		e, err := epochs[i].Result()
		if err == nil && e == t.epoch && streams[i].Val() == 1 {
			continue
		}
		if err != nil && !errors.Is(err, redis.Nil) {
			continue // an error reply of its own (a key of another type): leave it to the entries' checks
		}
		t.end(fmt.Errorf("rxstream: redis: follow of %s: the topic was deleted or recreated (epoch %q, followed %s)", t.topic, e, t.epoch))
		b.forget(t)
	}
	return nil
}

// fail breaks every follow after the follow connection failed with err,
// and records that Redis cannot be reached unless err is an error reply of
// another kind (a key of another type, say), which ends the follows only.
func (b *Broker) fail(err error) {
	outage := connectionError(err) || timeoutError(err) || busyError(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrClosed)
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	first := outage && b.down == nil
	if first {
		b.down = err
	}
	topics := b.topics
	b.topics = make(map[string]*followed)
	b.gen++
	b.mu.Unlock()
	if first {
		b.log.Warn("rxstream: redis: unreachable; ending follows and failing fast until it answers", "err", err)
	}
	if outage {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for _, t := range topics {
		t.end(fmt.Errorf("rxstream: redis: follow of %s: %w", t.topic, err))
	}
}

// up records that Redis answers again.
func (b *Broker) up() {
	b.mu.Lock()
	was := b.down
	b.down = nil
	b.mu.Unlock()
	if was != nil {
		b.log.Info("rxstream: redis: reachable again")
	}
}

// unblock is the goroutine that ends the reader's XREAD (CLIENT UNBLOCK,
// on a pool connection) when a topic was followed anew, or Redis was
// marked down by a failed request, so that the reader re-issues it at once.
func (b *Broker) unblock() {
	defer b.wg.Done()
	for {
		select {
		case <-b.quit:
			return
		case <-b.wake:
		}
		// The reader may have marked itself blocked without its XREAD
		// having reached Redis yet (UNBLOCK answers 0): try again shortly.
		for range 100 {
			b.mu.Lock()
			id, node, need := b.blocked, b.node, b.blocked != 0 && b.node != nil && (b.gen != b.snapGen || b.down != nil)
			b.mu.Unlock()
			if !need {
				break
			}
			ctx, cancel := b.bound(context.Background())
			n, err := node.ClientUnblock(ctx, id).Result()
			cancel()
			if err != nil || n == 1 || !b.sleep(time.Millisecond) {
				break
			}
		}
	}
}

// sleep waits for d, or reports false when the Broker closes first.
func (b *Broker) sleep(d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-b.quit:
		return false
	case <-timer.C:
		return true
	}
}

func (b *Broker) quitting() bool {
	select {
	case <-b.quit:
		return true
	default:
		return false
	}
}
