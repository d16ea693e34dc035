package websocket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/framework"
)

// TestMain checks that no test leaves a goroutine behind: every
// connection's read loop, write loop, pings and producer end with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testPark turns Options.Park on in every fixture: TestParkedSuite runs
// tests of hub topics with it (see park_test.go).
var testPark bool

// fixture is a ServeMux behind a real loopback server, with one websocket
// Server whose hooks are recorded and checked when the test ends: every
// upgraded connection opened once, then at most one Error, then closed
// once.
type fixture struct {
	t    testing.TB
	mux  *http.ServeMux
	s    *Server
	ts   *httptest.Server
	rec  *recorder
	opts Options
	log  *serverLog
}

func newFixture(t testing.TB, opts *Options) *fixture {
	t.Helper()
	f := &fixture{t: t, mux: http.NewServeMux(), rec: newRecorder(), log: &serverLog{}}
	if opts != nil {
		f.opts = *opts
	}
	f.opts.Park = f.opts.Park || testPark
	f.opts.Hooks = f.rec.hooks(f.opts.Hooks)
	user := f.opts.OnMessage
	f.opts.OnMessage = func(c *Conn, m Message) {
		f.rec.message(c, m)
		if user != nil {
			user(c, m)
		}
	}
	if f.opts.Logger == nil {
		f.opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(&f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	f.ts = httptest.NewUnstartedServer(f.mux)
	f.ts.Config.ErrorLog = log.New(f.log, "", 0)
	f.ts.Start()
	t.Cleanup(func() {
		s.Close()
		waitFor(t, "every connection to end", func() bool { return s.Connections() == 0 })
		f.ts.Close()
		f.rec.check(t)
		if lines := f.log.hijacked(); len(lines) > 0 {
			t.Errorf("written after an upgrade: %q", lines)
		}
	})
	return f
}

// serverLog keeps what net/http logs, which includes every write to a
// hijacked connection: a handler that wrote an HTTP answer after the
// upgrade.
type serverLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *serverLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(p))
	return len(p), nil
}

func (l *serverLog) hijacked() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, s := range l.lines {
		if strings.Contains(s, "hijacked") || strings.Contains(s, "superfluous") {
			out = append(out, s)
		}
	}
	return out
}

// url returns the ws:// URL of path.
func (f *fixture) url(path string) string {
	return "ws" + strings.TrimPrefix(f.ts.URL, "http") + path
}

// dial connects a coder/websocket client and closes it with the test.
func (f *fixture) dial(path string, opts *cws.DialOptions) *cws.Conn {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := cws.Dial(ctx, f.url(path), opts)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		f.t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	c.SetReadLimit(-1)
	f.t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

// closing is one call of the Closed hook.
type closing struct {
	c      *Conn
	reason error
}

// recorder keeps what the hooks saw: per connection, the hooks in the
// order they were called.
type recorder struct {
	mu       sync.Mutex
	calls    map[*Conn][]string
	order    []*Conn // in the order of their first hook
	messages []Message
	errs     []error
	bad      []string // messages seen outside a connection's life
	closed   chan closing
}

func newRecorder() *recorder {
	return &recorder{calls: map[*Conn][]string{}, closed: make(chan closing, 4096)}
}

func (r *recorder) add(c *Conn, call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.calls[c] == nil {
		r.order = append(r.order, c)
	}
	r.calls[c] = append(r.calls[c], call)
}

func (r *recorder) hooks(user Hooks) Hooks {
	return Hooks{
		Opened: func(c *Conn) {
			r.add(c, "opened")
			if user.Opened != nil {
				user.Opened(c)
			}
		},
		Error: func(c *Conn, err error) {
			r.add(c, "error")
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
			if user.Error != nil {
				user.Error(c, err)
			}
		},
		Closed: func(c *Conn, reason error) {
			r.add(c, "closed")
			if user.Closed != nil {
				user.Closed(c, reason)
			}
			r.closed <- closing{c, reason}
		},
	}
}

func (r *recorder) message(c *Conn, m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if calls := r.calls[c]; len(calls) != 1 || calls[0] != "opened" {
		r.bad = append(r.bad, fmt.Sprintf("connection %s: a message after hooks %q", c.ID, calls))
	}
	r.messages = append(r.messages, m)
}

// check fails t unless every connection's hooks were Opened, at most one
// Error, Closed, in that order.
func (r *recorder) check(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		t.Error(b)
	}
	for _, c := range r.order {
		calls := strings.Join(r.calls[c], " ")
		if calls != "opened closed" && calls != "opened error closed" {
			t.Errorf("connection %s: hooks %s, want opened, at most one error, closed", c.ID, calls)
		}
		if c.Transport != "websocket" {
			t.Errorf("connection %s: transport %q", c.ID, c.Transport)
		}
	}
}

// opened returns the number of connections opened so far.
func (r *recorder) opened() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.order)
}

// next waits for the next Closed hook.
func (r *recorder) next(t *testing.T) closing {
	t.Helper()
	select {
	case cl := <-r.closed:
		return cl
	case <-time.After(10 * time.Second):
		t.Fatal("no Closed hook")
		return closing{}
	}
}

// errors returns what the Error hook was given.
func (r *recorder) errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// peerClosed returns the close frame that reason, a Closed hook's, says
// the peer sent; ok is false when reason is not a peer's close.
func peerClosed(reason error) (ce cws.CloseError, ok bool) {
	return ce, errors.Is(reason, ErrClientGone) && errors.As(reason, &ce)
}

// waitFor polls cond until it holds; the bound only keeps a broken test
// from hanging.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// read reads one message with a bound.
func read(t *testing.T, c *cws.Conn) (cws.MessageType, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return typ, string(b)
}

// readClose reads until the connection closes and returns its status.
func readClose(t *testing.T, c *cws.Conn) cws.CloseError {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := c.Read(ctx)
		if err == nil {
			continue
		}
		var ce cws.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read ended without a close frame: %v", err)
		}
		return ce
	}
}

// rawUpgrade opens a TCP connection and completes a handshake by hand; the
// caller then does what a broken peer does (nothing).
func rawUpgrade(t testing.TB, rawURL string) net.Conn {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", u.RequestURI(), u.Host)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 16), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake answered %d", resp.StatusCode)
	}
	return c
}

// newHub returns a hub with default options, closed with the test.
func newHub(t testing.TB) *framework.Hub {
	t.Helper()
	hub, err := framework.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	return hub
}
