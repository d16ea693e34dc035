package framework

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

// forwardOnly hides the Rewinder of its broker: the Hub then scans it
// forward.
type forwardOnly struct{ Broker }

// seqs returns the sequence numbers of recs.
func seqs(recs []Record) []uint64 {
	var s []uint64
	for _, r := range recs {
		s = append(s, r.Seq)
	}
	return s
}

// rewinders returns b as itself and behind forwardOnly, each read through
// the functions the Hub uses.
func rewinders(b Broker) map[string]Broker {
	return map[string]Broker{"rewinder": b, "forward scan": forwardOnly{b}}
}

func TestMemoryReadBefore(t *testing.T) {
	b := newMemory(t, &MemoryOptions{MaxEvents: 5})
	ctx := context.Background()
	for range 8 { // seqs 1..8; 4..8 retained
		if _, err := b.Publish(ctx, "t", Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 { // nothing discarded
		if _, err := b.Publish(ctx, "whole", Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for name, br := range rewinders(b) {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				topic       string
				before      uint64
				limit       int
				want        []uint64
				start, lost bool
			}{
				{"t", 0, 3, []uint64{6, 7, 8}, false, false},
				{"t", 0, 5, []uint64{4, 5, 6, 7, 8}, true, true},
				{"t", 0, 10, []uint64{4, 5, 6, 7, 8}, true, true},
				{"t", 100, 2, []uint64{7, 8}, false, false}, // beyond the tip: the newest
				{"t", 7, 2, []uint64{5, 6}, false, false},
				{"t", 6, 2, []uint64{4, 5}, true, true},
				{"t", 4, 2, nil, true, true},
				{"t", 2, 2, nil, true, true}, // 1 was published and discarded
				{"t", 1, 2, nil, true, false},
				{"whole", 0, 3, []uint64{1, 2, 3}, true, false},
				{"whole", 0, 2, []uint64{2, 3}, false, false},
				{"whole", 3, 5, []uint64{1, 2}, true, false},
				{"never", 0, 5, nil, true, false},
			} {
				p, err := readBefore(ctx, br, tc.topic, tc.before, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if got := seqs(p.Records); fmt.Sprint(got) != fmt.Sprint(tc.want) || p.Start != tc.start || p.Lost != tc.lost {
					t.Errorf("%s before %d limit %d: %v start %v lost %v; want %v start %v lost %v",
						tc.topic, tc.before, tc.limit, got, p.Start, p.Lost, tc.want, tc.start, tc.lost)
				}
				if tc.topic == "t" && p.Tip != (Cursor{Epoch: b.Epoch(), Seq: 8}) {
					t.Errorf("tip %v", p.Tip)
				}
			}
		})
	}
}

func TestMemoryReadSince(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newMemory(t, &MemoryOptions{MaxEvents: 5})
		ctx := context.Background()
		start := time.Now()
		for range 7 { // one a minute: seqs 1..7 at minutes 0..6; 3..7 retained
			if _, err := b.Publish(ctx, "t", Event{Data: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(time.Minute)
		}
		p, err := b.Read(ctx, "t", 0, 10)
		if err != nil || len(p.Records) != 5 || !p.Records[0].Time.Equal(start.Add(2*time.Minute)) {
			t.Fatalf("records carry their publish time: %+v, %v", p.Records, err)
		}
		for name, br := range rewinders(b) { // no t.Run in a bubble
			for _, tc := range []struct {
				since time.Duration // after start
				limit int
				want  []uint64
			}{
				{-time.Hour, 10, []uint64{3, 4, 5, 6, 7}}, // before the retained history
				{0, 2, []uint64{3, 4}},
				{4 * time.Minute, 10, []uint64{5, 6, 7}},
				{4*time.Minute + time.Second, 10, []uint64{6, 7}},
				{6 * time.Minute, 10, []uint64{7}},
				{time.Hour, 10, nil},
			} {
				p, err := readSince(ctx, br, "t", start.Add(tc.since), tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				if got := seqs(p.Records); fmt.Sprint(got) != fmt.Sprint(tc.want) || p.Tip.Seq != 7 {
					t.Errorf("%s: since +%v limit %d: %v (tip %v), want %v", name, tc.since, tc.limit, got, p.Tip, tc.want)
				}
			}
		}
	})
}

// drain reads what s delivers until nothing is ready, and returns the
// data and the gaps.
func drain(t *testing.T, s *Subscription, limit int) (data []string, gaps int) {
	t.Helper()
	for {
		b, err := s.Poll(context.Background(), limit)
		if err != nil {
			t.Fatal(err)
		}
		if b.Gap != nil {
			gaps++
		}
		if len(b.Events) > limit {
			t.Fatalf("a batch of %d events, limit %d", len(b.Events), limit)
		}
		for _, ev := range b.Events {
			data = append(data, string(ev.Data))
		}
		if b.Gap == nil && len(b.Events) == 0 {
			return data, gaps
		}
	}
}

func TestRewind(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxEvents int
		published int
		cursor    int // 1-based index of the event to resume after; 0 for none
		opts      SubscribeOptions
		want      []string
	}{
		{name: "the last two", published: 5, opts: SubscribeOptions{Rewind: 2}, want: seq(4, 5)},
		{name: "more than published", published: 3, opts: SubscribeOptions{Rewind: 10}, want: seq(1, 3)},
		{name: "more than retained starts at the oldest, no gap", maxEvents: 6, published: 10, opts: SubscribeOptions{Rewind: 8}, want: seq(7, 10)}, // the late two discard 5 and 6
		{name: "all of the last hour", published: 3, opts: SubscribeOptions{Since: time.Hour}, want: seq(1, 3)},
		{name: "a cursor wins over rewind", published: 5, cursor: 3, opts: SubscribeOptions{Rewind: 5}, want: seq(4, 5)},
		{name: "a cursor wins over since", published: 5, cursor: 4, opts: SubscribeOptions{Since: time.Hour}, want: seq(5, 5)},
		{name: "nothing to rewind", published: 0, opts: SubscribeOptions{Rewind: 3}},
		{name: "more than a batch", published: 300, opts: SubscribeOptions{Rewind: 290}, want: seq(11, 300)},
		{name: "since, more than a batch", published: 300, opts: SubscribeOptions{Since: time.Minute}, want: seq(1, 300)},
	} {
		for _, name := range []string{"rewinder", "forward scan"} {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				b := newMemory(t, &MemoryOptions{MaxEvents: tc.maxEvents})
				h := newHub(t, &HubOptions{Broker: rewinders(b)[name]})
				topic := "t"
				ids := publishN(t, h, topic, 1, tc.published)
				cursor := ""
				if tc.cursor > 0 {
					cursor = ids[tc.cursor-1]
				}
				s, err := h.SubscribeWith(topic, cursor, &tc.opts)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				tip := Cursor{Epoch: b.Epoch(), Seq: uint64(tc.published)}.String()
				if tc.cursor == 0 && s.Cursor() != tip {
					t.Errorf("cursor before the first batch %q, want the tip %q", s.Cursor(), tip)
				}
				// Published after Subscribe, before the first batch: not
				// skipped, whatever the rewind.
				late := publishN(t, h, topic, tc.published+1, tc.published+2)
				got, gaps := drain(t, s, 128)
				want := append(append([]string(nil), tc.want...), seq(tc.published+1, tc.published+2)...)
				if !equal(got, want) || gaps != 0 {
					t.Fatalf("got %v (%d gaps), want %v and no gap", got, gaps, want)
				}
				if s.Cursor() != late[1] {
					t.Fatalf("cursor %q, want %q", s.Cursor(), late[1])
				}
				publishN(t, h, topic, tc.published+3, tc.published+3)
				if got, _ := collect(t, s, 1); !equal(got, seq(tc.published+3, tc.published+3)) {
					t.Fatalf("live: %v", got)
				}
			})
		}
	}
}

