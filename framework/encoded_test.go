package framework

import (
	"context"
	"sync/atomic"
	"testing"
)

// TestAppendEncoded checks that a live event is encoded once for all of
// its subscribers, per encoding, and that history, a changed copy and
// another topic are encoded anew.
func TestAppendEncoded(t *testing.T) {
	var calls atomic.Int64
	enc := NewEncoding(func(dst []byte, topic string, ev Event) []byte {
		calls.Add(1)
		return append(append(append(dst, topic...), ' '), ev.Data...)
	})
	other := NewEncoding(func(dst []byte, topic string, ev Event) []byte {
		calls.Add(1)
		return append(dst, ev.ID...)
	})
	h := newHub(t, nil)
	ctx := context.Background()
	var subs []*Subscription
	for range 5 {
		s, err := h.Subscribe("t", "")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		subs = append(subs, s)
	}
	id := publishN(t, h, "t", 1, 1)[0]
	var live Event
	for _, s := range subs {
		b, err := s.Next(ctx, 0)
		if err != nil || len(b.Events) != 1 {
			t.Fatalf("Next: %v %v", b, err)
		}
		live = b.Events[0]
		if got := string(live.AppendEncoded([]byte("> "), enc, "t")); got != "> t 1" {
			t.Fatalf("encoded %q", got)
		}
		if got := string(live.AppendEncoded(nil, other, "t")); got != id {
			t.Fatalf("other encoding %q, want %q", got, id)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d encodings of one live event for 5 subscribers, want 2 (one per encoding)", n)
	}

	calls.Store(0)
	changed := live
	changed.Data = []byte("2")
	if got := string(changed.AppendEncoded(nil, enc, "t")); got != "t 2" {
		t.Fatalf("changed copy encoded %q", got)
	}
	if got := string(live.AppendEncoded(nil, enc, "u")); got != "u 1" {
		t.Fatalf("other topic encoded %q", got)
	}
	// Published again, the event is another one, with its own ID.
	id2, err := h.Publish(ctx, "t", live)
	if err != nil {
		t.Fatal(err)
	}
	b, err := subs[0].Next(ctx, 0)
	if err != nil || len(b.Events) != 1 {
		t.Fatalf("Next: %v %v", b, err)
	}
	if got := string(b.Events[0].AppendEncoded(nil, other, "t")); got != id2 {
		t.Fatalf("republished event encoded %q, want %q", got, id2)
	}

	// History is read by each subscriber on its own: encoded every call.
	calls.Store(0)
	late, err := h.Subscribe("t", Cursor{Epoch: mustCursor(t, id).Epoch}.String())
	if err != nil {
		t.Fatal(err)
	}
	defer late.Close()
	b, err = late.Next(ctx, 0)
	if err != nil || len(b.Events) == 0 {
		t.Fatalf("history: %v %v", b, err)
	}
	b.Events[0].AppendEncoded(nil, enc, "t")
	b.Events[0].AppendEncoded(nil, enc, "t")
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d encodings of a history event asked twice, want 2", n)
	}
}

func mustCursor(t *testing.T, s string) Cursor {
	t.Helper()
	c, _, err := ParseCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
