package framework_test

import (
	"context"
	"fmt"

	"github.com/rxstream/rxstream/framework"
)

func ExampleHub() {
	var hub framework.Hub // the zero Hub is ready, with an in-memory broker
	defer hub.Close()
	ctx := context.Background()

	first, _ := hub.Publish(ctx, "chat", framework.Event{Data: []byte("hello")})
	hub.Publish(ctx, "chat", framework.Event{Data: []byte("world")})

	// A client that saw the first event resumes after it.
	sub, err := hub.Subscribe("chat", first)
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	batch, _ := sub.Next(ctx, 0)
	for _, ev := range batch.Events {
		fmt.Println(string(ev.Data))
	}
	// Output: world
}

func ExampleSubscription_Next_gap() {
	broker, _ := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 2})
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer hub.Close()
	defer broker.Close()
	ctx := context.Background()
	old, _ := hub.Publish(ctx, "t", framework.Event{Data: []byte("1")})
	for _, d := range []string{"2", "3", "4"} {
		hub.Publish(ctx, "t", framework.Event{Data: []byte(d)})
	}
	sub, _ := hub.Subscribe("t", old)
	defer sub.Close()
	batch, _ := sub.Next(ctx, 0)
	fmt.Println("gap:", batch.Gap != nil)
	for _, ev := range batch.Events {
		fmt.Println(string(ev.Data))
	}
	// Output:
	// gap: true
	// 3
	// 4
}
