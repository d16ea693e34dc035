package framework

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// slowBroker is a MemoryBroker whose Follow of topic "slow" waits for
// release, like a distributed broker's round trips.
type slowBroker struct {
	*MemoryBroker
	entered chan struct{} // receives when a Follow of "slow" starts waiting
	release chan struct{}
	stopped atomic.Int32
}

func (b *slowBroker) Follow(topic string, fn func(Record, error)) (Cursor, func(), error) {
	if topic == "slow" {
		select {
		case b.entered <- struct{}{}:
		default:
		}
		<-b.release
	}
	tip, stop, err := b.MemoryBroker.Follow(topic, fn)
	return tip, func() { b.stopped.Add(1); stop() }, err
}

// TestSlowFollowHoldsUpNoOtherTopic: while one topic's Follow waits, other
// topics subscribe and close, and the waiting Subscribe completes once the
// Follow returns.
func TestSlowFollowHoldsUpNoOtherTopic(t *testing.T) {
	mem, _ := NewMemoryBroker(nil)
	defer mem.Close()
	b := &slowBroker{MemoryBroker: mem, entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := newHub(t, &HubOptions{Broker: b})
	got := make(chan error, 2)
	for range 2 { // two subscribers wait on the same Follow
		go func() {
			s, err := h.Subscribe("slow", "")
			if err == nil {
				s.Close()
			}
			got <- err
		}()
	}
	fast, err := h.Subscribe("fast", "")
	if err != nil {
		t.Fatal(err)
	}
	fast.Close()
	select {
	case err := <-got:
		t.Fatalf("Subscribe returned before its Follow did: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	close(b.release)
	for range 2 {
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	}
	if n := h.Topics(); n != 0 {
		t.Fatalf("%d topics still followed", n)
	}
}

// TestCloseDuringFollow: a Close while a Follow waits ends it once it
// returns, and the waiting Subscribe fails with ErrClosed.
func TestCloseDuringFollow(t *testing.T) {
	mem, _ := NewMemoryBroker(nil)
	defer mem.Close()
	b := &slowBroker{MemoryBroker: mem, entered: make(chan struct{}, 1), release: make(chan struct{})}
	h, _ := NewHub(&HubOptions{Broker: b})
	got := make(chan error, 1)
	go func() {
		_, err := h.Subscribe("slow", "")
		got <- err
	}()
	<-b.entered
	h.Close()
	close(b.release)
	if err := <-got; !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe: %v, want ErrClosed", err)
	}
	if n := b.stopped.Load(); n != 1 {
		t.Fatalf("Follow stopped %d times, want 1", n)
	}
}
