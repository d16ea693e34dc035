package natsbroker_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

func TestKeyWindowOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts natsbroker.Options
		want string // in the error
	}{
		{"negative", natsbroker.Options{KeyWindow: -1}, "negative KeyWindow"},
		{"longer than MaxAge", natsbroker.Options{KeyWindow: time.Hour, MaxAge: time.Minute}, "longer than MaxAge"},
		{"too short", natsbroker.Options{KeyWindow: 10 * time.Millisecond}, "minimum duplicate window"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := natsbroker.New(context.Background(), &tc.opts)
			if err == nil {
				b.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want it to say %q", err, tc.want)
			}
		})
	}
}

// keyed publishes data to topic with key on b.
func keyed(t *testing.T, b *natsbroker.Broker, topic, key, data string) (framework.Cursor, bool) {
	t.Helper()
	c, repeat, err := b.PublishKeyed(context.Background(), topic, key, framework.Event{Data: []byte(data)})
	if err != nil {
		t.Fatalf("publish %q with key %q to %s: %v", data, key, topic, err)
	}
	return c, repeat
}

// stored reads the data of every retained event of topic, checking that
// none is lost.
func stored(t *testing.T, b framework.Broker, topic string) []string {
	t.Helper()
	p, err := b.Read(context.Background(), topic, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if p.Lost {
		t.Fatalf("%s: events lost: %+v", topic, p)
	}
	var got []string
	for _, r := range p.Records {
		got = append(got, string(r.Event.Data))
	}
	return got
}

// TestKeysAcrossNodes: a repeat of a key on another node answers the first
// publish's cursor and stores and delivers nothing, even when that node's
// idea of the topic's last event is stale; keys are per topic.
func TestKeysAcrossNodes(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			a, b := newBroker(t, o), newBroker(t, o)
			var cols []*clustertest.Collector
			for _, br := range []*natsbroker.Broker{a, b} {
				col := clustertest.NewCollector()
				_, stop, err := br.Follow("chat", col.Fn)
				if err != nil {
					t.Fatal(err)
				}
				defer stop()
				cols = append(cols, col)
			}
			keyed(t, b, "chat", "k0", "zero") // b now knows chat's last event
			first, repeat := keyed(t, a, "chat", "k1", "one")
			if repeat {
				t.Fatal("a first publish is a repeat")
			}
			clustertest.PublishN(t, a, "chat", "more", 2) // b's idea of the last event is stale
			for _, br := range []*natsbroker.Broker{b, a} {
				if c, repeat := keyed(t, br, "chat", "k1", "one, again"); c != first || !repeat {
					t.Fatalf("repeat: %v %v; want %v true", c, repeat, first)
				}
			}
			// The chain goes on from the actual last event.
			keyed(t, b, "chat", "k2", "two")
			if _, err := b.Publish(context.Background(), "chat", framework.Event{Data: []byte("end")}); err != nil {
				t.Fatal(err)
			}
			// Another topic has keys of its own.
			if c, repeat := keyed(t, b, "news", "k1", "news"); repeat || c == first {
				t.Fatalf("same key on another topic: %v %v", c, repeat)
			}
			want := "zero one more0 more1 two end"
			if got := strings.Join(stored(t, a, "chat"), " "); got != want {
				t.Fatalf("chat stores %q; want %q", got, want)
			}
			for i, col := range cols {
				col.Wait(t, "every event", func(r []framework.Record, err error) bool { return len(r) >= 6 || err != nil })
				col.Mu.Lock()
				var got []string
				for _, r := range col.Recs {
					got = append(got, string(r.Event.Data))
				}
				col.Mu.Unlock()
				if strings.Join(got, " ") != want {
					t.Errorf("node %d delivered %q; want %q", i, got, want)
				}
			}
			if _, _, err := a.PublishKeyed(context.Background(), "chat", "", framework.Event{}); !errors.Is(err, framework.ErrInvalidKey) {
				t.Errorf("empty key: %v", err)
			}
			if _, _, err := a.PublishKeyed(context.Background(), "chat", strings.Repeat("k", 256), framework.Event{}); !errors.Is(err, framework.ErrInvalidKey) {
				t.Errorf("long key: %v", err)
			}
		})
	}
}

