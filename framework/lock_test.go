package framework

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitGoroutine waits until some goroutine is in state (as runtime.Stack
// prints it, "sync.Mutex.Lock") with fn on its stack.
func waitGoroutine(t *testing.T, state, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		buf = buf[:runtime.Stack(buf[:cap(buf)], true)]
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			header, _, _ := strings.Cut(g, "\n")
			if strings.Contains(header, "["+state) && strings.Contains(g, fn) {
				return
			}
		}
	}
	t.Fatalf("no goroutine in %s with %s on its stack", state, fn)
}

// TestJoinDuringFanoutHoldsUpNoOtherTopic: while one topic's lock is held
// (as its deliver holds it to copy the subscriber list), a join and a
// leave wait for it, and other topics publish and subscribe as usual.
func TestJoinDuringFanoutHoldsUpNoOtherTopic(t *testing.T) {
	h := newHub(t, nil)
	leaving, err := h.Subscribe("hot", "")
	if err != nil {
		t.Fatal(err)
	}
	staying, err := h.Subscribe("hot", "")
	if err != nil {
		t.Fatal(err)
	}
	defer staying.Close()
	h.mu.Lock()
	hot := h.topics["hot"]
	h.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait() // after the unlock below
	hot.mu.Lock()   // a fan-out in progress
	locked := true
	defer func() {
		if locked {
			hot.mu.Unlock()
		}
	}()
	joined := make(chan *Subscription, 1)
	wg.Go(func() {
		s, err := h.Subscribe("hot", "")
		if err != nil {
			t.Error(err)
		}
		joined <- s
	})
	wg.Go(leaving.Close)
	waitGoroutine(t, "sync.Mutex.Lock", "framework.(*Hub).join")
	waitGoroutine(t, "sync.Mutex.Lock", "framework.(*Hub).remove")

	done := make(chan error, 1)
	go func() {
		if _, err := h.Publish(context.Background(), "quiet", Event{}); err != nil {
			done <- err
			return
		}
		s, err := h.Subscribe("quiet", "")
		if err != nil {
			done <- err
			return
		}
		s.Close()
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("another topic's Publish or Subscribe waited for the busy topic")
	}
	hot.mu.Unlock()
	locked = false
	s := <-joined
	wg.Wait() // and the leaver has left
	if s == nil {
		return
	}
	defer s.Close()
	if st := h.Stats(); st.Topics != 1 || st.Subscribers != 2 {
		t.Fatalf("Stats = %+v, want the hot topic with 2 subscribers", st)
	}
	id, err := h.Publish(context.Background(), "hot", Event{Data: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := next(t, s, 0); err != nil || len(b.Events) != 1 || b.Events[0].ID != id {
		t.Fatalf("the waiting joiner got %+v, %v", b, err)
	}
}

// TestLastLeavesWhileOneJoins: a subscriber that joins while the last one
// leaves is never lost with the topic it joined.
func TestLastLeavesWhileOneJoins(t *testing.T) {
	h := newHub(t, nil)
	ctx := context.Background()
	for i := range 300 {
		first, err := h.Subscribe("t", "")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(first.Close)
		s, err := h.Subscribe("t", "")
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		id, err := h.Publish(ctx, "t", Event{Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if b, err := next(t, s, 0); err != nil || len(b.Events) != 1 || b.Events[0].ID != id {
			t.Fatalf("round %d: the joiner got %+v, %v; want %s", i, b, err, id)
		}
		if n := h.Topics(); n != 1 {
			t.Fatalf("round %d: Topics() = %d with one subscriber", i, n)
		}
		s.Close()
	}
	if st := h.Stats(); st.Topics != 0 || st.Subscribers != 0 {
		t.Fatalf("after every Close: %+v", st)
	}
}

// TestJoinDuringFanout: while a fan-out is stopped half-way (in one
// subscriber's Notify), subscribers join and leave the same topic; the
// publish in progress reaches those who were there (the one that left
// meanwhile aside), the next one reaches those who joined.
func TestJoinDuringFanout(t *testing.T) {
	h := newHub(t, nil)
	ctx := context.Background()
	inside, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	stuck, err := h.SubscribeWith("t", "", &SubscribeOptions{Notify: func() {
		once.Do(func() { close(inside); <-release })
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	var before []*Subscription
	for range 3 {
		s, err := h.Subscribe("t", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		before = append(before, s)
	}
	published := make(chan string, 1)
	go func() {
		id, err := h.Publish(ctx, "t", Event{Data: []byte("first")})
		if err != nil {
			t.Error(err)
		}
		published <- id
	}()
	<-inside
	left := before[len(before)-1]
	var joined *Subscription
	done := make(chan error, 1)
	go func() {
		left.Close()
		s, err := h.Subscribe("t", "")
		joined = s
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			close(release)
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a deadlock, not a speed bound
		close(release)
		<-done
		t.Fatal("a join or leave waited for the fan-out in progress")
	}
	defer joined.Close()
	close(release)
	first := <-published
	second := publishN(t, h, "t", 0, 0)[0]
	for i, s := range append([]*Subscription{stuck}, before[:len(before)-1]...) {
		if data, gaps := collect(t, s, 2); len(gaps) != 0 || len(data) != 2 || data[0] != "first" || data[1] != "0" {
			t.Fatalf("subscriber %d, there before the publish, got %q %v", i, data, gaps)
		}
	}
	if b, err := next(t, joined, 0); err != nil || len(b.Events) != 1 || b.Events[0].ID != second {
		t.Fatalf("the joiner got %+v, %v; want only %s, not %s", b, err, second, first)
	}
	if _, err := left.Poll(ctx, 0); err != ErrClosed {
		t.Fatalf("the leaver's Poll: %v, want ErrClosed", err)
	}
}
