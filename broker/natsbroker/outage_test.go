package natsbroker_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// waitConnected waits until b's connection is up again.
func waitConnected(t *testing.T, b *natsbroker.Broker) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !b.Conn().IsConnected() {
		if time.Now().After(deadline) {
			t.Fatal("never reconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNATSRestart(t *testing.T) {
	ns := startNATS(t)
	logs := &clustertest.SyncBuffer{}
	b := newBroker(t, natsbroker.Options{URL: ns.url(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	clustertest.Restart(t, clustertest.Outage{
		Broker: b, Stop: ns.stop, Start: ns.start, // same port, same storage
		Up:          func(t *testing.T) { waitConnected(t, b) },
		Unavailable: natsbroker.ErrUnavailable,
		Logs:        logs, Logged: []string{"rxstream: nats: disconnected", "rxstream: nats: reconnected"},
	})
}

func TestPublishTimeout(t *testing.T) {
	// A server that accepts the connection but whose stream never answers:
	// Publish ends with the Broker's Timeout, not later.
	ns := startNATS(t)
	b := newBroker(t, natsbroker.Options{URL: ns.url(), Timeout: 200 * time.Millisecond})
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	clustertest.PublishN(t, b, "silent", "s", 1) // the broker now knows the topic's last sequence
	// Answer nothing on the topic's subject: take the stream away and
	// listen on the subject so the request has a responder that is silent.
	if err := js.DeleteStream(context.Background(), natsbroker.DefaultStream); err != nil {
		t.Fatal(err)
	}
	sub, err := nc.SubscribeSync("rxstream.silent")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	nc.Flush()
	_, err = b.Publish(context.Background(), "silent", framework.Event{})
	if !errors.Is(err, natsbroker.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish to a silent subject: %v; want ErrUnavailable after the timeout", err)
	}
}

func TestStreamRecreated(t *testing.T) {
	ns := startNATS(t)
	b := newBroker(t, natsbroker.Options{URL: ns.url(), Heartbeat: 100 * time.Millisecond})
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx := context.Background()
	old, err := hub.Publish(ctx, "s", framework.Event{Data: []byte("old")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := hub.Subscribe("s", "")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()

	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if err := js.DeleteStream(ctx, natsbroker.DefaultStream); err != nil {
		t.Fatal(err)
	}
	// The follow's consumer went with the stream: its heartbeats stop and
	// the subscription ends, so its client reconnects.
	nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := sub.Next(nctx, 0); !errors.Is(err, natsbroker.ErrUnavailable) {
		t.Fatalf("subscription on a deleted stream: %v; want ErrUnavailable", err)
	}
	// Publishing recreates the stream with a new epoch (the first attempt
	// may report the missing stream).
	var id string
	for range 3 {
		if id, err = hub.Publish(ctx, "s", framework.Event{Data: []byte("new")}); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	oc, _, _ := framework.ParseCursor(old)
	nc2, _, _ := framework.ParseCursor(id)
	if oc.Epoch == nc2.Epoch {
		t.Fatalf("epoch unchanged after the stream was recreated: %s, %s", old, id)
	}
	// A client resuming with the old cursor is told of the gap.
	sub2, err := hub.Subscribe("s", old)
	if err != nil {
		t.Fatal(err)
	}
	defer sub2.Close()
	batch, err := sub2.Next(nctx, 0)
	if err != nil || batch.Gap == nil || batch.Gap.Last != old || len(batch.Events) != 1 || batch.Events[0].ID != id {
		t.Fatalf("resume with a stale cursor: %+v, %v", batch, err)
	}
}

func TestStopDeletesConsumer(t *testing.T) {
	ns := startNATS(t)
	b := newBroker(t, natsbroker.Options{URL: ns.url()})
	nc, err := nats.Connect(ns.url())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	st, err := js.Stream(context.Background(), natsbroker.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	consumers := func() int {
		info, err := st.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Consumers
	}
	var stops []func()
	for _, topic := range []string{"x", "y"} {
		_, stop, err := b.Follow(topic, clustertest.NewCollector().Fn)
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, stop)
	}
	if n := consumers(); n != 2 {
		t.Fatalf("%d consumers for 2 follows", n)
	}
	stops[0]()
	deadline := time.Now().Add(10 * time.Second)
	for consumers() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the stopped follow's consumer was not deleted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Close() // deletes the other one before it returns
	if n := consumers(); n != 0 {
		t.Fatalf("%d consumers after Close", n)
	}
}

// TestNoPublishHeldForReconnection: while the broker's connection is
// reconnecting, a publish fails at once instead of waiting in nats.go's
// buffer to be sent once NATS is back, after Publish had already answered
// ErrUnavailable: a publisher that retried what failed would then store the
// event twice.
func TestNoPublishHeldForReconnection(t *testing.T) {
	ns := startNATS(t)
	b := newBroker(t, natsbroker.Options{URL: ns.url()})
	ns.stop()
	deadline := time.Now().Add(10 * time.Second)
	for !b.Conn().IsReconnecting() {
		if time.Now().After(deadline) {
			t.Fatal("never saw NATS go away")
		}
		time.Sleep(time.Millisecond)
	}
	// What Publish does underneath, at the moment it can race the
	// disconnection: write the message on the connection.
	if err := b.Conn().Publish(natsbroker.DefaultPrefix+".t", []byte("held?")); !errors.Is(err, nats.ErrReconnectBufExceeded) {
		t.Fatalf("publish while reconnecting: %v; want it refused at once", err)
	}
	ns.start()
	waitConnected(t, b)
	if p, err := b.Read(context.Background(), "t", 0, 10); err != nil || len(p.Records) != 0 {
		t.Fatalf("after NATS came back: %v, %d events stored; want none", err, len(p.Records))
	}
}
