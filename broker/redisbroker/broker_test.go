package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

func TestNewOptions(t *testing.T) {
	rs := startRedis(t)
	for _, tc := range []struct {
		name string
		opts redisbroker.Options
		want error
	}{
		{"negative age", redisbroker.Options{URL: rs.URL(), MaxAge: -1}, nil},
		{"negative length", redisbroker.Options{URL: rs.URL(), MaxLen: -1}, nil},
		{"negative timeout", redisbroker.Options{URL: rs.URL(), Timeout: -1}, nil},
		{"brace in prefix", redisbroker.Options{URL: rs.URL(), Prefix: "a{b"}, nil},
		{"space in prefix", redisbroker.Options{URL: rs.URL(), Prefix: "a b"}, nil},
		{"brace in hash tag", redisbroker.Options{URL: rs.URL(), HashTag: "}"}, nil},
		{"TopicTTL below MaxAge", redisbroker.Options{URL: rs.URL(), MaxAge: time.Hour, TopicTTL: time.Minute}, nil},
		{"bad URL", redisbroker.Options{URL: "http://x"}, nil},
		{"no server", redisbroker.Options{URL: "redis://127.0.0.1:1", Timeout: 200 * time.Millisecond}, redisbroker.ErrUnavailable},
		{"cluster", redisbroker.Options{Redis: &redis.UniversalOptions{Addrs: []string{rs.Addr(), rs.Addr()}}}, redisbroker.ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := redisbroker.New(context.Background(), &tc.opts)
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("New: %v; want %v", err, tc.want)
			}
		})
	}
}

