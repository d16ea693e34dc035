package framework

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// countBroker is a MemoryBroker that counts the Follows it started and
// stopped.
type countBroker struct {
	*MemoryBroker
	follows, stops atomic.Int64
}

func (b *countBroker) Follow(topic string, fn func(Record, error)) (Cursor, func(), error) {
	tip, stop, err := b.MemoryBroker.Follow(topic, fn)
	if err == nil {
		b.follows.Add(1)
	}
	return tip, func() { b.stops.Add(1); stop() }, err
}

// TestLinger: subscriptions with a linger that come and go keep one
// Follow of their topic, which stops once the linger is up; events
// published meanwhile are not lost.
func TestLinger(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mb, err := NewMemoryBroker(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer mb.Close()
		b := &countBroker{MemoryBroker: mb}
		h := newHub(t, &HubOptions{Broker: b})
		ctx := context.Background()
		const linger = 10 * time.Second
		cursor := ""
		for i := range 3 {
			s, err := h.SubscribeWith("poll", cursor, &SubscribeOptions{Linger: linger})
			if err != nil {
				t.Fatal(err)
			}
			if i > 0 {
				b, err := s.Poll(ctx, 0)
				if err != nil || len(b.Events) != 1 || string(b.Events[0].Data) != "x" {
					t.Fatalf("poll %d: %+v %v", i, b, err)
				}
			}
			cursor = s.Cursor()
			s.Close()
			// Published while no one subscribes: the next poll reads it.
			if _, err := h.Publish(ctx, "poll", Text("x")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(linger / 2)
		}
		if f, st := b.follows.Load(), b.stops.Load(); f != 1 || st != 0 {
			t.Fatalf("%d follows and %d stops within the linger, want 1 and 0", f, st)
		}
		time.Sleep(linger)
		synctest.Wait()
		if st := b.stops.Load(); st != 1 {
			t.Fatalf("%d stops after the linger, want 1", st)
		}
		s, err := h.SubscribeWith("poll", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if f, st := b.follows.Load(), b.stops.Load(); f != 2 || st != 2 {
			t.Fatalf("%d follows and %d stops after a subscription without linger, want 2 and 2", f, st)
		}
	})
}