func TestRewindSince(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, nil)
		for i := 1; i <= 4; i++ { // minutes 0, 1, 2, 3
			publishN(t, h, "t", i, i)
			time.Sleep(time.Minute)
		}
		// It is minute 4: the last 150 s hold the events of minutes 2
		// and 3.
		s, err := h.SubscribeWith("t", "", &SubscribeOptions{Since: 150 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if got, gaps := drain(t, s, 10); !equal(got, seq(3, 4)) || gaps != 0 {
			t.Fatalf("got %v, %d gaps", got, gaps)
		}
	})
}

func TestRewindOutOfRange(t *testing.T) {
	h := newHub(t, nil)
	for _, o := range []SubscribeOptions{
		{Rewind: -1},
		{Rewind: MaxRewind + 1},
		{Since: -time.Second},
		{Since: MaxSince + time.Second},
		{Rewind: 1, Since: time.Second},
	} {
		s, err := h.SubscribeWith("t", "", &o)
		if !errors.Is(err, ErrInvalidRewind) {
			t.Errorf("%+v: %v, want ErrInvalidRewind", o, err)
		}
		if s != nil {
			s.Close()
		}
	}
	for _, o := range []SubscribeOptions{{Rewind: MaxRewind}, {Since: MaxSince}, {}} {
		s, err := h.SubscribeWith("t", "", &o)
		if err != nil {
			t.Errorf("%+v: %v", o, err)
			continue
		}
		s.Close()
	}
}

// failingReads is a broker whose backward reads fail while fail is set.
type failingReads struct {
	*MemoryBroker
	fail bool
}

var errRead = errors.New("read failed")

func (b *failingReads) ReadBefore(ctx context.Context, topic string, before uint64, limit int) (Page, error) {
	if b.fail {
		return Page{}, errRead
	}
	return b.MemoryBroker.ReadBefore(ctx, topic, before, limit)
}

// TestRewindReadFails: a failed rewind read is the batch's error, and the
// next call reads it again.
func TestRewindReadFails(t *testing.T) {
	b := &failingReads{MemoryBroker: newMemory(t, nil), fail: true}
	h := newHub(t, &HubOptions{Broker: b})
	publishN(t, h, "t", 1, 3)
	s, err := h.SubscribeWith("t", "", &SubscribeOptions{Rewind: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Poll(context.Background(), 10); !errors.Is(err, errRead) {
		t.Fatalf("Poll: %v, want the read's error", err)
	}
	b.fail = false
	if got, gaps := drain(t, s, 10); !equal(got, seq(2, 3)) || gaps != 0 {
		t.Fatalf("got %v, %d gaps", got, gaps)
	}
}
