package websocket

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	cws "github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// reply is the seed's handler: every message answered with a prefix.
func reply(_ *http.Request, in rxgo.Observable) (rxgo.Observable, error) {
	return streams.Map(in, func(m Message) string {
		return "服务器回复: " + m.Text()
	}), nil
}

// topicName picks the topic of the patterns "/topics/{topic}/ws".
func topicName(r *http.Request) string { return r.PathValue("topic") }

// just is a producer of items, each as it is (rxgo.Just would emit the
// elements of a slice) and an error as an error item.
func just(items ...any) Producer {
	return func(*http.Request, string) (rxgo.Observable, error) {
		return streams.Generate(func(ctx context.Context, emit func(any) error) error {
			for _, it := range items {
				if err, ok := it.(error); ok {
					return err
				}
				if err := emit(it); err != nil {
					return err
				}
			}
			return nil
		}), nil
	}
}

func TestEchoRoundTrip(t *testing.T) {
	f := newFixture(t, &Options{Format: FormatText})
	f.mux.Handle("GET /ws", f.s.Duplex(reply))
	c := f.dial("/ws", nil)
	for _, msg := range []string{"hello", "你好, 世界", "emoji 🎉 and \"quotes\"\n", ""} {
		t.Run(strconv.Quote(msg), func(t *testing.T) {
			if err := c.Write(context.Background(), cws.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			typ, got := read(t, c)
			if want := "服务器回复: " + msg; typ != cws.MessageText || got != want {
				t.Fatalf("got %v %q, want text %q", typ, got, want)
			}
		})
	}
	if err := c.Close(cws.StatusNormalClosure, "bye"); err != nil {
		t.Fatal(err)
	}
	cl := f.rec.next(t)
	if ce, ok := peerClosed(cl.reason); !ok || ce.Code != cws.StatusNormalClosure || ce.Reason != "bye" || CloseCode(cl.reason) != StatusNormalClosure {
		t.Fatalf("Closed hook got %v, want the peer's 1000 bye", cl.reason)
	}
	if errs := f.rec.errors(); len(errs) != 0 {
		t.Fatalf("Error hook got %v for a peer's close", errs)
	}
	opened := f.rec.opened()
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	if opened != 1 || len(f.rec.messages) != 4 || f.rec.messages[1].Text() != "你好, 世界" {
		t.Fatalf("hooks saw %d opened, messages %+v", opened, f.rec.messages)
	}
}

func TestInboundObservedTwice(t *testing.T) {
	f := newFixture(t, nil)
	f.mux.Handle("GET /ws", f.s.Duplex(func(_ *http.Request, in rxgo.Observable) (rxgo.Observable, error) {
		return rxgo.Merge([]rxgo.Observable{in, in}), nil
	}))
	c := f.dial("/ws", nil)
	ce := readClose(t, c)
	if ce.Code != cws.StatusInternalError || ce.Reason != ErrInboundObserved.Error() {
		t.Fatalf("closed with %v, want 1011 %q", ce, ErrInboundObserved)
	}
	if cl := f.rec.next(t); !errors.Is(cl.reason, ErrInboundObserved) {
		t.Fatalf("Closed hook got %v", cl.reason)
	}
}

// TestCloseStatuses: how an observable ends is the close frame the peer
// reads, the reason the Closed hook is told, and the Error hook's call
// for a failure.
func TestCloseStatuses(t *testing.T) {
	long := strings.Repeat("错误", 100) // 600 bytes: the reason must be cut
	boom, longErr := errors.New("boom"), errors.New(long)
	overflow := fmt.Errorf("topic t: %w", framework.ErrOverflow)
	tests := []struct {
		name   string
		items  []any
		code   cws.StatusCode
		reason string // "" matches any
		frames []string
		why    func(error) bool // of the Closed hook
		failed bool             // the Error hook is called, with the reason
	}{
		{"completion", []any{"a", framework.Event{ID: "7", Name: "n", Data: []byte("b")}}, cws.StatusNormalClosure, "",
			[]string{`{"data":"a"}`, `{"id":"7","event":"n","data":"b"}`}, is(ErrCompleted), false},
		{"producer error", []any{"a", boom}, cws.StatusInternalError, "boom", []string{`{"data":"a"}`}, is(boom), true},
		{"long error", []any{longErr}, cws.StatusInternalError, closeReason(long), nil, is(longErr), true},
		{"overflow", []any{overflow}, cws.StatusTryAgainLater, "subscriber queue overflowed", nil, is(overflow), true},
		{"unencodable item", []any{func() {}}, cws.StatusInternalError, "", nil, notSentinel, true},
		{"message and bytes", []any{Message{Type: MessageBinary, Data: []byte("m")}, []byte("b"), json.RawMessage(`{"r":1}`)}, cws.StatusNormalClosure, "",
			[]string{"m", `{"data":"b"}`, `{"data":"{\"r\":1}"}`}, is(ErrCompleted), false},
	}
	if _, err := streams.ToEvent(42); err != nil {
		// A value that is no event, string or bytes is refused, never
		// encoded on a guess.
		tests = append(tests, struct {
			name   string
			items  []any
			code   cws.StatusCode
			reason string
			frames []string
			why    func(error) bool
			failed bool
		}{"not an event", []any{"a", 42}, cws.StatusInternalError, "", []string{`{"data":"a"}`}, notSentinel, true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.mux.Handle("GET /ws", f.s.Stream(just(tt.items...)))
			c := f.dial("/ws", nil)
			for _, want := range tt.frames {
				if _, got := read(t, c); got != want {
					t.Fatalf("frame %s, want %s", got, want)
				}
			}
			ce := readClose(t, c)
			if ce.Code != tt.code || tt.reason != "" && ce.Reason != tt.reason {
				t.Fatalf("closed with %v, want %d %q", ce, tt.code, tt.reason)
			}
			if len(ce.Reason) > MaxCloseReason || !utf8.ValidString(ce.Reason) {
				t.Fatalf("reason %q: %d bytes or not UTF-8", ce.Reason, len(ce.Reason))
			}
			cl := f.rec.next(t)
			if !tt.why(cl.reason) || errors.Is(cl.reason, ErrClientGone) || CloseCode(cl.reason) != tt.code {
				t.Fatalf("Closed hook got %v (code %d), want code %d", cl.reason, CloseCode(cl.reason), tt.code)
			}
			errs := f.rec.errors()
			switch {
			case !tt.failed && len(errs) != 0:
				t.Fatalf("Error hook got %v", errs)
			case tt.failed && (len(errs) != 1 || errs[0] != cl.reason):
				t.Fatalf("Error hook got %v, want %v", errs, cl.reason)
			}
		})
	}
}

// is matches the reason target, itself: not another error wrapping it.
func is(target error) func(error) bool {
	return func(err error) bool { return err == target }
}

// notSentinel matches an error that is none of the ends the package
// names.
func notSentinel(err error) bool {
	for _, s := range []error{ErrCompleted, ErrClientGone, ErrShutdown, transport.ErrTimeout} {
		if errors.Is(err, s) {
			return false
		}
	}
	return err != nil
}

func TestReadLimit(t *testing.T) {
	f := newFixture(t, &Options{ReadLimit: 1024})
	f.mux.Handle("GET /ws", f.s.Duplex(reply))
	c := f.dial("/ws", nil)
	ok := strings.Repeat("x", 1024)
	if err := c.Write(context.Background(), cws.MessageText, []byte(ok)); err != nil {
		t.Fatal(err)
	}
	read(t, c)
	if err := c.Write(context.Background(), cws.MessageText, []byte(ok+"y")); err != nil {
		t.Fatal(err)
	}
	if ce := readClose(t, c); ce.Code != cws.StatusMessageTooBig {
		t.Fatalf("closed with %v, want 1009", ce)
	}
	cl := f.rec.next(t)
	if !errors.Is(cl.reason, cws.ErrMessageTooBig) || errors.Is(cl.reason, ErrClientGone) || CloseCode(cl.reason) != StatusMessageTooBig {
		t.Fatalf("Closed hook got %v, want the message too big, 1009", cl.reason)
	}
	if errs := f.rec.errors(); len(errs) != 1 || !errors.Is(errs[0], cws.ErrMessageTooBig) {
		t.Fatalf("Error hook got %v", errs)
	}
}

func TestOrigin(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		origin string
		status int // 0: upgraded
	}{
		{"no origin", Options{}, "", 0},
		{"same origin", Options{}, "http://HOST", 0},
		{"foreign origin", Options{}, "https://evil.example", http.StatusForbidden},
		{"pattern", Options{OriginPatterns: []string{"*.example.com"}}, "https://app.example.com", 0},
		{"pattern with scheme", Options{OriginPatterns: []string{"https://app.example.com"}}, "http://app.example.com", http.StatusForbidden},
		{"not matching pattern", Options{OriginPatterns: []string{"*.example.com"}}, "https://example.org", http.StatusForbidden},
		{"every origin", Options{InsecureSkipVerify: true}, "https://evil.example", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &tt.opts)
			var produced atomic.Int32
			f.mux.Handle("GET /ws", f.s.Stream(func(*http.Request, string) (rxgo.Observable, error) {
				produced.Add(1)
				return rxgo.Just("hi")(), nil
			}))
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", strings.Replace(tt.origin, "HOST", strings.TrimPrefix(f.ts.URL, "http://"), 1))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := cws.Dial(ctx, f.url("/ws"), &cws.DialOptions{HTTPHeader: h})
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				defer c.CloseNow()
				if _, got := read(t, c); got != `{"data":"hi"}` {
					t.Fatalf("got %s", got)
				}
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("upgraded a foreign origin")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("got %v, %v; want status %d", resp, err, tt.status)
			}
			checkAnswer(t, resp, tt.status, "origin")
			if produced.Load() != 0 {
				t.Fatal("the producer ran for a refused request")
			}
		})
	}
}

