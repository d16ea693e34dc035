package framework

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// subscribeAs subscribes user (anonymous when "") to topic.
func subscribeAs(t testing.TB, h *Hub, topic, user string, watch bool) *Subscription {
	t.Helper()
	o := &SubscribeOptions{User: user, Presence: watch}
	if user != "" {
		o.Info = json.RawMessage(`{"name":"` + strings.ToUpper(user) + `"}`)
	}
	s, err := h.SubscribeWith(topic, "", o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// presenceEvents returns what s holds now as "join alice 1" strings, and
// fails on any event that is not a presence event.
func presenceEvents(t testing.TB, s *Subscription) []string {
	t.Helper()
	var got []string
	for {
		b, err := s.Poll(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if b.Gap != nil {
			t.Fatalf("gap %+v among presence events", b.Gap)
		}
		if len(b.Events) == 0 {
			return got
		}
		for _, ev := range b.Events {
			var m Member
			if err := json.Unmarshal(ev.Data, &m); err != nil || ev.ID != "" {
				t.Fatalf("event %+v: not a presence event (%v)", ev, err)
			}
			got = append(got, fmt.Sprintf("%s %s %d", ev.Name, m.User, m.Conns))
		}
	}
}

func TestPresenceLists(t *testing.T) {
	h := newHub(t, nil)
	for _, u := range []string{"carol", "alice", "bob", "alice", "", ""} {
		defer subscribeAs(t, h, "room", u, false).Close()
	}
	page, err := h.Presence(context.Background(), "room", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range page.Members {
		got = append(got, fmt.Sprintf("%s:%d:%s", m.User, m.Conns, m.Info))
	}
	want := `[alice:2:{"name":"ALICE"} bob:1:{"name":"BOB"} carol:1:{"name":"CAROL"}]`
	if fmt.Sprint(got) != want || page.Anonymous != 2 || page.More {
		t.Fatalf("got %v anonymous %d more %v, want %s anonymous 2", got, page.Anonymous, page.More, want)
	}
	var users []string
	for o := (PresenceOptions{Limit: 2}); ; {
		page, err := h.Presence(context.Background(), "room", &o)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Members {
			users = append(users, m.User)
		}
		if !page.More {
			break
		}
		o.After = page.Cursor
	}
	if fmt.Sprint(users) != "[alice bob carol]" {
		t.Fatalf("pages of 2 listed %v", users)
	}
	if page, err := h.Presence(context.Background(), "nobody-here", nil); err != nil || len(page.Members) != 0 || page.Members == nil {
		t.Fatalf("a topic nobody follows: %+v, %v", page, err)
	}
	if h.Stats().Members != 3 {
		t.Fatalf("Stats().Members = %d, want 3", h.Stats().Members)
	}
}

func TestPresenceBadInput(t *testing.T) {
	h := newHub(t, nil)
	for name, o := range map[string]*SubscribeOptions{
		"info too big":     {User: "a", Info: json.RawMessage(`"` + strings.Repeat("x", MaxInfoSize) + `"`)},
		"info not JSON":    {User: "a", Info: json.RawMessage(`{`)},
		"info, no user":    {Info: json.RawMessage(`{}`)},
		"user too long":    {User: strings.Repeat("u", MaxUserLen+1)},
		"user not UTF-8":   {User: "\xff"},
		"user with a NUL":  {User: "a\x00b"},
		"info of max size": nil, // below
	} {
		if o == nil {
			continue
		}
		if s, err := h.SubscribeWith("room", "", o); !errors.Is(err, ErrInvalidPresence) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: err %v, want ErrInvalidPresence", name, err)
		}
	}
	s, err := h.SubscribeWith("room", "", &SubscribeOptions{User: "a", Info: json.RawMessage(`"` + strings.Repeat("x", MaxInfoSize-2) + `"`)})
	if err != nil {
		t.Fatalf("info of MaxInfoSize bytes: %v", err)
	}
	s.Close()
	for _, limit := range []int{-1, MaxPresenceLimit + 1} {
		if _, err := h.Presence(context.Background(), "room", &PresenceOptions{Limit: limit}); !errors.Is(err, ErrInvalidPresence) {
			t.Errorf("limit %d: err %v, want ErrInvalidPresence", limit, err)
		}
	}
	if _, err := h.Presence(context.Background(), "bad topic", nil); !errors.Is(err, ErrInvalidTopic) {
		t.Errorf("bad topic: err %v", err)
	}
}

// TestPresenceEvents: joins and leaves in order, a leave only after the
// window, a user back within it announces nothing, and presence events
// move no cursor and make no gap.
func TestPresenceEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, &HubOptions{PresenceWindow: time.Second})
		w := subscribeAs(t, h, "room", "watcher", true)
		defer w.Close()
		start := w.Cursor()
		a1 := subscribeAs(t, h, "room", "alice", false)
		a2 := subscribeAs(t, h, "room", "alice", false)
		b := subscribeAs(t, h, "room", "bob", false)
		a1.Close()
		a2.Close() // alice's leave waits
		a3 := subscribeAs(t, h, "room", "alice", false)
		b.Close()
		time.Sleep(2 * time.Second)
		a3.Close()
		time.Sleep(2 * time.Second)
		got := presenceEvents(t, w)
		want := "[join watcher 1 join alice 1 join bob 1 leave bob 0 leave alice 0]"
		if fmt.Sprint(got) != want {
			t.Fatalf("events %v, want %s", got, want)
		}
		if w.Cursor() != start {
			t.Fatalf("cursor moved by presence events: %q, was %q", w.Cursor(), start)
		}
		id := publishN(t, h, "room", 1, 1)[0]
		if got, gaps := collect(t, w, 1); len(gaps) != 0 || fmt.Sprint(got) != "[1]" || w.Cursor() != id {
			t.Fatalf("after presence events: %v, gaps %v, cursor %q", got, gaps, w.Cursor())
		}
		page, _ := h.Presence(context.Background(), "room", nil)
		if len(page.Members) != 1 || page.Members[0].User != "watcher" {
			t.Fatalf("members %+v, want the watcher alone", page.Members)
		}
	})
}

