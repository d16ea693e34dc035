package redisbroker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
)

var _ adapters.Relay = (*redisbroker.Broker)(nil)

// TestNotifyListen: a Notify reaches the Listens of its channel on every
// node, itself included, and no other channel's; a stopped Listen hears
// nothing more; a bad channel, a closed Broker and a Redis that is down
// are told apart.
func TestNotifyListen(t *testing.T) {
	rs := startRedis(t)
	o := redisbroker.Options{URL: rs.URL()}
	a, b := newBroker(t, o), newBroker(t, o)
	ctx := context.Background()

	listen := func(br *redisbroker.Broker, channel string) (chan string, func()) {
		t.Helper()
		got := make(chan string, 8)
		stop, err := br.Listen(channel, func(data []byte) { got <- string(data) })
		if err != nil {
			t.Fatal(err)
		}
		return got, stop
	}
	onA, stopA := listen(a, "revoke")
	onB, _ := listen(b, "revoke")
	other, _ := listen(b, "other")
	if err := a.Notify(ctx, "revoke", []byte("alice")); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]chan string{"a": onA, "b": onB} {
		select {
		case got := <-c:
			if got != "alice" {
				t.Fatalf("%s heard %q", name, got)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s heard nothing", name)
		}
	}
	stopA()
	stopA() // idempotent
	if err := b.Notify(ctx, "revoke", []byte("bob")); err != nil {
		t.Fatal(err)
	}
	if got := <-onB; got != "bob" {
		t.Fatalf("b heard %q", got)
	}
	select { // b's own Notify of "revoke" reached b before this check
	case got := <-onA:
		t.Fatalf("a stopped Listen heard %q", got)
	case got := <-other:
		t.Fatalf("another channel heard %q", got)
	default:
	}

	for _, ch := range []string{"", "has space", "a{b}"} {
		if err := a.Notify(ctx, ch, nil); err == nil {
			t.Errorf("Notify on %q: no error", ch)
		}
		if _, err := a.Listen(ch, func([]byte) {}); err == nil {
			t.Errorf("Listen on %q: no error", ch)
		}
	}

	rs.Kill()
	if err := a.Notify(ctx, "revoke", nil); !errors.Is(err, redisbroker.ErrUnavailable) {
		t.Errorf("Notify with Redis down: %v", err)
	}
	b.Close()
	if err := b.Notify(ctx, "revoke", nil); !errors.Is(err, framework.ErrClosed) {
		t.Errorf("Notify after Close: %v", err)
	}
	if _, err := b.Listen("revoke", func([]byte) {}); !errors.Is(err, framework.ErrClosed) {
		t.Errorf("Listen after Close: %v", err)
	}
}
