package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	cws "github.com/coder/websocket"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

// serve runs mux on a loopback server and returns its ws:// base URL and
// a function that stops it.
func serve(mux *http.ServeMux, s *websocket.Server) (string, func()) {
	ts := httptest.NewServer(mux)
	return "ws" + strings.TrimPrefix(ts.URL, "http"), func() {
		s.Close()
		for s.Connections() > 0 {
			time.Sleep(time.Millisecond)
		}
		ts.Close()
	}
}

// The seed's WebSocketHandler: every text message is answered with
// "服务器回复: " followed by the message, in a plain text frame.
func ExampleServer_Duplex() {
	s, _ := websocket.New(&websocket.Options{Format: websocket.FormatText})
	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.Duplex(func(_ *http.Request, in rxgo.Observable) (rxgo.Observable, error) {
		return streams.Map(in, func(m websocket.Message) string {
			return "服务器回复: " + m.Text()
		}), nil
	}))
	base, stop := serve(mux, s)
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
	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.Stream(func(*http.Request, string) (rxgo.Observable, error) {
		return rxgo.Just(framework.Event{ID: "1", Data: []byte("hello")}, "world")(), nil
	}))
	base, stop := serve(mux, s)
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

// A hub topic named by the route's pattern, followed by the Go client,
// resuming after an event it saw.
func ExampleServer_Topic() {
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	s, _ := websocket.New(nil)
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}/ws", s.Topic(hub, func(r *http.Request) string { return r.PathValue("topic") }))
	base, stop := serve(mux, s)
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

// Several hub topics on one connection, followed by the Go client: a
// topic the server refuses ends with a *StatusError naming it, the
// others go on.
func ExampleServer_Topics() {
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	s, _ := websocket.New(&websocket.Options{MaxTopics: 1})
	mux := http.NewServeMux()
	mux.Handle("GET /topics", s.Topics(hub))
	base, stop := serve(mux, s)
	defer stop()

	client, _ := websocket.NewMultiClient(base+"/topics", nil)
	defer client.Close()
	news, _ := client.Subscribe("news", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	items := news.Events().Observe(rxgo.WithContext(ctx))
	for hub.Topics() == 0 { // until the server follows news
		time.Sleep(time.Millisecond)
	}
	_, _ = hub.Publish(ctx, "news", framework.Event{Data: []byte("hello")})
	fmt.Println(string((<-items).V.(framework.Event).Data))

	sport, _ := client.Subscribe("sport", "") // one more than MaxTopics
	var se *websocket.StatusError
	for item := range sport.Events().Observe(rxgo.WithContext(ctx)) {
		if errors.As(item.E, &se) {
			fmt.Println(se.Topic, se.Code)
		}
	}
	// Output:
	// hello
	// sport 400
}

// The callbacks every transport shares, the inbound messages, and an
// explicit list of allowed origins; Close is registered with the
// http.Server, whose Shutdown does not end hijacked connections.
func ExampleOptions() {
	s, _ := websocket.New(&websocket.Options{
		OriginPatterns: []string{"app.example.com", "*.example.org"},
		Hooks: websocket.Hooks{
			Opened: func(c *websocket.Conn) { log.Println("open", c.ID, c.Subprotocol) },
			Error:  func(c *websocket.Conn, err error) { log.Println("error", c.ID, err) },
			Closed: func(c *websocket.Conn, reason error) {
				var ce websocket.CloseError
				switch {
				case errors.As(reason, &ce): // the peer closed
					log.Println("closed by the peer", c.ID, ce.Code, ce.Reason)
				default:
					log.Println("closed", c.ID, websocket.CloseCode(reason), reason)
				}
			},
		},
		OnMessage: func(c *websocket.Conn, m websocket.Message) { log.Println("got", c.ID, m.Text()) },
	})
	mux := http.NewServeMux()
	mux.Handle("GET /ws", s.Stream(func(*http.Request, string) (rxgo.Observable, error) {
		return streams.Interval(time.Second), nil
	}))
	srv := &http.Server{Addr: ":8080", Handler: mux}
	srv.RegisterOnShutdown(s.Close) // close every connection with 1001
}
