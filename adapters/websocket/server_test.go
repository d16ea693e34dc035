package websocket

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	cws "github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/internal/transport"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// reply is the seed's handler: every message answered with a prefix.
func reply(_ echo.Context, in rxgo.Observable) (rxgo.Observable, error) {
	return streams.Map(in, func(v any) (any, error) {
		return "服务器回复: " + v.(Message).Text(), nil
	}), nil
}

func TestEchoRoundTrip(t *testing.T) {
	f := newFixture(t, &Options{Format: FormatText})
	f.e.GET("/ws", f.s.Duplex(reply))
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
	st := f.rec.next(t)
	if st.Code != StatusNormalClosure || !st.Remote || st.Reason != "bye" {
		t.Fatalf("Closed hook got %+v, want 1000 bye from the peer", st)
	}
	f.rec.mu.Lock()
	defer f.rec.mu.Unlock()
	if f.rec.established != 1 || len(f.rec.messages) != 4 || f.rec.messages[1].Text() != "你好, 世界" {
		t.Fatalf("hooks saw %d established, messages %+v", f.rec.established, f.rec.messages)
	}
}

func TestInboundObservedTwice(t *testing.T) {
	f := newFixture(t, nil)
	f.e.GET("/ws", f.s.Duplex(func(_ echo.Context, in rxgo.Observable) (rxgo.Observable, error) {
		return rxgo.Merge([]rxgo.Observable{in, in}), nil
	}))
	c := f.dial("/ws", nil)
	ce := readClose(t, c)
	if ce.Code != cws.StatusInternalError || ce.Reason != ErrInboundObserved.Error() {
		t.Fatalf("closed with %v, want 1011 %q", ce, ErrInboundObserved)
	}
}

func TestCloseStatuses(t *testing.T) {
	long := strings.Repeat("错误", 100) // 600 bytes: the reason must be cut
	tests := []struct {
		name   string
		items  []any
		code   cws.StatusCode
		reason string
		frames []string
	}{
		{"completion", []any{"a", framework.Event{ID: "7", Name: "n", Data: []byte("b")}}, cws.StatusNormalClosure, "",
			[]string{`{"data":"a"}`, `{"id":"7","event":"n","data":"b"}`}},
		{"producer error", []any{"a", errors.New("boom")}, cws.StatusInternalError, "boom", []string{`{"data":"a"}`}},
		{"long error", []any{errors.New(long)}, cws.StatusInternalError, closeReason(long), nil},
		{"overflow", []any{framework.ErrOverflow}, cws.StatusTryAgainLater, errorStatus(framework.ErrOverflow).Reason, nil},
		{"unencodable item", []any{func() {}}, cws.StatusInternalError, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			f.e.GET("/ws", f.s.Stream(func(echo.Context, string) (rxgo.Observable, error) {
				return rxgo.Just(tt.items...)(), nil
			}))
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
			if st := f.rec.next(t); st.Code != tt.code || st.Remote {
				t.Fatalf("Closed hook got %+v, want %d from the server", st, tt.code)
			}
			if n := f.echoErrors.Load(); n != 0 {
				t.Fatalf("%d errors returned to echo after the upgrade", n)
			}
		})
	}
}

