package redisbroker_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
	"github.com/rxstream/rxstream/internal/redistest"
)

// clients returns the CLIENT LIST lines of the connections named name.
func clients(t *testing.T, rs *redistest.Server, name string) []string {
	t.Helper()
	list, err := rs.Client(t).ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for l := range strings.SplitSeq(list, "\n") {
		if strings.Contains(l, " name="+name+" ") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestFollowManyTopicsOneConnection: a node follows 200 topics with one
// blocking XREAD on one connection, and a topic followed while that XREAD
// waits is added at once, not at the next Heartbeat.
func TestFollowManyTopicsOneConnection(t *testing.T) {
	rs := startRedis(t)
	const name = "rx-one-reader"
	b := newBroker(t, redisbroker.Options{URL: rs.URL(), Name: name, Heartbeat: time.Hour})
	pub := newBroker(t, redisbroker.Options{URL: rs.URL()})
	const topics = 200
	cols := make([]*clustertest.Collector, topics)
	for i := range topics {
		cols[i] = clustertest.NewCollector()
		_, stop, err := b.Follow("t"+strconv.Itoa(i), cols[i].Fn)
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	for round := range 2 {
		for i := range topics {
			clustertest.PublishN(t, pub, "t"+strconv.Itoa(i), "r"+strconv.Itoa(round), 1)
		}
	}
	for i, c := range cols {
		c.Wait(t, "topic "+strconv.Itoa(i), func(rs []framework.Record, err error) bool { return len(rs) == 2 || err != nil })
		if c.Err != nil {
			t.Fatal(c.Err)
		}
	}
	lines := clients(t, rs, name)
	readers := 0
	for _, l := range lines {
		if strings.Contains(l, " cmd=xread ") {
			readers++
		}
	}
	// One reader; the rest are the pool's (the follows' scripts, the
	// CLIENT UNBLOCKs), whatever the number of topics.
	if readers != 1 || len(lines) > 4 {
		t.Fatalf("%d connections, %d in XREAD, for %d topics; want one reader:\n%s", len(lines), readers, topics, strings.Join(lines, "\n"))
	}

	// Followed while the XREAD waits (Heartbeat is an hour): delivered at
	// once.
	late := clustertest.NewCollector()
	_, stop, err := b.Follow("late", late.Fn)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	start := time.Now()
	clustertest.PublishN(t, pub, "late", "l", 1)
	late.Wait(t, "the late topic", func(rs []framework.Record, err error) bool { return len(rs) == 1 || err != nil })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("a topic followed while the XREAD waited was delivered after %v", d)
	}
}

// TestFollowTwiceOneTopic: two follows of a topic on one node share its
// place in the XREAD; stopping one leaves the other's feed whole.
func TestFollowTwiceOneTopic(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL()})
	c1, c2 := clustertest.NewCollector(), clustertest.NewCollector()
	tip1, stop1, err := b.Follow("two", c1.Fn)
	if err != nil {
		t.Fatal(err)
	}
	clustertest.PublishN(t, b, "two", "a", 1)
	c1.Wait(t, "one record", func(rs []framework.Record, err error) bool { return len(rs) == 1 })
	tip2, stop2, err := b.Follow("two", c2.Fn)
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	if tip2.Seq != c1.Recs[0].Seq || tip1.Seq >= tip2.Seq {
		t.Fatalf("tips %v then %v; want the second at the record delivered", tip1, tip2)
	}
	stop1()
	cs := clustertest.PublishN(t, b, "two", "b", 3)
	c2.Wait(t, "three records", func(rs []framework.Record, err error) bool { return len(rs) == 3 || err != nil })
	if c2.Err != nil || c2.Recs[0].Seq != cs[0].Seq || len(c1.Recs) != 1 {
		t.Fatalf("second follow %v, %v; first got %d", c2.Recs, c2.Err, len(c1.Recs))
	}
}

