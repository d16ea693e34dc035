package longpoll_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/labstack/echo/v4"
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
	e := echo.New()
	e.GET("/topics/:topic/longpoll", lp.Topic(hub, longpoll.Param("topic"), nil))
	ts := httptest.NewServer(e)
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

// The seed's DeferredResult example: a per-request producer answers "new
// message" after a delay (10 s in the seed), or the request times out
// after 30 s. The producer is cancelled before the answer is written.
func ExampleServer_Stream() {
	lp, _ := longpoll.New(nil)
	e := echo.New()
	e.GET("/poll", lp.Stream(func(c echo.Context, cursor string) (rxgo.Observable, error) {
		return streams.Generate(func(ctx context.Context, emit func(any) error) error {
			select {
			case <-time.After(10 * time.Millisecond): // 10 * time.Second in the seed
				return emit("new message")
			case <-ctx.Done():
				return nil
			}
		}), nil
	}, &longpoll.HandlerOptions{Timeout: 30 * time.Second}))
	ts := httptest.NewServer(e)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/poll")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, resp.Header.Get("Cache-Control"))
	fmt.Print(string(body))
	// Output:
	// 200 OK no-store
	// {"events":[{"data":"new message"}],"cursor":""}
}

// Callbacks in the spirit of DeferredResult: OnTimeout answers a custom
// result, OnCompletion runs once per request whatever its outcome.
func ExampleHandlerOptions() {
	hub := &framework.Hub{}
	defer hub.Close()
	lp, _ := longpoll.New(nil)
	done := make(chan longpoll.Outcome, 1)
	e := echo.New()
	e.GET("/t", lp.Topic(hub, func(echo.Context) string { return "quiet" }, &longpoll.HandlerOptions{
		Timeout: 20 * time.Millisecond,
		OnTimeout: func(c echo.Context, cursor string) error {
			return c.JSON(http.StatusOK, map[string]any{"events": []any{}, "cursor": cursor, "timeout": true})
		},
		OnCompletion: func(c echo.Context, o longpoll.Outcome) { done <- o },
	}))
	ts := httptest.NewServer(e)
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/t?cursor=0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.Status, " ", string(body))
	fmt.Println(<-done)
	// Output:
	// 200 OK {"cursor":"0","events":[],"timeout":true}
	// timed out
}