// TestPresenceDropOldestNoGap: a presence event dropped by a full queue
// is no gap notice.
func TestPresenceDropOldestNoGap(t *testing.T) {
	h := newHub(t, &HubOptions{QueueSize: 2, Overflow: OverflowDropOldest, PresenceWindow: -1})
	w := subscribeAs(t, h, "room", "", true)
	defer w.Close()
	for i := range 5 {
		subscribeAs(t, h, "room", fmt.Sprint("u", i), false).Close()
	}
	if got := presenceEvents(t, w); len(got) != 2 {
		t.Fatalf("events %v, want the newest 2", got)
	}
}

// TestReconnectStorm: 1,000 users whose connections all drop and come
// back within the window produce no join or leave.
func TestReconnectStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const users = 1000
		h := newHub(t, &HubOptions{PresenceWindow: 2 * time.Second})
		w := subscribeAs(t, h, "room", "", true)
		defer w.Close()
		subs := make([]*Subscription, users)
		joins := 0
		for i := range subs {
			subs[i] = subscribeAs(t, h, "room", fmt.Sprint("user", i), false)
			if i%100 == 99 { // within the watcher's queue
				joins += len(presenceEvents(t, w))
			}
		}
		if joins != users {
			t.Fatalf("%d joins, want %d", joins, users)
		}
		for _, s := range subs {
			s.Close()
		}
		time.Sleep(time.Second) // the storm: all back within the window
		for i := range subs {
			subs[i] = subscribeAs(t, h, "room", fmt.Sprint("user", i), false)
		}
		time.Sleep(5 * time.Second)
		if got := presenceEvents(t, w); len(got) != 0 {
			t.Fatalf("a reconnect storm announced %d events: %v...", len(got), got[:min(len(got), 4)])
		}
		for _, s := range subs[:10] {
			s.Close()
		}
		time.Sleep(3 * time.Second) // those not back do leave
		if got := presenceEvents(t, w); len(got) != 10 || !strings.HasPrefix(got[0], "leave ") {
			t.Fatalf("after 10 left: %v", got)
		}
		for _, s := range subs[10:] {
			s.Close()
		}
	})
}

// TestPresenceMemory: after 100,000 joins and leaves, the presence state
// is back to nothing, and so is the heap (within a generous bound).
func TestPresenceMemory(t *testing.T) {
	for _, window := range []time.Duration{-1, time.Millisecond} {
		t.Run(fmt.Sprint("window=", window), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHub(t, &HubOptions{PresenceWindow: window})
				w := subscribeAs(t, h, "keep", "", true) // keeps the topic followed
				defer w.Close()
				heap := func() uint64 {
					runtime.GC()
					var m runtime.MemStats
					runtime.ReadMemStats(&m)
					return m.HeapAlloc
				}
				before := heap()
				const n, batch = 100_000, 1000
				subs := make([]*Subscription, 0, batch)
				for i := 0; i < n; i += batch {
					for j := range batch {
						subs = append(subs, subscribeAs(t, h, fmt.Sprint("t", i%7), fmt.Sprint("user", i+j), false))
					}
					if _, m := h.presenceSize(); m < batch {
						t.Fatalf("%d members tracked with %d connected", m, batch)
					}
					for _, s := range subs {
						s.Close()
					}
					subs = subs[:0]
					time.Sleep(10 * time.Millisecond)
				}
				time.Sleep(time.Second)
				if topics, members := h.presenceSize(); topics != 1 || members != 0 {
					t.Fatalf("after %d joins and leaves: %d topics, %d members held, want 1 and 0", n, topics, members)
				}
				if after := heap(); after > before+1<<20 {
					t.Fatalf("heap %d -> %d bytes after %d joins and leaves", before, after, n)
				}
			})
		})
	}
}

// TestReadPresenceHold: a user that reads every interval (a short poll
// at the interval its answers suggest, plus the time to answer), the
// read holding it present for that interval, joins once, and leaves once
// the interval and the window after its last read.
func TestReadPresenceHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 2 * time.Second
		h := newHub(t, &HubOptions{PresenceWindow: DefaultPresenceWindow})
		w := subscribeAs(t, h, "room", "", true)
		defer w.Close()
		for range 5 {
			if _, err := h.Read(context.Background(), "room", "", 0, &SubscribeOptions{User: "alice", PresenceHold: interval}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(interval + 100*time.Millisecond)
		}
		if got := fmt.Sprint(presenceEvents(t, w)); got != "[join alice 1]" {
			t.Fatalf("while polling: %s, want [join alice 1]", got)
		}
		time.Sleep(interval + DefaultPresenceWindow)
		if got := fmt.Sprint(presenceEvents(t, w)); got != "[leave alice 0]" {
			t.Fatalf("after the last poll: %s, want [leave alice 0]", got)
		}
	})
}
