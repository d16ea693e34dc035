package framework

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

var kibEvent = Event{Data: []byte(strings.Repeat("x", 1024))}

// TestPaceKeepsPublisherNearReader: a publisher of 200 events of 1 KiB
// and a reader that takes one per millisecond. Paced, the reader is never
// more than the backlog bound (4 KiB, so 5 events with the one that
// crossed it) behind the publisher; unpaced, the publisher runs 200 ahead.
func TestPaceKeepsPublisherNearReader(t *testing.T) {
	for _, tc := range []struct {
		name        string
		backlog     int
		maxBehind   int // the most the reader may be behind
		leastBehind int // the reader must have been this far behind once
	}{
		{"paced", 4 << 10, 5, 3},
		{"off", -1, 200, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHub(t, &HubOptions{PaceBacklog: tc.backlog})
				s, err := h.Subscribe("t", "")
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				const events = 200
				published := make(chan int, events)
				go func() {
					for i := range events {
						if _, err := h.Publish(context.Background(), "t", kibEvent); err != nil {
							t.Error(err)
							return
						}
						published <- i + 1
					}
				}()
				got, pub, most := 0, 0, 0
				for got < events {
					b, err := s.Next(context.Background(), 1)
					if err != nil {
						t.Fatal(err)
					}
					got += len(b.Events)
					for drained := false; !drained; {
						select {
						case pub = <-published:
						default:
							drained = true
						}
					}
					most = max(most, pub-got)
					time.Sleep(time.Millisecond)
				}
				if most > tc.maxBehind || most < tc.leastBehind {
					t.Errorf("the reader was at most %d events behind the publisher; want %d to %d", most, tc.leastBehind, tc.maxBehind)
				}
				if p := h.Stats().Paced; (p > 0) != (tc.backlog > 0) {
					t.Errorf("Stats().Paced = %d with PaceBacklog %d", p, tc.backlog)
				}
			})
		})
	}
}

// TestPaceStalledSubscriber: subscribers that take nothing cost a
// publisher one PaceWait, not one per publish; once they took their
// backlog, publishes are paced again. Without pacing nothing waits.
func TestPaceStalledSubscriber(t *testing.T) {
	burst := func(t *testing.T, h *Hub, n int) time.Duration {
		start := time.Now()
		for range n {
			if _, err := h.Publish(context.Background(), "t", kibEvent); err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, &HubOptions{PaceBacklog: 4 << 10, PaceWait: 50 * time.Millisecond})
		s, err := h.Subscribe("t", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if d := burst(t, h, 20); d != 50*time.Millisecond {
			t.Errorf("20 publishes to a stalled subscriber took %v; want one PaceWait, 50ms", d)
		}
		if b, err := next(t, s, 100); err != nil || len(b.Events) != 20 {
			t.Fatalf("the stalled subscriber's backlog: %d events, %v", len(b.Events), err)
		}
		if d := burst(t, h, 20); d != 50*time.Millisecond {
			t.Errorf("after the backlog was taken, 20 publishes took %v; want one PaceWait again, 50ms", d)
		}
		if p := h.Stats().Paced; p != 2 {
			t.Errorf("Stats().Paced = %d; want 2", p)
		}
	})
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, &HubOptions{PaceBacklog: -1})
		s, err := h.Subscribe("t", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if d := burst(t, h, 20); d != 0 {
			t.Errorf("unpaced, 20 publishes took %v; want no wait", d)
		}
	})
}

// TestPaceIsAnAverage: one stalled subscriber among ten that keep up does
// not slow the publisher: the backlog is averaged over the subscribers.
func TestPaceIsAnAverage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, &HubOptions{PaceBacklog: 8 << 10})
		var subs []*Subscription
		for range 10 {
			s, err := h.Subscribe("t", "")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			subs = append(subs, s)
		}
		start := time.Now()
		for range 60 { // 60 KiB behind for the stalled one, 6 KiB on average
			if _, err := h.Publish(context.Background(), "t", kibEvent); err != nil {
				t.Fatal(err)
			}
			for _, s := range subs[1:] {
				if b, err := s.Poll(context.Background(), 0); err != nil || len(b.Events) != 1 {
					t.Fatalf("a prompt subscriber: %d events, %v", len(b.Events), err)
				}
			}
		}
		if d, p := time.Since(start), h.Stats().Paced; d != 0 || p != 0 {
			t.Errorf("60 publishes took %v and %d waited; want no wait", d, p)
		}
	})
}

// TestPaceEndsWithContext: a paced Publish whose context ends stops
// waiting and succeeds, since its event is stored.
func TestPaceEndsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, &HubOptions{PaceBacklog: 1 << 10})
		s, err := h.Subscribe("t", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := h.Publish(context.Background(), "t", kibEvent); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		start := time.Now()
		id, err := h.Publish(ctx, "t", kibEvent)
		if err != nil || id == "" || time.Since(start) != 10*time.Millisecond {
			t.Errorf("Publish = %q, %v after %v; want an ID, no error, after the context's 10ms", id, err, time.Since(start))
		}
		if b, err := next(t, s, 10); err != nil || len(b.Events) != 2 {
			t.Errorf("the subscriber got %d events, %v; want both", len(b.Events), err)
		}
		// The topic the ended wait left over its bound settles once its
		// backlog is gone.
		if _, err := h.Publish(context.Background(), "t", Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		if n := h.behind.Load(); n != 0 {
			t.Errorf("%d topics behind after the backlog was taken, want 0", n)
		}
	})
}
