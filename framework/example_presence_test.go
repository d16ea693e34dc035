package framework_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/rxstream/rxstream/framework"
)

// A subscription names its user; the Hub lists each user once with its
// connections, and a subscription that asks for presence gets the joins
// and leaves, events without an ID.
func ExampleHub_Presence() {
	hub, _ := framework.NewHub(&framework.HubOptions{PresenceWindow: -1}) // leaves at once
	defer hub.Close()
	watcher, _ := hub.SubscribeWith("room", "", &framework.SubscribeOptions{Presence: true})
	defer watcher.Close()
	for _, user := range []string{"bob", "ann", "ann"} {
		s, _ := hub.SubscribeWith("room", "", &framework.SubscribeOptions{User: user, Info: json.RawMessage(`{"status":"here"}`)})
		defer s.Close()
	}
	page, _ := hub.Presence(context.Background(), "room", nil)
	for _, m := range page.Members {
		fmt.Println(m.User, m.Conns, string(m.Info))
	}
	fmt.Println("anonymous:", page.Anonymous)
	b, _ := watcher.Poll(context.Background(), 0)
	for _, ev := range b.Events {
		fmt.Printf("%s %s (id %q)\n", ev.Name, ev.Data, ev.ID)
	}
	// Output:
	// ann 2 {"status":"here"}
	// bob 1 {"status":"here"}
	// anonymous: 1
	// join {"user":"bob","info":{"status":"here"},"conns":1} (id "")
	// join {"user":"ann","info":{"status":"here"},"conns":1} (id "")
}