// TestFollowFellBehind: a follow whose next entries were discarded before
// it read them breaks instead of skipping them, so its clients resume from
// history and are told of the gap.
func TestFollowFellBehind(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL()})
	col := clustertest.NewCollector()
	_, stop, err := b.Follow("behind", col.Fn)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	last := clustertest.PublishN(t, b, "behind", "a", 1)[0]
	col.Wait(t, "one record", func(rs []framework.Record, err error) bool { return len(rs) == 1 })
	// Two entries written as a publish writes them, the first trimmed
	// away in the same transaction: Redis answers the blocked XREAD once
	// the transaction is done, so the reader sees the second only, whose
	// predecessor it never got.
	k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "behind")
	id1, id2 := redisbroker.ToID(last.Seq+1<<20), redisbroker.ToID(last.Seq+2<<20)
	ctx := context.Background()
	pipe := rs.Client(t).TxPipeline()
	// Each a millisecond after its predecessor, with the same SEQ.
	ps := strconv.FormatUint(last.Seq&(1<<20-1), 10)
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: k.Stream, ID: id1, Values: []string{"d", "x", "pm", "1", "ps", ps}})
	pipe.XAdd(ctx, &redis.XAddArgs{Stream: k.Stream, ID: id2, Values: []string{"d", "y", "pm", "1", "ps", ps}})
	pipe.XTrimMaxLen(ctx, k.Stream, 1)
	pipe.HSet(ctx, k.Meta, "l", id2)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	col.Wait(t, "the follow to break", func(rs []framework.Record, err error) bool { return err != nil || len(rs) > 1 })
	if col.Err == nil || !strings.Contains(col.Err.Error(), "missed the entries") || len(col.Recs) != 1 {
		t.Fatalf("follow got %v, ended with %v; want it broken after one record", col.Recs, col.Err)
	}
	// History says the same: from the record followed, a gap.
	p, err := b.Read(ctx, "behind", last.Seq, 10)
	if err != nil || !p.Lost || len(p.Records) != 1 || p.Records[0].Event.ID != last.Epoch+"-"+strconv.FormatUint(last.Seq+2<<20, 10) {
		t.Fatalf("read after %v: %+v, %v", last, p, err)
	}
}

// TestTopicTTL: a topic's keys expire TopicTTL after its last publish,
// but not while a node follows it; published to again, it starts a new
// epoch.
func TestTopicTTL(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL(), MaxAge: 100 * time.Millisecond, TopicTTL: 300 * time.Millisecond, Heartbeat: 50 * time.Millisecond})
	c := rs.Client(t)
	ctx := context.Background()
	ka, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "idle")
	kb, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "followed")
	old := clustertest.PublishN(t, b, "idle", "i", 1)[0]
	clustertest.PublishN(t, b, "followed", "f", 1)
	col := clustertest.NewCollector()
	_, stop, err := b.Follow("followed", col.Fn)
	if err != nil {
		t.Fatal(err)
	}
	if ttl, err := c.PTTL(ctx, ka.Stream).Result(); err != nil || ttl <= 0 || ttl > 300*time.Millisecond {
		t.Fatalf("TTL of a published topic: %v, %v", ttl, err)
	}
	time.Sleep(600 * time.Millisecond)
	if n, err := c.Exists(ctx, ka.Stream, ka.Meta).Result(); err != nil || n != 0 {
		t.Fatalf("an idle topic's keys: %d of 2 left, %v", n, err)
	}
	if n, err := c.Exists(ctx, kb.Stream, kb.Meta).Result(); err != nil || n != 2 || col.Err != nil {
		t.Fatalf("a followed topic's keys: %d of 2 left, %v, follow %v", n, err, col.Err)
	}
	stop()
	time.Sleep(600 * time.Millisecond)
	if n, err := c.Exists(ctx, kb.Stream, kb.Meta).Result(); err != nil || n != 0 {
		t.Fatalf("a topic no longer followed: %d of 2 keys left, %v", n, err)
	}
	if n := clustertest.PublishN(t, b, "idle", "i", 1)[0]; n.Epoch == old.Epoch {
		t.Fatalf("epoch %s kept after the topic expired", n.Epoch)
	}
}
