package shortpoll

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rxstream/rxstream/framework"
)

// followBroker is a MemoryBroker that counts the Follows it started.
type followBroker struct {
	*framework.MemoryBroker
	follows atomic.Int64
}

func (b *followBroker) Follow(topic string, fn func(framework.Record, error)) (framework.Cursor, func(), error) {
	b.follows.Add(1)
	return b.MemoryBroker.Follow(topic, fn)
}

// TestPollsShareOneFollow: polls that follow each other keep the topic
// followed between them: one Follow of the broker for all of them, and
// every event answered once.
func TestPollsShareOneFollow(t *testing.T) {
	mb, err := framework.NewMemoryBroker(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &followBroker{MemoryBroker: mb}
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	sp, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}/poll", sp.Topic(hub, pathTopic))
	srv := httptest.NewServer(mux)
	defer func() {
		srv.Close()
		hub.Close()
		mb.Close()
	}()
	v := &env{hub: hub, sp: sp, srv: srv}
	cursor := get(t, v.url("idle", "")).body.Cursor
	var got []string
	for i := range 5 {
		v.publish(t, "idle", string(rune('a'+i)))
		a := get(t, v.url("idle", cursor))
		got = append(got, a.data()...)
		cursor = a.body.Cursor
	}
	if n := b.follows.Load(); n != 1 {
		t.Fatalf("%d Follows for 6 polls, want 1", n)
	}
	if s := strings.Join(got, ","); s != "a,b,c,d,e" {
		t.Fatalf("answered %q", s)
	}
}
