package framework

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestCheckKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"a", true},
		{" ", true},
		{"order 17: retry ~ #3", true},
		{strings.Repeat("~", MaxKeyLen), true},
		{"", false},
		{strings.Repeat("k", MaxKeyLen+1), false},
		{"line\nbreak", false},
		{"tab\t", false},
		{"nul\x00", false},
		{"del\x7f", false},
		{"clé", false},
	} {
		err := CheckKey(tc.key)
		if tc.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidKey)) {
			t.Errorf("CheckKey(%q) = %v; want ok %v", tc.key, err, tc.ok)
		}
	}
	// The message states the rule.
	if err := CheckKey(""); !strings.Contains(err.Error(), "1 to 255 bytes of printable ASCII") {
		t.Errorf("CheckKey(\"\") = %v", err)
	}
}

// counted follows topic on b and counts what it delivers.
func counted(t *testing.T, b *MemoryBroker, topic string) func() []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	_, stop, err := b.Follow(topic, func(r Record, err error) {
		mu.Lock()
		got = append(got, string(r.Event.Data))
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func TestMemoryKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := newMemory(t, &MemoryOptions{KeyWindow: time.Minute})
		chat, news := counted(t, b, "chat"), counted(t, b, "news")
		publish := func(topic, key, data string) (Cursor, bool) {
			t.Helper()
			c, repeat, err := b.PublishKeyed(ctx, topic, key, Event{Data: []byte(data)})
			if err != nil {
				t.Fatal(err)
			}
			return c, repeat
		}
		first, repeat := publish("chat", "k1", "one")
		if repeat {
			t.Fatal("a first publish is a repeat")
		}
		// A repeat within the window, whatever its data: the first
		// cursor, nothing stored or delivered.
		time.Sleep(59 * time.Second)
		if c, repeat := publish("chat", "k1", "one again"); c != first || !repeat {
			t.Fatalf("repeat: %v %v; want %v true", c, repeat, first)
		}
		// The same key on another topic is another key.
		if c, repeat := publish("news", "k1", "news"); repeat || c.Seq != 1 {
			t.Fatalf("other topic: %v %v", c, repeat)
		}
		// Keys are per publish: another key, or none, publishes.
		if c, repeat := publish("chat", "k2", "two"); repeat || c.Seq != 2 {
			t.Fatalf("other key: %v %v", c, repeat)
		}
		if c, err := b.Publish(ctx, "chat", Event{Data: []byte("three")}); err != nil || c.Seq != 3 {
			t.Fatalf("no key: %v %v", c, err)
		}
		// After the window, the key publishes again.
		time.Sleep(time.Second)
		if c, repeat := publish("chat", "k1", "four"); repeat || c.Seq != 4 {
			t.Fatalf("after the window: %v %v", c, repeat)
		}
		p, err := b.Read(ctx, "chat", 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var stored []string
		for _, r := range p.Records {
			stored = append(stored, string(r.Event.Data))
		}
		want := "one two three four"
		if got := strings.Join(stored, " "); got != want {
			t.Errorf("chat stores %q; want %q", got, want)
		}
		if got := strings.Join(chat(), " "); got != want {
			t.Errorf("chat delivered %q; want %q", got, want)
		}
		if got := strings.Join(news(), " "); got != "news" {
			t.Errorf("news delivered %q", got)
		}
		// A key outlives its event in the history.
		small := newMemory(t, &MemoryOptions{MaxEvents: 1})
		c1, _, _ := small.PublishKeyed(ctx, "t", "k", Event{Data: []byte("1")})
		small.Publish(ctx, "t", Event{Data: []byte("2")})
		if c, repeat, _ := small.PublishKeyed(ctx, "t", "k", Event{Data: []byte("1")}); c != c1 || !repeat {
			t.Errorf("repeat of a discarded event: %v %v; want %v true", c, repeat, c1)
		}
		// Bad keys and a closed broker.
		if _, _, err := b.PublishKeyed(ctx, "chat", "a\nb", Event{}); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("bad key: %v", err)
		}
		b.Close()
		if _, _, err := b.PublishKeyed(ctx, "chat", "k1", Event{}); !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: %v", err)
		}
	})
}

