package framework

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// data returns the data of evs.
func data(evs []Event) []string {
	var d []string
	for _, ev := range evs {
		d = append(d, string(ev.Data))
	}
	return d
}

func history(t *testing.T, h *Hub, topic string, o HistoryOptions) HistoryPage {
	t.Helper()
	p, err := h.History(context.Background(), topic, &o)
	if err != nil {
		t.Fatalf("History(%+v): %v", o, err)
	}
	return p
}

// TestHistoryPaging pages back through a topic whose oldest events the
// history limits discarded, then forward again, on both read paths.
func TestHistoryPaging(t *testing.T) {
	for _, name := range []string{"rewinder", "forward scan"} {
		t.Run(name, func(t *testing.T) {
			b := newMemory(t, &MemoryOptions{MaxEvents: 10})
			h := newHub(t, &HubOptions{Broker: rewinders(b)[name]})
			ids := publishN(t, h, "chat", 1, 25) // 16..25 retained

			type page struct {
				data             []string
				more, truncated  bool
				gapLast, gapNext string
			}
			check := func(p HistoryPage, want page) {
				t.Helper()
				got := page{data: data(p.Events), more: p.More, truncated: p.Truncated}
				if p.Gap != nil {
					got.gapLast, got.gapNext = p.Gap.Last, p.Gap.Next
				}
				if !equal(got.data, want.data) || got.more != want.more || got.truncated != want.truncated ||
					got.gapLast != want.gapLast || got.gapNext != want.gapNext {
					t.Fatalf("page %+v, want %+v", got, want)
				}
				if len(p.Events) > 0 && p.Cursor != p.Events[len(p.Events)-1].ID {
					t.Fatalf("cursor %q, not the page's last event", p.Cursor)
				}
			}

			// Back from the newest, four at a time, into the start of the
			// retained history: said so, not a silent hole.
			p := history(t, h, "chat", HistoryOptions{Limit: 4})
			check(p, page{data: []string{"25", "24", "23", "22"}, more: true})
			p = history(t, h, "chat", HistoryOptions{Before: p.Cursor, Limit: 4})
			check(p, page{data: []string{"21", "20", "19", "18"}, more: true})
			p = history(t, h, "chat", HistoryOptions{Before: p.Cursor, Limit: 4})
			check(p, page{data: []string{"17", "16"}, truncated: true})
			p = history(t, h, "chat", HistoryOptions{Before: p.Cursor, Limit: 4})
			check(p, page{truncated: true})

			// Forward from the start: the gap first, as a subscription gets it.
			p = history(t, h, "chat", HistoryOptions{After: "0", Limit: 6})
			check(p, page{data: seq(16, 21), more: true, gapLast: "0", gapNext: ids[15]})
			p = history(t, h, "chat", HistoryOptions{After: p.Cursor, Limit: 6})
			check(p, page{data: seq(22, 25)})
			last := p.Cursor
			p = history(t, h, "chat", HistoryOptions{After: last})
			if check(p, page{}); p.Cursor != last {
				t.Fatalf("an empty page's cursor %q, want %q", p.Cursor, last)
			}

			// The boundary moves while a client pages: what it was about to
			// read is discarded; the next page says so.
			p = history(t, h, "chat", HistoryOptions{Before: ids[19], Limit: 2}) // 19, 18
			check(p, page{data: []string{"19", "18"}, more: true})
			publishN(t, h, "chat", 26, 29) // 16..19 discarded
			p = history(t, h, "chat", HistoryOptions{Before: p.Cursor, Limit: 2})
			check(p, page{truncated: true})
			p = history(t, h, "chat", HistoryOptions{After: ids[16], Limit: 3}) // after 17: 18 and 19 gone
			check(p, page{data: seq(20, 22), more: true, gapLast: ids[16], gapNext: ids[19]})

			// A topic that lost nothing pages back to its first event.
			publishN(t, h, "small", 1, 3)
			p = history(t, h, "small", HistoryOptions{Limit: 2})
			check(p, page{data: []string{"3", "2"}, more: true})
			p = history(t, h, "small", HistoryOptions{Before: p.Cursor, Limit: 2})
			check(p, page{data: []string{"1"}})
			check(history(t, h, "never", HistoryOptions{}), page{})
		})
	}
}

