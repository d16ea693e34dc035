package clustertest

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// RelayBroker is a node's broker that also carries a Gate's revocations.
type RelayBroker interface {
	Broker
	adapters.Relay
}

// gateNode is one node whose transports share a Gate relayed over its
// Broker. The hook lets everyone in, as the user its query names.
type gateNode struct {
	gate   *adapters.Gate
	hub    *framework.Hub
	srv    *httptest.Server
	closed chan error // the reasons Hooks.Closed is told, on every transport
}

func startGateNode(t *testing.T, b RelayBroker) *gateNode {
	t.Helper()
	n := &gateNode{closed: make(chan error, 16)}
	var err error
	if n.gate, err = adapters.NewGate(&adapters.GateOptions{Relay: b, Logger: discard}); err != nil {
		t.Fatal(err)
	}
	if n.hub, err = framework.NewHub(&framework.HubOptions{Broker: b}); err != nil {
		t.Fatal(err)
	}
	hooks := sse.Hooks{Closed: func(_ *sse.Conn, reason error) { n.closed <- reason }} // the same type on every transport
	s, _ := sse.New(&sse.Options{Gate: n.gate, Hooks: hooks, Logger: discard})
	lp, _ := longpoll.New(&longpoll.Options{Gate: n.gate, Hooks: hooks, Logger: discard})
	ws, _ := websocket.New(&websocket.Options{Gate: n.gate, Hooks: hooks, Logger: discard})
	topic := adapters.Param("topic")
	mux := http.NewServeMux()
	mux.Handle("GET /sse/{topic}", s.Topic(n.hub, topic))
	mux.Handle("GET /lp/{topic}", lp.Topic(n.hub, topic))
	mux.Handle("GET /ws/{topic}", ws.Topic(n.hub, topic))
	n.srv = httptest.NewServer(adapters.Authorize(mux, func(r *http.Request, _ string, _ adapters.Action) error {
		adapters.SetUser(r, r.URL.Query().Get("user"))
		return nil
	}))
	t.Cleanup(func() {
		s.Close()
		lp.Close()
		ws.Close()
		n.srv.Close()
		n.gate.Close()
		n.hub.Close()
		b.Close()
	})
	return n
}

// Revoke is the cross-node revocation test: two nodes, each a Hub on a
// broker of its own (newBroker's) and a Gate relayed over it. Revoking a
// user on one node ends their streams on both nodes, on every transport,
// with the revocation's reasons; another user's stream goes on. Revoking a
// topic on one node ends its streams on the other; another topic's go on.
func Revoke(t *testing.T, newBroker func(t *testing.T) RelayBroker) {
	t.Helper()
	node1, node2 := startGateNode(t, newBroker(t)), startGateNode(t, newBroker(t))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// alice: SSE on node 1, a WebSocket and a held long-poll on
	// node 2. bob: SSE on node 2.
	aliceSSE := openSSE(t, ctx, node1.srv.URL+"/sse/news?user=alice")
	bobSSE := openSSE(t, ctx, node2.srv.URL+"/sse/news?user=bob")
	aliceWS, _, err := cws.Dial(ctx, "ws"+strings.TrimPrefix(node2.srv.URL, "http")+"/ws/news?user=alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer aliceWS.CloseNow()
	held := make(chan int, 1)
	go func() {
		resp, err := http.Get(node2.srv.URL + "/lp/news?user=alice&cursor=" + aliceSSE.tip)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	for node1.gate.Connections() != 1 || node2.gate.Connections() != 3 {
		select { // every connection admitted
		case <-ctx.Done():
			t.Fatalf("admitted: %d and %d", node1.gate.Connections(), node2.gate.Connections())
		case <-time.After(5 * time.Millisecond):
		}
	}

	n, err := node1.gate.Revoke(ctx, "alice")
	if n != 1 || err != nil {
		t.Fatalf("Revoke: %d here, %v", n, err)
	}
	if name, data := aliceSSE.next(t); name != sse.EventRevoked || !strings.Contains(data, `"cursor":"`+aliceSSE.tip+`"`) {
		t.Fatalf("alice's SSE on node 1: event %q %s", name, data)
	}
	if _, _, err := aliceWS.Read(ctx); cws.CloseStatus(err) != websocket.StatusRevoked {
		t.Fatalf("alice's WebSocket on node 2: %v", err)
	} else if !strings.HasPrefix(closeReason(err), "cursor=") {
		t.Errorf("close reason %q without the cursor", closeReason(err))
	}
	if code := <-held; code != http.StatusForbidden {
		t.Fatalf("alice's long-poll on node 2: %d", code)
	}
	for range 2 {
		if reason := <-node2.closed; !errors.Is(reason, adapters.ErrRevoked) {
			t.Errorf("node 2 told %v", reason)
		}
	}
	if reason := <-node1.closed; !errors.Is(reason, adapters.ErrRevoked) {
		t.Errorf("node 1 told %v", reason)
	}

	id, err := node1.hub.Publish(ctx, "news", framework.Text("for bob"))
	if err != nil {
		t.Fatal(err)
	}
	if name, data := bobSSE.next(t); name != "" || data != "for bob" || bobSSE.id != id {
		t.Fatalf("bob's stream got %q %q", name, data)
	}

	// A topic revoked on node 1 ends bob's stream of it on node 2; carol's
	// stream of another topic there goes on.
	carolSSE := openSSE(t, ctx, node2.srv.URL+"/sse/sports?user=carol")
	if n, err := node1.gate.RevokeTopic(ctx, "news"); n != 0 || err != nil {
		t.Fatalf("RevokeTopic: %d here, %v", n, err)
	}
	if name, data := bobSSE.next(t); name != sse.EventRevoked || !strings.Contains(data, `"cursor":"`+id+`"`) {
		t.Fatalf("bob's SSE on node 2 after the topic's revocation: event %q %s", name, data)
	}
	if reason := <-node2.closed; !errors.Is(reason, adapters.ErrRevoked) {
		t.Errorf("node 2 told %v", reason)
	}
	id, err = node1.hub.Publish(ctx, "sports", framework.Text("for carol"))
	if err != nil {
		t.Fatal(err)
	}
	if name, data := carolSSE.next(t); name != "" || data != "for carol" || carolSSE.id != id {
		t.Fatalf("carol's stream got %q %q", name, data)
	}
}

func closeReason(err error) string {
	var ce cws.CloseError
	errors.As(err, &ce)
	return ce.Reason
}

// sseStream reads a raw SSE response.
type sseStream struct {
	r   *bufio.Reader
	tip string // the id the stream started with
	id  string // the last id read
}

func openSSE(t *testing.T, ctx context.Context, u string) *sseStream {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: %s", u, resp.Status)
	}
	s := &sseStream{r: bufio.NewReader(resp.Body)}
	s.next(t) // the block that sets the tip
	s.tip = s.id
	return s
}

// next returns the next event's name and data (for a block with only an
// id, both empty).
func (s *sseStream) next(t *testing.T) (name, data string) {
	t.Helper()
	var lines []string
	sawID := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "" && len(lines) > 0:
			return name, strings.Join(lines, "\n")
		case line == "" && sawID:
			return "", ""
		case strings.HasPrefix(line, "id: "):
			s.id, sawID = strings.TrimPrefix(line, "id: "), true
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			lines = append(lines, strings.TrimPrefix(line, "data: "))
		}
	}
}
