package session

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

// open opens a multiplexed session on hub for target (a URL's query).
func open(t *testing.T, hub *framework.Hub, query string) *Session {
	t.Helper()
	s, _, err := Open(httptest.NewRequest(http.MethodGet, "/topics?"+query, nil), hub, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func publish(t *testing.T, hub *framework.Hub, topic string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id, err := hub.Publish(context.Background(), topic, framework.Event{Data: []byte(topic + strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestTakeInTurn: a busy topic does not starve the others; each topic's
// order holds; each item's cursor resumes exactly after it.
func TestTakeInTurn(t *testing.T) {
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	s := open(t, hub, "topic=a&topic=b&topic=c")
	ids := map[string][]string{"a": publish(t, hub, "a", 50), "b": publish(t, hub, "b", 2), "c": publish(t, hub, "c", 2)}
	b, err := s.Take(context.Background(), 6)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, it := range b.Items {
		got[it.Topic]++
	}
	if len(b.Items) != 6 || got["b"] == 0 || got["c"] == 0 {
		t.Fatalf("6 items from a busy a, and b and c: %v", got)
	}
	// Everything, in order per topic, each once; resuming from any item's
	// cursor gets exactly what follows it.
	seen := map[string]int{}
	var items []Item
	for {
		for _, it := range b.Items {
			if want := ids[it.Topic][seen[it.Topic]]; it.Event.ID != want || it.Pos != want {
				t.Fatalf("%s: got %s (pos %s), want %s", it.Topic, it.Event.ID, it.Pos, want)
			}
			seen[it.Topic]++
			items = append(items, it)
		}
		if b, err = s.Take(context.Background(), 6); err != nil {
			t.Fatal(err)
		}
		if len(b.Items) == 0 {
			break
		}
	}
	if seen["a"] != 50 || seen["b"] != 2 || seen["c"] != 2 {
		t.Fatalf("took %v", seen)
	}
	mid := items[len(items)/2]
	r := open(t, hub, "topic=a&topic=b&topic=c&cursor="+mid.Cursor)
	rest := 0
	for {
		b, err := r.Take(context.Background(), 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Items) == 0 {
			break
		}
		rest += len(b.Items)
	}
	if want := len(items) - len(items)/2 - 1; rest != want {
		t.Fatalf("resuming after item %d of %d took %d, want %d", len(items)/2, len(items), rest, want)
	}
	if s.Cursor() != items[len(items)-1].Cursor {
		t.Fatalf("Cursor %s, want the last item's %s", s.Cursor(), items[len(items)-1].Cursor)
	}
}

// TestGapPerTopic: a gap notice names its topic and moves only that
// topic's position.
func TestGapPerTopic(t *testing.T) {
	broker, _ := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 2})
	hub, _ := framework.NewHub(&framework.HubOptions{Broker: broker})
	defer hub.Close()
	a := publish(t, hub, "a", 5) // a keeps its last 2
	b := publish(t, hub, "b", 1)
	s := open(t, hub, "topic=a&topic=b&cursor=:"+a[0]+","+b[0])
	batch, err := s.Take(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(batch.Items) != 3 || batch.Items[0].Gap == nil || batch.Items[0].Topic != "a" ||
		*batch.Items[0].Gap != (framework.Gap{Last: a[0], Next: a[3]}) || batch.Items[0].Cursor != "" {
		t.Fatalf("want a's gap then its 2 retained events: %+v", batch.Items)
	}
	if want := string(formatCursor(nil, []string{a[4], b[0]})); s.Cursor() != want {
		t.Fatalf("cursor %s, want %s", s.Cursor(), want)
	}
}

// TestIdleSessionKeepsNoBurst: after a burst, an idle session holds no
// item buffer past its small one.
func TestIdleSessionKeepsNoBurst(t *testing.T) {
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	s := open(t, hub, "topic=a")
	publish(t, hub, "a", 128)
	if b, _ := s.Take(context.Background(), 128); len(b.Items) != 128 {
		t.Fatalf("took %d", len(b.Items))
	}
	if b, _ := s.Take(context.Background(), 128); len(b.Items) != 0 || cap(s.items) > idleKeep {
		t.Fatalf("idle: %d items, buffer of %d", len(b.Items), cap(s.items))
	}
}

// TestAddRemove grows and shrinks a multiplexed session: each Add is
// checked as Open checks a request's topics, and the composite cursor and
// the items follow the current topics in order.
func TestAddRemove(t *testing.T) {
	hub, err := framework.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ctx := context.Background()
	publish := func(topic, data string) string {
		t.Helper()
		id, err := hub.Publish(ctx, topic, framework.Event{Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	c1 := publish("c", "c1")
	publish("c", "c2")
	c := transport.WithGuard(httptest.NewRequest(http.MethodGet, "/?topic=a&topic=b", nil), func(_ *http.Request, topic string, _ transport.Action) error {
		if topic == "secret" {
			return errors.New("not yours")
		}
		return nil
	})
	sess, _, err := Open(c, hub, Options{MaxTopics: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	if got, err := sess.Add(c, "c", c1, transport.Rewind{}); err != nil || got != c1 {
		t.Fatalf("Add(c, %s) = %q, %v", c1, got, err)
	}
	for _, tt := range []struct {
		name, topic, cursor string
		status              int
	}{
		{"duplicate", "a", "", http.StatusBadRequest},
		{"invalid topic", "bad..name", "", http.StatusBadRequest},
		{"over MaxTopics", "d", "", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sess.Add(c, tt.topic, tt.cursor, transport.Rewind{})
			var r *transport.StatusError
			if !errors.As(err, &r) || r.Code != tt.status {
				t.Fatalf("Add(%s) = %v, want %d", tt.topic, err, tt.status)
			}
		})
	}
	if !sess.Remove("b") || sess.Remove("b") {
		t.Fatal("Remove(b) twice: want true, then false")
	}
	for _, tt := range []struct {
		name, topic, cursor string
		status              int
	}{
		{"refused by the guard", "secret", "", http.StatusForbidden},
		{"invalid cursor", "d", "nope", http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sess.Add(c, tt.topic, tt.cursor, transport.Rewind{})
			var r *transport.StatusError
			if !errors.As(err, &r) || r.Code != tt.status {
				t.Fatalf("Add(%s) = %v, want %d", tt.topic, err, tt.status)
			}
		})
	}
	publish("b", "not followed any more")
	a1 := publish("a", "a1")
	var got []string
	for range 10 {
		b, err := sess.Take(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range b.Items {
			got = append(got, it.Topic+":"+string(it.Event.Data))
		}
	}
	slices.Sort(got)
	if want := []string{"a:a1", "c:c2"}; !slices.Equal(got, want) {
		t.Fatalf("took %q, want %q", got, want)
	}
	names, pos := sess.Topics()
	if !slices.Equal(names, []string{"a", "c"}) || pos[0] != a1 {
		t.Fatalf("Topics() = %q %q", names, pos)
	}
	if back, err := parseCursor(sess.Cursor(), 2); err != nil || !slices.Equal(back, pos) {
		t.Fatalf("Cursor() = %q names %q, want %q", sess.Cursor(), back, pos)
	}

	// No topic left: Take has nothing, and a topic added then is read.
	sess.Remove("a")
	sess.Remove("c")
	if b, err := sess.Take(ctx, 10); err != nil || len(b.Items) != 0 {
		t.Fatalf("Take with no topic: %v, %v", b.Items, err)
	}
	if _, err := sess.Add(c, "a", a1, transport.Rewind{}); err != nil {
		t.Fatal(err)
	}
	publish("a", "a2")
	if b, err := sess.Take(ctx, 10); err != nil || len(b.Items) != 1 || string(b.Items[0].Event.Data) != "a2" {
		t.Fatalf("Take after Add: %v, %v", b.Items, err)
	}

	sess.Close()
	if _, err := sess.Add(c, "b", "", transport.Rewind{}); err == nil {
		t.Fatal("Add after Close succeeded")
	}
	if n := hub.Topics(); n != 0 {
		t.Fatalf("%d topics followed after Close", n)
	}
}
