//go:build linux

package websocket

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/rxstream/rxstream/framework"
)

// TestParkedSuite runs the tests of hub topics, single and multiplexed,
// with every connection parked: they see the same events, answers, close
// codes and hooks.
func TestParkedSuite(t *testing.T) {
	testPark = true
	defer func() { testPark = false }()
	for name, test := range map[string]func(*testing.T){
		"TopicResume":          TestTopicResume,
		"TopicOverflow":        TestTopicOverflow,
		"Shutdown":             TestShutdown,
		"Client":               TestClient,
		"ClientResume":         TestClientResume,
		"ClientOverflowResume": TestClientOverflowResume,
		"BatchSubprotocol":     TestBatchSubprotocol,
		"BatchBytes":           TestBatchBytes,
		"BrowserClientBatches": TestBrowserClientBatches,
		"TopicsResume":         TestTopicsResume,
		"TopicsGap":            TestTopicsGap,
		"TopicsSubscribe":      TestTopicsSubscribe,
		"TopicsRefusals":       TestTopicsRefusals,
		"TopicsURLRefusals":    TestTopicsURLRefusals,
		"TopicsConcurrent":     TestTopicsConcurrent,
		"TopicsClose":          TestTopicsClose,
		"MultiClientRefused":   TestMultiClientRefused,
	} {
		t.Run(name, test)
	}
}

// parkedFixture is a fixture whose /topics/{topic}/ws route parks, with
// hub.
func parkedFixture(t *testing.T, opts *Options) (*fixture, *framework.Hub) {
	t.Helper()
	o := Options{}
	if opts != nil {
		o = *opts
	}
	o.Park = true
	hub := newHub(t)
	t.Cleanup(func() { _ = hub.Close() })
	f := newFixture(t, &o)
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	return f, hub
}

// waitParked waits until the server's loop holds n connections.
func waitParked(t *testing.T, f *fixture, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d parked connections", n), func() bool { return f.s.loop().Len() == n })
}