// TestHistoryCursors: the cursors a client may hold that name no event of
// this epoch.
func TestHistoryCursors(t *testing.T) {
	h := newHub(t, nil)
	ids := publishN(t, h, "t", 1, 3)
	epoch, _, _ := strings.Cut(ids[0], "-")
	tip := ids[2]

	p := history(t, h, "t", HistoryOptions{Before: epoch + "-0"})
	if len(p.Events) != 0 || p.More || p.Truncated {
		t.Fatalf("before the position 0: %+v", p)
	}
	p = history(t, h, "t", HistoryOptions{Before: epoch + "-42"}) // ahead: from the newest
	if !equal(data(p.Events), []string{"3", "2", "1"}) || p.More || p.Truncated {
		t.Fatalf("before a cursor ahead of the tip: %+v", p)
	}
	p = history(t, h, "t", HistoryOptions{Before: "2"}) // bare: this epoch
	if !equal(data(p.Events), []string{"1"}) {
		t.Fatalf("before a bare cursor: %+v", p)
	}
	p = history(t, h, "t", HistoryOptions{After: epoch + "-42"})
	if len(p.Events) != 0 || p.Gap == nil || p.Gap.Last != epoch+"-42" || p.Cursor != tip {
		t.Fatalf("after a cursor ahead of the tip: %+v, want a gap resuming from %s", p, tip)
	}
}

// TestHistoryAcrossRestarts: a new Hub over the same MemoryBroker (a hub
// restarted in the process) keeps every cursor; a new MemoryBroker (the
// process restarted) has a new epoch, and a cursor of the old one gets an
// honest answer: nothing before it, a gap and everything after it, as a
// subscription from it gets a gap and everything retained.
func TestHistoryAcrossRestarts(t *testing.T) {
	b := newMemory(t, &MemoryOptions{MaxEvents: 5})
	h1 := newHub(t, &HubOptions{Broker: b})
	ids := publishN(t, h1, "t", 1, 7) // 3..7 retained
	p := history(t, h1, "t", HistoryOptions{Limit: 2})
	if !equal(data(p.Events), []string{"7", "6"}) {
		t.Fatalf("first page %+v", p)
	}
	h1.Close() // not the broker's owner: the broker stays

	h2 := newHub(t, &HubOptions{Broker: b})
	publishN(t, h2, "t", 8, 8) // 4..8 retained
	p = history(t, h2, "t", HistoryOptions{Before: p.Cursor, Limit: 5})
	if !equal(data(p.Events), []string{"5", "4"}) || p.More || !p.Truncated {
		t.Fatalf("paging on after the hub restarted: %+v", p)
	}
	p = history(t, h2, "t", HistoryOptions{After: ids[6]})
	if !equal(data(p.Events), []string{"8"}) || p.Gap != nil {
		t.Fatalf("after a cursor of the first hub: %+v", p)
	}

	time.Sleep(2 * time.Millisecond) // epochs are milliseconds
	b2 := newMemory(t, nil)
	h3 := newHub(t, &HubOptions{Broker: b2})
	if b2.Epoch() == b.Epoch() {
		t.Fatal("a new broker kept the epoch")
	}
	publishN(t, h3, "t", 100, 101)
	old := ids[5]
	p = history(t, h3, "t", HistoryOptions{Before: old})
	if len(p.Events) != 0 || p.More || !p.Truncated || p.Cursor != old {
		t.Fatalf("before a cursor of the old epoch: %+v", p)
	}
	p = history(t, h3, "t", HistoryOptions{After: old})
	if !equal(data(p.Events), []string{"100", "101"}) || p.Gap == nil || p.Gap.Last != old || p.Gap.Next != p.Events[0].ID {
		t.Fatalf("after a cursor of the old epoch: %+v", p)
	}
	s, err := h3.Subscribe("t", old)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if bt, err := next(t, s, 0); err != nil || bt.Gap == nil || !equal(data(bt.Events), []string{"100", "101"}) {
		t.Fatalf("subscribing from a cursor of the old epoch: %+v, %v", bt, err)
	}
}

func TestHistoryRefusals(t *testing.T) {
	h := newHub(t, nil)
	for _, tc := range []struct {
		topic string
		o     HistoryOptions
		want  error
	}{
		{"t", HistoryOptions{Before: "1", After: "1"}, ErrInvalidHistory},
		{"t", HistoryOptions{Limit: -1}, ErrInvalidHistory},
		{"t", HistoryOptions{Limit: MaxHistoryLimit + 1}, ErrInvalidHistory},
		{"t", HistoryOptions{Before: "not a cursor"}, ErrInvalidCursor},
		{"t", HistoryOptions{After: "x-"}, ErrInvalidCursor},
		{"a..b", HistoryOptions{}, ErrInvalidTopic},
	} {
		if _, err := h.History(context.Background(), tc.topic, &tc.o); !errors.Is(err, tc.want) {
			t.Errorf("%s %+v: %v, want %v", tc.topic, tc.o, err, tc.want)
		}
	}
	if _, err := h.History(context.Background(), "t", &HistoryOptions{Limit: MaxHistoryLimit}); err != nil {
		t.Errorf("Limit MaxHistoryLimit: %v", err)
	}
	h.Close()
	if _, err := h.History(context.Background(), "t", nil); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
