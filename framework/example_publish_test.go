package framework_test

import (
	"context"
	"fmt"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// A publisher that retries with the event's key stores it once: the repeat
// answers the first ID and publishes nothing.
func ExampleHub_PublishWith() {
	var hub framework.Hub
	defer hub.Close()
	ctx := context.Background()
	opts := &framework.PublishOptions{Key: "order-17-confirmed"}

	id, repeat, _ := hub.PublishWith(ctx, "orders", framework.Text("order 17 confirmed"), opts)
	fmt.Println(id == "", repeat)
	// The answer was lost, say: the publisher retries with the same key.
	again, repeat, _ := hub.PublishWith(ctx, "orders", framework.Text("order 17 confirmed"), opts)
	fmt.Println(again == id, repeat)

	_, _, err := hub.PublishWith(ctx, "orders", framework.Text("x"), &framework.PublishOptions{Key: "tab\tkey"})
	fmt.Println(err)
	fmt.Printf("%+v\n", hub.Stats())
	// Output:
	// false false
	// true true
	// rxstream: invalid idempotency key: byte 0x09 at 3 is not printable ASCII (space to tilde)
	// {Published:1 Repeats:1 Paced:0 Delivered:0 Overflows:0 Gaps:0 Topics:0 Subscribers:0 Members:0}
}

// Keys are remembered for a window and up to a count, both set on the
// broker.
func ExampleMemoryOptions_keys() {
	b, _ := framework.NewMemoryBroker(&framework.MemoryOptions{KeyWindow: 10 * time.Minute, MaxKeys: 1000})
	defer b.Close()
	ctx := context.Background()
	c, _, _ := b.PublishKeyed(ctx, "t", "k", framework.Text("once"))
	again, repeat, _ := b.PublishKeyed(ctx, "t", "k", framework.Text("once"))
	st := b.Stats()
	fmt.Println(again == c, repeat, st.Events, st.Keys)
	// Output: true true 1 1
}
