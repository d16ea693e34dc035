package natsbroker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// interleave publishes, for each n of layout, n events of topic then one
// event of "other", and returns the topic's sequence numbers.
func interleave(t *testing.T, b framework.Broker, topic string, layout []int) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, n := range layout {
		for _, c := range clustertest.PublishN(t, b, topic, "t", n) {
			seqs = append(seqs, c.Seq)
		}
		clustertest.PublishN(t, b, "other", "o", 1)
	}
	return seqs
}

// mixed is a layout of about n events whose density varies by orders of
// magnitude: runs of other topics' events between bursts, fixed by a seed.
func mixed(n int) []int {
	rnd := rand.New(rand.NewPCG(16, 1))
	var layout []int
	for total := 0; total < n; {
		for range rnd.IntN(4) * rnd.IntN(12) { // a run of others
			layout = append(layout, 0)
		}
		burst := 1 + rnd.IntN(3)*rnd.IntN(10)
		layout = append(layout, burst)
		total += burst
	}
	return layout
}

func seqsOf(recs []framework.Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return s
}

// TestReadBefore: the newest records before every bound, for many limits,
// on a topic interleaved with another one evenly, in bursts and sparsely,
// are exactly those a forward read finds.
func TestReadBefore(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			b := newBroker(t, tg.setup(t))
			ctx := context.Background()
			layouts := map[string][]int{
				"even":   slices.Repeat([]int{1}, 40),
				"bursts": {12, 0, 0, 0, 0, 0, 1, 25, 0, 0, 3, 0, 9},
				"sparse": {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1},
				"mixed":  mixed(150),
			}
			for name, layout := range layouts {
				topic := "t." + name
				all := interleave(t, b, topic, layout)
				tip := all[len(all)-1]
				bounds := []uint64{0, 1, tip + 1, tip + 100}
				for i, s := range all {
					if len(all) < 60 || i%7 == 0 {
						bounds = append(bounds, s, s+1)
					}
				}
				for _, before := range bounds {
					for _, limit := range []int{1, 2, 3, 5, 8, 16, 17, 20, 33, 100} {
						p, err := b.ReadBefore(ctx, topic, before, limit)
						if err != nil {
							t.Fatal(err)
						}
						var below []uint64
						for _, s := range all {
							if before == 0 || s < before {
								below = append(below, s)
							}
						}
						want := below[max(0, len(below)-limit):]
						if got := seqsOf(p.Records); fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("%s: before %d limit %d: %v, want %v", name, before, limit, got, want)
						}
						if start := len(below) <= limit; p.Start != start || p.Lost {
							t.Fatalf("%s: before %d limit %d: start %v lost %v, want start %v, nothing lost", name, before, limit, p.Start, p.Lost, start)
						}
						if p.Tip.Seq != tip || p.Tip.Epoch != b.Epoch() {
							t.Fatalf("tip %v", p.Tip)
						}
					}
				}
			}
			p, err := b.ReadBefore(ctx, "never", 0, 10)
			if err != nil || len(p.Records) != 0 || !p.Start || p.Lost {
				t.Fatalf("a topic never published to: %+v, %v", p, err)
			}
		})
	}
}

// TestReadBeforeTrimmed: a topic whose oldest events the stream's limits
// discarded: a page that reaches the oldest retained one says that older
// ones are lost.
func TestReadBeforeTrimmed(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			o.MaxMsgsPerSubject = 30
			b := newBroker(t, o)
			ctx := context.Background()
			all := interleave(t, b, "t", slices.Repeat([]int{1, 3}, 23))
			kept := all[len(all)-30:]
			for _, tc := range []struct {
				before      uint64
				limit       int
				want        []uint64
				start, lost bool
			}{
				{0, 3, kept[27:], false, false},
				{0, 29, kept[1:], false, false},
				{0, 30, kept, true, true},
				{0, 50, kept, true, true},
				{kept[20], 25, kept[:20], true, true},
				{kept[20], 20, kept[:20], true, true},
				{kept[20], 18, kept[2:20], false, false},
				{kept[2], 5, kept[:2], true, true},
				{kept[0], 5, nil, true, true},
				{1, 5, nil, true, false},
			} {
				p, err := b.ReadBefore(ctx, "t", tc.before, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if got := seqsOf(p.Records); fmt.Sprint(got) != fmt.Sprint(tc.want) || p.Start != tc.start || p.Lost != tc.lost {
					t.Errorf("before %d limit %d: %v start %v lost %v; want %v start %v lost %v",
						tc.before, tc.limit, got, p.Start, p.Lost, tc.want, tc.start, tc.lost)
				}
			}
		})
	}
}

