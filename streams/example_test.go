package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// T is string, inferred from emit's type.
	obs := streams.Generate(func(ctx context.Context, emit func(string) error) error {
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
	// Flux.interval(period).map(seq -> "tick " + seq): Interval emits int64,
	// and fn returns a string, which every transport sends as text.
	obs := streams.Map(streams.Interval(time.Millisecond), func(n int64) string {
		return fmt.Sprint("tick ", n)
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // stops Map and the Interval it observes
	ch := obs.Observe(rxgo.WithContext(ctx))
	for range 3 {
		item := <-ch
		fmt.Println(item.V)
	}
	// Output:
	// tick 0
	// tick 1
	// tick 2
}

func ExampleMap_event() {
	// A fn returning a framework.Event sets the event's name and ID too.
	obs := streams.Map(streams.Interval(time.Millisecond), func(n int64) framework.Event {
		ev := framework.Text("new message")
		ev.Name = "notice"
		ev.ID = fmt.Sprint(n)
		return ev
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := obs.Observe(rxgo.WithContext(ctx))
	for range 2 {
		ev := (<-ch).V.(framework.Event)
		fmt.Printf("id=%s name=%s data=%s\n", ev.ID, ev.Name, ev.Data)
	}
	// Output:
	// id=0 name=notice data=new message
	// id=1 name=notice data=new message
}

func ExampleTryMap() {
	obs := streams.TryMap(streams.Generate(func(ctx context.Context, emit func(string) error) error {
		for _, s := range []string{"1", "2", "three", "4"} {
			if err := emit(s); err != nil {
				return err
			}
		}
		return nil
	}), func(s string) (string, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return "", err // ends the stream
		}
		return fmt.Sprint(n * n), nil
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
	// 1
	// 4
	// error: strconv.Atoi: parsing "three": invalid syntax
}

func ExampleMapJSON() {
	type price struct {
		Symbol string  `json:"symbol"`
		Value  float64 `json:"value"`
	}
	obs := streams.MapJSON(streams.Interval(time.Millisecond), func(n int64) price {
		return price{Symbol: "ACME", Value: 12 + float64(n)/4}
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := obs.Observe(rxgo.WithContext(ctx))
	for range 3 {
		fmt.Printf("%s\n", (<-ch).V.(framework.Event).Data)
	}
	// Output:
	// {"symbol":"ACME","value":12}
	// {"symbol":"ACME","value":12.25}
	// {"symbol":"ACME","value":12.5}
}

func ExampleToEvent() {
	type price struct {
		Symbol string  `json:"symbol"`
		Value  float64 `json:"value"`
	}
	for _, v := range []any{
		"plain text",
		[]byte("raw bytes"),
		framework.Event{ID: "7", Name: "tick", Data: []byte("as is")},
		price{Symbol: "ACME", Value: 12.5}, // not guessed: refused
	} {
		ev, err := streams.ToEvent(v)
		if err != nil {
			fmt.Println("error:", err)
			fmt.Println("not an event:", errors.Is(err, streams.ErrNotEvent))
			continue
		}
		fmt.Printf("id=%q name=%q data=%s\n", ev.ID, ev.Name, ev.Data)
	}
	// Output:
	// id="" name="" data=plain text
	// id="" name="" data=raw bytes
	// id="7" name="tick" data=as is
	// error: rxstream: streams: cannot send a streams_test.price as an event: emit a string, []byte or framework.Event, or encode it with streams.MapJSON or framework.JSON
	// not an event: true
}

func ExampleEvents() {
	// Values of mixed types, as they come from a FromChannel of any.
	obs := streams.Events(streams.Generate(func(ctx context.Context, emit func(any) error) error {
		for _, v := range []any{"text", []byte("bytes"), framework.Text("event"), 42} {
			if err := emit(v); err != nil {
				return err
			}
		}
		return nil
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
	// text
	// bytes
	// event
	// error: rxstream: streams: cannot send an int as an event: emit a string, []byte or framework.Event, or encode it with streams.MapJSON or framework.JSON
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
