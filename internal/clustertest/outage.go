package clustertest

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// PublishN publishes n events to topic on b, data prefix0 to prefixN-1,
// and returns their cursors.
func PublishN(t *testing.T, b framework.Broker, topic, prefix string, n int) []framework.Cursor {
	t.Helper()
	var cs []framework.Cursor
	for i := range n {
		c, err := b.Publish(context.Background(), topic, framework.Event{Data: []byte(prefix + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

// SyncBuffer is a bytes.Buffer for concurrent writers: a broker's logs.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Outage is what the restart test needs of a broker and its server.
type Outage struct {
	Broker      framework.Broker
	Stop, Start func()             // the server down; up again on its port, with its storage
	Up          func(t *testing.T) // waits until Broker works again
	Unavailable error              // what Broker fails with while the server is down
	Logs        *SyncBuffer        // Broker's logs
	Logged      []string           // what the outage writes in them
}

// Restart is the broker-restart test: while the server is down a follow
// breaks with o.Unavailable, and every call fails with it at once (well
// within a second, whatever the broker's own timeouts), with no deadline
// of the caller's; once it is back, on the same storage, the topic goes on
// in the same epoch, a read resumes from the last cursor before the
// outage, a new follow starts at the tip, and the logs tell of the outage.
func Restart(t *testing.T, o Outage) {
	b, ctx := o.Broker, context.Background()
	before := PublishN(t, b, "r", "before", 2)
	col := NewCollector()
	if _, _, err := b.Follow("r", col.Fn); err != nil {
		t.Fatal(err)
	}
	last := PublishN(t, b, "r", "followed", 1)[0]
	col.Wait(t, "a record", func(rs []framework.Record, err error) bool { return len(rs) == 1 })

	o.Stop()
	col.Wait(t, "the follow to break", func(_ []framework.Record, err error) bool { return err != nil })
	if !errors.Is(col.Err, o.Unavailable) {
		t.Fatalf("follow ended with %v; want %v", col.Err, o.Unavailable)
	}
	down := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); !errors.Is(err, o.Unavailable) || time.Since(start) > time.Second {
			t.Fatalf("%s while down: %v after %v; want %v at once", what, err, time.Since(start), o.Unavailable)
		}
	}
	lost := framework.Event{Data: []byte("lost")}
	down("Publish", func() error { _, err := b.Publish(ctx, "r", lost); return err })
	if kp, ok := b.(framework.KeyedPublisher); ok {
		down("PublishKeyed", func() error { _, _, err := kp.PublishKeyed(ctx, "r", "k", lost); return err })
	}
	down("Read", func() error { _, err := b.Read(ctx, "r", 0, 10); return err })
	down("Follow", func() error { _, _, err := b.Follow("r", col.Fn); return err })

	o.Start()
	o.Up(t)
	after, err := b.Publish(ctx, "r", framework.Event{Data: []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	if after.Epoch != before[0].Epoch || after.Seq <= last.Seq {
		t.Fatalf("cursor after restart %v; before %v", after, last)
	}
	p, err := b.Read(ctx, "r", last.Seq, 10)
	if err != nil || p.Lost || len(p.Records) != 1 || p.Records[0].Seq != after.Seq {
		t.Fatalf("resume after restart: %+v, %v", p, err)
	}
	col2 := NewCollector()
	tip, stop, err := b.Follow("r", col2.Fn)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if tip != after {
		t.Fatalf("tip %v; want %v", tip, after)
	}
	PublishN(t, b, "r", "again", 1)
	col2.Wait(t, "a record after the restart", func(rs []framework.Record, err error) bool { return len(rs) == 1 })
	// Some clients log from a callback goroutine of their own.
	deadline := time.Now().Add(5 * time.Second)
	for _, want := range o.Logged {
		for !strings.Contains(o.Logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("logs lack %q:\n%s", want, o.Logs.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