// TestContract runs the same cases against the memory broker and this one:
// what a Hub relies on from any Broker.
func TestContract(t *testing.T) {
	rs := startRedis(t)
	brokers := []struct {
		name string
		new  func(t *testing.T, maxLen int) framework.Broker
	}{
		{"memory", func(t *testing.T, maxLen int) framework.Broker {
			b, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: maxLen})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			return b
		}},
		{"redis", func(t *testing.T, maxLen int) framework.Broker {
			// A prefix per test: one server for all of them.
			return newBroker(t, redisbroker.Options{URL: rs.URL(), Prefix: "c" + strconv.FormatInt(time.Now().UnixNano(), 36), MaxLen: int64(maxLen)})
		}},
	}
	cases := []struct {
		name   string
		maxLen int
		run    func(t *testing.T, b framework.Broker)
	}{
		{"empty topic", 10, func(t *testing.T, b framework.Broker) {
			p, err := b.Read(context.Background(), "never", 0, 10)
			if err != nil || p.Lost || len(p.Records) != 0 || p.Tip.Seq != 0 {
				t.Fatalf("page %+v, %v", p, err)
			}
		}},
		{"increasing IDs, read back whole", 100, func(t *testing.T, b framework.Broker) {
			ctx := context.Background()
			c1, err := b.Publish(ctx, "x", framework.Event{Name: "greet", Data: []byte("hi"), Retry: 1500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			cs := append([]framework.Cursor{c1}, clustertest.PublishN(t, b, "x", "n", 20)...)
			for i := 1; i < len(cs); i++ {
				if cs[i].Seq <= cs[i-1].Seq || cs[i].Epoch != c1.Epoch || c1.Epoch == "" {
					t.Fatalf("cursor %d %v after %v", i, cs[i], cs[i-1])
				}
			}
			p, err := b.Read(ctx, "x", 0, 100)
			if err != nil || p.Lost || len(p.Records) != len(cs) || p.Tip != cs[len(cs)-1] {
				t.Fatalf("page %+v, %v", p, err)
			}
			r := p.Records[0]
			if r.Seq != c1.Seq || r.Event.ID != c1.String() || r.Event.Name != "greet" || string(r.Event.Data) != "hi" || r.Event.Retry != 1500*time.Millisecond {
				t.Fatalf("record %+v", r)
			}
			// Pages: limit, from the middle, at the tip, ahead of it.
			p, err = b.Read(ctx, "x", cs[4].Seq, 3)
			if err != nil || p.Lost || len(p.Records) != 3 || p.Records[0].Seq != cs[5].Seq || p.Tip != cs[len(cs)-1] {
				t.Fatalf("page after %v: %+v, %v", cs[4], p, err)
			}
			p, err = b.Read(ctx, "x", cs[len(cs)-1].Seq, 3)
			if err != nil || p.Lost || len(p.Records) != 0 {
				t.Fatalf("page at the tip: %+v, %v", p, err)
			}
			p, err = b.Read(ctx, "x", cs[len(cs)-1].Seq+1000, 3)
			if err != nil || p.Lost || len(p.Records) != 0 || p.Tip != cs[len(cs)-1] {
				t.Fatalf("page ahead of the tip: %+v, %v", p, err)
			}
		}},
		{"gap after trimming", 3, func(t *testing.T, b framework.Broker) {
			// MaxLen 3; Redis trims whole stream nodes (MAXLEN ~), so
			// publish enough that the first node surely went.
			cs := clustertest.PublishN(t, b, "g", "g", 300)
			p, err := b.Read(context.Background(), "g", 0, 1000)
			if err != nil || !p.Lost || len(p.Records) < 3 || p.Records[len(p.Records)-1].Seq != cs[299].Seq {
				t.Fatalf("from 0: lost %v, %d records, %v", p.Lost, len(p.Records), err)
			}
			first := 300 - len(p.Records)
			if first == 0 || p.Records[0].Seq != cs[first].Seq {
				t.Fatalf("retained %d records from %v", len(p.Records), p.Records[0])
			}
			// From the newest discarded: no gap. From one before: a gap.
			q, err := b.Read(context.Background(), "g", cs[first-1].Seq, 1000)
			if err != nil || q.Lost || len(q.Records) != len(p.Records) {
				t.Fatalf("from the newest discarded: %+v, %v", q.Lost, err)
			}
			if first >= 2 {
				q, err = b.Read(context.Background(), "g", cs[first-2].Seq, 1000)
				if err != nil || !q.Lost {
					t.Fatalf("from before the newest discarded: lost %v, %v", q.Lost, err)
				}
			}
		}},
		{"follow from the tip", 100, func(t *testing.T, b framework.Broker) {
			clustertest.PublishN(t, b, "f", "before", 2)
			col := clustertest.NewCollector()
			tip, stop, err := b.Follow("f", col.Fn)
			if err != nil {
				t.Fatal(err)
			}
			cs := clustertest.PublishN(t, b, "f", "after", 5)
			col.Wait(t, "5 records", func(rs []framework.Record, err error) bool { return len(rs) >= 5 || err != nil })
			stop()
			stop()
			clustertest.PublishN(t, b, "f", "stopped", 1)
			time.Sleep(20 * time.Millisecond)
			col.Mu.Lock()
			defer col.Mu.Unlock()
			if col.Err != nil || len(col.Recs) != 5 || tip.Seq >= cs[0].Seq {
				t.Fatalf("followed %d records after tip %v, err %v", len(col.Recs), tip, col.Err)
			}
			for i, r := range col.Recs {
				if r.Seq != cs[i].Seq || r.Event.ID != cs[i].String() || string(r.Event.Data) != "after"+strconv.Itoa(i) {
					t.Fatalf("record %d: %+v; want %v", i, r, cs[i])
				}
			}
		}},
		{"follow an unpublished topic", 100, func(t *testing.T, b framework.Broker) {
			col := clustertest.NewCollector()
			tip, stop, err := b.Follow("new", col.Fn)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			c := clustertest.PublishN(t, b, "new", "n", 1)[0]
			col.Wait(t, "the record", func(rs []framework.Record, err error) bool { return len(rs) == 1 || err != nil })
			if tip.Seq != 0 || tip.Epoch != c.Epoch || col.Err != nil || col.Recs[0].Event.ID != c.String() {
				t.Fatalf("tip %v, first %v, err %v", tip, c, col.Err)
			}
		}},
	}
	for _, br := range brokers {
		for _, tc := range cases {
			t.Run(br.name+"/"+tc.name, func(t *testing.T) {
				tc.run(t, br.new(t, tc.maxLen))
			})
		}
	}
}

func TestPublishReadAcrossNodes(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	a, b := newBroker(t, o), newBroker(t, o)
	ctx := context.Background()
	c1, err := a.Publish(ctx, "t.x", framework.Event{Data: []byte("hi")})
	if err != nil {
		t.Fatal(err)
	}
	clustertest.PublishN(t, b, "other", "o", 2)
	c2, err := b.Publish(ctx, "t.x", framework.Event{Data: []byte("there")})
	if err != nil {
		t.Fatal(err)
	}
	if c1.Epoch != c2.Epoch || c2.Seq <= c1.Seq {
		t.Fatalf("cursors %v %v", c1, c2)
	}
	p, err := b.Read(ctx, "t.x", c1.Seq, 10)
	if err != nil || p.Lost || len(p.Records) != 1 || p.Records[0].Event.ID != c2.String() || p.Tip != c2 {
		t.Fatalf("page after %v on the other node: %+v, %v", c1, p, err)
	}
	if _, err := a.Publish(ctx, "a b", framework.Event{}); !errors.Is(err, framework.ErrInvalidTopic) {
		t.Fatalf("Publish to a bad topic: %v", err)
	}
	if _, err := a.Read(ctx, "a..b", 0, 1); !errors.Is(err, framework.ErrInvalidTopic) {
		t.Fatalf("Read of a bad topic: %v", err)
	}
	if _, _, err := a.Follow("", func(framework.Record, error) {}); !errors.Is(err, framework.ErrInvalidTopic) {
		t.Fatalf("Follow of a bad topic: %v", err)
	}
	// The ID in Redis is the cursor's: the stream's entries are the
	// topic's events, under their own IDs.
	k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "t.x")
	xs, err := rs.Client(t).XRange(ctx, k.Stream, "-", "+").Result()
	if err != nil || len(xs) != 2 || xs[0].ID != redisbroker.ToID(c1.Seq) || xs[1].ID != redisbroker.ToID(c2.Seq) {
		t.Fatalf("stream %v, %v; want the IDs of %v and %v", xs, err, c1, c2)
	}
}