// checkAnswer checks a refusal's answer: its status, and the JSON body
// {"message": ...} holding want. It returns the message.
func checkAnswer(t *testing.T, resp *http.Response, status int, want string) string {
	t.Helper()
	var body struct {
		Message string `json:"message"`
	}
	if resp.StatusCode != status {
		t.Fatalf("answered %d, want %d", resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("answered %s, want JSON", ct)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || !strings.Contains(body.Message, want) {
		t.Fatalf("answered %+v (%v), want a message with %q", body, err, want)
	}
	return body.Message
}

// TestRefusals: what is wrong with a request is answered before the
// upgrade, as JSON, before any user code runs (but the producer's own
// refusal), and no hook is called.
func TestRefusals(t *testing.T) {
	f := newFixture(t, nil)
	var produced atomic.Int32
	refuse := func(err error) Producer {
		return func(*http.Request, string) (rxgo.Observable, error) {
			produced.Add(1)
			return nil, err
		}
	}
	f.mux.Handle("/any", f.s.Duplex(reply)) // every method reaches the handler
	f.mux.Handle("GET /ws", f.s.Stream(just("hi")))
	f.mux.Handle("GET /login", f.s.Stream(refuse(&StatusError{Code: http.StatusUnauthorized, Message: "log in first",
		Header: http.Header{"Www-Authenticate": {"Bearer"}}})))
	f.mux.Handle("GET /fail", f.s.Stream(refuse(errors.New("database on fire"))))
	f.mux.Handle("GET /nil", f.s.Stream(refuse(nil)))
	f.mux.Handle("GET /duplex", f.s.Duplex(func(*http.Request, rxgo.Observable) (rxgo.Observable, error) {
		produced.Add(1)
		return nil, &StatusError{Code: http.StatusForbidden, Message: "not yours"}
	}))
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Version": {"13"}, "Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}}
	tests := []struct {
		name, method, path string
		header             http.Header
		status             int
		message            string
		check              func(h http.Header) bool
		produced           int32
	}{
		{"not an upgrade", http.MethodGet, "/ws", nil, http.StatusUpgradeRequired, "not a WebSocket upgrade",
			func(h http.Header) bool { return h.Get("Upgrade") == "websocket" && h.Get("Connection") == "Upgrade" }, 0},
		{"POST", http.MethodPost, "/any", upgrade, http.StatusMethodNotAllowed, "only GET",
			func(h http.Header) bool { return h.Get("Allow") == http.MethodGet }, 0},
		{"HEAD", http.MethodHead, "/any", upgrade, http.StatusMethodNotAllowed, "",
			func(h http.Header) bool { return h.Get("Allow") == http.MethodGet }, 0},
		{"bad cursor", http.MethodGet, "/ws?cursor=a&lastEventId=b", upgrade, http.StatusBadRequest, "two different cursors", nil, 0},
		{"producer's status", http.MethodGet, "/login", upgrade, http.StatusUnauthorized, "log in first",
			func(h http.Header) bool { return h.Get("WWW-Authenticate") == "Bearer" }, 1},
		{"producer's error", http.MethodGet, "/fail", upgrade, http.StatusInternalServerError, "Internal Server Error", nil, 2},
		{"no observable", http.MethodGet, "/nil", upgrade, http.StatusInternalServerError, "Internal Server Error", nil, 3},
		{"handler's status", http.MethodGet, "/duplex", upgrade, http.StatusForbidden, "not yours", nil, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, f.ts.URL+tt.path, nil)
			for k, v := range tt.header {
				req.Header[k] = v
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if tt.method == http.MethodHead {
				if resp.StatusCode != tt.status {
					t.Fatalf("answered %d, want %d", resp.StatusCode, tt.status)
				}
			} else if msg := checkAnswer(t, resp, tt.status, tt.message); strings.Contains(msg, "fire") {
				t.Fatalf("a 500 sent the error's text: %s", msg)
			}
			if tt.check != nil && !tt.check(resp.Header) {
				t.Fatalf("headers %v", resp.Header)
			}
			if n := produced.Load(); n != tt.produced {
				t.Fatalf("the producer ran %d times, want %d", n, tt.produced)
			}
		})
	}
	if n := f.rec.opened(); n != 0 {
		t.Fatalf("%d refused requests opened", n)
	}
}

