package framework

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// breakBroker is a MemoryBroker whose Follow breaks during the first Read
// after arm: the feed fails while a subscription is catching up.
type breakBroker struct {
	*MemoryBroker
	mu    sync.Mutex
	fn    func(Record, error)
	armed bool
}

func (b *breakBroker) Follow(topic string, fn func(Record, error)) (Cursor, func(), error) {
	b.mu.Lock()
	b.fn = fn
	b.mu.Unlock()
	return b.MemoryBroker.Follow(topic, fn)
}

func (b *breakBroker) Read(ctx context.Context, topic string, after uint64, limit int) (Page, error) {
	p, err := b.MemoryBroker.Read(ctx, topic, after, limit)
	b.mu.Lock()
	fn, armed := b.fn, b.armed
	b.armed = false
	b.mu.Unlock()
	if armed {
		fn(Record{}, errBroken) // the Hub fails the topic's subscriptions
	}
	return p, err
}

var errBroken = errors.New("feed broken")

// TestBreakDuringCatchUpKeepsGap: a subscription from a cursor of an
// earlier epoch owes its client a gap notice. If the feed breaks while it
// reads history, it delivers no event without that notice: it ends with
// the feed's error, and the client, resuming, is told of the gap then.
func TestBreakDuringCatchUpKeepsGap(t *testing.T) {
	mem, err := NewMemoryBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	b := &breakBroker{MemoryBroker: mem}
	hub, err := NewHub(&HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx := context.Background()
	for range 3 {
		if _, err := hub.Publish(ctx, "t", Text("x")); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := hub.Subscribe("t", "otherepoch-7") // another epoch: all of it is new, after a gap
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	b.mu.Lock()
	b.armed = true
	b.mu.Unlock()
	for range 10 {
		batch, err := sub.Poll(ctx, 10)
		if len(batch.Events) > 0 && batch.Gap == nil {
			t.Fatalf("events %v delivered without the gap notice they owe", batch.Events)
		}
		if batch.Gap != nil || err != nil {
			return
		}
	}
	t.Fatal("neither a gap nor an error after 10 polls")
}
