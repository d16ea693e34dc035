package websocket

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rxstream/rxstream/framework"
)

// nodeWithWebSocket returns the arguments that run node with a global
// WebSocket (node 22 has one, node 20 behind a flag), or skips the test.
func nodeWithWebSocket(t *testing.T) []string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("no node to run the browser client")
	}
	for _, args := range [][]string{{node}, {node, "--experimental-websocket"}} {
		out, err := exec.Command(args[0], append(args[1:], "-e", "process.stdout.write(typeof WebSocket)")...).Output()
		if err == nil && string(out) == "function" {
			return args
		}
	}
	t.Skip("node has no WebSocket")
	return nil
}

// TestBrowserClientBatches runs the browser client (adapters/web) in node
// against a hub topic: it asks for BatchSubprotocol and delivers every
// event of a batch, in order.
func TestBrowserClientBatches(t *testing.T) {
	node := nodeWithWebSocket(t)
	hub := newHub(t)
	protocols := make(chan string, 1)
	f := newFixture(t, &Options{Hooks: Hooks{Opened: func(c *Conn) { protocols <- c.Subprotocol }}})
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	ctx := context.Background()
	tip, err := hub.Publish(ctx, "news", framework.Event{Data: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		id, err := hub.Publish(ctx, "news", framework.Event{Data: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id+" "+strconv.Itoa(i))
	}
	client, err := filepath.Abs("../web/rxstream.js")
	if err != nil {
		t.Fatal(err)
	}
	script := `
const { connect } = await import(process.argv[1]);
const got = [];
const s = connect(process.argv[2], { transports: ['websocket'], cursor: process.argv[3], onEvent: (e) => {
  got.push(e.id + ' ' + e.data);
  if (got.length === 5) { console.log(JSON.stringify(got)); s.close(); process.exit(0); }
} });
setTimeout(() => { console.log(JSON.stringify(got)); process.exit(2); }, 10000);
`
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	args := append(node[1:], "--input-type=module", "-e", script, "file://"+client, f.url("/topics/news/ws"), tip)
	out, err := exec.CommandContext(ctx, node[0], args...).Output()
	if err != nil {
		t.Fatalf("node: %v: %s", err, out)
	}
	var got []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out))), &got); err != nil {
		t.Fatalf("node printed %q", out)
	}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if p := <-protocols; p != BatchSubprotocol {
		t.Fatalf("the browser client's subprotocol %q, want %q", p, BatchSubprotocol)
	}
}
