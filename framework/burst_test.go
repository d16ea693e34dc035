package framework

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unsafe"
)

// heldBytes is what a subscription's buffers hold: their slots, and the
// event data they keep reachable.
func heldBytes(s *Subscription) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := cap(s.out)*int(unsafe.Sizeof(Event{})) + len(s.queue)*int(unsafe.Sizeof(&Record{}))
	for _, ev := range s.out[:cap(s.out)] {
		n += cap(ev.Data)
	}
	for _, r := range s.queue {
		if r != nil {
			n += int(unsafe.Sizeof(*r)) + cap(r.Event.Data)
		}
	}
	return n
}

// queueArray is the backing array of a subscription's queue, or nil.
func queueArray(s *Subscription) **Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return nil
	}
	return &s.queue[0]
}

// TestBurstReleasedWhenIdle: a burst of 128 events of 1 KiB grows the
// subscription's buffers, whether it came live or from history; they are
// kept while bursts come back within trimAfter (a second live burst
// finds the same queue), and once the subscription stayed idle for a
// while it holds what it held before.
func TestBurstReleasedWhenIdle(t *testing.T) {
	kib := strings.Repeat("x", 1024)
	burst := func(t *testing.T, h *Hub) {
		for range 128 {
			if _, err := h.Publish(context.Background(), "t", Event{Data: []byte(kib)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	take := func(t *testing.T, s *Subscription) {
		t.Helper()
		if b, err := next(t, s, 128); err != nil || len(b.Events) != 128 {
			t.Fatalf("the burst: %d events, %v", len(b.Events), err)
		}
		if b, err := s.Poll(context.Background(), 0); err != nil || b.Gap != nil || len(b.Events) != 0 {
			t.Fatalf("Poll after the burst = %+v, %v; want nothing", b, err)
		}
	}
	for _, tc := range []struct {
		name    string
		history bool // subscribe after the burst, from before it
	}{
		{"live", false},
		{"history", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHub(t, nil)
				ctx := context.Background()
				cursor := ""
				if tc.history {
					cursor = publishN(t, h, "t", 0, 0)[0]
					burst(t, h)
				}
				s, err := h.Subscribe("t", cursor)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				if !tc.history { // a few small events before: the steady state
					publishN(t, h, "t", 1, 3)
					collect(t, s, 3)
					if b, err := s.Poll(ctx, 0); err != nil || len(b.Events) != 0 {
						t.Fatalf("Poll = %+v, %v; want nothing", b, err)
					}
				}
				before := heldBytes(s)
				if !tc.history {
					burst(t, h)
				}
				take(t, s)
				kept := heldBytes(s)
				if kept <= before {
					t.Fatalf("idle right after the burst, the subscription holds %d bytes, no more than the %d before: nothing kept for the next burst", kept, before)
				}
				if !tc.history {
					queue := queueArray(s)
					time.Sleep(trimAfter / 2)
					burst(t, h)
					if q := queueArray(s); q != queue {
						t.Fatal("a burst within trimAfter of the last one grew a new queue")
					}
					take(t, s)
				}
				time.Sleep(2 * trimAfter)
				synctest.Wait()
				after := heldBytes(s)
				t.Logf("retained: %d bytes before, %d idle after the burst, %d a while later", before, kept, after)
				if after > before {
					t.Fatalf("idle for %v after the burst, the subscription retains %d bytes, %d more than before", 2*trimAfter, after, after-before)
				}
			})
		})
	}
}

// BenchmarkBurst publishes bursts of 256 events to a topic with 100
// subscribers, each drained by its reader (polled to empty) after every
// burst: what a burst costs once the subscriptions went idle in between.
// allocs/delivery and B/delivery count the publishes' own allocations
// too (the record and its encodings, shared by every subscriber).
func BenchmarkBurst(b *testing.B) {
	const subscribers, burst = 100, 256
	h := newHub(b, &HubOptions{QueueSize: 512})
	ctx := context.Background()
	subs := make([]*Subscription, subscribers)
	for i := range subs {
		s, err := h.Subscribe("t", "")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		subs[i] = s
	}
	ev := Event{Data: make([]byte, 64)}
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for b.Loop() {
		for range burst {
			if _, err := h.Publish(ctx, "t", ev); err != nil {
				b.Fatal(err)
			}
		}
		for _, s := range subs {
			for got := 0; ; {
				batch, err := s.Poll(ctx, 0)
				if err != nil {
					b.Fatal(err)
				}
				if len(batch.Events) == 0 {
					if got != burst {
						b.Fatalf("%d events of a burst of %d", got, burst)
					}
					break
				}
				got += len(batch.Events)
			}
		}
	}
	runtime.ReadMemStats(&m1)
	deliveries := float64(b.N * burst * subscribers)
	b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/deliveries, "allocs/delivery")
	b.ReportMetric(float64(m1.TotalAlloc-m0.TotalAlloc)/deliveries, "B/delivery")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
}
