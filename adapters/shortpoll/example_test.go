package shortpoll_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/framework"
)

// A hub topic served as short polls, read with plain net/http: the answer
// carries the events after the cursor, and a conditional request with the
// answer's ETag costs a 304 while nothing is new.
func ExampleServer_Topic() {
	hub := &framework.Hub{}
	defer hub.Close()
	sp, _ := shortpoll.New(nil)
	e := echo.New()
	e.GET("/topics/:topic/poll", sp.Topic(hub, shortpoll.Param("topic")))
	ts := httptest.NewServer(e)
	defer ts.Close()

	hub.Publish(context.Background(), "news", framework.Event{Data: []byte("hello")})
	poll := func(cursor, etag string) (status int, body, nextETag string) {
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/topics/news/poll?cursor="+cursor, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error(), ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("ETag")
	}
	status, body, etag := poll("0", "")
	fmt.Println(status, len(body) > 0, etag != "")
	status, body, _ = poll(etag[1:len(etag)-1], etag) // the ETag is the quoted cursor
	fmt.Println(status, body == "")
	// Output:
	// 200 true true
	// 304 true
}

// The Go client polls on the server's suggested interval and delivers the
// events as rxgo items.
func ExampleClient() {
	hub := &framework.Hub{}
	defer hub.Close()
	sp, _ := shortpoll.New(nil)
	e := echo.New()
	e.GET("/topics/:topic/poll", sp.Topic(hub, shortpoll.Param("topic")))
	ts := httptest.NewServer(e)
	defer ts.Close()

	ctx := context.Background()
	hub.Publish(ctx, "news", framework.Event{Data: []byte("one")})
	hub.Publish(ctx, "news", framework.Event{Data: []byte{0xff, 0x00}}) // not UTF-8: refused
	hub.Publish(ctx, "news", framework.Event{Name: "update", Data: []byte("two")})

	client, _ := shortpoll.NewClient(ts.URL+"/topics/news/poll", &shortpoll.ClientOptions{Cursor: "0"})
	ctx, cancel := context.WithCancel(ctx)
	items := client.Events().Observe(rxgo.WithContext(ctx))
	for range 2 {
		ev := (<-items).V.(framework.Event)
		fmt.Printf("%q %s\n", ev.Name, ev.Data)
	}
	cancel()
	for range items {
	}
	// Output:
	// "" one
	// "update" two
}
