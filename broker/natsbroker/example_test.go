package natsbroker_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
)

// embeddedNATS starts a NATS server with JetStream in-process, as tests and
// demos do; production runs a NATS cluster.
func embeddedNATS() (url string, stop func()) {
	dir, err := os.MkdirTemp("", "natsbroker-example-")
	if err != nil {
		log.Fatal(err)
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		log.Fatal("nats not ready")
	}
	return s.ClientURL(), func() {
		s.Shutdown()
		s.WaitForShutdown()
		os.RemoveAll(dir)
	}
}

// Two nodes share a topic: what one publishes, the other serves, and a
// cursor from one resumes on the other.
func ExampleNew() {
	url, stop := embeddedNATS()
	defer stop()
	ctx := context.Background()

	newNode := func() (*framework.Hub, func()) {
		b, err := natsbroker.New(ctx, &natsbroker.Options{URL: url, MaxMsgsPerSubject: 100, MaxAge: time.Hour})
		if err != nil {
			log.Fatal(err)
		}
		hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
		if err != nil {
			log.Fatal(err)
		}
		return hub, func() { hub.Close(); b.Close() }
	}
	a, closeA := newNode()
	defer closeA()
	b, closeB := newNode()
	defer closeB()

	first, _ := a.Publish(ctx, "news", framework.Event{Data: []byte("one")})
	a.Publish(ctx, "news", framework.Event{Data: []byte("two")})

	sub, err := b.Subscribe("news", first) // resume after "one", on the other node
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	batch, _ := sub.Next(ctx, 0)
	for _, ev := range batch.Events {
		fmt.Println(string(ev.Data))
	}
	// Output: two
}

func ExampleSubject() {
	s, _ := natsbroker.Subject(natsbroker.DefaultPrefix, "orders.eu")
	fmt.Println(s)
	_, err := natsbroker.Subject(natsbroker.DefaultPrefix, "orders.*")
	fmt.Println(err)
	// Output:
	// rxstream.orders.eu
	// rxstream: invalid topic name: "orders.*"
}

// The newest records of a topic before a cursor, however many other
// topics' events lie between them in the stream.
func ExampleBroker_ReadBefore() {
	url, stop := embeddedNATS()
	defer stop()
	ctx := context.Background()
	b, err := natsbroker.New(ctx, &natsbroker.Options{URL: url})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	var last framework.Cursor
	for _, msg := range []string{"one", "two", "three"} {
		last, _ = b.Publish(ctx, "chat", framework.Text(msg))
		b.Publish(ctx, "other", framework.Text("noise"))
	}

	page, err := b.ReadBefore(ctx, "chat", last.Seq, 5) // before "three"
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range page.Records {
		fmt.Println(string(r.Event.Data))
	}
	fmt.Println("the oldest retained:", page.Start, "older ones lost:", page.Lost)
	// Output:
	// one
	// two
	// the oldest retained: true older ones lost: false
}
