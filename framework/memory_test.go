package framework

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func newMemory(t testing.TB, o *MemoryOptions) *MemoryBroker {
	t.Helper()
	b, err := NewMemoryBroker(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// publishSized publishes events of n bytes of data to topic and returns
// their cursors.
func publishSized(t testing.TB, b *MemoryBroker, topic string, n, count int) []Cursor {
	t.Helper()
	var cs []Cursor
	for range count {
		c, err := b.Publish(context.Background(), topic, Event{Data: make([]byte, n)})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// retained reads every retained event of the topics, and checks that
// Stats counts what it read.
func retained(t *testing.T, b *MemoryBroker, topics ...string) map[string][]uint64 {
	t.Helper()
	got := make(map[string][]uint64)
	var events int
	var bytes int64
	for _, topic := range topics {
		p, err := b.Read(context.Background(), topic, 0, 1<<30)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			got[topic] = append(got[topic], r.Seq)
			bytes += recordSize(r.Event)
		}
		events += len(p.Records)
	}
	if st := b.Stats(); st.Events != events || st.Bytes != bytes {
		t.Errorf("Stats = %+v; read %d events of %d bytes", st, events, bytes)
	}
	if r := b.retained.Load(); r != bytes {
		t.Errorf("retained counter %d; read %d bytes", r, bytes)
	}
	return got
}

// size is what an event of n bytes of data with cursor c counts.
func size(n int, c Cursor) int64 { return int64(n+len(c.String())) + RecordOverhead }

func TestMemoryByteBoundsEvictOldest(t *testing.T) {
	const data = 1000
	// Cursors of this test's topics are "<epoch>-<one digit>": every
	// event counts the same.
	probe := newMemory(t, nil)
	one := size(data, Cursor{Epoch: probe.Epoch(), Seq: 1})
	for _, tc := range []struct {
		name string
		opts MemoryOptions
		// publish is a list of topics, one event each, in order.
		publish []string
		want    map[string][]uint64 // retained sequences per topic
	}{
		{
			name:    "per topic",
			opts:    MemoryOptions{MaxTopicBytes: 3 * one},
			publish: []string{"a", "a", "b", "a", "a", "a"},
			want:    map[string][]uint64{"a": {3, 4, 5}, "b": {1}},
		},
		{
			name:    "per topic, exactly full",
			opts:    MemoryOptions{MaxTopicBytes: 3*one - 1},
			publish: []string{"a", "a", "a"},
			want:    map[string][]uint64{"a": {2, 3}},
		},
		{
			name:    "total, oldest across topics",
			opts:    MemoryOptions{MaxBytes: 4 * one},
			publish: []string{"a", "b", "a", "c", "b", "b"},
			// a1 b1 a2 c1 b2 b3: a1 and b1 go, in publish order.
			want: map[string][]uint64{"a": {2}, "b": {2, 3}, "c": {1}},
		},
		{
			name:    "total, a topic emptied",
			opts:    MemoryOptions{MaxBytes: 3 * one},
			publish: []string{"a", "a", "b", "c", "b"},
			want:    map[string][]uint64{"b": {1, 2}, "c": {1}},
		},
		{
			name:    "both",
			opts:    MemoryOptions{MaxBytes: 4 * one, MaxTopicBytes: 2 * one},
			publish: []string{"a", "a", "a", "b", "b", "b", "c"},
			// a: 2 3, then b1 pushes the total to 3, b2 to 4, b3 evicts b1
			// (per topic), c1 evicts a2 (total).
			want: map[string][]uint64{"a": {3}, "b": {2, 3}, "c": {1}},
		},
		{
			name:    "MaxTopicBytes above MaxBytes acts as MaxBytes",
			opts:    MemoryOptions{MaxBytes: 2 * one, MaxTopicBytes: 10 * one},
			publish: []string{"a", "a", "a"},
			want:    map[string][]uint64{"a": {2, 3}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemory(t, &tc.opts)
			cursors := make(map[string][]Cursor)
			for _, topic := range tc.publish {
				cursors[topic] = append(cursors[topic], publishSized(t, b, topic, data, 1)...)
			}
			topics := []string{"a", "b", "c"}
			got := retained(t, b, topics...)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("retained %v, want %v", got, tc.want)
			}
			for _, topic := range topics {
				cs, kept := cursors[topic], tc.want[topic]
				if len(cs) == 0 {
					continue
				}
				// A reader of everything gets a gap when the oldest went,
				// and a reader from the oldest retained event gets none.
				p, err := b.Read(context.Background(), topic, 0, 100)
				lost := len(kept) < len(cs)
				if err != nil || p.Lost != lost || p.Tip != cs[len(cs)-1] {
					t.Errorf("%s: Read from 0 = %+v, %v; want Lost %v", topic, p, err, lost)
				}
				if len(kept) > 0 {
					p, err = b.Read(context.Background(), topic, kept[0]-1, 100)
					if err != nil || p.Lost || len(p.Records) != len(kept) {
						t.Errorf("%s: Read from %d = %+v, %v; want no gap", topic, kept[0]-1, p, err)
					}
				}
			}
		})
	}
}

// TestMemoryOversizedEvent: an event larger than the per-topic (or total)
// bound reaches followers with its ID but is not retained; its topic's older
// events go with it, other topics keep theirs.
func TestMemoryOversizedEvent(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts MemoryOptions
	}{
		{"above MaxTopicBytes", MemoryOptions{MaxTopicBytes: 10_000}},
		{"above MaxBytes", MemoryOptions{MaxBytes: 10_000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemory(t, &tc.opts)
			publishSized(t, b, "other", 100, 2)
			publishSized(t, b, "big", 100, 2)
			var live []Record
			_, stop, err := b.Follow("big", func(r Record, _ error) { live = append(live, r) })
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			c := publishSized(t, b, "big", 20_000, 1)[0]
			if len(live) != 1 || live[0].Seq != 3 || live[0].Event.ID != c.String() || len(live[0].Event.Data) != 20_000 {
				t.Fatalf("followed %+v; want the big event with ID %s", live, c)
			}
			got := retained(t, b, "other", "big")
			if len(got["big"]) != 0 || len(got["other"]) != 2 {
				t.Fatalf("retained %v; want other's 2 and none of big", got)
			}
			p, err := b.Read(context.Background(), "big", 1, 10)
			if err != nil || !p.Lost || len(p.Records) != 0 || p.Tip != c {
				t.Fatalf("Read after 1 = %+v, %v; want Lost at tip %v", p, err, c)
			}
			// The next event of the topic is retained again, at the next
			// sequence.
			next := publishSized(t, b, "big", 100, 1)[0]
			if p, err := b.Read(context.Background(), "big", c.Seq, 10); err != nil || p.Lost || len(p.Records) != 1 || p.Records[0].Seq != next.Seq || next.Seq != c.Seq+1 {
				t.Fatalf("Read after the big event = %+v, %v; want %v", p, err, next)
			}
		})
	}
}

// TestMemoryBytesAccounting: the retained size follows every way an event
// leaves: count, age, the byte bounds, Close.
func TestMemoryBytesAccounting(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts MemoryOptions
		run  func(t *testing.T, b *MemoryBroker)
		want int // events retained
	}{
		{"count", MemoryOptions{MaxEvents: 3}, func(t *testing.T, b *MemoryBroker) {
			publishSized(t, b, "a", 10, 5)
			publishSized(t, b, "b", 1000, 4)
		}, 6},
		{"age", MemoryOptions{MaxAge: 40 * time.Millisecond}, func(t *testing.T, b *MemoryBroker) {
			publishSized(t, b, "a", 10, 5)
			publishSized(t, b, "b", 1000, 4)
			time.Sleep(60 * time.Millisecond)
			publishSized(t, b, "a", 20, 1) // expires a's and sweeps b's
		}, 1},
		{"mixed sizes", MemoryOptions{MaxTopicBytes: 5000, MaxBytes: 8000}, func(t *testing.T, b *MemoryBroker) {
			for i := range 40 {
				publishSized(t, b, []string{"a", "b", "c"}[i%3], i*100, 1)
			}
		}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newMemory(t, &tc.opts)
			tc.run(t, b)
			got := retained(t, b, "a", "b", "c")
			n := len(got["a"]) + len(got["b"]) + len(got["c"])
			if tc.want >= 0 && n != tc.want {
				t.Errorf("retained %v, want %d events", got, tc.want)
			}
			if st := b.Stats(); st.Bytes > b.maxBytes {
				t.Errorf("retained %d bytes, above MaxBytes %d", st.Bytes, b.maxBytes)
			}
			b.Close()
			if st, r := b.Stats(), b.retained.Load(); st != (MemoryStats{}) || r != 0 || b.queue != nil {
				t.Errorf("after Close: Stats %+v, retained %d, queue %d", st, r, len(b.queue))
			}
		})
	}
}