func TestReadAge(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL(), MaxAge: 300 * time.Millisecond})
	c := clustertest.PublishN(t, b, "a", "a", 2)
	time.Sleep(400 * time.Millisecond)
	// Expired, though nothing was published since to trim them: not
	// served, and a reader from before them is told of the gap; one that
	// had seen them all is not.
	p, err := b.Read(context.Background(), "a", 0, 10)
	if err != nil || !p.Lost || len(p.Records) != 0 || p.Tip != c[1] {
		t.Fatalf("expired topic from 0: %+v, %v", p, err)
	}
	p, err = b.Read(context.Background(), "a", c[1].Seq, 10)
	if err != nil || p.Lost || len(p.Records) != 0 {
		t.Fatalf("expired topic from its last: %+v, %v", p, err)
	}
	n := clustertest.PublishN(t, b, "a", "n", 1)[0]
	p, err = b.Read(context.Background(), "a", c[0].Seq, 10)
	if err != nil || !p.Lost || len(p.Records) != 1 || p.Records[0].Seq != n.Seq {
		t.Fatalf("after expiry: %+v, %v; want Lost then %v", p, err, n)
	}
	// Exact, unlike a broker that cannot tell: from the last expired
	// event, the new one follows with no gap.
	p, err = b.Read(context.Background(), "a", c[1].Seq, 10)
	if err != nil || p.Lost || len(p.Records) != 1 {
		t.Fatalf("after expiry from the last seen: %+v, %v", p, err)
	}
	// The publish trimmed them from Redis too (XTRIM MINID).
	k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "a")
	if n, err := rs.Client(t).XLen(context.Background(), k.Stream).Result(); err != nil || n != 1 {
		t.Fatalf("stream length %d, %v; want 1", n, err)
	}
}

