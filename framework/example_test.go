package framework_test

import (
	"context"
	"fmt"
	"time"

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

// A late joiner without a cursor asks for the last events of the topic
// before its live ones.
func ExampleSubscribeOptions_rewind() {
	var hub framework.Hub
	defer hub.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, msg := range []string{"one", "two", "three"} {
		hub.Publish(ctx, "chat", framework.Text(msg))
	}

	sub, err := hub.SubscribeWith("chat", "", &framework.SubscribeOptions{Rewind: 2})
	if err != nil {
		panic(err)
	}
	defer sub.Close()
	hub.Publish(ctx, "chat", framework.Text("four"))
	for range 2 {
		batch, _ := sub.Next(ctx, 0)
		for _, ev := range batch.Events {
			fmt.Println(string(ev.Data))
		}
	}
	// Output:
	// two
	// three
	// four
}

// A chat pages back through its history, newest first, until the start
// of what is retained.
func ExampleHub_History() {
	broker, _ := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 5})
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer broker.Close()
	defer hub.Close()
	ctx := context.Background()
	for i := 1; i <= 7; i++ { // 3 to 7 retained
		hub.Publish(ctx, "chat", framework.Text(fmt.Sprint("message ", i)))
	}

	opts := &framework.HistoryOptions{Limit: 2}
	for {
		page, err := hub.History(ctx, "chat", opts)
		if err != nil {
			panic(err)
		}
		for _, ev := range page.Events {
			fmt.Println(string(ev.Data))
		}
		if !page.More {
			fmt.Println("older messages discarded:", page.Truncated)
			break
		}
		opts.Before = page.Cursor
	}
	// Output:
	// message 7
	// message 6
	// message 5
	// message 4
	// message 3
	// older messages discarded: true
}
