package framework

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestReadAsSubscription: Read's page is the first batch a subscription
// from the same cursor delivers (its gap, events and cursor), on both
// read paths, and it follows nothing.
func TestReadAsSubscription(t *testing.T) {
	for name, br := range rewinders(newMemory(t, &MemoryOptions{MaxEvents: 5})) {
		t.Run(name, func(t *testing.T) {
			h := newHub(t, &HubOptions{Broker: br})
			ids := publishN(t, h, "t", 1, 8) // 4..8 retained
			epoch, _, _ := ParseCursor(ids[0])
			for _, c := range []struct {
				cursor string
				limit  int
				opts   SubscribeOptions
			}{
				{cursor: ""},
				{cursor: "0"},
				{cursor: ids[5]},
				{cursor: ids[5], limit: 1},
				{cursor: ids[7]},
				{cursor: ids[1]}, // discarded: a gap
				{cursor: "old-3"},
				{cursor: epoch.Epoch + "-42"},
				{cursor: "42"},
				{opts: SubscribeOptions{Rewind: 2}},
				{opts: SubscribeOptions{Rewind: 1000}},
				{opts: SubscribeOptions{Rewind: 4}, limit: 3},
				{opts: SubscribeOptions{Since: time.Minute}},
				{cursor: ids[6], opts: SubscribeOptions{Rewind: 3}}, // the cursor wins
			} {
				p, err := h.Read(context.Background(), "t", c.cursor, c.limit, &c.opts)
				if err != nil {
					t.Fatalf("%+v: %v", c, err)
				}
				if h.Topics() != 0 {
					t.Fatalf("%+v: a topic followed", c)
				}
				sub, err := h.SubscribeWith("t", c.cursor, &c.opts)
				if err != nil {
					t.Fatal(err)
				}
				b, err := sub.Poll(context.Background(), max(c.limit, 0))
				if err != nil {
					t.Fatal(err)
				}
				want, got := fmt.Sprint(b.Gap, data(b.Events), sub.Cursor()), fmt.Sprint(p.Gap, data(p.Events), p.Cursor)
				sub.Close()
				if got != want {
					t.Errorf("%+v: read %s, subscription %s", c, got, want)
				}
			}
		})
	}
}

// TestReadRefusals: a read is refused where a subscription would be.
func TestReadRefusals(t *testing.T) {
	h := newHub(t, &HubOptions{MaxTopics: 1, MaxSubscribers: 1})
	sub, err := h.Subscribe("full", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx := context.Background()
	for _, c := range []struct {
		topic, cursor string
		opts          SubscribeOptions
		want          error
	}{
		{topic: "full", want: ErrTooManySubscribers},
		{topic: "other", want: ErrTooManyTopics},
		{topic: "a..b", want: ErrInvalidTopic},
		{topic: "full", cursor: "x-y", want: ErrInvalidCursor},
		{topic: "full", opts: SubscribeOptions{Rewind: -1}, want: ErrInvalidRewind},
		{topic: "full", opts: SubscribeOptions{Info: []byte(`{}`)}, want: ErrInvalidPresence},
	} {
		if _, err := h.Read(ctx, c.topic, c.cursor, 0, &c.opts); !errors.Is(err, c.want) {
			t.Errorf("%+v: %v, want %v", c, err, c.want)
		}
	}
	h.Close()
	if _, err := h.Read(ctx, "full", "", 0, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestReadPresence: a read with a user lists it until the coalescing
// window after it passes; an anonymous one is not counted.
func TestReadPresence(t *testing.T) {
	h := newHub(t, &HubOptions{PresenceWindow: time.Hour})
	ctx := context.Background()
	if _, err := h.Read(ctx, "room", "", 0, &SubscribeOptions{User: "ann", Info: []byte(`{"n":1}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Read(ctx, "room", "", 0, nil); err != nil {
		t.Fatal(err)
	}
	p, err := h.Presence(ctx, "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Members) != 1 || p.Anonymous != 0 {
		t.Fatalf("presence %+v", p)
	}
	if m := p.Members[0]; m.User != "ann" || string(m.Info) != `{"n":1}` || m.Conns != 0 {
		t.Fatalf("member %s %s %d, want ann {\"n\":1} 0 (left, within the window)", m.User, m.Info, m.Conns)
	}
}
