package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// A hub topic served as SSE and read with the Go client, which resumes
// after the event it last saw.
func ExampleServer_Topic() {
	hub := &framework.Hub{}
	defer hub.Close()
	s, _ := sse.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}", s.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	ts.Config.RegisterOnShutdown(s.Close)

	ctx := context.Background()
	first, _ := hub.Publish(ctx, "news", framework.Event{Data: []byte("seen before")})
	hub.Publish(ctx, "news", framework.Event{Data: []byte("服务器回复: 你好")})
	hub.Publish(ctx, "news", framework.Event{Name: "update", Data: []byte("two\nlines")})

	client, _ := sse.NewClient(ts.URL+"/topics/news", &sse.ClientOptions{Cursor: first})
	ctx, cancel := context.WithCancel(ctx)
	items := client.Events().Observe(rxgo.WithContext(ctx))
	for range 2 {
		ev := (<-items).V.(framework.Event)
		name := ev.Name
		if name == "" {
			name = "message" // the SSE default
		}
		fmt.Printf("%s %q\n", name, ev.Data)
	}
	cancel()
	for range items { // wait for the client to stop
	}
	// Output:
	// message "服务器回复: 你好"
	// update "two\nlines"
}

// A per-request producer served as SSE and read with plain net/http: the
// response ends when the producer completes.
func ExampleServer_Stream() {
	s, _ := sse.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /count", s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Generate(func(ctx context.Context, emit func(any) error) error {
			for i := 1; i <= 3; i++ {
				ev := framework.Event{ID: fmt.Sprint(i), Data: []byte(fmt.Sprint("count ", i))}
				if err := emit(ev); err != nil {
					return err
				}
			}
			return nil
		}), nil
	}))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/count")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		if line := lines.Text(); line != "" {
			fmt.Println(line)
		}
	}
	// Output:
	// text/event-stream; charset=utf-8
	// id: 1
	// data: count 1
	// id: 2
	// data: count 2
	// id: 3
	// data: count 3
}

// Two hub topics followed with one connection: each subscription is an
// observable of its own topic's events, resumed from its own cursor.
func ExampleMultiClient() {
	hub := &framework.Hub{}
	defer hub.Close()
	s, _ := sse.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /topics", s.Topics(hub))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	ts.Config.RegisterOnShutdown(s.Close)

	ctx := context.Background()
	chat, _ := hub.Publish(ctx, "chat", framework.Event{Data: []byte("seen before")})
	news, _ := hub.Publish(ctx, "news", framework.Event{Data: []byte("seen before")})

	client, _ := sse.NewMultiClient(ts.URL+"/topics", nil)
	defer client.Close()
	chatSub, _ := client.Subscribe("chat", chat)
	newsSub, _ := client.Subscribe("news", news)
	chatItems, newsItems := chatSub.Events().Observe(), newsSub.Events().Observe()

	hub.Publish(ctx, "news", framework.Event{Data: []byte("rates unchanged")})
	hub.Publish(ctx, "chat", framework.Event{Data: []byte("hello")})
	hub.Publish(ctx, "chat", framework.Event{Data: []byte("anyone?")})
	for range 2 {
		fmt.Printf("chat %s\n", (<-chatItems).V.(framework.Event).Data)
	}
	fmt.Printf("news %s\n", (<-newsItems).V.(framework.Event).Data)
	// Output:
	// chat hello
	// chat anyone?
	// news rates unchanged
}

// Several hub topics on one stream, read with plain net/http and the
// package's Decoder: each event's data names its topic.
func ExampleServer_Topics() {
	hub := &framework.Hub{}
	defer hub.Close()
	s, _ := sse.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /topics", s.Topics(hub))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	ts.Config.RegisterOnShutdown(s.Close)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/topics?topic=chat&topic=news", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()

	dec := sse.NewDecoder(resp.Body)
	for _, ev := range []struct{ topic, name, data string }{
		{"news", "", "rates unchanged"},
		{"chat", "joined", "ada"},
	} {
		hub.Publish(ctx, ev.topic, framework.Event{Name: ev.name, Data: []byte(ev.data)})
		ev, err := dec.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		var d struct{ Topic, Data string }
		json.Unmarshal(ev.Data, &d)
		fmt.Printf("%s %q %s\n", d.Topic, ev.Name, d.Data)
	}
	// Output:
	// news "" rates unchanged
	// chat "joined" ada
}

// Hooks told about every stream: here a producer's, which completes.
func ExampleHooks() {
	closed := make(chan error, 1)
	s, _ := sse.New(&sse.Options{Hooks: sse.Hooks{
		Opened: func(c *sse.Conn) { fmt.Println("opened", c.Transport, c.URL.Path, "from cursor", c.Cursor) },
		Closed: func(c *sse.Conn, reason error) { closed <- reason },
	}})
	mux := http.NewServeMux()
	mux.Handle("GET /hello", s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return rxgo.Just(framework.Event{Data: []byte("hello")})(), nil
	}))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	req, _ := http.NewRequest(http.MethodGet, ts.URL+"/hello", nil)
	req.Header.Set("Last-Event-ID", "41")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body) // to the end of the response
	resp.Body.Close()
	reason := <-closed
	fmt.Println("closed:", reason, errors.Is(reason, sse.ErrCompleted))
	// Output:
	// opened sse /hello from cursor 41
	// closed: rxstream: completed true
}
