package shortpoll_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// A hub topic served as short polls, read with plain net/http: the answer
// carries the events after the cursor, and a conditional request with the
// answer's ETag costs a 304 while nothing is new.
func ExampleServer_Topic() {
	hub := &framework.Hub{}
	defer hub.Close()
	sp, _ := shortpoll.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}/poll", sp.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
	ts := httptest.NewServer(mux)
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
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}/poll", sp.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	ctx := context.Background()
	hub.Publish(ctx, "news", framework.Event{Data: []byte("one")})
	hub.Publish(ctx, "news", framework.Event{Data: []byte{0xff, 0x00}}) // not UTF-8: the hub refuses it
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

// A per-request producer served as short polls: each poll answers with
// what a fresh observation emits first (here the current value), or 204
// when it emits nothing within the server's Wait.
func ExampleServer_Stream() {
	sp, _ := shortpoll.New(&shortpoll.Options{Interval: 5 * time.Second})
	mux := http.NewServeMux()
	mux.Handle("GET /temperature", sp.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return rxgo.Just(framework.Event{Name: "reading", Data: []byte("21.5")})(), nil
	}))
	mux.Handle("GET /silent", sp.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Interval(time.Hour), nil // nothing within Wait
	}))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	for _, path := range []string{"/temperature", "/silent"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Status, resp.Header.Get(shortpoll.IntervalHeader), string(body))
	}
	// Output:
	// 200 OK 5000 {"events":[{"event":"reading","data":"21.5"}],"cursor":"","retry":5000}
	// 204 No Content 5000
}
