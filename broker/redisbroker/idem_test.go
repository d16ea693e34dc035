package redisbroker_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

func TestPublishKey(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	a, b := newBroker(t, o), newBroker(t, o)
	ctx := context.Background()
	ev := func(s string) framework.Event { return framework.Event{Data: []byte(s)} }

	t.Run("repeat within the window", func(t *testing.T) {
		c1, dup, err := a.PublishKey(ctx, "k", ev("one"), "order-1", time.Minute)
		if err != nil || dup {
			t.Fatalf("first: %v, dup %v", err, dup)
		}
		// Repeated, with other data, on the other node: the original.
		c2, dup, err := b.PublishKey(ctx, "k", ev("one again"), "order-1", time.Minute)
		if err != nil || !dup || c2 != c1 {
			t.Fatalf("repeat: %v dup %v, %v; want %v", c2, dup, err, c1)
		}
		p, _ := a.Read(ctx, "k", 0, 10)
		if len(p.Records) != 1 || string(p.Records[0].Event.Data) != "one" {
			t.Fatalf("stored %v", p.Records)
		}
		// Another key, another topic with the same key: new events.
		if c3, dup, err := a.PublishKey(ctx, "k", ev("two"), "order-2", time.Minute); err != nil || dup || c3.Seq <= c1.Seq {
			t.Fatalf("other key: %v dup %v, %v", c3, dup, err)
		}
		if _, dup, err := a.PublishKey(ctx, "k2", ev("one"), "order-1", time.Minute); err != nil || dup {
			t.Fatalf("same key on another topic: dup %v, %v", dup, err)
		}
	})

	t.Run("after the window", func(t *testing.T) {
		c1, _, err := a.PublishKey(ctx, "w", ev("x"), "k", 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		c2, dup, err := a.PublishKey(ctx, "w", ev("x"), "k", 50*time.Millisecond)
		if err != nil || dup || c2.Seq <= c1.Seq {
			t.Fatalf("after the window: %v dup %v, %v", c2, dup, err)
		}
	})

	t.Run("original discarded", func(t *testing.T) {
		small := newBroker(t, redisbroker.Options{URL: rs.URL(), Prefix: "small", MaxAge: 50 * time.Millisecond})
		c1, _, err := small.PublishKey(ctx, "d", ev("x"), "k", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(80 * time.Millisecond)
		clustertest.PublishN(t, small, "d", "later", 1) // trims the original away
		c2, dup, err := small.PublishKey(ctx, "d", ev("x"), "k", time.Minute)
		if err != nil || !dup || c2 != c1 {
			t.Fatalf("repeat of a discarded original: %v dup %v, %v; want %v", c2, dup, err, c1)
		}
	})

	t.Run("concurrent, two nodes", func(t *testing.T) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var cursors []framework.Cursor
		firsts := 0
		for i := range 40 {
			n := []*redisbroker.Broker{a, b}[i%2]
			wg.Go(func() {
				c, dup, err := n.PublishKey(ctx, "race", ev("payment "+strconv.Itoa(i)), "pay-7", time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				cursors = append(cursors, c)
				if !dup {
					firsts++
				}
			})
		}
		wg.Wait()
		p, err := a.Read(ctx, "race", 0, 100)
		if err != nil || len(p.Records) != 1 || firsts != 1 {
			t.Fatalf("%d stored, %d answered as first, %v; want one", len(p.Records), firsts, err)
		}
		for _, c := range cursors {
			if c.String() != p.Records[0].Event.ID {
				t.Fatalf("answered %v; stored %s", c, p.Records[0].Event.ID)
			}
		}
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			key    string
			window time.Duration
		}{{"", time.Minute}, {strings.Repeat("k", redisbroker.MaxKeyLen+1), time.Minute}, {"k", 0}, {"k", time.Microsecond}} {
			if _, _, err := a.PublishKey(ctx, "k", ev("x"), tc.key, tc.window); err == nil {
				t.Fatalf("key of %d bytes, window %v: accepted", len(tc.key), tc.window)
			}
		}
		if _, _, err := a.PublishKey(ctx, "bad topic", ev("x"), "k", time.Minute); err == nil {
			t.Fatal("bad topic accepted")
		}
	})
}

// Through two Hubs, as an Idempotency-Key header reaches them: the second
// node answers the first's ID and stores nothing; a bad key is refused.
func TestHubPublishWith(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	ha, err := framework.NewHub(&framework.HubOptions{Broker: newBroker(t, o)})
	if err != nil {
		t.Fatal(err)
	}
	defer ha.Close()
	hb, err := framework.NewHub(&framework.HubOptions{Broker: newBroker(t, o)})
	if err != nil {
		t.Fatal(err)
	}
	defer hb.Close()
	ctx := context.Background()
	key := &framework.PublishOptions{Key: "order-9"}
	id1, repeat, err := ha.PublishWith(ctx, "orders", framework.Text("paid"), key)
	if err != nil || repeat {
		t.Fatalf("first: %v, repeat %v", err, repeat)
	}
	id2, repeat, err := hb.PublishWith(ctx, "orders", framework.Text("paid"), key)
	if err != nil || !repeat || id2 != id1 {
		t.Fatalf("retry on the other node: %q repeat %v %v, want %q", id2, repeat, err, id1)
	}
	if _, _, err := ha.PublishWith(ctx, "orders", framework.Text("x"), &framework.PublishOptions{Key: "new\nline"}); !errors.Is(err, framework.ErrInvalidKey) {
		t.Fatalf("bad key: %v, want ErrInvalidKey", err)
	}
}

// Records carry the time Redis stored them, as rewinds by duration need.
func TestRecordTime(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL()})
	before := time.Now()
	if _, err := b.Publish(context.Background(), "timed", framework.Text("x")); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	p, err := b.Read(context.Background(), "timed", 0, 1)
	if err != nil || len(p.Records) != 1 {
		t.Fatalf("Read: %v %v", p, err)
	}
	// Redis and this process share the machine's clock; a second of slack.
	if got := p.Records[0].Time; got.Before(before.Add(-time.Second)) || got.After(after.Add(time.Second)) {
		t.Fatalf("record time %v, published between %v and %v", got, before, after)
	}
}