func TestConcurrentPublishersChain(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	nodes := []*redisbroker.Broker{newBroker(t, o), newBroker(t, o), newBroker(t, o)}
	const per = 50
	var wg sync.WaitGroup
	errs := make(chan error, len(nodes)*2)
	for i, n := range nodes {
		for g := range 2 {
			wg.Go(func() {
				for j := range per {
					if _, err := n.Publish(context.Background(), "hot", framework.Event{Data: fmt.Appendf(nil, "%d-%d-%d", i, g, j)}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	p, err := nodes[0].Read(context.Background(), "hot", 0, 1000)
	if err != nil || p.Lost || len(p.Records) != len(nodes)*2*per {
		t.Fatalf("%d records, lost %v, %v; want %d", len(p.Records), p.Lost, err, len(nodes)*2*per)
	}
	for i := 0; i < len(p.Records); i += 17 {
		q, err := nodes[1].Read(context.Background(), "hot", p.Records[i].Seq, 5)
		if err != nil || q.Lost || len(q.Records) == 0 || q.Records[0].Seq <= p.Records[i].Seq {
			t.Fatalf("read after %d: %+v, %v", p.Records[i].Seq, q, err)
		}
	}
}

// TestIDsInOneMillisecond: events published in one millisecond, or while
// Redis's clock is behind the topic's newest ID, get the next SEQ of that
// millisecond, and the next millisecond once SEQ would leave the mapping.
func TestIDsInOneMillisecond(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL()})
	c := rs.Client(t)
	ctx := context.Background()
	clustertest.PublishN(t, b, "clock", "a", 1)
	k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "clock")
	// Pretend the newest ID is far ahead of the clock, at the last SEQ
	// the mapping holds.
	future := time.Now().Add(time.Hour).UnixMilli()
	last := strconv.FormatInt(future, 10) + "-1048574"
	if err := c.XAdd(ctx, &redis.XAddArgs{Stream: k.Stream, ID: last, Values: []string{"d", "x", "pm", strconv.FormatInt(future, 10), "ps", "0"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, k.Meta, "l", last).Err(); err != nil {
		t.Fatal(err)
	}
	cs := clustertest.PublishN(t, b, "clock", "b", 2)
	want := []string{strconv.FormatInt(future, 10) + "-1048575", strconv.FormatInt(future+1, 10) + "-0"}
	for i, cur := range cs {
		if got := redisbroker.ToID(cur.Seq); got != want[i] {
			t.Fatalf("ID %d: %s; want %s", i, got, want[i])
		}
	}
	p, err := b.Read(ctx, "clock", 0, 10)
	if err != nil || len(p.Records) != 4 || p.Records[3].Seq != cs[1].Seq {
		t.Fatalf("page %+v, %v", p, err)
	}
}

func TestEpochChangesWhenRecreated(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL(), Heartbeat: 100 * time.Millisecond})
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx := context.Background()
	k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "s")
	c := rs.Client(t)
	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"stream deleted", []string{k.Stream}},
		{"meta deleted", []string{k.Meta}},
		{"both deleted", []string{k.Stream, k.Meta}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, err := hub.Publish(ctx, "s", framework.Event{Data: []byte("old")})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := hub.Subscribe("s", "")
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if err := c.Del(ctx, tc.keys...).Err(); err != nil {
				t.Fatal(err)
			}
			// The heartbeat sees the epoch gone: the subscription ends, so
			// its client reconnects.
			nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := sub.Next(nctx, 0); err == nil || !strings.Contains(err.Error(), "deleted or recreated") {
				t.Fatalf("subscription on a deleted topic: %v", err)
			}
			id, err := hub.Publish(ctx, "s", framework.Event{Data: []byte("new")})
			if err != nil {
				t.Fatal(err)
			}
			oc, _, _ := framework.ParseCursor(old)
			nc, _, _ := framework.ParseCursor(id)
			if oc.Epoch == nc.Epoch {
				t.Fatalf("epoch unchanged: %s, %s", old, id)
			}
			// A client resuming with the old cursor is told of the gap.
			sub2, err := hub.Subscribe("s", old)
			if err != nil {
				t.Fatal(err)
			}
			defer sub2.Close()
			batch, err := sub2.Next(nctx, 0)
			if err != nil || batch.Gap == nil || batch.Gap.Last != old || len(batch.Events) != 1 || batch.Events[0].ID != id {
				t.Fatalf("resume with a stale cursor: %+v, %v", batch, err)
			}
		})
	}
}