// TestMemoryKeysConcurrent: concurrent publishes of one key store one
// event, and every one of them answers its cursor.
func TestMemoryKeysConcurrent(t *testing.T) {
	b := newMemory(t, nil)
	got := counted(t, b, "t")
	const n = 64
	cursors := make([]Cursor, n)
	repeats := make([]bool, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			var err error
			cursors[i], repeats[i], err = b.PublishKeyed(context.Background(), "t", "same", Event{Data: []byte(fmt.Sprint(i))})
			if err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	firsts := 0
	for i := range n {
		if cursors[i] != cursors[0] {
			t.Errorf("publish %d got %v, publish 0 %v", i, cursors[i], cursors[0])
		}
		if !repeats[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Errorf("%d publishes were not repeats; want 1", firsts)
	}
	if d := got(); len(d) != 1 {
		t.Errorf("delivered %q; want one event", d)
	}
	if st := b.Stats(); st.Events != 1 || st.Keys != 1 {
		t.Errorf("Stats = %+v; want one event and one key", st)
	}
}

// TestMemoryKeysBounded: MaxKeys forgets the oldest keys first, expired
// keys are freed at the next publish of any topic, and Stats counts them.
func TestMemoryKeysBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := newMemory(t, &MemoryOptions{MaxKeys: 3, KeyWindow: time.Minute})
		keyed := func(topic, key string) bool {
			t.Helper()
			_, repeat, err := b.PublishKeyed(ctx, topic, key, Event{Data: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			return repeat
		}
		for _, k := range []string{"k1", "k2", "k3"} {
			keyed("a", k)
			time.Sleep(time.Second)
		}
		keyed("b", "k4") // forgets a's k1
		st := b.Stats()
		if want := int64(3 * (len("a") + len("k2") + KeyOverhead)); st.Keys != 3 || st.KeyBytes != want {
			t.Errorf("Stats = %+v; want 3 keys of %d bytes", st, want)
		}
		if keyed("a", "k1") {
			t.Error("a forgotten key is a repeat")
		}
		// k1 is back, k2 forgotten; k3 and k4 remembered.
		for _, tc := range []struct {
			topic, key string
			repeat     bool
		}{{"a", "k3", true}, {"b", "k4", true}, {"a", "k2", false}} {
			if got := keyed(tc.topic, tc.key); got != tc.repeat {
				t.Errorf("%s %s: repeat %v; want %v", tc.topic, tc.key, got, tc.repeat)
			}
		}
		// Once the window passed, any publish frees them.
		time.Sleep(time.Minute)
		if st := b.Stats(); st.Keys == 0 {
			t.Fatalf("keys freed without a publish: %+v", st)
		}
		b.Publish(ctx, "other", Event{})
		if st := b.Stats(); st.Keys != 0 || st.KeyBytes != 0 {
			t.Errorf("after the window and a publish: %+v", st)
		}
	})
}

// TestMemoryKeyOverhead measures the heap a remembered key takes, beside
// its topic and key, and checks that Stats.KeyBytes (with [KeyOverhead])
// says it: the heap grows by no more than a quarter above it, nor less
// than half of it. (Where the map's and the queue's doubling stand moves
// the measure between 65 and 108 bytes a key beside its name.)
func TestMemoryKeyOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("measures 50,000 keys")
	}
	const n = 50_000
	b := newMemory(t, &MemoryOptions{MaxEvents: 1})
	ctx := context.Background()
	// The topic's one event and its ring are there before the measure.
	b.Publish(ctx, "topic", Event{})
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("%036d", i) // as long as a UUID
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for _, k := range keys {
		if _, _, err := b.PublishKeyed(ctx, "topic", k, Event{}); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	st := b.Stats()
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	perKey := float64(grown)/n - float64(len("topic")+36)
	t.Logf("%d keys: heap +%d bytes, %.0f bytes a key beside its topic and key (KeyOverhead %d); Stats.KeyBytes %d", n, grown, perKey, KeyOverhead, st.KeyBytes)
	if st.Keys != n {
		t.Fatalf("Stats.Keys = %d; want %d", st.Keys, n)
	}
	if r := float64(grown) / float64(st.KeyBytes); r < 0.5 || r > 1.25 {
		t.Errorf("heap grew by %d bytes for %d counted: KeyOverhead is off", grown, st.KeyBytes)
	}
	runtime.KeepAlive(keys)
}