// TestConn: the hooks' Conn describes the connection, the producer's
// request lives as long as the connection, and a peer's going away is
// told to the Closed hook with the peer's code.
func TestConn(t *testing.T) {
	hub := newHub(t)
	defer hub.Close()
	opened := make(chan *Conn, 4)
	f := newFixture(t, &Options{Subprotocols: []string{"rx.v1"}, Hooks: Hooks{Opened: func(c *Conn) { opened <- c }}})
	lives := make(chan context.Context, 1)
	f.mux.Handle("GET /ws", f.s.Stream(func(r *http.Request, _ string) (rxgo.Observable, error) {
		lives <- r.Context()
		return rxgo.Never(), nil
	}))
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	f.mux.Handle("GET /topics", f.s.Topics(hub))
	next := func() *Conn {
		select {
		case c := <-opened:
			return c
		case <-time.After(10 * time.Second):
			t.Fatal("no Opened hook")
			return nil
		}
	}

	c := f.dial("/ws?cursor=abc-1", &cws.DialOptions{Subprotocols: []string{"rx.v1"}, HTTPHeader: http.Header{"X-Who": {"me"}}})
	conn := next()
	if conn.Transport != "websocket" || conn.Subprotocol != "rx.v1" || conn.Cursor != "abc-1" || conn.Topics != nil ||
		conn.URL.Path != "/ws" || conn.Header.Get("X-Who") != "me" || conn.RemoteAddr == "" || conn.ID == "" {
		t.Fatalf("Conn %+v", conn)
	}
	life := <-lives
	if err := c.Close(cws.StatusGoingAway, "tab closed"); err != nil {
		t.Fatal(err)
	}
	cl := f.rec.next(t)
	if ce, ok := peerClosed(cl.reason); cl.c != conn || !ok || ce.Code != cws.StatusGoingAway || ce.Reason != "tab closed" || CloseCode(cl.reason) != StatusGoingAway {
		t.Fatalf("Closed hook got %v", cl.reason)
	}
	select {
	case <-life.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the producer's request outlived the connection")
	}

	f.dial("/topics/news/ws", nil)
	if conn := next(); !slices.Equal(conn.Topics, []string{"news"}) || conn.Subprotocol != "" {
		t.Fatalf("a topic's Conn %+v", conn)
	}
	f.dial("/topics?topic=a&topic=b", nil)
	if conn := next(); !slices.Equal(conn.Topics, []string{"a", "b"}) {
		t.Fatalf("a multiplexed Conn %+v", conn)
	}
}

