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

func ExampleText() {
	var hub framework.Hub
	defer hub.Close()
	ctx := context.Background()

	// Publishing text needs neither rxgo nor the streams package.
	id, _ := hub.Publish(ctx, "chat", framework.Text("hi"))
	hub.Publish(ctx, "chat", framework.Text("how are you?"))

	sub, err := hub.Subscribe("chat", id)
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	batch, _ := sub.Next(ctx, 0)
	for _, ev := range batch.Events {
		fmt.Printf("%s (text: %v)\n", ev.Data, ev.Text())
	}
	// Output: how are you? (text: true)
}

func ExampleBytes() {
	buf := []byte("first")
	ev := framework.Bytes(buf)
	copy(buf, "reuse") // the event kept its own copy
	fmt.Printf("%s\n", ev.Data)
	// Output: first
}

func ExampleJSON() {
	type price struct {
		Symbol string  `json:"symbol"`
		Value  float64 `json:"value"`
	}
	ev, err := framework.JSON(price{Symbol: "ACME", Value: 12.5})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", ev.Data)

	_, err = framework.JSON(make(chan int))
	fmt.Println(err)
	// Output:
	// {"symbol":"ACME","value":12.5}
	// rxstream: JSON event: json: unsupported type: chan int
}