// A Hub publishes keyed through its broker, counts repeats apart, and
// refuses keys with a broker that cannot keep them.
func TestHubPublishWith(t *testing.T) {
	ctx := context.Background()
	var hub Hub
	defer hub.Close()
	sub, err := hub.Subscribe("chat", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	key := &PublishOptions{Key: "order-17"}
	id, repeat, err := hub.PublishWith(ctx, "chat", Text("hi"), key)
	if err != nil || repeat {
		t.Fatal(id, repeat, err)
	}
	again, repeat, err := hub.PublishWith(ctx, "chat", Text("hi"), key)
	if err != nil || !repeat || again != id {
		t.Fatalf("repeat: %q %v %v; want %q true", again, repeat, err, id)
	}
	end, _ := hub.Publish(ctx, "chat", Text("end"))
	var got []string
	for len(got) < 2 {
		batch, err := sub.Next(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range batch.Events {
			got = append(got, ev.ID+" "+string(ev.Data))
		}
	}
	if want := []string{id + " hi", end + " end"}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("subscriber got %q; want %q", got, want)
	}
	if st := hub.Stats(); st.Published != 2 || st.Repeats != 1 {
		t.Errorf("Stats = %+v; want 2 published, 1 repeat", st)
	}
	if _, _, err := hub.PublishWith(ctx, "chat", Text("x"), &PublishOptions{Key: strings.Repeat("k", 256)}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("long key: %v", err)
	}

	plain, err := NewHub(&HubOptions{Broker: plainBroker{newMemory(t, nil)}})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, _, err := plain.PublishWith(ctx, "chat", Text("x"), key); !errors.Is(err, ErrKeysUnsupported) {
		t.Errorf("keyed publish without broker support: %v", err)
	}
	if _, _, err := plain.PublishWith(ctx, "chat", Text("x"), &PublishOptions{}); err != nil {
		t.Errorf("publish without a key: %v", err)
	}
}

// plainBroker hides the MemoryBroker's PublishKeyed.
type plainBroker struct{ Broker }

// BenchmarkMemoryPublishKeys compares a publish without a key, with a
// fresh key (of the default 100,000 kept, or of 1,000), and a repeat of a
// key (answered from memory).
func BenchmarkMemoryPublishKeys(b *testing.B) {
	ctx := context.Background()
	ev := Event{Data: []byte("a small event of some forty bytes, say.")}
	for _, mode := range []string{"plain", "keyed", "keyed-1k", "repeat"} {
		b.Run(mode, func(b *testing.B) {
			opts := &MemoryOptions{}
			if mode == "keyed-1k" { // keys that fit in the caches
				opts.MaxKeys = 1000
			}
			br := newMemory(b, opts)
			keys := make([]string, 1<<16)
			for i := range keys {
				keys[i] = fmt.Sprintf("%036d", i)
			}
			br.PublishKeyed(ctx, "t", keys[0], ev)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var err error
				switch mode {
				case "plain":
					_, err = br.Publish(ctx, "t", ev)
				case "keyed", "keyed-1k":
					_, _, err = br.PublishKeyed(ctx, "t", keys[i%len(keys)]+strconv.Itoa(i/len(keys)), ev)
				case "repeat":
					_, _, err = br.PublishKeyed(ctx, "t", keys[0], ev)
				}
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
