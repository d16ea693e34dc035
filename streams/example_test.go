package streams_test

import (
	"context"
	"fmt"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func ExampleInterval() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops the ticker and the producer goroutine

	ch := streams.Interval(time.Millisecond).Observe(rxgo.WithContext(ctx))
	for range 3 {
		item := <-ch
		fmt.Println(item.V)
	}
	// Output:
	// 0
	// 1
	// 2
}

func ExampleGenerate() {
	obs := streams.Generate(func(ctx context.Context, emit func(v any) error) error {
		for _, word := range []string{"hello", "streaming", "world"} {
			if err := emit(word); err != nil {
				return err // the consumer has gone
			}
		}
		return nil // completes the stream
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for item := range obs.Observe(rxgo.WithContext(ctx)) {
		if item.E != nil {
			fmt.Println("error:", item.E)
			return
		}
		fmt.Println(item.V)
	}
	// Output:
	// hello
	// streaming
	// world
}

func ExampleMap() {
	// Flux.interval(period).map(seq -> "new message")
	obs := streams.Map(streams.Interval(time.Millisecond), func(any) (any, error) {
		return streams.Text("new message"), nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops Map and the Interval it observes
	ch := obs.Observe(rxgo.WithContext(ctx))
	for range 2 {
		item := <-ch
		ev := item.V.(framework.Event)
		fmt.Printf("%s\n", ev.Data)
	}
	// Output:
	// new message
	// new message
}

func ExampleToEvent() {
	type price struct {
		Symbol string  `json:"symbol"`
		Value  float64 `json:"value"`
	}
	for _, v := range []any{
		"plain text",
		[]byte("raw bytes"),
		price{Symbol: "ACME", Value: 12.5},
		framework.Event{ID: "7", Name: "tick", Data: []byte("as is")},
	} {
		ev, err := streams.ToEvent(v)
		if err != nil {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("id=%q name=%q data=%s\n", ev.ID, ev.Name, ev.Data)
	}
	// Output:
	// id="" name="" data=plain text
	// id="" name="" data=raw bytes
	// id="" name="" data={"symbol":"ACME","value":12.5}
	// id="7" name="tick" data=as is
}

func ExampleEvents() {
	obs := streams.Events(streams.Generate(func(ctx context.Context, emit func(v any) error) error {
		if err := emit(map[string]int{"count": 1}); err != nil {
			return err
		}
		return emit("done")
	}))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for item := range obs.Observe(rxgo.WithContext(ctx)) {
		if item.E != nil {
			fmt.Println("error:", item.E)
			return
		}
		fmt.Printf("%s\n", item.V.(framework.Event).Data)
	}
	// Output:
	// {"count":1}
	// done
}

func ExampleFromChannel() {
	src := make(chan int)
	go func() {
		defer close(src) // completes the stream
		for i := 1; i <= 3; i++ {
			src <- i * 10
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for item := range streams.FromChannel(src).Observe(rxgo.WithContext(ctx)) {
		fmt.Println(item.V)
	}
	// Output:
	// 10
	// 20
	// 30
}