// TestFollowSeesRecreationAtOnce: a follow whose topic is recreated and
// published to before any heartbeat breaks at the first entry, which names
// the new epoch, rather than delivering it under the old one.
func TestFollowSeesRecreationAtOnce(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL(), Heartbeat: time.Hour})
	for _, published := range []bool{false, true} {
		t.Run(fmt.Sprintf("published=%v", published), func(t *testing.T) {
			topic := "r" + strconv.FormatBool(published)
			if published {
				clustertest.PublishN(t, b, topic, "old", 1)
			}
			col := clustertest.NewCollector()
			tip, stop, err := b.Follow(topic, col.Fn)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", topic)
			if err := rs.Client(t).Del(context.Background(), k.Stream, k.Meta).Err(); err != nil {
				t.Fatal(err)
			}
			c := clustertest.PublishN(t, b, topic, "new", 1)[0]
			col.Wait(t, "the follow to break", func(_ []framework.Record, err error) bool { return err != nil })
			if len(col.Recs) != 0 || c.Epoch == tip.Epoch {
				t.Fatalf("delivered %v under epoch %s; new cursor %v", col.Recs, tip.Epoch, c)
			}
		})
	}
}

func TestClosed(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL()})
	col := clustertest.NewCollector()
	if _, _, err := b.Follow("x", col.Fn); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v: the blocking read was not ended", d)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.Publish(ctx, "x", framework.Event{}); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, _, err := b.PublishKey(ctx, "x", framework.Event{}, "k", time.Minute); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("PublishKey after Close: %v", err)
	}
	if _, err := b.Read(ctx, "x", 0, 1); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, _, err := b.Follow("x", col.Fn); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("Follow after Close: %v", err)
	}
	if col.Err != nil || len(col.Recs) != 0 {
		t.Fatalf("fn called after Close: %v %v", col.Recs, col.Err)
	}
}

// TestMemoryPerEvent: what the Broker stores beside an event (its
// predecessor, as two small integers) costs Redis a few bytes, measured
// with MEMORY USAGE against a stream of the same events without them.
func TestMemoryPerEvent(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL()})
	c := rs.Client(t)
	ctx := context.Background()
	const n = 1000
	for i := range n {
		data := `{"n":` + strconv.Itoa(i) + `}`
		if _, err := b.Publish(ctx, "mem", framework.Event{Data: []byte(data)}); err != nil {
			t.Fatal(err)
		}
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: "bare", Values: []string{"d", data}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "mem")
	ours, err1 := c.MemoryUsage(ctx, k.Stream, 0).Result()
	bare, err2 := c.MemoryUsage(ctx, "bare", 0).Result()
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	per := float64(ours-bare) / n
	t.Logf("%d events of about 8 bytes: %d bytes, %d without the predecessor: %.1f bytes more per event", n, ours, bare, per)
	if per > 8 {
		t.Fatalf("%.1f bytes per event beside its data; want a few", per)
	}
}

// TestUniversalOptions: the universal client's options configure the
// connection; the Broker's overrides go to its own copy, not the caller's.
func TestUniversalOptions(t *testing.T) {
	rs := startRedis(t)
	u := &redis.UniversalOptions{Addrs: []string{rs.Addr()}, ClientName: "rx-universal"}
	b := newBroker(t, redisbroker.Options{Redis: u})
	if u.MaxRetries != 0 || u.DialerRetries != 0 || u.ContextTimeoutEnabled {
		t.Fatalf("the caller's options were changed: %+v", u)
	}
	clustertest.PublishN(t, b, "u", "u", 1)
	if lines := clients(t, rs, "rx-universal"); len(lines) == 0 {
		t.Fatal("no connection named after the options' ClientName")
	}
}