func TestDeadPeer(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		obs  func() rxgo.Observable
		want error
	}{
		// The peer completes the handshake, then neither reads nor
		// answers pings.
		{"no pong", Options{PingInterval: 10 * time.Millisecond, PongTimeout: 20 * time.Millisecond},
			func() rxgo.Observable { return rxgo.Never() }, errPongTimeout},
		// The peer stops reading while the server writes: the kernel's
		// buffers fill and a write misses its deadline.
		{"write timeout", Options{PingInterval: -1, WriteTimeout: 20 * time.Millisecond},
			func() rxgo.Observable {
				big := strings.Repeat("x", 64<<10)
				return streams.Generate(func(ctx context.Context, emit func(any) error) error {
					for emit(big) == nil {
					}
					return nil
				})
			}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &tt.opts)
			f.mux.Handle("GET /ws", f.s.Stream(func(*http.Request, string) (rxgo.Observable, error) { return tt.obs(), nil }))
			c := rawUpgrade(t, f.url("/ws"))
			cl := f.rec.next(t)
			if _, closed := peerClosed(cl.reason); !errors.Is(cl.reason, ErrClientGone) || closed || CloseCode(cl.reason) != StatusAbnormalClosure {
				t.Fatalf("Closed hook got %v, want a peer gone, 1006", cl.reason)
			}
			errs := f.rec.errors()
			if len(errs) != 1 || tt.want != nil && !errors.Is(errs[0], tt.want) || !errors.Is(cl.reason, errs[0]) {
				t.Fatalf("Error hook got %v, want %v, the cause of %v", errs, tt.want, cl.reason)
			}
			// The server closed the TCP connection: reading drains what
			// was sent, then ends.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.Copy(io.Discard, c); err != nil && !isReset(err) {
				t.Fatalf("reading the dropped connection: %v", err)
			}
		})
	}
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

