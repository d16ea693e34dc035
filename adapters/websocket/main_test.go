package websocket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cws "github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/framework"
)

// TestMain checks that no test leaves a goroutine behind: every
// connection's read loop, write loop, pings and producer end with it.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fixture is an echo instance behind a real loopback server, with one
// websocket Server whose hooks are recorded.
type fixture struct {
	t    testing.TB
	e    *echo.Echo
	s    *Server
	ts   *httptest.Server
	rec  *recorder
	opts Options
	// echoErrors counts the errors handlers returned to echo: none may
	// come after an upgrade.
	echoErrors atomic.Int32
}

func newFixture(t testing.TB, opts *Options) *fixture {
	t.Helper()
	f := &fixture{t: t, e: echo.New(), rec: newRecorder()}
	if opts != nil {
		f.opts = *opts
	}
	f.opts.Hooks = f.rec.hooks(f.opts.Hooks)
	if f.opts.Logger == nil {
		f.opts.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := New(&f.opts)
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	f.e.HTTPErrorHandler = func(err error, c echo.Context) {
		f.echoErrors.Add(1)
		f.e.DefaultHTTPErrorHandler(err, c)
	}
	f.ts = httptest.NewServer(f.e)
	t.Cleanup(func() {
		s.Close()
		waitFor(t, "every connection to end", func() bool { return s.Open() == 0 })
		f.ts.Close()
	})
	return f
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

// recorder keeps what the hooks saw.
type recorder struct {
	mu          sync.Mutex
	established int
	messages    []Message
	errs        []error
	closed      chan CloseStatus
}

func newRecorder() *recorder { return &recorder{closed: make(chan CloseStatus, 4096)} }

func (r *recorder) hooks(user Hooks) Hooks {
	return Hooks{
		Established: func(s *Session) {
			r.mu.Lock()
			r.established++
			r.mu.Unlock()
			if user.Established != nil {
				user.Established(s)
			}
		},
		Message: func(s *Session, m Message) {
			r.mu.Lock()
			r.messages = append(r.messages, m)
			r.mu.Unlock()
		},
		TransportError: func(s *Session, err error) {
			r.mu.Lock()
			r.errs = append(r.errs, err)
			r.mu.Unlock()
		},
		Closed: func(s *Session, st CloseStatus) { r.closed <- st },
	}
}

// next waits for the next Closed hook.
func (r *recorder) next(t *testing.T) CloseStatus {
	t.Helper()
	select {
	case st := <-r.closed:
		return st
	case <-time.After(10 * time.Second):
		t.Fatal("no Closed hook")
		return CloseStatus{}
	}
}

func (r *recorder) transportErrors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
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
