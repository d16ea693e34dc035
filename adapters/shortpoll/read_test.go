package shortpoll

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
)

// followBroker is a Broker that counts the Follows it started.
type followBroker struct {
	framework.Broker
	follows atomic.Int64
}

func (b *followBroker) Follow(topic string, fn func(framework.Record, error)) (framework.Cursor, func(), error) {
	b.follows.Add(1)
	return b.Broker.Follow(topic, fn)
}

// pollAll polls topics (one on /topics/{topic}/poll, several on
// /topics?topic=...) from an empty cursor until it has answered want
// events, at most 10,000 polls, and returns each topic's data in the
// order answered. It calls start after its first poll, which places
// its cursor at the topics' tips.
func pollAll(t *testing.T, base string, topics []string, want int, start func()) map[string][]string {
	t.Helper()
	u := base + "/topics/" + topics[0] + "/poll?cursor="
	if len(topics) > 1 {
		q := url.Values{"topic": topics}
		u = base + "/topics?" + q.Encode() + "&cursor="
	}
	got := map[string][]string{}
	cursor, n := "", 0
	for polls := 0; n < want; polls++ {
		if polls == 10000 {
			t.Fatalf("%d events of %d after %d polls", n, want, polls)
		}
		a := get(t, u+url.QueryEscape(cursor))
		if a.status != http.StatusOK || a.body.Gap != nil {
			t.Fatalf("poll %d: %d %s", polls, a.status, a.raw)
		}
		for _, e := range a.body.Events {
			topic := e.Topic
			if topic == "" {
				topic = topics[0]
			}
			got[topic] = append(got[topic], e.Data)
			n++
		}
		cursor = a.body.Cursor
		if polls == 0 {
			start()
		}
	}
	return got
}

// publishAll publishes events from to to-1 to each topic, in turn, and
// adds their data to out by topic; it reports its error on t.
func publishAll(t *testing.T, hub *framework.Hub, topics []string, from, to int, out map[string][]string) {
	for i := from; i < to; i++ {
		for _, topic := range topics {
			d := topic + strconv.Itoa(i)
			if _, err := hub.Publish(context.Background(), topic, framework.Event{Data: []byte(d)}); err != nil {
				t.Error(err)
				return
			}
			out[topic] = append(out[topic], d)
		}
	}
}

// readEnv serves hub's topics as short polls at /topics/{topic}/poll and
// /topics.
func readEnv(t *testing.T, hub *framework.Hub) string {
	t.Helper()
	sp, err := New(&Options{MaxEvents: 7, Gate: transport.Unlimited()}) // polls in a loop: past the default connect rate
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}/poll", sp.Topic(hub, pathTopic))
	mux.Handle("/topics", sp.Topics(hub))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestPollsFollowNothing: short polls read the history, the broker
// follows no topic for them, and every event published while they poll
// is answered once, in order, on one topic and on several.
func TestPollsFollowNothing(t *testing.T) {
	mb, err := framework.NewMemoryBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &followBroker{Broker: mb}
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { hub.Close(); mb.Close() }()
	base := readEnv(t, hub)
	for _, topics := range [][]string{{"a"}, {"b", "c"}} {
		// A backlog, whose answers are cut at MaxEvents, then events
		// published while the polls go on.
		published := map[string][]string{}
		var wg sync.WaitGroup
		defer wg.Wait() // when a poll fails the test
		got := pollAll(t, base, topics, 80*len(topics), func() {
			publishAll(t, hub, topics, 0, 40, published)
			wg.Go(func() { publishAll(t, hub, topics, 40, 80, published) })
		})
		wg.Wait()
		if fmt.Sprint(got) != fmt.Sprint(published) {
			t.Fatalf("%v: answered %v, published %v", topics, got, published)
		}
	}
	if n := b.follows.Load(); n != 0 {
		t.Fatalf("%d Follows for short polls, want 0", n)
	}
}

// TestPollsCreateNoConsumer: on NATS JetStream, short polls of a topic
// that no one follows create no consumer, while every event published
// meanwhile is answered once, in order. The consumers are counted from
// the server's advisories, each one created; a subscription of the hub
// first shows that the count sees one.
func TestPollsCreateNoConsumer(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	natsURL := "nats://" + srv.Addr().(*net.TCPAddr).String()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var (
		mu      sync.Mutex
		created []string // the advisories' bodies, each naming its consumer's filter subject
	)
	if _, err := nc.Subscribe("$JS.EVENT.ADVISORY.CONSUMER.CREATED."+natsbroker.DefaultStream+".>", func(m *nats.Msg) {
		mu.Lock()
		created = append(created, string(m.Data))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	// mark subscribes to a topic of its own, which creates a consumer,
	// and returns the consumers created until its own: the server sends
	// its advisories in order, so any created before it has arrived by
	// then.
	marks := 0
	mark := func(hub *framework.Hub) int {
		t.Helper()
		marks++
		topic := "mark" + strconv.Itoa(marks)
		sub, err := hub.Subscribe(topic, "")
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subject, _ := natsbroker.Subject(natsbroker.DefaultPrefix, topic)
		st, err := js.Stream(context.Background(), natsbroker.DefaultStream)
		if err != nil {
			t.Fatal(err)
		}
		name := ""
		list := st.ListConsumers(context.Background())
		for ci := range list.Info() {
			if ci.Config.FilterSubject == subject || slices.Contains(ci.Config.FilterSubjects, subject) {
				name = ci.Name
			}
		}
		if name == "" {
			t.Fatalf("no consumer follows %s: %v", subject, list.Err())
		}
		for end := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			mu.Lock()
			n := slices.IndexFunc(created, func(a string) bool { return strings.Contains(a, `"consumer":"`+name+`"`) })
			mu.Unlock()
			if n >= 0 {
				return n + 1
			}
			if time.Now().After(end) {
				t.Fatalf("no advisory of the consumer of %s after 10 s: %q", topic, created)
			}
		}
	}
	b, err := natsbroker.New(context.Background(), &natsbroker.Options{URL: natsURL})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	base := readEnv(t, hub)

	if n := mark(hub); n != 1 {
		t.Fatalf("%d consumers created for a subscription, want 1", n)
	}
	for _, topics := range [][]string{{"a"}, {"b", "c"}} {
		// A backlog, whose answers are cut at MaxEvents, then events
		// published while the polls go on.
		published := map[string][]string{}
		var wg sync.WaitGroup
		defer wg.Wait() // when a poll fails the test
		got := pollAll(t, base, topics, 60*len(topics), func() {
			publishAll(t, hub, topics, 0, 30, published)
			wg.Go(func() { publishAll(t, hub, topics, 30, 60, published) })
		})
		wg.Wait()
		if fmt.Sprint(got) != fmt.Sprint(published) {
			t.Fatalf("%v: answered %v, published %v", topics, got, published)
		}
		for _, topic := range topics {
			if !slices.Equal(got[topic], published[topic]) {
				t.Fatalf("%s: answered %v", topic, got[topic])
			}
		}
	}
	if n := mark(hub); n != 2 {
		t.Fatalf("%d consumers created by short polls", n-2)
	}
}