// TestMemoryQueueStaysCompact: events discarded by count leave entries in
// the eviction queue that are dropped before they pile up.
func TestMemoryQueueStaysCompact(t *testing.T) {
	b := newMemory(t, &MemoryOptions{MaxEvents: 10})
	for i := range 20_000 {
		publishSized(t, b, fmt.Sprint("t", i%5), 1, 1)
	}
	b.queueMu.Lock()
	n := len(b.queue)
	b.queueMu.Unlock()
	if st := b.Stats(); st.Events != 50 || n > max(2*st.Events, minCompact) {
		t.Errorf("%d queue entries for %d events", n, st.Events)
	}
}

// TestMemoryConcurrentBounds publishes from several goroutines to several
// topics under small bounds, with followers, Reads and Stats running: the
// bounds hold and the accounting matches what is retained (run with -race).
func TestMemoryConcurrentBounds(t *testing.T) {
	b := newMemory(t, &MemoryOptions{MaxBytes: 50_000, MaxTopicBytes: 20_000, MaxEvents: 30})
	topics := []string{"a", "b", "c", "d"}
	for _, topic := range topics {
		_, stop, err := b.Follow(topic, func(Record, error) {})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				topic := topics[(w+i)%len(topics)]
				if _, err := b.Publish(context.Background(), topic, Event{Data: make([]byte, (i*37)%3000)}); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					if _, err := b.Read(context.Background(), topic, 0, 10); err != nil {
						t.Error(err)
					}
					b.Stats()
				}
			}
		})
	}
	wg.Wait()
	retained(t, b, topics...)
	if st := b.Stats(); st.Bytes > 50_000 {
		t.Errorf("Stats %+v: above MaxBytes", st)
	}
}

