package framework

import (
	"context"
	"strings"
	"testing"
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

// TestBurstReleasedWhenIdle: once a burst of 128 events of 1 KiB is taken
// and the subscription is idle again, it holds what it held before,
// whether the burst came live or from history.
func TestBurstReleasedWhenIdle(t *testing.T) {
	kib := strings.Repeat("x", 1024)
	burst := func(t *testing.T, h *Hub) {
		for range 128 {
			if _, err := h.Publish(context.Background(), "t", Event{Data: []byte(kib)}); err != nil {
				t.Fatal(err)
			}
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
			b, err := next(t, s, 128)
			if err != nil || len(b.Events) != 128 {
				t.Fatalf("the burst: %d events, %v", len(b.Events), err)
			}
			during := heldBytes(s)
			if b, err := s.Poll(ctx, 0); err != nil || b.Gap != nil || len(b.Events) != 0 {
				t.Fatalf("Poll after the burst = %+v, %v; want nothing", b, err)
			}
			after := heldBytes(s)
			t.Logf("retained: %d bytes before, %d with the burst's batch, %d idle", before, during, after)
			if after-before > 1024 {
				t.Fatalf("idle after the burst, the subscription retains %d bytes, %d more than before", after, after-before)
			}
		})
	}
}
