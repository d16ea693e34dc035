package framework

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func newHub(t testing.TB, opts *HubOptions) *Hub {
	t.Helper()
	h, err := NewHub(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func publishN(t testing.TB, h *Hub, topic string, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i <= to; i++ {
		id, err := h.Publish(context.Background(), topic, Event{Data: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// next calls Next with a deadline so a broken hub fails the test instead of
// hanging it.
func next(t testing.TB, s *Subscription, limit int) (Batch, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.Next(ctx, limit)
}

// collect reads until it holds n events, and returns their data and the
// gaps seen.
func collect(t testing.TB, s *Subscription, n int) (data []string, gaps []Gap) {
	t.Helper()
	for len(data) < n {
		b, err := next(t, s, 0)
		if err != nil {
			t.Errorf("after %d events: %v", len(data), err) // not Fatal: may run off the test goroutine
			return data, gaps
		}
		if b.Gap != nil {
			gaps = append(gaps, *b.Gap)
		}
		for _, ev := range b.Events {
			data = append(data, string(ev.Data))
		}
	}
	return data, gaps
}

func seq(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return s
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestPublishAssignsIncreasingIDs(t *testing.T) {
	h := newHub(t, nil)
	ids := publishN(t, h, "a", 1, 50)
	other := publishN(t, h, "b", 1, 3)
	var prev uint64
	for _, id := range ids {
		c, ok, err := ParseCursor(id)
		if err != nil || !ok {
			t.Fatalf("ID %q does not parse: %v", id, err)
		}
		if c.Seq <= prev {
			t.Fatalf("ID %q not after %d", id, prev)
		}
		prev = c.Seq
	}
	if c, _, _ := ParseCursor(other[0]); c.Seq != 1 {
		t.Errorf("topic b starts at %q, want its own sequence", other[0])
	}
}

func TestSubscribeResumesExactlyOnce(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cursor func(ids []string) string
		want   []string
	}{
		{"from third", func(ids []string) string { return ids[2] }, seq(4, 10)},
		{"from last", func(ids []string) string { return ids[9] }, nil},
		{"bare sequence", func([]string) string { return "5" }, seq(6, 10)},
		{"from zero", func([]string) string { return "0" }, seq(1, 10)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHub(t, nil)
			ids := publishN(t, h, "t", 1, 10)
			s, err := h.Subscribe("t", tc.cursor(ids))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, gaps := collect(t, s, len(tc.want))
			if !equal(got, tc.want) || len(gaps) != 0 {
				t.Fatalf("history: got %v gaps %v, want %v", got, gaps, tc.want)
			}
			publishN(t, h, "t", 100, 102)
			live, _ := collect(t, s, 3)
			if !equal(live, seq(100, 102)) {
				t.Fatalf("live: got %v", live)
			}
		})
	}
}

func TestEmptyCursorStartsLive(t *testing.T) {
	h := newHub(t, nil)
	publishN(t, h, "t", 1, 5)
	s, err := h.Subscribe("t", "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	publishN(t, h, "t", 6, 7)
	got, gaps := collect(t, s, 2)
	if !equal(got, seq(6, 7)) || gaps != nil {
		t.Fatalf("got %v gaps %v", got, gaps)
	}
	if c, _, _ := ParseCursor(s.Cursor()); c.Seq != 7 {
		t.Fatalf("Cursor() = %q, want sequence 7", s.Cursor())
	}
}

// TestJoinWhilePublishing: subscribers join while a publisher runs, half
// with no cursor and half resuming from an ID already published. Each join
// is provably concurrent with publishing: the publisher lets subscriber k
// join after event (k+1)*total/(joiners+1) and keeps publishing, and waits for
// every join before its last event. Each must get every event after its
// starting cursor (for a live join, the Cursor() it started with), once,
// in order, and nothing more.
func TestJoinWhilePublishing(t *testing.T) {
	broker, _ := NewMemoryBroker(&MemoryOptions{MaxEvents: 5000})
	defer broker.Close()
	h := newHub(t, &HubOptions{Broker: broker, QueueSize: 10000})
	const total, joiners = 3000, 20
	var (
		mu     sync.Mutex
		ids    []string
		joined sync.WaitGroup
		wg     sync.WaitGroup
	)
	start := make([]chan struct{}, joiners)
	for k := range start {
		start[k] = make(chan struct{})
	}
	joined.Add(joiners)
	wg.Go(func() {
		for i := 1; i <= total; i++ {
			if i == total {
				joined.Wait() // every join happened before the last event
			}
			id, err := h.Publish(context.Background(), "t", Event{Data: []byte(strconv.Itoa(i))})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids = append(ids, id)
			mu.Unlock()
			if step := total / (joiners + 1); i%step == 0 && i/step <= joiners {
				close(start[i/step-1])
			}
		}
	})
	for k := range joiners {
		wg.Go(func() {
			<-start[k]
			cursor := "" // a live join: it starts at the tip it is told
			if k%2 == 1 {
				mu.Lock()
				cursor = ids[rand.IntN(len(ids))]
				mu.Unlock()
			}
			s, err := h.Subscribe("t", cursor)
			joined.Done()
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			from := s.Cursor()
			c, _, err := ParseCursor(from)
			if err != nil {
				t.Error(err)
				return
			}
			if c.Seq == 0 || c.Seq >= total {
				t.Errorf("joiner %d started at %q, not while publishing", k, from)
				return
			}
			want := seq(int(c.Seq)+1, total)
			got, gaps := collect(t, s, len(want))
			if !equal(got, want) || gaps != nil {
				t.Errorf("joiner %d from %q (given %q): %d events, gaps %v; first %v, want %d from %s", k, from, cursor, len(got), gaps, got[:min(3, len(got))], len(want), want[0])
				return
			}
			// The last event was delivered, so the publisher is done.
			if b, err := s.Poll(context.Background(), 0); err != nil || b.Gap != nil || len(b.Events) != 0 {
				t.Errorf("joiner %d after the last event: %+v, %v", k, b, err)
			}
		})
	}
	wg.Wait()
}

func TestGapNotice(t *testing.T) {
	broker, err := NewMemoryBroker(&MemoryOptions{MaxEvents: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	h := newHub(t, &HubOptions{Broker: broker})
	ids := publishN(t, h, "t", 1, 20)
	for _, tc := range []struct {
		name, cursor string
		wantGap      Gap
	}{
		{"cursor older than history", ids[2], Gap{Last: ids[2], Next: ids[15]}},
		{"cursor of an earlier epoch", "abc-17", Gap{Last: "abc-17", Next: ids[15]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := h.Subscribe("t", tc.cursor)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, gaps := collect(t, s, 5)
			if !equal(got, seq(16, 20)) {
				t.Fatalf("got %v", got)
			}
			if len(gaps) != 1 || gaps[0] != tc.wantGap {
				t.Fatalf("gaps %v, want %v", gaps, tc.wantGap)
			}
		})
	}
	// The cursor just before the oldest retained event is no gap.
	s, err := h.Subscribe("t", ids[14])
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, gaps := collect(t, s, 5); gaps != nil {
		t.Fatalf("unexpected gap %v", gaps)
	}
}

func TestHistoryExpiresByAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		broker, _ := NewMemoryBroker(&MemoryOptions{MaxAge: time.Minute})
		defer broker.Close()
		h := newHub(t, &HubOptions{Broker: broker})
		ids := publishN(t, h, "old", 1, 3)
		time.Sleep(2 * time.Minute)
		publishN(t, h, "new", 1, 1) // triggers the sweep of idle topics
		broker.mu.Lock()
		held := broker.topics["old"].n
		broker.mu.Unlock()
		if held != 0 {
			t.Fatalf("idle topic still holds %d expired events", held)
		}
		s, err := h.Subscribe("old", ids[0])
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		b, err := next(t, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		if b.Gap == nil || b.Gap.Last != ids[0] || b.Gap.Next != "" || len(b.Events) != 0 {
			t.Fatalf("got %+v, want a gap after %s and no events", b, ids[0])
		}
		if s.Cursor() != ids[2] {
			t.Fatalf("cursor after the gap = %q, want %q", s.Cursor(), ids[2])
		}
		publishN(t, h, "old", 4, 4)
		if got, _ := collect(t, s, 1); !equal(got, seq(4, 4)) {
			t.Fatalf("live after gap: %v", got)
		}
	})
}

func TestBadInput(t *testing.T) {
	h := newHub(t, nil)
	publish := func(topic string, ev Event) error {
		_, err := h.Publish(context.Background(), topic, ev)
		return err
	}
	subscribe := func(topic, cursor string) error {
		s, err := h.Subscribe(topic, cursor)
		if s != nil {
			s.Close()
		}
		return err
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"publish empty topic", publish("", Event{}), ErrInvalidTopic},
		{"publish topic with slash", publish("a/b", Event{}), ErrInvalidTopic},
		{"publish name with LF", publish("t", Event{Name: "a\nb"}), ErrInvalidEvent},
		{"publish name with NUL", publish("t", Event{Name: "a\x00"}), ErrInvalidEvent},
		{"publish binary data", publish("t", Event{Data: []byte{0xff, 0xfe}}), ErrInvalidEvent},
		{"publish negative retry", publish("t", Event{Retry: -1}), ErrInvalidEvent},
		{"subscribe topic with space", subscribe("a b", ""), ErrInvalidTopic},
		{"cursor garbage", subscribe("t", "hello"), ErrInvalidCursor},
		{"cursor negative", subscribe("t", "-1"), ErrInvalidCursor},
		{"cursor overflow", subscribe("t", "99999999999999999999999"), ErrInvalidCursor},
		{"cursor bad epoch", subscribe("t", "AB-3"), ErrInvalidCursor},
		{"cursor too long", subscribe("t", strings.Repeat("1", 100)), ErrInvalidCursor},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !errors.Is(tc.err, tc.want) {
				t.Fatalf("got %v, want %v", tc.err, tc.want)
			}
			var ce *CursorError
			if tc.want == ErrInvalidCursor && !errors.As(tc.err, &ce) {
				t.Fatalf("%v is not a *CursorError", tc.err)
			}
		})
	}
	if n := h.Topics(); n != 0 {
		t.Fatalf("refused subscriptions left %d topics", n)
	}
}

func TestOverflowClose(t *testing.T) {
	h := newHub(t, &HubOptions{QueueSize: 4})
	stalled, _ := h.Subscribe("t", "")
	defer stalled.Close()
	reader, _ := h.Subscribe("t", "")
	defer reader.Close()
	var got []string
	for i := 1; i <= 10; i++ {
		publishN(t, h, "t", i, i)
		d, _ := collect(t, reader, 1)
		got = append(got, d...)
	}
	if !equal(got, seq(1, 10)) {
		t.Fatalf("the reading subscriber got %v", got)
	}
	if _, err := next(t, stalled, 0); !errors.Is(err, ErrOverflow) {
		t.Fatalf("stalled subscriber: %v, want ErrOverflow", err)
	}
	// It reconnects from its cursor and catches up from history.
	again, err := h.Subscribe("t", stalled.Cursor())
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if d, gaps := collect(t, again, 10); !equal(d, seq(1, 10)) || gaps != nil {
		t.Fatalf("resumed: %v gaps %v", d, gaps)
	}
}

func TestOverflowDropOldest(t *testing.T) {
	h := newHub(t, &HubOptions{QueueSize: 4, Overflow: OverflowDropOldest})
	s, _ := h.Subscribe("t", "")
	defer s.Close()
	start := s.Cursor()
	ids := publishN(t, h, "t", 1, 10)
	b, err := next(t, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	if b.Gap == nil || *b.Gap != (Gap{Last: start, Next: ids[6]}) {
		t.Fatalf("gap %+v, want {%s %s}", b.Gap, start, ids[6])
	}
	var got []string
	for _, ev := range b.Events {
		got = append(got, string(ev.Data))
	}
	if !equal(got, seq(7, 10)) {
		t.Fatalf("events %v", got)
	}
}

// TestStalledSubscriberMemoryIsBounded publishes far more than the bounds
// while one subscriber never reads. The queue is measured after every
// publish, while it fills: under OverflowClose it is released once the
// subscription ends, so measuring it only at the end would prove nothing.
func TestStalledSubscriberMemoryIsBounded(t *testing.T) {
	for _, policy := range []OverflowPolicy{OverflowClose, OverflowDropOldest} {
		t.Run(fmt.Sprintf("policy %d", policy), func(t *testing.T) {
			broker, _ := NewMemoryBroker(&MemoryOptions{MaxEvents: 100})
			defer broker.Close()
			h := newHub(t, &HubOptions{Broker: broker, QueueSize: 50, Overflow: policy})
			s, err := h.Subscribe("t", "")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			maxSlots, maxQueued := 0, 0
			for i := 1; i <= 5000; i++ {
				publishN(t, h, "t", i, i)
				s.mu.Lock()
				maxSlots, maxQueued = max(maxSlots, len(s.queue)), max(maxQueued, s.n)
				slots := len(s.queue)
				s.mu.Unlock()
				if slots > 50 {
					t.Fatalf("after %d events the queue holds %d slots, bound 50", i, slots)
				}
			}
			if maxQueued != 50 {
				t.Fatalf("the queue held at most %d events; the test must fill it to its bound 50", maxQueued)
			}
			s.mu.Lock()
			slots, ended := len(s.queue), s.err
			s.mu.Unlock()
			switch policy {
			case OverflowClose:
				if !errors.Is(ended, ErrOverflow) || slots != 0 {
					t.Fatalf("overflowed subscription: err %v, %d queue slots; want ErrOverflow and none", ended, slots)
				}
			case OverflowDropOldest:
				if ended != nil || slots > 50 {
					t.Fatalf("dropping subscription: err %v, %d queue slots", ended, slots)
				}
			}
			broker.mu.Lock()
			ring := len(broker.topics["t"].ring)
			broker.mu.Unlock()
			if ring > 100 {
				t.Fatalf("history holds %d slots, bound 100", ring)
			}
		})
	}
}

func TestCloseEndsEverything(t *testing.T) {
	h := newHub(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		s, err := h.Subscribe("t", "")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Next(context.Background(), 0)
			errs <- err
		}()
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
	}
	if _, err := h.Publish(context.Background(), "t", Event{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, err := h.Subscribe("t", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
}

func TestSubscriptionCloseReleasesTopic(t *testing.T) {
	var h Hub // the zero Hub works
	defer h.Close()
	s, err := h.Subscribe("t", "")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := s.Next(context.Background(), 0)
		done <- err
	}()
	s.Close()
	s.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Next: %v", err)
	}
	if n := h.Topics(); n != 0 {
		t.Fatalf("%d topics still followed", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s2, _ := h.Subscribe("t", "")
	defer s2.Close()
	if _, err := s2.Next(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with a cancelled context: %v", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	if _, err := NewHub(&HubOptions{QueueSize: -1}); err == nil {
		t.Error("negative QueueSize accepted")
	}
	if _, err := NewHub(&HubOptions{Overflow: 7}); err == nil {
		t.Error("unknown policy accepted")
	}
	if _, err := NewMemoryBroker(&MemoryOptions{MaxAge: -time.Second}); err == nil {
		t.Error("negative MaxAge accepted")
	}
}