func TestReadLimit(t *testing.T) {
	f := newFixture(t, &Options{ReadLimit: 1024})
	f.e.GET("/ws", f.s.Duplex(reply))
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
	if st := f.rec.next(t); st.Code != StatusMessageTooBig {
		t.Fatalf("Closed hook got %+v, want 1009", st)
	}
	if errs := f.rec.transportErrors(); len(errs) != 1 || !errors.Is(errs[0], cws.ErrMessageTooBig) {
		t.Fatalf("TransportError got %v", errs)
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
			f.e.GET("/ws", f.s.Stream(func(echo.Context, string) (rxgo.Observable, error) {
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
			if produced.Load() != 0 {
				t.Fatal("the producer ran for a refused request")
			}
		})
	}
}

func TestNotAnUpgrade(t *testing.T) {
	f := newFixture(t, nil)
	f.e.GET("/ws", f.s.Duplex(reply))
	resp, err := http.Get(f.ts.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || resp.Header.Get("Upgrade") != "websocket" {
		t.Fatalf("got %d %v, want 426 with Upgrade: websocket", resp.StatusCode, resp.Header)
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
			f.e.GET("/ws", f.s.Stream(func(echo.Context, string) (rxgo.Observable, error) { return tt.obs(), nil }))
			c := rawUpgrade(t, f.url("/ws"))
			st := f.rec.next(t)
			if st.Code != StatusAbnormalClosure || st.Remote {
				t.Fatalf("Closed hook got %+v, want 1006", st)
			}
			if n := f.echoErrors.Load(); n != 0 {
				t.Fatalf("%d errors returned to echo after the upgrade", n)
			}
			errs := f.rec.transportErrors()
			if len(errs) != 1 || tt.want != nil && !errors.Is(errs[0], tt.want) {
				t.Fatalf("TransportError got %v, want %v", errs, tt.want)
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
	f.e.GET("/never", f.s.Stream(func(echo.Context, string) (rxgo.Observable, error) { return rxgo.Never(), nil }))
	f.e.GET("/echo", f.s.Duplex(reply))
	f.e.GET("/topics/:topic/ws", f.s.Topic(hub, Param("topic")))
	var conns []*cws.Conn
	for i := range 30 {
		conns = append(conns, f.dial([]string{"/never", "/echo", "/topics/t/ws"}[i%3], nil))
	}
	waitFor(t, "30 connections", func() bool { return f.s.Open() == 30 })
	f.s.Close()
	for i, c := range conns {
		if ce := readClose(t, c); ce.Code != cws.StatusGoingAway {
			t.Fatalf("connection %d closed with %v, want 1001", i, ce)
		}
	}
	waitFor(t, "every handler to return", func() bool { return f.s.Open() == 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := cws.Dial(ctx, f.url("/echo"), nil)
	if err == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v, want 503", err)
	}
}

// TestGzip runs echo's real Gzip middleware on the group: its writer holds
// the 101 back, which the handlers get past; the skipper avoids it.
func TestGzip(t *testing.T) {
	tests := []struct {
		name string
		mw   echo.MiddlewareFunc
	}{
		{"Gzip", middleware.Gzip()},
		{"GzipSkipper", middleware.GzipWithConfig(middleware.GzipConfig{Skipper: GzipSkipper})},
		{"MinLength", middleware.GzipWithConfig(middleware.GzipConfig{MinLength: 256})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, &Options{Format: FormatText})
			g := f.e.Group("/g", tt.mw)
			g.GET("/ws", f.s.Duplex(reply))
			g.GET("/text", func(c echo.Context) error { return c.String(http.StatusOK, strings.Repeat("zip", 100)) })
			c := f.dial("/g/ws", &cws.DialOptions{HTTPHeader: http.Header{"Accept-Encoding": {"gzip"}}})
			if err := c.Write(context.Background(), cws.MessageText, []byte("压缩")); err != nil {
				t.Fatal(err)
			}
			if _, got := read(t, c); got != "服务器回复: 压缩" {
				t.Fatalf("got %q", got)
			}
			// The middleware still compresses ordinary responses.
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/g/text", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.Header.Get("Content-Encoding") != "gzip" {
				t.Fatalf("plain response not compressed: %v", resp.Header)
			}
		})
	}
}

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
	f.e.GET("/topics/:topic/ws", f.s.Topic(hub, Param("topic")))
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
	f := newFixture(t, &Options{Hooks: Hooks{Established: func(*Session) {
		if n := int(conns.Add(1)); n <= 2 {
			for i := range 5 {
				data := []byte(strconv.Itoa(5*(n-1) + i))
				if _, err := hub.Publish(context.Background(), "fast", framework.Event{Data: data}); err != nil {
					panic(err)
				}
			}
		}
	}}})
	f.e.GET("/topics/:topic/ws", f.s.Topic(hub, Param("topic")))

	c := f.dial("/topics/fast/ws", nil)
	ce := readClose(t, c)
	if ce.Code != cws.StatusTryAgainLater || ReasonCursor(ce.Reason) != tip {
		t.Fatalf("closed with %v, want 1013 with cursor %s", ce, tip)
	}
	if st := f.rec.next(t); st.Code != StatusTryAgainLater {
		t.Fatalf("Closed hook got %+v", st)
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
	f.e.GET("/ws", f.s.Stream(func(echo.Context, string) (rxgo.Observable, error) {
		return streams.Map(streams.Interval(5*time.Millisecond), func(v any) (any, error) {
			if v.(int64) == 10 {
				return nil, errors.New("done")
			}
			return strconv.FormatInt(v.(int64), 10), nil
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
	if errs := f.rec.transportErrors(); len(errs) != 0 {
		t.Fatalf("TransportError got %v", errs)
	}
	if pings.Load() == 0 {
		t.Fatal("the server sent no ping")
	}
}
