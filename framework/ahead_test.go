package framework

import (
	"context"
	"strconv"
	"sync"
	"testing"
)

// hookBroker is a MemoryBroker that can run a hook after its first Read and
// hold back what its Follow delivers, as a distributed broker's feed lags
// behind the node a client last talked to.
type hookBroker struct {
	*MemoryBroker
	afterRead func() // run once, after the first Read

	mu   sync.Mutex
	lag  bool
	held []Record
	fns  []func(Record, error)
}

func (b *hookBroker) Read(ctx context.Context, topic string, after uint64, limit int) (Page, error) {
	p, err := b.MemoryBroker.Read(ctx, topic, after, limit)
	b.mu.Lock()
	hook := b.afterRead
	b.afterRead = nil
	b.mu.Unlock()
	if hook != nil {
		hook()
	}
	return p, err
}

func (b *hookBroker) Follow(topic string, fn func(Record, error)) (Cursor, func(), error) {
	return b.MemoryBroker.Follow(topic, func(r Record, err error) {
		b.mu.Lock()
		if b.lag {
			b.held = append(b.held, r)
			b.fns = append(b.fns, fn)
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		fn(r, err)
	})
}

// catchUpFeed delivers what the Follow held back and stops holding.
func (b *hookBroker) catchUpFeed() {
	b.mu.Lock()
	held, fns := b.held, b.fns
	b.held, b.fns, b.lag = nil, nil, false
	b.mu.Unlock()
	for i, r := range held {
		fns[i](r, nil)
	}
}

// TestCursorAheadOfTip: a cursor of this epoch beyond the broker's newest
// event gets a gap and resumes from the tip; live events then follow, each
// once. The broker's tip decides, not the Hub's feed.
func TestCursorAheadOfTip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		events    int                                     // published before subscribing
		cursor    func(epoch string, ids []string) string // the cursor given
		meanwhile bool                                    // one more event is published between the broker's reads
		lag       bool                                    // the Hub's feed has not delivered the events yet
		gap       bool                                    // a gap is expected
		tip       func(epoch string, ids []string) string // Cursor() after the first batch
	}{
		{
			name:   "bare, empty topic",
			cursor: func(string, []string) string { return "42" },
			gap:    true,
			tip:    func(epoch string, _ []string) string { return epoch + "-0" },
		},
		{
			name:   "bare, topic with events",
			events: 10,
			cursor: func(string, []string) string { return "42" },
			gap:    true,
			tip:    func(_ string, ids []string) string { return ids[9] },
		},
		{
			name:   "with epoch, topic with events",
			events: 10,
			cursor: func(epoch string, _ []string) string { return epoch + "-42" },
			gap:    true,
			tip:    func(_ string, ids []string) string { return ids[9] },
		},
		{
			name:   "one past the tip",
			events: 10,
			cursor: func(string, []string) string { return "11" },
			gap:    true,
			tip:    func(_ string, ids []string) string { return ids[9] },
		},
		{
			name:      "an event published meanwhile",
			events:    10,
			cursor:    func(string, []string) string { return "42" },
			meanwhile: true,
			gap:       true,
			tip:       func(_ string, ids []string) string { return ids[10] },
		},
		{
			name:   "at the tip",
			events: 10,
			cursor: func(_ string, ids []string) string { return ids[9] },
			tip:    func(_ string, ids []string) string { return ids[9] },
		},
		{
			name:   "at the broker's tip, ahead of the Hub's lagging feed",
			events: 10,
			cursor: func(_ string, ids []string) string { return ids[9] },
			lag:    true,
			tip:    func(_ string, ids []string) string { return ids[9] },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, _ := NewMemoryBroker(nil)
			defer mem.Close()
			br := &hookBroker{MemoryBroker: mem}
			h := newHub(t, &HubOptions{Broker: br})
			ctx := context.Background()
			watcher, err := h.Subscribe("t", "") // the Hub follows the topic
			if err != nil {
				t.Fatal(err)
			}
			defer watcher.Close()
			br.mu.Lock()
			br.lag = tc.lag
			br.mu.Unlock()
			ids := publishN(t, h, "t", 1, tc.events)
			cursor := tc.cursor(mem.Epoch(), ids)
			if tc.meanwhile {
				br.afterRead = func() { ids = append(ids, publishN(t, h, "t", tc.events+1, tc.events+1)...) }
			}
			s, err := h.Subscribe("t", cursor)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()

			var first Batch
			if tc.gap || tc.meanwhile {
				first, err = next(t, s, 0)
			} else {
				first, err = s.Poll(ctx, 0)
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range first.Events {
				got = append(got, string(ev.Data))
			}
			switch {
			case !tc.gap && first.Gap != nil:
				t.Fatalf("gap %+v for a cursor at the tip", *first.Gap)
			case tc.gap && first.Gap == nil:
				t.Fatalf("no gap for cursor %q ahead of the tip; batch %+v", cursor, first)
			case tc.gap:
				want := Gap{Last: cursor}
				if tc.meanwhile {
					want.Next = ids[tc.events]
				}
				if *first.Gap != want {
					t.Fatalf("gap %+v, want %+v", *first.Gap, want)
				}
			}
			if want := seq(tc.events+1, len(ids)); !equal(got, want) {
				t.Fatalf("first batch events %v, want %v", got, want)
			}
			if c, want := s.Cursor(), tc.tip(mem.Epoch(), ids); c != want {
				t.Fatalf("Cursor() = %q, want the tip %q", c, want)
			}

			br.catchUpFeed()
			n := len(ids) + 1
			id := publishN(t, h, "t", n, n)[0]
			live, gaps := collect(t, s, 1)
			if !equal(live, []string{strconv.Itoa(n)}) || gaps != nil {
				t.Fatalf("live: %v gaps %v, want [%d]", live, gaps, n)
			}
			if b, err := s.Poll(ctx, 0); err != nil || b.Gap != nil || len(b.Events) != 0 {
				t.Fatalf("after the live event: %+v, %v; want nothing more", b, err)
			}
			if s.Cursor() != id {
				t.Fatalf("Cursor() = %q after the live event %q", s.Cursor(), id)
			}
		})
	}
}
