package longpoll

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env is a hub and a long-poll server on a loopback ServeMux:
// /topics/{topic}/longpoll serves the hub, /stream the producer given.
// The patterns name no method, so that the handlers' own 405 is what a
// POST gets.
type env struct {
	hub *framework.Hub
	lp  *Server
	srv *httptest.Server
}

// pathTopic is the name function of a {topic} pattern.
func pathTopic(r *http.Request) string { return r.PathValue("topic") }

func newEnv(t testing.TB, opts *Options, p Producer) *env {
	t.Helper()
	broker, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	hub, err := framework.NewHub(&framework.HubOptions{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	lp, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}/longpoll", lp.Topic(hub, pathTopic))
	if p != nil {
		mux.Handle("/stream", lp.Stream(p))
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		hub.Close()
		broker.Close()
	})
	return &env{hub: hub, lp: lp, srv: srv}
}

func (v *env) url(topic, cursor string) string {
	u := v.srv.URL + "/topics/" + topic + "/longpoll"
	if cursor != "" {
		u += "?cursor=" + url.QueryEscape(cursor)
	}
	return u
}

func (v *env) publish(t testing.TB, topic, data string) string {
	t.Helper()
	id, err := v.hub.Publish(context.Background(), topic, framework.Event{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// answer is a response read whole.
type answer struct {
	status int
	header http.Header
	raw    []byte
	body   transport.PollBody
}

func do(t testing.TB, client *http.Client, req *http.Request) answer {
	t.Helper()
	a, err := fetch(client, req)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// fetch makes the request and reads the answer; it may run in any
// goroutine.
func fetch(client *http.Client, req *http.Request) (answer, error) {
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw}
	if resp.StatusCode == http.StatusOK && resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(raw, &a.body); err != nil {
			return a, fmt.Errorf("body %q: %w", raw, err)
		}
	}
	return a, nil
}

func get(t testing.TB, u string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, nil, req)
}

func (a answer) data() []string {
	var out []string
	for _, e := range a.body.Events {
		out = append(out, e.Data)
	}
	return out
}

// recorder records the calls of the Hooks it makes.
type recorder struct {
	mu     sync.Mutex
	opened []*Conn
	errs   []error
	closed []error
}

func (rec *recorder) hooks() Hooks {
	return Hooks{
		Opened: func(c *Conn) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.opened = append(rec.opened, c)
		},
		Error: func(c *Conn, err error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.errs = append(rec.errs, err)
		},
		Closed: func(c *Conn, reason error) {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			rec.closed = append(rec.closed, reason)
		},
	}
}

// calls returns the Conns opened, the errors and the reasons of Closed.
func (rec *recorder) calls() (opened []*Conn, errs, closed []error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.opened), slices.Clone(rec.errs), slices.Clone(rec.closed)
}
