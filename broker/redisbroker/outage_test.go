package redisbroker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// waitUp waits until b answers again.
func waitUp(t *testing.T, b *redisbroker.Broker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := b.Read(context.Background(), "probe", 0, 1)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never came back: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRedisRestart(t *testing.T) {
	rs := startRedis(t, "--appendonly", "yes") // the AOF brings the topic back
	logs := &clustertest.SyncBuffer{}
	// A long request timeout: failing at once must come from knowing that
	// Redis is down, not from a timeout.
	b := newBroker(t, redisbroker.Options{URL: rs.URL(), Timeout: time.Minute, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	clustertest.Restart(t, clustertest.Outage{
		Broker: b, Stop: rs.Stop, Start: rs.Start,
		Up:          func(t *testing.T) { waitUp(t, b) },
		Unavailable: redisbroker.ErrUnavailable,
		Logs:        logs, Logged: []string{"rxstream: redis: unreachable", "rxstream: redis: reachable again"},
	})
}

// TestRestartWithoutPersistence: a Redis that lost its data gives the
// topic a new epoch, so cursors of the old one get a gap notice instead of
// being taken for positions in the new numbering.
func TestRestartWithoutPersistence(t *testing.T) {
	rs := startRedis(t)
	b := newBroker(t, redisbroker.Options{URL: rs.URL()})
	old := clustertest.PublishN(t, b, "p", "old", 3)
	rs.Stop()
	rs.Start()
	waitUp(t, b)
	n := clustertest.PublishN(t, b, "p", "new", 1)[0]
	if n.Epoch == old[0].Epoch {
		t.Fatalf("epoch %s kept after Redis lost the topic", n.Epoch)
	}
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	t.Logf("old %v new %v", old[2], n)
	sub, err := hub.Subscribe("p", old[2].String())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	batch, err := sub.Next(ctx, 0)
	if err != nil || batch.Gap == nil || len(batch.Events) != 1 || batch.Events[0].ID != n.String() {
		t.Fatalf("resume with the old epoch: %+v, %v", batch, err)
	}
}

// TestRestartWhilePublishing: Redis (append-only file, fsync at every
// write) is killed and restarted while four publishers publish. Publishes
// fail with ErrUnavailable while it is down; every publish that was
// acknowledged is there afterwards, in order, under the same epoch.
func TestRestartWhilePublishing(t *testing.T) {
	rs := startRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	b := newBroker(t, redisbroker.Options{URL: rs.URL(), Timeout: time.Second})
	ctx := context.Background()
	type ack struct {
		c    framework.Cursor
		data string
	}
	var (
		mu       sync.Mutex
		acked    []ack
		failures int
		after    int // acknowledged after the restart
	)
	restarted := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			deadline := time.Now().Add(20 * time.Second)
			for i := 0; ; i++ {
				if time.Now().After(deadline) {
					t.Error("publishers did not see Redis come back")
					return
				}
				data := fmt.Sprintf("w%d-%d", w, i)
				c, err := b.Publish(ctx, "w", framework.Event{Data: []byte(data)})
				mu.Lock()
				if err != nil {
					failures++
					if !errors.Is(err, redisbroker.ErrUnavailable) {
						t.Errorf("publish while Redis restarts: %v; want ErrUnavailable", err)
					}
				} else {
					acked = append(acked, ack{c, data})
					select {
					case <-restarted:
						after++
					default:
					}
				}
				done := after >= 200
				mu.Unlock()
				if done {
					return
				}
				if err != nil {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	// Let some land, then crash Redis in the middle of the publishes.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	rs.Kill()
	time.Sleep(200 * time.Millisecond)
	rs.Start()
	close(restarted)
	wg.Wait()
	if t.Failed() {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if failures == 0 {
		t.Fatal("no publish failed: the outage was not seen")
	}
	p, err := b.Read(ctx, "w", 0, 100000)
	if err != nil || p.Lost {
		t.Fatalf("read back: lost %v, %v", p.Lost, err)
	}
	stored := make(map[framework.Cursor]string, len(p.Records))
	for i, r := range p.Records {
		c, _, _ := framework.ParseCursor(r.Event.ID)
		stored[c] = string(r.Event.Data)
		if i > 0 && r.Seq <= p.Records[i-1].Seq {
			t.Fatalf("record %d out of order", i)
		}
	}
	for _, a := range acked {
		if got, ok := stored[a.c]; !ok || got != a.data {
			t.Fatalf("acknowledged %v %q: stored %q, %v (%d acknowledged, %d stored)", a.c, a.data, got, ok, len(acked), len(p.Records))
		}
	}
	// Publishes whose answer was lost in the crash may be stored without
	// an acknowledgement (a retry would store them twice: PublishKey's
	// case), but nothing else.
	if extra := len(p.Records) - len(acked); extra < 0 || extra > 4 {
		t.Fatalf("%d stored, %d acknowledged", len(p.Records), len(acked))
	}
	t.Logf("%d acknowledged (%d after the restart), %d failures, %d stored", len(acked), after, failures, len(p.Records))
}
