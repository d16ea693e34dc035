package longpoll_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// A hub topic served as long polls and followed with the Go client, which
// resumes after the event it last saw.
func ExampleServer_Topic() {
	hub := &framework.Hub{}
	defer hub.Close()
	lp, _ := longpoll.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}/longpoll", lp.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
	ts := httptest.NewServer(mux)
	defer ts.Close()
	ts.Config.RegisterOnShutdown(lp.Close)

	ctx := context.Background()
	first, _ := hub.Publish(ctx, "news", framework.Event{Data: []byte("seen before")})
	hub.Publish(ctx, "news", framework.Event{Data: []byte("服务器回复: 你好")})
	hub.Publish(ctx, "news", framework.Event{Name: "update", Data: []byte(`{"n":2}`)})

	client, _ := longpoll.NewClient(ts.URL+"/topics/news/longpoll", &longpoll.ClientOptions{Cursor: first})
	ctx, cancel := context.WithCancel(ctx)
	items := client.Events().Observe(rxgo.WithContext(ctx))
	for range 2 {
		ev := (<-items).V.(framework.Event)
		fmt.Printf("%q %s\n", ev.Name, ev.Data)
	}
	cancel()
	for range items { // wait for the client to stop
	}
	// Output:
	// "" 服务器回复: 你好
	// "update" {"n":2}
}

// Several topics in one long-poll: each event names its topic, and the
// answer's composite cursor resumes them all.
func ExampleServer_Topics() {
	hub := &framework.Hub{}
	defer hub.Close()
	lp, _ := longpoll.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /topics", lp.Topics(hub))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	mc, _ := longpoll.NewMultiClient(ts.URL+"/topics", nil)
	defer mc.Close()
	news, _ := mc.Subscribe("news", "0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	items := news.Events().Observe(rxgo.WithContext(ctx))
	hub.Publish(ctx, "news", framework.Event{Data: []byte("extra!")})
	fmt.Printf("%s\n", (<-items).V.(framework.Event).Data)
	// Output:
	// extra!
}

// The seed's DeferredResult example: a per-request producer answers "new
// message" after a delay (10 s in the seed), or the request times out
// after 30 s. The producer is cancelled before the answer is written.
func ExampleServer_Stream() {
	lp, _ := longpoll.New(&longpoll.Options{Timeout: 30 * time.Second})
	mux := http.NewServeMux()
	mux.Handle("GET /poll", lp.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Generate(func(ctx context.Context, emit func(any) error) error {
			select {
			case <-time.After(10 * time.Millisecond): // 10 * time.Second in the seed
				return emit("new message")
			case <-ctx.Done():
				return nil
			}
		}), nil
	}))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/poll")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Header.Get("Cache-Control"))
	fmt.Println(string(body))
	// Output:
	// 200 OK no-store
	// {"events":[{"data":"new message"}],"cursor":""}
}

// The hooks in the spirit of DeferredResult's callbacks: Closed runs once
// per request whatever its end, here the timeout (onTimeout), with the
// reason; Error (onError) is for the errors that end a request or that
// its client does not see.
func ExampleHooks() {
	hub := &framework.Hub{}
	defer hub.Close()
	closed := make(chan error, 1)
	lp, _ := longpoll.New(&longpoll.Options{
		Timeout: 20 * time.Millisecond,
		Hooks: longpoll.Hooks{
			Closed: func(c *longpoll.Conn, reason error) { closed <- reason },
		},
	})
	mux := http.NewServeMux()
	mux.Handle("GET /quiet", lp.Topic(hub, func(*http.Request) string { return "quiet" }))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/quiet?cursor=0")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get(longpoll.CursorHeader))
	fmt.Println(errors.Is(<-closed, longpoll.ErrTimeout))
	// Output:
	// 204 No Content 0
	// true
}
