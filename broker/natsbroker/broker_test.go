package natsbroker_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

func TestSubject(t *testing.T) {
	for _, tc := range []struct {
		topic, want string
		ok          bool
	}{
		{"news", "rxstream.news", true},
		{"orders.eu", "rxstream.orders.eu", true},
		{"a-b_C9", "rxstream.a-b_C9", true},
		{"", "", false},
		{".a", "", false},
		{"a.", "", false},
		{"a..b", "", false},
		{"a*", "", false},
		{">", "", false},
		{"a b", "", false},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			got, err := natsbroker.Subject("rxstream", tc.topic)
			if tc.ok && (err != nil || got != tc.want) {
				t.Fatalf("Subject(%q) = %q, %v; want %q", tc.topic, got, err, tc.want)
			}
			if !tc.ok && !errors.Is(err, framework.ErrInvalidTopic) {
				t.Fatalf("Subject(%q) error = %v; want ErrInvalidTopic", tc.topic, err)
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts natsbroker.Options
	}{
		{"negative age", natsbroker.Options{MaxAge: -1}},
		{"negative bytes", natsbroker.Options{MaxBytes: -1}},
		{"negative timeout", natsbroker.Options{Timeout: -1}},
		{"wildcard prefix", natsbroker.Options{Prefix: "a.*"}},
		{"empty token prefix", natsbroker.Options{Prefix: "a..b"}},
		{"no server", natsbroker.Options{URL: "nats://127.0.0.1:1", Timeout: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if b, err := natsbroker.New(context.Background(), &tc.opts); err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
		})
	}
}

func TestPublishReadAcrossNodes(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			a, b := newBroker(t, o), newBroker(t, o)
			if a.Epoch() != b.Epoch() || a.Epoch() == "" {
				t.Fatalf("epochs %q and %q", a.Epoch(), b.Epoch())
			}
			ctx := context.Background()
			c1, err := a.Publish(ctx, "t.x", framework.Event{Name: "greet", Data: []byte("hi"), Retry: 1500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			clustertest.PublishN(t, b, "other", "o", 2) // interleaved: sequences of t.x are not consecutive
			c2, err := b.Publish(ctx, "t.x", framework.Event{Data: []byte("there")})
			if err != nil {
				t.Fatal(err)
			}
			if c1.Epoch != a.Epoch() || c2.Seq != c1.Seq+3 {
				t.Fatalf("cursors %v %v", c1, c2)
			}
			p, err := b.Read(ctx, "t.x", 0, 10)
			if err != nil {
				t.Fatal(err)
			}
			if p.Lost || len(p.Records) != 2 || p.Tip != c2 {
				t.Fatalf("page %+v", p)
			}
			r := p.Records[0]
			if r.Seq != c1.Seq || r.Event.ID != c1.String() || r.Event.Name != "greet" || string(r.Event.Data) != "hi" || r.Event.Retry != 1500*time.Millisecond {
				t.Fatalf("record %+v", r)
			}
			// A cursor issued by a resumes on b.
			p, err = b.Read(ctx, "t.x", c1.Seq, 10)
			if err != nil || p.Lost || len(p.Records) != 1 || p.Records[0].Event.ID != c2.String() {
				t.Fatalf("page after %v: %+v, %v", c1, p, err)
			}
			p, err = a.Read(ctx, "t.x", c2.Seq, 10)
			if err != nil || p.Lost || len(p.Records) != 0 || p.Tip != c2 {
				t.Fatalf("page after tip: %+v, %v", p, err)
			}
			p, err = a.Read(ctx, "never", 0, 10)
			if err != nil || p.Lost || len(p.Records) != 0 || p.Tip.Seq != 0 {
				t.Fatalf("page of an empty topic: %+v, %v", p, err)
			}
			if _, err := a.Read(ctx, "bad..topic", 0, 1); !errors.Is(err, framework.ErrInvalidTopic) {
				t.Fatalf("Read of a bad topic: %v", err)
			}
			if _, err := a.Publish(ctx, "bad topic", framework.Event{}); !errors.Is(err, framework.ErrInvalidTopic) {
				t.Fatalf("Publish to a bad topic: %v", err)
			}
		})
	}
}

func TestReadLost(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			o.MaxMsgsPerSubject = 3
			b := newBroker(t, o)
			// A topic's first event, read from 0 before the stream
			// discarded anything, is no gap.
			clustertest.PublishN(t, b, "early", "e", 1)
			if p, err := b.Read(context.Background(), "early", 0, 10); err != nil || p.Lost || len(p.Records) != 1 {
				t.Fatalf("early topic: %+v, %v", p, err)
			}
			var cs []framework.Cursor
			for i := range 6 { // a0 b0 a1 b1 ... : a's sequences are 1,3,5,...
				cs = append(cs, clustertest.PublishN(t, b, "a", "a"+strconv.Itoa(i), 1)...)
				clustertest.PublishN(t, b, "b", "b", 1)
			}
			// a retains cs[3], cs[4], cs[5].
			for _, tc := range []struct {
				name  string
				after uint64
				lost  bool
				first int // index in cs of the first record
			}{
				{"from the start", 0, true, 3},
				{"lost one", cs[1].Seq, true, 3},
				{"just retained", cs[2].Seq, false, 3},
				{"between sequences", cs[2].Seq + 1, false, 3}, // a cursor of topic b
				{"inside", cs[3].Seq, false, 4},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p, err := b.Read(context.Background(), "a", tc.after, 10)
					if err != nil {
						t.Fatal(err)
					}
					if p.Lost != tc.lost || len(p.Records) == 0 || p.Records[0].Seq != cs[tc.first].Seq || p.Tip != cs[5] {
						t.Fatalf("Read after %d: lost %v, %d records from %v, tip %v; want lost %v from %v",
							tc.after, p.Lost, len(p.Records), p.Records, p.Tip, tc.lost, cs[tc.first])
					}
				})
			}
		})
	}
}

