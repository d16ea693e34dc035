package streams_test

import (
	"context"
	"errors"
	"testing"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func TestTopic(t *testing.T) {
	var hub framework.Hub
	defer hub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first, err := hub.Publish(ctx, "t", framework.Text("a"))
	if err != nil {
		t.Fatal(err)
	}
	hub.Publish(ctx, "t", framework.Text("b"))
	items := streams.Topic(&hub, "t", first).Observe(rxgo.WithContext(ctx))
	hub.Publish(ctx, "t", framework.Text("c"))
	var got []string
	for len(got) < 2 {
		it := <-items
		if it.E != nil {
			t.Fatal(it.E)
		}
		got = append(got, string(it.V.(framework.Event).Data))
	}
	if got[0] != "b" || got[1] != "c" {
		t.Fatalf("got %v, want [b c]", got)
	}
	cancel()
	for range items { // the producer ends and closes the channel
	}
	if n := hub.Topics(); n != 0 {
		t.Fatalf("subscription not closed: %d topics followed", n)
	}

	bad := streams.Topic(&hub, "t", "not-a-cursor").Observe()
	if it := <-bad; !errors.Is(it.E, framework.ErrInvalidCursor) {
		t.Fatalf("bad cursor gave %v", it)
	}
}