// TestKeysConcurrent: concurrent publishes of one key from two nodes store
// one event, and all of them answer its cursor.
func TestKeysConcurrent(t *testing.T) {
	o := natsbroker.Options{URL: startNATS(t).url()}
	nodes := []*natsbroker.Broker{newBroker(t, o), newBroker(t, o)}
	const n = 32
	var wg sync.WaitGroup
	cursors := make([]framework.Cursor, n)
	repeats := make([]bool, n)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			var err error
			cursors[i], repeats[i], err = nodes[i%2].PublishKeyed(context.Background(), "t", "same", framework.Event{Data: []byte("x")})
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
			t.Errorf("publish %d: %v; publish 0: %v", i, cursors[i], cursors[0])
		}
		if !repeats[i] {
			firsts++
		}
	}
	if firsts != 1 {
		t.Errorf("%d publishes were not repeats; want 1", firsts)
	}
	if got := stored(t, nodes[0], "t"); len(got) != 1 {
		t.Errorf("stored %q; want one event", got)
	}
}

// TestKeyWindow: once the window passed, the key publishes again.
func TestKeyWindow(t *testing.T) {
	const window = 200 * time.Millisecond
	o := natsbroker.Options{URL: startNATS(t).url(), KeyWindow: window}
	b := newBroker(t, o)
	first, _ := keyed(t, b, "t", "k", "one")
	published := time.Now()
	for {
		c, repeat := keyed(t, b, "t", "k", "again")
		if !repeat {
			if waited := time.Since(published); waited < window {
				t.Fatalf("the key was forgotten after %v, within its window of %v", waited, window)
			}
			if c == first {
				t.Fatal("a new event got the first one's cursor")
			}
			break
		}
		if c != first {
			t.Fatalf("repeat answered %v; want %v", c, first)
		}
		if time.Since(published) > 20*window {
			t.Fatalf("still a repeat %v after the publish", time.Since(published))
		}
		time.Sleep(window / 4)
	}
	if got := strings.Join(stored(t, b, "t"), " "); got != "one again" {
		t.Fatalf("stored %q", got)
	}
}

// TestKeysSurviveNATSRestart: a NATS server that keeps the stream on disk
// remembers the keys of its window across a restart.
func TestKeysSurviveNATSRestart(t *testing.T) {
	ns := startNATS(t)
	b := newBroker(t, natsbroker.Options{URL: ns.url()})
	first, _ := keyed(t, b, "t", "k", "one")
	ns.stop()
	ns.start()
	waitConnected(t, b)
	var c framework.Cursor
	var repeat bool
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		c, repeat, err = b.PublishKeyed(context.Background(), "t", "k", framework.Event{Data: []byte("again")})
		if err == nil {
			break
		}
		if !errors.Is(err, natsbroker.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c != first || !repeat {
		t.Fatalf("after the restart: %v %v; want %v true", c, repeat, first)
	}
	if got := stored(t, b, "t"); len(got) != 1 {
		t.Fatalf("stored %q", got)
	}
}

// BenchmarkPublishKeys compares a publish without a key, with a fresh key,
// and a repeat of a key, on an in-process NATS server.
func BenchmarkPublishKeys(b *testing.B) {
	ctx := context.Background()
	ev := framework.Event{Data: []byte("a small event of some forty bytes, say.")}
	br := newBroker(b, natsbroker.Options{URL: startNATS(b).url()})
	for _, mode := range []string{"plain", "keyed", "repeat"} {
		b.Run(mode, func(b *testing.B) {
			br.PublishKeyed(ctx, "t", "first", ev)
			i := 0
			for b.Loop() {
				var err error
				switch mode {
				case "plain":
					_, err = br.Publish(ctx, "t", ev)
				case "keyed":
					_, _, err = br.PublishKeyed(ctx, "t", "key-"+strconv.Itoa(i), ev)
				case "repeat":
					_, _, err = br.PublishKeyed(ctx, "t", "first", ev)
				}
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