func TestReadAge(t *testing.T) {
	o := natsbroker.Options{URL: startNATS(t).url(), MaxAge: 300 * time.Millisecond}
	b := newBroker(t, o)
	c := clustertest.PublishN(t, b, "a", "a", 2)
	clustertest.PublishN(t, b, "keep", "k", 1)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := b.Read(context.Background(), "a", c[0].Seq, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) == 0 {
			if !p.Lost {
				t.Fatalf("expired topic read from %v: %+v; want Lost", c[0], p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("events never expired")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// After the whole topic expired, a new event's chain starts over: a
	// reader whose cursor predates the expired events is told of the gap.
	clustertest.PublishN(t, b, "keep", "k", 1)
	n := clustertest.PublishN(t, b, "a", "n", 1)[0]
	p, err := b.Read(context.Background(), "a", c[0].Seq, 10)
	if err != nil || !p.Lost || len(p.Records) != 1 || p.Records[0].Seq != n.Seq {
		t.Fatalf("after expiry: %+v, %v; want Lost then %v", p, err, n)
	}
	// From the last event of the expired ones, or for a new topic's first
	// event read from 0: Read cannot tell whether the topic had other
	// events among the discarded ones, and reports a gap (the documented,
	// conservative answer: never a silent loss, sometimes a needless notice).
	p, err = b.Read(context.Background(), "a", c[1].Seq, 10)
	if err != nil || len(p.Records) != 1 || !p.Lost {
		t.Fatalf("after expiry from the last seen: %+v, %v", p, err)
	}
	clustertest.PublishN(t, b, "fresh", "f", 1)
	p, err = b.Read(context.Background(), "fresh", 0, 10)
	if err != nil || len(p.Records) != 1 || !p.Lost {
		t.Fatalf("fresh topic: %+v, %v; want one record and Lost", p, err)
	}
}

func TestConcurrentPublishersChain(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			nodes := []*natsbroker.Broker{newBroker(t, o), newBroker(t, o), newBroker(t, o)}
			const per = 30
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
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != len(nodes)*2*per || p.Lost {
				t.Fatalf("%d records, lost %v; want %d", len(p.Records), p.Lost, len(nodes)*2*per)
			}
			// Reading from any record onwards is never a gap: the chain is whole.
			for i := 0; i < len(p.Records); i += 17 {
				q, err := nodes[1].Read(context.Background(), "hot", p.Records[i].Seq, 5)
				if err != nil || q.Lost {
					t.Fatalf("read after %d: lost %v, %v", p.Records[i].Seq, q.Lost, err)
				}
			}
		})
	}
}

func TestFollowFromTip(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			a, b := newBroker(t, o), newBroker(t, o)
			clustertest.PublishN(t, a, "f", "before", 3)
			// Publish concurrently with Follow: every record after the tip
			// it returns arrives once, in order.
			const n = 200
			done := make(chan error, 1)
			go func() {
				for i := range n {
					if _, err := a.Publish(context.Background(), "f", framework.Event{Data: []byte(strconv.Itoa(i))}); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
			time.Sleep(time.Millisecond)
			col := clustertest.NewCollector()
			tip, stop, err := b.Follow("f", col.Fn)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			p, err := a.Read(context.Background(), "f", tip.Seq, n+10)
			if err != nil {
				t.Fatal(err)
			}
			col.Wait(t, "the records after the tip", func(rs []framework.Record, err error) bool { return len(rs) >= len(p.Records) || err != nil })
			stop()
			stop() // idempotent
			col.Mu.Lock()
			defer col.Mu.Unlock()
			if col.Err != nil {
				t.Fatal(col.Err)
			}
			if len(col.Recs) != len(p.Records) {
				t.Fatalf("followed %d records, history has %d after the tip", len(col.Recs), len(p.Records))
			}
			for i, r := range col.Recs {
				if r.Seq != p.Records[i].Seq || string(r.Event.Data) != string(p.Records[i].Event.Data) || r.Event.ID != p.Records[i].Event.ID {
					t.Fatalf("record %d: %+v; want %+v", i, r, p.Records[i])
				}
			}
		})
	}
}

func TestClosed(t *testing.T) {
	b := newBroker(t, natsbroker.Options{URL: startNATS(t).url()})
	col := clustertest.NewCollector()
	if _, _, err := b.Follow("x", col.Fn); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.Publish(ctx, "x", framework.Event{}); !errors.Is(err, framework.ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
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
