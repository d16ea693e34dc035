package framework

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMemoryFanOutOutsideLock: while a follower handles a record, the
// topic can be read and published to (the next record waits for its
// turn).
func TestMemoryFanOutOutsideLock(t *testing.T) {
	b, err := NewMemoryBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	inside, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	_, stop, err := b.Follow("t", func(r Record, err error) {
		once.Do(func() { close(inside); <-release })
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	go b.Publish(ctx, "t", Text("first"))
	<-inside
	// The second record is stored while the first is handed out; its own
	// fan-out waits for its turn.
	published := make(chan error, 1)
	go func() {
		_, err := b.Publish(ctx, "t", Text("second"))
		published <- err
	}()
	done := make(chan error, 1)
	go func() {
		for {
			p, err := b.Read(ctx, "t", 0, 10)
			if err != nil || len(p.Records) == 2 {
				done <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second): // a deadlock, not a speed bound
		close(release)
		t.Fatal("Read waited for a follower, or Publish did not store")
	}
	close(release)
	if err := <-published; err != nil {
		t.Fatal(err)
	}
}

// TestMemoryFanOutOrder: concurrent publishers' records reach a follower
// in sequence order, one at a time, and none after stop returned.
func TestMemoryFanOutOrder(t *testing.T) {
	b, err := NewMemoryBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var last atomic.Uint64
	var inside, bad atomic.Int64
	var stopped atomic.Bool
	tip, stop, err := b.Follow("t", func(r Record, err error) {
		if inside.Add(1) != 1 || r.Seq != last.Load()+1 || stopped.Load() {
			bad.Add(1)
		}
		last.Store(r.Seq)
		inside.Add(-1)
	})
	if err != nil {
		t.Fatal(err)
	}
	last.Store(tip.Seq)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				b.Publish(context.Background(), "t", Text("x"))
			}
		})
	}
	wg.Wait()
	stop()
	stopped.Store(true)
	b.Publish(context.Background(), "t", Text("after"))
	if n := bad.Load(); n != 0 || last.Load() != tip.Seq+800 {
		t.Fatalf("%d records out of order, concurrent or after stop; last %d, want %d", n, last.Load(), tip.Seq+800)
	}
}