// TestMemoryBoundsTheProcess publishes 256 MiB, in 4,000 freshly allocated
// events of 64 KiB over 8 topics, to a broker bounded at 16 MiB: the heap
// after a collection stays under the bound plus a slack for the test
// binary's own heap.
func TestMemoryBoundsTheProcess(t *testing.T) {
	const (
		maxBytes = 16 << 20
		slack    = 8 << 20
		events   = 4000
		size     = 64 << 10
	)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	b := newMemory(t, &MemoryOptions{MaxBytes: maxBytes})
	start := time.Now()
	for i := range events {
		if _, err := b.Publish(context.Background(), fmt.Sprint("t", i%8), Event{Data: make([]byte, size)}); err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	st := b.Stats()
	t.Logf("%d events of %d KiB in %v: retained %d events, %d bytes; heap %d KiB before, %d KiB after",
		events, size>>10, elapsed, st.Events, st.Bytes, before.HeapAlloc>>10, after.HeapAlloc>>10)
	if st.Bytes > maxBytes || st.Events < maxBytes/(size+RecordOverhead+32) {
		t.Errorf("retained %+v; want just under %d bytes", st, maxBytes)
	}
	if after.HeapAlloc > maxBytes+slack {
		t.Errorf("heap %d bytes after publishing; want under %d (bound) + %d (slack)", after.HeapAlloc, maxBytes, slack)
	}
	if elapsed > 30*time.Second {
		t.Errorf("publishing took %v", elapsed)
	}
	runtime.KeepAlive(b)
}

func TestMemoryOptionsValidation(t *testing.T) {
	for _, tc := range []struct {
		opts MemoryOptions
		want string
	}{
		{MemoryOptions{MaxEvents: -1}, "MaxEvents -1"},
		{MemoryOptions{MaxAge: -time.Second}, "MaxAge -1s"},
		{MemoryOptions{MaxBytes: -5}, "MaxBytes -5"},
		{MemoryOptions{MaxTopicBytes: -7}, "MaxTopicBytes -7"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if _, err := NewMemoryBroker(&tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewMemoryBroker(%+v) = %v; want an error naming %q", tc.opts, err, tc.want)
			}
		})
	}
	b := newMemory(t, nil)
	if b.maxBytes != DefaultMaxBytes || b.maxTopicBytes != DefaultMaxTopicBytes {
		t.Errorf("defaults: MaxBytes %d, MaxTopicBytes %d", b.maxBytes, b.maxTopicBytes)
	}
}