func TestShutdown(t *testing.T) {
	hub := newHub(t)
	defer hub.Close()
	f := newFixture(t, nil)
	f.mux.Handle("GET /never", f.s.Stream(func(*http.Request, string) (rxgo.Observable, error) { return rxgo.Never(), nil }))
	f.mux.Handle("GET /echo", f.s.Duplex(reply))
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	var conns []*cws.Conn
	for i := range 30 {
		conns = append(conns, f.dial([]string{"/never", "/echo", "/topics/t/ws"}[i%3], nil))
	}
	waitFor(t, "30 connections", func() bool { return f.s.Connections() == 30 })
	f.s.Close()
	for i, c := range conns {
		if ce := readClose(t, c); ce.Code != cws.StatusGoingAway || !strings.Contains(ce.Reason, "server shutting down") {
			t.Fatalf("connection %d closed with %v, want 1001", i, ce)
		}
	}
	for range conns {
		if cl := f.rec.next(t); cl.reason != ErrShutdown {
			t.Fatalf("Closed hook got %v, want ErrShutdown", cl.reason)
		}
	}
	if errs := f.rec.errors(); len(errs) != 0 {
		t.Fatalf("Error hook got %v at shutdown", errs)
	}
	waitFor(t, "every handler to return", func() bool { return f.s.Connections() == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := cws.Dial(ctx, f.url("/echo"), nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("dial after Close: %v, want 503 with a Retry-After", err)
	}
	checkAnswer(t, resp, http.StatusServiceUnavailable, "shutting down")
}

// TestMiddleware runs the handlers behind net/http middleware that wraps
// the ResponseWriter (and says so with Unwrap): a gzip middleware holds
// the status back until the body, which a hijacked connection never has;
// the handlers write the 101 past it.
func TestMiddleware(t *testing.T) {
	tests := []struct {
		name string
		mw   func(http.Handler) http.Handler
	}{
		{"gzip", gzipMiddleware},
		{"status recorder", statusMiddleware},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &Options{Format: FormatText})
			f.mux.Handle("GET /g/ws", tt.mw(f.s.Duplex(reply)))
			f.mux.Handle("GET /g/text", tt.mw(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, strings.Repeat("zip", 100))
			})))
			c := f.dial("/g/ws", &cws.DialOptions{HTTPHeader: http.Header{"Accept-Encoding": {"gzip"}}})
			if err := c.Write(context.Background(), cws.MessageText, []byte("压缩")); err != nil {
				t.Fatal(err)
			}
			if _, got := read(t, c); got != "服务器回复: 压缩" {
				t.Fatalf("got %q", got)
			}
			// The middleware is real: it still serves ordinary responses.
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/g/text", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.name == "gzip" && resp.Header.Get("Content-Encoding") != "gzip" || resp.StatusCode != http.StatusOK {
				t.Fatalf("plain response %d %v", resp.StatusCode, resp.Header)
			}
		})
	}
}

