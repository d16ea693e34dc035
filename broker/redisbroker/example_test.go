package redisbroker_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/rxstream/rxstream/broker/redisbroker"
	"github.com/rxstream/rxstream/framework"
)

// Two nodes share a topic through one Redis: what one publishes, the other
// serves, and a cursor from one resumes on the other. (Not run: it needs a
// Redis server; the package's tests start their own.)
func ExampleNew() {
	ctx := context.Background()
	newNode := func() (*framework.Hub, func()) {
		b, err := redisbroker.New(ctx, &redisbroker.Options{URL: "redis://127.0.0.1:6379", MaxLen: 100, MaxAge: time.Hour})
		if err != nil {
			log.Fatal(err)
		}
		hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
		if err != nil {
			log.Fatal(err)
		}
		return hub, func() { hub.Close(); b.Close() }
	}
	a, closeA := newNode()
	defer closeA()
	b, closeB := newNode()
	defer closeB()

	first, _ := a.Publish(ctx, "news", framework.Event{Data: []byte("one")})
	a.Publish(ctx, "news", framework.Event{Data: []byte("two")})

	sub, err := b.Subscribe("news", first) // resume after "one", on the other node
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	batch, _ := sub.Next(ctx, 0)
	for _, ev := range batch.Events {
		fmt.Println(string(ev.Data))
	}
}

// A publish that is safe to retry: the same key within the window answers
// the first publish's cursor and stores nothing.
func ExampleBroker_PublishKey() {
	b, err := redisbroker.New(context.Background(), &redisbroker.Options{URL: "redis://127.0.0.1:6379"})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	ev := framework.Event{Data: []byte(`{"order":42,"status":"paid"}`)}
	for range 2 { // a retry after a timeout, say
		c, dup, err := b.PublishKey(context.Background(), "orders", ev, "order-42-paid", 10*time.Minute)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c, dup)
	}
}

func ExampleTopicKeys() {
	k, _ := redisbroker.TopicKeys(redisbroker.DefaultPrefix, "", "orders.eu")
	fmt.Println(k.Stream)
	fmt.Println(k.Meta)
	// Output:
	// rxstream:{orders.eu}
	// rxstream:{orders.eu}:meta
}

// A stream ID and a cursor's sequence number are the same position.
func ExampleToID() {
	seq, _ := redisbroker.FromID("1796129721981-3")
	fmt.Println(seq)
	fmt.Println(redisbroker.ToID(seq))
	// Output:
	// 1883378519355949059
	// 1796129721981-3
}
