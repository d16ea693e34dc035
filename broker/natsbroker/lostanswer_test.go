package natsbroker_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/internal/clustertest"
)

// epNode is a node that serves its topics with an adapters.Endpoint on a
// ServeMux: every transport and POST, at /topics/{topic}.
type epNode struct {
	hub *framework.Hub
	srv *httptest.Server
}

func startEndpointNode(t *testing.T, o natsbroker.Options) *epNode {
	t.Helper()
	b := newBroker(t, o)
	hub, err := framework.NewHub(&framework.HubOptions{Broker: b})
	if err != nil {
		t.Fatal(err)
	}
	ep, err := adapters.New(&adapters.Options{Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}", ep.Topic(hub, adapters.Param("topic")))
	n := &epNode{hub: hub, srv: httptest.NewServer(mux)}
	t.Cleanup(func() {
		ep.Close()
		n.srv.Close()
		hub.Close()
		b.Close()
	})
	return n
}

// loseFirst is a RoundTripper that sends the first request to its node,
// reads the whole answer and loses it (the node published, then the
// connection broke), and sends every later one to the node of next.
type loseFirst struct {
	next *url.URL

	mu      sync.Mutex
	n       int
	keys    []string
	answers []http.Header // of the requests after the first
}

func (l *loseFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.n++
	first := l.n == 1
	l.keys = append(l.keys, req.Header.Get(adapters.KeyHeader))
	l.mu.Unlock()
	if !first {
		req = req.Clone(req.Context())
		req.URL.Scheme, req.URL.Host, req.Host = l.next.Scheme, l.next.Host, l.next.Host
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if first {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, errors.New("the first attempt was answered " + resp.Status)
		}
		return nil, errors.New("connection reset (the answer was lost)")
	}
	l.mu.Lock()
	l.answers = append(l.answers, resp.Header.Clone())
	l.mu.Unlock()
	return resp, nil
}

// TestLostAnswerRetriedOnAnotherNode: a publisher whose answer is lost
// after the first node published retries, with the same key, on the other
// node: it gets the same ID, the event is stored once, and every subscriber
// of both nodes, on SSE and long-poll, receives it once.
func TestLostAnswerRetriedOnAnotherNode(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			o := tg.setup(t)
			a, b := startEndpointNode(t, o), startEndpointNode(t, o)
			readers := map[string]*clustertest.Reader{
				"sse on a":      clustertest.Follow(t, "sse", a.srv.URL+"/topics/orders"),
				"sse on b":      clustertest.Follow(t, "sse", b.srv.URL+"/topics/orders"),
				"longpoll on b": clustertest.Follow(t, "longpoll", b.srv.URL+"/topics/orders?transport=longpoll"),
			}
			clustertest.WaitOpen(t, "a", func() bool { return a.hub.Stats().Subscribers == 1 })
			clustertest.WaitOpen(t, "b", func() bool { return b.hub.Stats().Subscribers == 2 })

			next, _ := url.Parse(b.srv.URL)
			lose := &loseFirst{next: next}
			id, err := adapters.PublishTo(context.Background(), a.srv.URL+"/topics/orders", []byte("order 17"), &adapters.PublishOptions{
				HTTPClient: &http.Client{Transport: lose, Timeout: 5 * time.Second},
				MinBackoff: time.Millisecond,
			})
			if err != nil {
				t.Fatal(err)
			}
			lose.mu.Lock()
			if len(lose.keys) != 2 || lose.keys[0] != lose.keys[1] {
				t.Fatalf("attempts sent keys %q; want two of the same", lose.keys)
			}
			if got := lose.answers[0].Get(adapters.ReplayedHeader); got != "true" {
				t.Errorf("the retry's answer has %s %q; want true", adapters.ReplayedHeader, got)
			}
			lose.mu.Unlock()
			end, err := a.hub.Publish(context.Background(), "orders", framework.Text("end"))
			if err != nil {
				t.Fatal(err)
			}
			p, err := a.hub.Broker().Read(context.Background(), "orders", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Records) != 2 || p.Records[0].Event.ID != id {
				t.Fatalf("stored %+v; want the event, as %s, then end", p.Records, id)
			}
			for who, r := range readers {
				r.Expect(t, who, []string{id, end}, []string{"order 17", "end"})
				r.Quiet(t, who)
			}
			if st := b.hub.Stats(); st.Repeats != 1 || st.Published != 0 {
				t.Errorf("node b's stats: %+v; want the one repeat", st)
			}
		})
	}
}