// gzipMiddleware compresses responses as echo's Gzip does: the status is
// held back until the first write of the body.
func gzipMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			next.ServeHTTP(w, r)
			return
		}
		gw := &gzipWriter{ResponseWriter: w, code: http.StatusOK}
		defer gw.finish()
		next.ServeHTTP(gw, r)
	})
}

type gzipWriter struct {
	http.ResponseWriter
	gz   *gzip.Writer
	code int
}

func (w *gzipWriter) WriteHeader(code int) { w.code = code }

func (w *gzipWriter) Write(p []byte) (int, error) {
	if w.gz == nil {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Del("Content-Length")
		w.ResponseWriter.WriteHeader(w.code)
		w.gz = gzip.NewWriter(w.ResponseWriter)
	}
	return w.gz.Write(p)
}

func (w *gzipWriter) finish() {
	if w.gz != nil {
		_ = w.gz.Close()
	}
}

func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusMiddleware records the status as a logging middleware does.
func statusMiddleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&statusWriter{ResponseWriter: w}, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// envelope reads one message as an envelope.
func envelope(t *testing.T, c *cws.Conn) transport.Envelope {
	t.Helper()
	_, s := read(t, c)
	var env transport.Envelope
	if err := json.Unmarshal([]byte(s), &env); err != nil {
		t.Fatalf("not an envelope: %s", s)
	}
	return env
}

func TestTopicResume(t *testing.T) {
	broker, err := framework.NewMemoryBroker(&framework.MemoryOptions{MaxEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	hub, err := framework.NewHub(&framework.HubOptions{Broker: broker})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	f := newFixture(t, nil)
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))
	ctx := context.Background()
	publish := func(data string) string {
		id, err := hub.Publish(ctx, "news", framework.Event{Data: []byte(data)})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}

	live := f.dial("/topics/news/ws", nil)
	waitFor(t, "the subscription", func() bool { return hub.Topics() == 1 })
	first := publish("一")
	if env := envelope(t, live); env.ID != first || env.Data != "一" {
		t.Fatalf("live got %+v", env)
	}
	live.Close(cws.StatusNormalClosure, "")

	second := publish("二")
	publish("三")
	t.Run("resume", func(t *testing.T) {
		c := f.dial("/topics/news/ws?cursor="+first, nil)
		if env := envelope(t, c); env.ID != second || env.Data != "二" {
			t.Fatalf("resumed with %+v, want %s", env, second)
		}
		if env := envelope(t, c); env.Data != "三" {
			t.Fatalf("then %+v", env)
		}
	})
	publish("四")
	publish("五") // history now holds 三 四 五: 二 is gone
	t.Run("gap", func(t *testing.T) {
		c := f.dial("/topics/news/ws?lastEventId="+first, nil)
		env := envelope(t, c)
		var g framework.Gap
		if env.Event != "gap" || json.Unmarshal([]byte(env.Data), &g) != nil || g.Last != first || g.Next == "" {
			t.Fatalf("got %+v, want a gap notice after %s", env, first)
		}
		for _, want := range []string{"三", "四", "五"} {
			if env := envelope(t, c); env.Data != want {
				t.Fatalf("got %+v, want %s", env, want)
			}
		}
	})
	t.Run("earlier epoch", func(t *testing.T) {
		c := f.dial("/topics/news/ws?cursor=zzz-1", nil)
		env := envelope(t, c)
		var g framework.Gap
		if env.Event != "gap" || json.Unmarshal([]byte(env.Data), &g) != nil || g.Last != "zzz-1" {
			t.Fatalf("got %+v, want a gap notice after zzz-1", env)
		}
		if next := envelope(t, c); next.ID != g.Next || next.Data != "三" {
			t.Fatalf("gap says next %s, then got %+v", g.Next, next)
		}
	})
	t.Run("bad cursor", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, path := range []string{"/topics/news/ws?cursor=nope", "/topics/bad..name/ws", "/topics/news/ws?cursor=" + strings.Repeat("1", 65)} {
			_, resp, err := cws.Dial(ctx, f.url(path), nil)
			if err == nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s: %v, want 400", path, err)
			}
			checkAnswer(t, resp, http.StatusBadRequest, "invalid")
		}
	})
}

