package framework

import (
	"context"
	"errors"
	"testing"
)

func TestStats(t *testing.T) {
	b, err := NewMemoryBroker(&MemoryOptions{MaxEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	h := newHub(t, &HubOptions{Broker: b, QueueSize: 2})
	ctx := context.Background()
	publishN(t, h, "a", 1, 5) // "a" retains 3 of 5
	old, err := h.Subscribe("a", b.Epoch()+"-1")
	if err != nil {
		t.Fatal(err)
	}
	live, err := h.Subscribe("a", "")
	if err != nil {
		t.Fatal(err)
	}
	bt, err := old.Next(ctx, 0) // gap, then 3 events
	if err != nil || bt.Gap == nil || len(bt.Events) != 3 {
		t.Fatalf("Next = %+v, %v", bt, err)
	}
	publishN(t, h, "a", 6, 8) // the live queue holds 2: an overflow
	if _, err := live.Next(ctx, 0); !errors.Is(err, ErrOverflow) {
		t.Fatalf("live.Next: %v, want ErrOverflow", err)
	}
	want := HubStats{Published: 8, Delivered: 3, Overflows: 2, Gaps: 1, Topics: 1, Subscribers: 2}
	if got := h.Stats(); got != want {
		t.Errorf("Stats = %+v, want %+v", got, want)
	}
	var bytes int64 // events 6 to 8: one byte of data each
	for seq := 6; seq <= 8; seq++ {
		bytes += int64(1+len(Cursor{Epoch: b.Epoch(), Seq: uint64(seq)}.String())) + RecordOverhead
	}
	if got, want := b.Stats(), (MemoryStats{Topics: 1, Events: 3, Bytes: bytes}); got != want {
		t.Errorf("broker Stats = %+v, want %+v", got, want)
	}
	old.Close()
	live.Close()
	live.Close() // idempotent: counted once
	if got := h.Stats(); got.Subscribers != 0 || got.Topics != 0 {
		t.Errorf("after Close: %+v", got)
	}
}

func TestLimits(t *testing.T) {
	ctx := context.Background()
	h := newHub(t, &HubOptions{MaxTopics: 2, MaxSubscribers: 1})
	if _, err := h.Publish(ctx, "a", Event{}); err != nil {
		t.Fatal(err)
	}
	s, err := h.Subscribe("b", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name string
		do   func() error
		want error
	}{
		{"publish to a third topic", func() error { _, err := h.Publish(ctx, "c", Event{}); return err }, ErrTooManyTopics},
		{"subscribe to a third topic", func() error { _, err := h.Subscribe("c", ""); return err }, ErrTooManyTopics},
		{"second subscriber", func() error { _, err := h.Subscribe("b", ""); return err }, ErrTooManySubscribers},
		{"publish to a known topic", func() error { _, err := h.Publish(ctx, "b", Event{}); return err }, nil},
		{"subscribe to a known topic", func() error {
			s, err := h.Subscribe("a", "")
			if err == nil {
				s.Close()
			}
			return err
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.do(); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := NewHub(&HubOptions{MaxTopics: -1}); err == nil {
		t.Error("NewHub accepted MaxTopics -1")
	}
}
