package transport

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

func TestBackoff(t *testing.T) {
	tests := []struct {
		n                int
		min, max, floor  time.Duration
		wantMin, wantMax time.Duration
	}{
		{1, time.Second, 30 * time.Second, 0, 500 * time.Millisecond, time.Second},
		{2, time.Second, 30 * time.Second, 0, time.Second, 2 * time.Second},
		{4, time.Second, 30 * time.Second, 0, 4 * time.Second, 8 * time.Second},
		{40, time.Second, 30 * time.Second, 0, 15 * time.Second, 30 * time.Second},
		{1, time.Second, 30 * time.Second, 7 * time.Second, 7 * time.Second, 7 * time.Second},
		{3, time.Second, 3 * time.Second, 0, 1500 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		for range 100 {
			d := Backoff(tt.n, tt.min, tt.max, tt.floor)
			if d < tt.wantMin || d > tt.wantMax {
				t.Fatalf("Backoff(%d, %v, %v, %v) = %v, want [%v, %v]", tt.n, tt.min, tt.max, tt.floor, d, tt.wantMin, tt.wantMax)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", 2 * time.Second: "2", 2001 * time.Millisecond: "3"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[string]time.Duration{"": 0, "3": 3 * time.Second, "-1": 0, "x": 0, "0": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0} {
		if got := retryAfter(v); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", v, got, want)
		}
	}
	if got := retryAfter(time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)); got < 59*time.Minute || got > time.Hour {
		t.Errorf("retryAfter(date in an hour) = %v", got)
	}
}

func TestPollGather(t *testing.T) {
	broker, _ := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 3})
	defer broker.Close()
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer hub.Close()
	ctx := context.Background()
	var ids []string
	for _, d := range []string{"1", "2", "3", "4", "5"} {
		id, _ := hub.Publish(ctx, "t", framework.Event{Data: []byte(d)})
		ids = append(ids, id)
	}
	tests := []struct {
		name       string
		cursor     string
		max        int
		events     int
		gap        bool
		full       bool
		wantCursor string
	}{
		{"all retained", ids[2], 10, 2, false, false, ids[4]},
		{"cut at max", ids[1], 2, 2, false, true, ids[3]},
		{"gap", ids[0], 10, 3, true, false, ids[4]},
		{"nothing new", ids[4], 10, 0, false, false, ids[4]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := hub.Subscribe("t", tt.cursor)
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Close()
			b := PollBody{Cursor: sub.Cursor()}
			got, full, err := PollGather(ctx, sub, &b, tt.max)
			if err != nil || got != (tt.events > 0 || tt.gap) || full != tt.full || len(b.Events) != tt.events || (b.Gap != nil) != tt.gap || b.Cursor != tt.wantCursor {
				t.Fatalf("got %v full %v err %v: %+v", got, full, err, b)
			}
		})
	}
}

// A gap after events already gathered is not added: the body ends before
// it, and its cursor stays on the last event gathered.
func TestPollGatherLaterGap(t *testing.T) {
	hub, _ := framework.NewHub(&framework.HubOptions{QueueSize: 2, Overflow: framework.OverflowDropOldest})
	defer hub.Close()
	ctx := context.Background()
	sub, _ := hub.Subscribe("t", "")
	defer sub.Close()
	first, _ := hub.Publish(ctx, "t", framework.Event{Data: []byte("1")})
	b := PollBody{Cursor: sub.Cursor()}
	if got, _, err := PollGather(ctx, sub, &b, 10); !got || err != nil || b.Cursor != first {
		t.Fatalf("first gather: %v %v %+v", got, err, b)
	}
	for _, d := range []string{"2", "3", "4"} { // overflows the queue of 2
		hub.Publish(ctx, "t", framework.Event{Data: []byte(d)})
	}
	got, full, err := PollGather(ctx, sub, &b, 10)
	if got || !full || err != nil || len(b.Events) != 1 || b.Gap != nil || b.Cursor != first {
		t.Fatalf("second gather: got %v full %v err %v: %+v", got, full, err, b)
	}
}