// TestParkedTopic: a parked connection (coder/websocket's client, with and
// without the batch subprotocol) gets its topic's events, answers the
// client's pings, pings the client, ignores what it does not take, and
// echoes the client's close, whose code Hooks.Closed is told.
func TestParkedTopic(t *testing.T) {
	pings := make(chan struct{}, 16)
	f, hub := parkedFixture(t, &Options{PingInterval: 10 * time.Millisecond})
	plain := f.dial("/topics/news/ws", &cws.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		select {
		case pings <- struct{}{}:
		default:
		}
		return true
	}})
	batched := f.dial("/topics/news/ws", &cws.DialOptions{Subprotocols: []string{BatchSubprotocol}})
	if batched.Subprotocol() != BatchSubprotocol {
		t.Fatalf("subprotocol %q", batched.Subprotocol())
	}
	waitParked(t, f, 2)
	var ids []string
	for i := range 3 {
		id, err := hub.Publish(context.Background(), "news", framework.Text(fmt.Sprint("e", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	for i, id := range ids {
		_, msg := read(t, plain)
		var env struct{ ID, Data string }
		if err := json.Unmarshal([]byte(msg), &env); err != nil || env.ID != id || env.Data != fmt.Sprint("e", i) {
			t.Fatalf("event %d: %s (%v), want id %s", i, msg, err, id)
		}
	}
	var got []string
	for len(got) < 3 {
		_, msg := read(t, batched)
		var envs []struct{ ID string }
		if err := json.Unmarshal([]byte(msg), &envs); err != nil {
			t.Fatalf("batch %s: %v", msg, err)
		}
		for _, e := range envs {
			got = append(got, e.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(ids) {
		t.Fatalf("batched ids %v, want %v", got, ids)
	}
	// Messages the connection does not take are ignored.
	if err := plain.Write(context.Background(), cws.MessageText, []byte(`{"type":"subscribe","topic":"x"}`)); err != nil {
		t.Fatal(err)
	}
	if err := plain.Write(context.Background(), cws.MessageBinary, []byte("not JSON")); err != nil {
		t.Fatal(err)
	}
	// The client's ping is answered while it reads; the server pings.
	reading := plain.CloseRead(context.Background())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := plain.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	for range 3 {
		select {
		case <-pings:
		case <-ctx.Done():
			t.Fatal("no ping from the server")
		}
	}
	_ = reading
	if err := batched.Close(4000, "bye"); err != nil {
		t.Fatalf("close: %v", err)
	}
	cl := f.rec.next(t)
	if ce, ok := peerClosed(cl.reason); !ok || ce.Code != 4000 || ce.Reason != "bye" {
		t.Fatalf("Closed told %v, want the client's 4000", cl.reason)
	}
	if n := len(f.rec.messages); n != 2 {
		t.Fatalf("OnMessage saw %d messages, want 2", n)
	}
	_ = plain.Close(cws.StatusNormalClosure, "")
	f.rec.next(t)
	waitParked(t, f, 0)
}

// rawFrame is a masked client frame.
func rawFrame(op byte, p []byte) []byte {
	return clientFrame(op, true, p, [4]byte{7, 7, 7, 7})
}

// readServerFrame reads one server frame from r: its opcode and payload.
func readServerFrame(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		t.Fatal("a masked server frame")
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(r, b[:])
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(r, b[:])
		n = int(binary.BigEndian.Uint64(b[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return h[0] & 0x0F, p
}

// readServerClose reads frames until a close frame and returns its code
// and reason.
func readServerClose(t *testing.T, r *bufio.Reader) (StatusCode, string) {
	t.Helper()
	for {
		op, p := readServerFrame(t, r)
		if op == opClose {
			if len(p) < 2 {
				t.Fatalf("close frame %x", p)
			}
			return StatusCode(binary.BigEndian.Uint16(p)), string(p[2:])
		}
	}
}

// parkedRaw upgrades by hand to a parked route, answering nothing: the
// caller plays a broken or hostile client.
func parkedRaw(t *testing.T, f *fixture, n int) (net.Conn, *bufio.Reader) {
	t.Helper()
	c := rawUpgrade(t, f.ts.URL+"/topics/news/ws")
	waitParked(t, f, n)
	return c, bufio.NewReader(c)
}

// TestParkedRefusesFrames: a frame a client must not send closes the
// connection with 1002, a message over the read limit with 1009 and a
// closing handshake, and a client that does not answer pings is dropped;
// each as on today's path.
func TestParkedRefusesFrames(t *testing.T) {
	f, _ := parkedFixture(t, &Options{ReadLimit: 100, PingInterval: 20 * time.Millisecond, PongTimeout: 20 * time.Millisecond})

	c, r := parkedRaw(t, f, 1)
	unmasked := append([]byte{0x81, 2}, "hi"...)
	if _, err := c.Write(unmasked); err != nil {
		t.Fatal(err)
	}
	if code, _ := readServerClose(t, r); code != cws.StatusProtocolError {
		t.Fatalf("an unmasked frame closed with %d, want 1002", code)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("after the 1002: %v, want the connection closed", err)
	}
	cl := f.rec.next(t)
	var pe protocolError
	if !errors.Is(cl.reason, ErrClientGone) || !errors.As(cl.reason, &pe) {
		t.Fatalf("Closed told %v, want ErrClientGone with the protocol error", cl.reason)
	}

	dc := f.dial("/topics/news/ws", nil)
	waitParked(t, f, 1)
	if err := dc.Write(context.Background(), cws.MessageText, make([]byte, 101)); err != nil {
		t.Fatal(err)
	}
	ce := readClose(t, dc)
	if ce.Code != StatusMessageTooBig || !strings.Contains(ce.Reason, "message too big") {
		t.Fatalf("a message over the limit closed with %v, want 1009", ce)
	}
	if cl := f.rec.next(t); CloseCode(cl.reason) != StatusMessageTooBig || !errors.Is(cl.reason, cws.ErrMessageTooBig) {
		t.Fatalf("Closed told %v, want 1009", cl.reason)
	}

	c, r = parkedRaw(t, f, 1)
	if op, _ := readServerFrame(t, r); op != opPing {
		t.Fatalf("frame %x, want a ping", op)
	}
	if _, err := io.Copy(io.Discard, r); err != nil {
		t.Fatalf("after the ping: %v, want the connection closed", err)
	}
	if cl := f.rec.next(t); !errors.Is(cl.reason, errPongTimeout) {
		t.Fatalf("Closed told %v, want the pong timeout", cl.reason)
	}
	_ = c
}

// TestParkedCloseFromClient: a close frame is echoed with its code, a
// ping answered before it, and a client that leaves without one is seen
// at once.
func TestParkedCloseFromClient(t *testing.T) {
	f, _ := parkedFixture(t, &Options{PingInterval: -1})
	c, r := parkedRaw(t, f, 1)
	ping := rawFrame(opPing, []byte("are you there"))
	closeFrame := rawFrame(opClose, append(binary.BigEndian.AppendUint16(nil, 4321), "done"...))
	// In pieces: the reader keeps its state between reads.
	for _, b := range [][]byte{ping[:3], append(ping[3:], closeFrame[:5]...), closeFrame[5:]} {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // separate segments, most of the time: the test holds either way
	}
	if op, p := readServerFrame(t, r); op != opPong || string(p) != "are you there" {
		t.Fatalf("frame %x %q, want the pong", op, p)
	}
	if code, reason := readServerClose(t, r); code != 4321 || reason != "done" {
		t.Fatalf("close %d %q, want the client's echoed", code, reason)
	}
	if cl := f.rec.next(t); CloseCode(cl.reason) != 4321 {
		t.Fatalf("Closed told %v", cl.reason)
	}
	c, _ = parkedRaw(t, f, 1)
	_ = c.(*net.TCPConn).SetLinger(0)
	c.Close()
	if cl := f.rec.next(t); !errors.Is(cl.reason, ErrClientGone) {
		t.Fatalf("Closed told %v, want ErrClientGone", cl.reason)
	}
	waitParked(t, f, 0)
}

// wrapListener hides its connections' descriptors, as a listener that
// wraps them does.
type wrapListener struct{ net.Listener }

type wrappedConn struct{ net.Conn }

func (l wrapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrappedConn{c}, nil
}

// TestParkedUnwatchable: a connection the poller cannot watch keeps
// today's path, after the hijack.
func TestParkedUnwatchable(t *testing.T) {
	hub := newHub(t)
	t.Cleanup(func() { _ = hub.Close() })
	rec := newRecorder()
	s, err := New(&Options{Park: true, Hooks: rec.hooks(Hooks{})})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}/ws", s.Topic(hub, topicName))
	ts := httptest.NewUnstartedServer(mux)
	ts.Listener = wrapListener{ts.Listener}
	ts.Start()
	defer ts.Close()
	u, _ := url.Parse(ts.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := cws.Dial(ctx, "ws://"+u.Host+"/topics/news/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the subscription", func() bool { return hub.Topics() == 1 })
	if _, err := hub.Publish(ctx, "news", framework.Text("x")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || !strings.Contains(string(msg), `"data":"x"`) {
		t.Fatalf("read %s, %v", msg, err)
	}
	if s.loop().Len() != 0 {
		t.Fatal("a connection without a descriptor was parked")
	}
	s.Close()
	if ce := readClose(t, c); ce.Code != StatusGoingAway {
		t.Fatalf("closed with %v, want 1001", ce)
	}
	waitFor(t, "the connection to end", func() bool { return s.Connections() == 0 })
	rec.check(t)
}

// TestParkedSlowClient: clients that stop reading do not hold the shared
// writers: with more of them than there are writers, each with a full
// socket, the live client still receives every event; a stalled one ends
// when its write fails.
func TestParkedSlowClient(t *testing.T) {
	f, hub := parkedFixture(t, &Options{WriteTimeout: time.Hour, PingInterval: -1})
	var stalled []net.Conn
	for range runtime.GOMAXPROCS(0) + 1 {
		c := rawUpgrade(t, f.ts.URL+"/topics/news/ws")
		_ = c.(*net.TCPConn).SetReadBuffer(4 << 10)
		stalled = append(stalled, c)
		waitParked(t, f, len(stalled))
	}
	live := f.dial("/topics/news/ws", nil)
	waitParked(t, f, len(stalled)+1)
	big := strings.Repeat("x", 32<<10)
	for range 200 { // 6.4 MB: more than the stalled sockets hold
		id, err := hub.Publish(context.Background(), "news", framework.Text(big))
		if err != nil {
			t.Fatal(err)
		}
		if _, msg := read(t, live); !strings.Contains(msg, `"id":"`+id+`"`) {
			t.Fatalf("live client: %.60s, want id %s", msg, id)
		}
	}
	for _, c := range stalled {
		_ = c.(*net.TCPConn).SetLinger(0)
		c.Close()
	}
	waitFor(t, "the stalled connections ended", func() bool { return f.s.Connections() == 1 })
	_ = live.Close(cws.StatusNormalClosure, "")
	waitFor(t, "the live connection closed", func() bool { return f.s.Connections() == 0 && f.s.loop().Len() == 0 })
}
