package adapters_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/framework"
)

// PublishTo sends a key with every attempt and retries what may have been
// lost: here a retry of the same key (the answer to the first was lost,
// say) is answered with the same ID, and the topic holds one event.
func ExamplePublishTo() {
	hub := &framework.Hub{}
	defer hub.Close()
	ep, _ := adapters.New(&adapters.Options{Publish: true})
	defer ep.Close()
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}", ep.Topic(hub, adapters.Param("topic")))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	ctx := context.Background()
	opts := &adapters.PublishOptions{Key: "order-17-confirmed", Event: "order"}
	id, err := adapters.PublishTo(ctx, ts.URL+"/topics/orders", []byte("order 17 confirmed"), opts)
	if err != nil {
		panic(err)
	}
	again, _ := adapters.PublishTo(ctx, ts.URL+"/topics/orders", []byte("order 17 confirmed"), opts)
	p, _ := hub.Broker().Read(ctx, "orders", 0, 10)
	fmt.Println(again == id, len(p.Records), p.Records[0].Event.Name)

	// A refusal is final: a *StatusError, not retried.
	_, err = adapters.PublishTo(ctx, ts.URL+"/topics/bad..name", []byte("x"), nil)
	fmt.Println(err)
	// Output:
	// true 1 order
	// rxstream: 400 Bad Request: rxstream: invalid topic name: "bad..name"
}

// The Endpoint answers a POST with an Idempotency-Key; a repeat gets the
// same {"id": ...} and says so in Idempotent-Replayed.
func ExampleKeyHeader() {
	hub := &framework.Hub{}
	defer hub.Close()
	ep, _ := adapters.New(&adapters.Options{Publish: true})
	defer ep.Close()
	ts := httptest.NewServer(ep.Topic(hub, func(*http.Request) string { return "chat" }))
	defer ts.Close()

	var ids []string
	for _, key := range []string{"k-1", "k-1", "bad\tkey"} {
		req, _ := http.NewRequest(http.MethodPost, ts.URL, strings.NewReader("hi"))
		req.Header.Set(adapters.KeyHeader, key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ids = append(ids, string(body))
		fmt.Println(resp.StatusCode, resp.Header.Get(adapters.ReplayedHeader) == "true")
	}
	fmt.Println(ids[0] == ids[1])
	fmt.Print(ids[2])
	// Output:
	// 200 false
	// 200 true
	// 400 false
	// true
	// {"message":"rxstream: invalid idempotency key: byte 0x09 at 3 is not printable ASCII (space to tilde)"}
}