func TestTopicOverflow(t *testing.T) {
	hub, err := framework.NewHub(&framework.HubOptions{QueueSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	tip, err := hub.Publish(context.Background(), "fast", framework.Event{Data: []byte("before")})
	if err != nil {
		t.Fatal(err)
	}
	// The first two connections start live, and their hook publishes more
	// than their queue holds before their write loop starts: the
	// subscription overflows before it delivered anything. The first
	// connection's hook publishes 0 to 4, the second's 5 to 9.
	var conns atomic.Int32
	f := newFixture(t, &Options{Hooks: Hooks{Opened: func(*Conn) {
		if n := int(conns.Add(1)); n <= 2 {
			for i := range 5 {
				data := []byte(strconv.Itoa(5*(n-1) + i))
				if _, err := hub.Publish(context.Background(), "fast", framework.Event{Data: data}); err != nil {
					panic(err)
				}
			}
		}
	}}})
	f.mux.Handle("GET /topics/{topic}/ws", f.s.Topic(hub, topicName))

	c := f.dial("/topics/fast/ws", nil)
	ce := readClose(t, c)
	if ce.Code != cws.StatusTryAgainLater || ReasonCursor(ce.Reason) != tip {
		t.Fatalf("closed with %v, want 1013 with cursor %s", ce, tip)
	}
	cl := f.rec.next(t)
	if !errors.Is(cl.reason, framework.ErrOverflow) || CloseCode(cl.reason) != StatusTryAgainLater {
		t.Fatalf("Closed hook got %v", cl.reason)
	}
	if errs := f.rec.errors(); len(errs) != 1 || errs[0] != cl.reason {
		t.Fatalf("Error hook got %v, want the overflow", errs)
	}

	// The client's first connection overflows too; it resumes from the
	// reason's cursor, and gets what was published meanwhile.
	client := newClient(t, f.url("/topics/fast/ws"), nil)
	items, _ := observe(t, client.Events(), 5)
	for i, it := range items {
		if ev, ok := it.V.(framework.Event); !ok || string(ev.Data) != strconv.Itoa(i+5) {
			t.Fatalf("item %d: %+v, want %d", i, it, i+5)
		}
	}
}

// TestPingHealthyPeer: a peer that reads answers the pings, and frequent
// pings do not drop it.
func TestPingHealthyPeer(t *testing.T) {
	f := newFixture(t, &Options{PingInterval: time.Millisecond, PongTimeout: time.Second})
	f.mux.Handle("GET /ws", f.s.Stream(func(*http.Request, string) (rxgo.Observable, error) {
		return streams.TryMap(streams.Interval(5*time.Millisecond), func(n int64) (string, error) {
			if n == 10 {
				return "", errors.New("done")
			}
			return strconv.FormatInt(n, 10), nil
		}), nil
	}))
	var pings atomic.Int32
	c := f.dial("/ws", &cws.DialOptions{OnPingReceived: func(context.Context, []byte) bool {
		pings.Add(1)
		return true
	}})
	ce := readClose(t, c)
	if ce.Code != cws.StatusInternalError || ce.Reason != "done" {
		t.Fatalf("closed with %v, want the producer's end after 10 messages", ce)
	}
	if cl := f.rec.next(t); cl.reason.Error() != "done" {
		t.Fatalf("Closed hook got %v", cl.reason)
	}
	if errs := f.rec.errors(); len(errs) != 1 || errs[0].Error() != "done" {
		t.Fatalf("Error hook got %v, want the producer's error alone", errs)
	}
	if pings.Load() == 0 {
		t.Fatal("the server sent no ping")
	}
}