// TestReadSince: records carry the time JetStream stored them, on every
// read and on Follow; ReadSince starts at the first one stored at or after
// its time, whatever other topics hold.
func TestReadSince(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			b := newBroker(t, tg.setup(t))
			ctx := context.Background()
			got := make(chan framework.Record, 10)
			_, stop, err := b.Follow("t", func(r framework.Record, err error) {
				if err == nil {
					got <- r
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			var marks []time.Time
			var seqs [][]uint64
			for range 3 {
				marks = append(marks, time.Now())
				seqs = append(seqs, interleave(t, b, "t", []int{1, 1}))
				time.Sleep(20 * time.Millisecond)
			}
			p, err := b.Read(ctx, "t", 0, 10)
			if err != nil || len(p.Records) != 6 {
				t.Fatalf("read %+v, %v", p, err)
			}
			for i, r := range p.Records {
				if r.Time.Before(marks[i/2]) || r.Time.After(marks[i/2].Add(time.Second)) {
					t.Fatalf("record %d stored at %v, published after %v", i, r.Time, marks[i/2])
				}
				select {
				case f := <-got:
					if f.Seq != r.Seq || !f.Time.Equal(r.Time) {
						t.Fatalf("followed %d at %v, read %d at %v", f.Seq, f.Time, r.Seq, r.Time)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Follow delivered nothing")
				}
			}
			for _, tc := range []struct {
				since time.Time
				limit int
				want  []uint64
			}{
				{marks[0].Add(-time.Hour), 10, slices.Concat(seqs...)},
				{marks[1], 10, slices.Concat(seqs[1:]...)},
				{marks[1], 3, slices.Concat(seqs[1], seqs[2][:1])},
				{marks[2], 10, seqs[2]},
				{time.Now().Add(time.Hour), 10, nil},
			} {
				p, err := b.ReadSince(ctx, "t", tc.since, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if got := seqsOf(p.Records); fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("since %v limit %d: %v, want %v", tc.since, tc.limit, got, tc.want)
				}
			}
		})
	}
}

// TestRewindAndHistoryAcrossNodes: the Hub's rewinds and history pages on
// NATS, a page's cursor from one node paging on on another, across the
// boundary the stream's limits moved.
func TestRewindAndHistoryAcrossNodes(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			o.MaxMsgsPerSubject = 8
			hubs := make([]*framework.Hub, 2)
			for i := range hubs {
				h, err := framework.NewHub(&framework.HubOptions{Broker: newBroker(t, o)})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { h.Close() })
				hubs[i] = h
			}
			a, b := hubs[0], hubs[1]
			ctx := context.Background()
			for i := 1; i <= 12; i++ { // 5..12 retained
				if _, err := a.Publish(ctx, "chat", framework.Text(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
				if _, err := a.Publish(ctx, "noise", framework.Text("x")); err != nil {
					t.Fatal(err)
				}
			}
			text := func(evs []framework.Event) string {
				var s []string
				for _, ev := range evs {
					s = append(s, string(ev.Data))
				}
				return strings.Join(s, " ")
			}

			sub, err := b.SubscribeWith("chat", "", &framework.SubscribeOptions{Rewind: 3})
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			if _, err := a.Publish(ctx, "chat", framework.Text("13")); err != nil { // 6..13 retained
				t.Fatal(err)
			}
			var got []framework.Event
			for len(got) < 4 {
				nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				batch, err := sub.Next(nctx, 0)
				cancel()
				if err != nil || batch.Gap != nil {
					t.Fatalf("%+v, %v", batch, err)
				}
				got = append(got, batch.Events...)
			}
			if s := text(got); s != "10 11 12 13" {
				t.Fatalf("rewind 3, then live: %s", s)
			}
			since, err := b.SubscribeWith("chat", "", &framework.SubscribeOptions{Since: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer since.Close()
			if batch, err := since.Next(ctx, 0); err != nil || batch.Gap != nil || text(batch.Events) != "6 7 8 9 10 11 12 13" {
				t.Fatalf("since an hour, more than retained: %+v, %v", batch, err)
			}

			p, err := a.History(ctx, "chat", &framework.HistoryOptions{Limit: 3})
			if err != nil || text(p.Events) != "13 12 11" || !p.More {
				t.Fatalf("newest page %+v, %v", p, err)
			}
			var pages []string
			for p.More {
				if p, err = b.History(ctx, "chat", &framework.HistoryOptions{Before: p.Cursor, Limit: 3}); err != nil {
					t.Fatal(err)
				}
				pages = append(pages, text(p.Events))
			}
			if fmt.Sprint(pages) != "[10 9 8 7 6]" || !p.Truncated {
				t.Fatalf("pages %q, truncated %v", pages, p.Truncated)
			}
			p, err = b.History(ctx, "chat", &framework.HistoryOptions{After: "0", Limit: 3})
			if err != nil || text(p.Events) != "6 7 8" || p.Gap == nil || !p.More {
				t.Fatalf("after 0: %+v, %v", p, err)
			}
			if p, err = a.History(ctx, "chat", &framework.HistoryOptions{After: p.Cursor, Limit: 10}); err != nil || text(p.Events) != "9 10 11 12 13" || p.Gap != nil || p.More {
				t.Fatalf("after %+v, %v", p, err)
			}

			// A new topic on a stream that discarded events: its first
			// event names no predecessor, and the broker cannot tell it
			// from one whose predecessors were all discarded, so it says
			// Truncated (see ReadBefore; TestReadBefore has the exact
			// answer on a stream that discarded nothing).
			if _, err := a.Publish(ctx, "fresh", framework.Text("1")); err != nil {
				t.Fatal(err)
			}
			if p, err = b.History(ctx, "fresh", nil); err != nil || text(p.Events) != "1" || p.More || !p.Truncated {
				t.Fatalf("fresh: %+v, %v", p, err)
			}
		})
	}
}

var _ framework.Rewinder = (*natsbroker.Broker)(nil)
