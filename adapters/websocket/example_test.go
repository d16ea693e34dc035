package websocket_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	cws "github.com/coder/websocket"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// serve runs e on a loopback server and returns its ws:// base URL and a
// function that stops it.
func serve(e *echo.Echo, s *websocket.Server) (string, func()) {
	ts := httptest.NewServer(e)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), func() {
		s.Close()
		for s.Open() > 0 {
			time.Sleep(time.Millisecond)
		}
		ts.Close()
	}
}

// The seed's WebSocketHandler: every text message is answered with
// "服务器回复: " followed by the message, in a plain text frame.
func ExampleServer_Duplex() {
	s, _ := websocket.New(&websocket.Options{Format: websocket.FormatText})
	e := echo.New()
	e.GET("/ws", s.Duplex(func(_ echo.Context, in rxgo.Observable) (rxgo.Observable, error) {
		return streams.Map(in, func(v any) (any, error) {
			return "服务器回复: " + v.(websocket.Message).Text(), nil
		}), nil
	}))
	base, stop := serve(e, s)
	defer stop()

	ctx := context.Background()
	c, _, err := cws.Dial(ctx, base+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close(cws.StatusNormalClosure, "")
	_ = c.Write(ctx, cws.MessageText, []byte("你好"))
	_, reply, _ := c.Read(ctx)
	fmt.Println(string(reply))
	// Output: 服务器回复: 你好
}

// A per-request producer: its events travel as JSON envelopes, and its
// completion closes the connection with 1000.
func ExampleServer_Stream() {
	s, _ := websocket.New(nil)
	e := echo.New()
	e.GET("/ws", s.Stream(func(echo.Context, string) (rxgo.Observable, error) {
		return rxgo.Just(framework.Event{ID: "1", Data: []byte("hello")}, "world")(), nil
	}))
	base, stop := serve(e, s)
	defer stop()

	ctx := context.Background()
	c, _, err := cws.Dial(ctx, base+"/ws", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.CloseNow()
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			fmt.Println("closed:", cws.CloseStatus(err))
			return
		}
		fmt.Println(string(msg))
	}
	// Output:
	// {"id":"1","data":"hello"}
	// {"data":"world"}
	// closed: StatusNormalClosure
}

// A hub topic followed by the Go client, resuming after an event it saw.
func ExampleServer_Topic() {
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	s, _ := websocket.New(nil)
	e := echo.New()
	e.GET("/topics/:topic/ws", s.Topic(hub, websocket.Param("topic")))
	base, stop := serve(e, s)
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	first, _ := hub.Publish(ctx, "news", framework.Event{Data: []byte("first")})
	_, _ = hub.Publish(ctx, "news", framework.Event{Name: "update", Data: []byte("second")})

	client, _ := websocket.NewClient(base+"/topics/news/ws", &websocket.ClientOptions{Cursor: first})
	for item := range client.Events().Observe(rxgo.WithContext(ctx)) {
		ev := item.V.(framework.Event)
		fmt.Println(ev.Name, string(ev.Data))
		cancel()
	}
	// Output: update second
}

// Echo's Gzip middleware holds the handshake's 101 back; skip it for
// upgrades (the handlers also get past it on their own).
func ExampleGzipSkipper() {
	s, _ := websocket.New(nil)
	e := echo.New()
	g := e.Group("/api", middleware.GzipWithConfig(middleware.GzipConfig{Skipper: websocket.GzipSkipper}))
	g.GET("/ws", s.Stream(func(echo.Context, string) (rxgo.Observable, error) {
		return streams.Interval(time.Second), nil
	}))
	e.Server.RegisterOnShutdown(s.Close) // close every connection with 1001
}

// Spring's four callbacks, and an explicit list of allowed origins.
func ExampleOptions() {
	s, _ := websocket.New(&websocket.Options{
		OriginPatterns: []string{"app.example.com", "*.example.org"},
		Hooks: websocket.Hooks{
			Established:    func(s *websocket.Session) { fmt.Println("open", s.ID) },
			Message:        func(s *websocket.Session, m websocket.Message) { fmt.Println("got", m.Text()) },
			TransportError: func(s *websocket.Session, err error) { fmt.Println("error", err) },
			Closed:         func(s *websocket.Session, st websocket.CloseStatus) { fmt.Println("closed", st.Code) },
		},
	})
	_ = s
}
