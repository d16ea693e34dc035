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

// One URL for every transport on the standard library's mux, with the
// authorization hook asked about the very topic served.
func ExampleEndpoint_Topic() {
	hub := &framework.Hub{}
	defer hub.Close()
	ep, _ := adapters.New(&adapters.Options{
		Publish: true,
		Authorize: func(r *http.Request, topic string, a adapters.Action) error {
			if a == adapters.Publish && topic != "chat" {
				return &adapters.StatusError{Code: http.StatusForbidden, Message: "read-only topic"}
			}
			return nil
		},
	})
	defer ep.Close()
	mux := http.NewServeMux()
	mux.Handle("/rooms/{room}", ep.Topic(hub, adapters.Param("room")))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	seen, _ := hub.Publish(context.Background(), "chat", framework.Text("seen before"))
	for _, room := range []string{"chat", "news"} {
		resp, _ := http.Post(ts.URL+"/rooms/"+room, "text/plain", strings.NewReader("hi"))
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println("POST", room, resp.StatusCode, strings.Contains(string(body), "read-only"))
	}
	resp, _ := http.Get(ts.URL + "/rooms/chat?transport=longpoll&cursor=" + seen)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("GET chat", resp.StatusCode, strings.Contains(string(body), `"data":"hi"`))
	// Output:
	// POST chat 200 false
	// POST news 403 true
	// GET chat 200 true
}
