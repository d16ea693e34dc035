package framework

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// breakingBroker is a MemoryBroker whose follows can be broken, as a
// distributed broker's are when it loses its connection.
type breakingBroker struct {
	*MemoryBroker
	mu      sync.Mutex
	fns     []func(Record, error)
	stopped int
}

func (b *breakingBroker) Follow(topic string, fn func(Record, error)) (Cursor, func(), error) {
	tip, stop, err := b.MemoryBroker.Follow(topic, fn)
	if err != nil {
		return tip, stop, err
	}
	b.mu.Lock()
	b.fns = append(b.fns, fn)
	b.mu.Unlock()
	return tip, func() {
		b.mu.Lock()
		b.stopped++
		b.mu.Unlock()
		stop()
	}, nil
}

// breakAll breaks every follow made so far.
func (b *breakingBroker) breakAll(err error) {
	b.mu.Lock()
	fns := b.fns
	b.fns = nil
	b.mu.Unlock()
	for _, fn := range fns {
		fn(Record{}, err)
	}
}

func TestBrokenFollowEndsSubscriptions(t *testing.T) {
	mem, _ := NewMemoryBroker(nil)
	br := &breakingBroker{MemoryBroker: mem}
	h := newHub(t, &HubOptions{Broker: br})
	ctx := context.Background()
	id, err := h.Publish(ctx, "t", Event{Data: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := h.Subscribe("t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := h.Subscribe("t", id)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()

	lost := errors.New("connection lost")
	br.breakAll(lost)
	for i, s := range []*Subscription{s1, s2} {
		if _, err := s.Next(ctx, 0); !errors.Is(err, lost) {
			t.Fatalf("subscription %d after the break: %v; want the broker's error", i, err)
		}
	}
	if n := h.Topics(); n != 0 {
		t.Fatalf("Topics() = %d after the break; want 0", n)
	}
	// The next subscriber follows the topic anew and resumes.
	s3, err := h.Subscribe("t", id)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	id2, err := h.Publish(ctx, "t", Event{Data: []byte("b")})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s3.Next(ctx, 0)
	if err != nil || len(b.Events) != 1 || b.Events[0].ID != id2 {
		t.Fatalf("resumed subscription: %+v, %v", b, err)
	}
	s1.Close()
	s2.Close()
	br.mu.Lock()
	stopped := br.stopped
	br.mu.Unlock()
	if stopped != 0 {
		t.Fatalf("the broken follow was stopped %d times; the broker released it itself", stopped)
	}
}
