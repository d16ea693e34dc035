package natsbroker_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
)

// A publish retried on another node with the same key is answered with the
// first one's ID: JetStream stored the event once, for every node.
func ExampleBroker_PublishKeyed() {
	url, stop := embeddedNATS()
	defer stop()
	ctx := context.Background()
	var hubs []*framework.Hub
	for range 2 {
		b, err := natsbroker.New(ctx, &natsbroker.Options{URL: url, KeyWindow: 5 * time.Minute, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			log.Fatal(err)
		}
		defer b.Close()
		hub, _ := framework.NewHub(&framework.HubOptions{Broker: b})
		defer hub.Close()
		hubs = append(hubs, hub)
	}
	opts := &framework.PublishOptions{Key: "order-17-confirmed"}
	id, _, err := hubs[0].PublishWith(ctx, "orders", framework.Text("order 17 confirmed"), opts)
	if err != nil {
		log.Fatal(err)
	}
	// Node 1's answer was lost, say; the client retries on node 2.
	again, repeat, _ := hubs[1].PublishWith(ctx, "orders", framework.Text("order 17 confirmed"), opts)
	p, _ := hubs[1].Broker().Read(ctx, "orders", 0, 10)
	fmt.Println(again == id, repeat, len(p.Records))
	// Output: true true 1
}
