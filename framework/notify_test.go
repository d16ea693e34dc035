package framework

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestSubscribeNotify: Notify is called for each event a subscription
// queues, and when it fails, as Ready is signalled.
func TestSubscribeNotify(t *testing.T) {
	h := &Hub{}
	defer h.Close()
	var calls atomic.Int32
	sub, err := h.SubscribeWith("news", "", &SubscribeOptions{Notify: func() { calls.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for range 3 {
		if _, err := h.Publish(context.Background(), "news", Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("Notify called %d times for 3 events", n)
	}
	b, err := sub.Poll(context.Background(), 10)
	if err != nil || len(b.Events) != 3 {
		t.Fatalf("%d events, %v", len(b.Events), err)
	}
	h.Close()
	if n := calls.Load(); n != 4 {
		t.Fatalf("Notify called %d times, want once more when the hub closed", n)
	}
}
