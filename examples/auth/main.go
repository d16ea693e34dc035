// Command auth guards a hub's topics with bearer tokens: JSON Web Tokens
// (HS256) whose claims list the topics their holder may subscribe to and
// publish to, checked by one authorization hook on every transport.
//
//	go run ./examples/auth -addr 127.0.0.1:8081 -secret "$SECRET" -origin https://app.example
//
// It prints a demo token at start. Routes, all guarded:
//
//	GET  /topics/:topic/sse        SSE (EventSource)
//	GET  /topics/:topic/longpoll   long-poll
//	GET  /topics/:topic/ws         WebSocket
//	POST /topics/:topic            publish the body
//
// A token travels in the Authorization header ("Bearer TOKEN"). Browsers
// cannot set headers on an EventSource or a WebSocket, so for subscribing,
// and only for subscribing, the token is also taken from the access_token
// query parameter or the rxstream_token cookie; see auth.go for why.
// Cross-origin pages listed with -origin may use the SSE and poll routes
// (CORS); WebSocket handshakes are checked against the same origins.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	secret := flag.String("secret", os.Getenv("RXSTREAM_SECRET"), "HS256 key of the tokens (default $RXSTREAM_SECRET)")
	origins := flag.String("origin", "", "comma-separated origins allowed to call from another site (CORS and WebSocket)")
	flag.Parse()
	if len(*secret) < 32 {
		fmt.Fprintln(os.Stderr, "auth: -secret (or RXSTREAM_SECRET) must be at least 32 bytes")
		os.Exit(2)
	}
	cfg := config{secret: []byte(*secret)}
	if *origins != "" {
		cfg.origins = strings.Split(*origins, ",")
	}
	if err := run(*addr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "auth:", err)
		os.Exit(1)
	}
}

func run(addr string, cfg config) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := newApp(cfg)
	if err != nil {
		return err
	}
	defer a.hub.Close()
	demo, err := mint(cfg.secret, "demo", []string{"news"}, []string{"news"}, time.Hour)
	if err != nil {
		return err
	}
	slog.Info("auth: listening", "url", "http://"+addr+"/", "demo_token", demo)
	errc := make(chan error, 1)
	go func() { errc <- a.e.Start(addr) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("auth: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.e.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// config is what the command line sets.
type config struct {
	secret  []byte   // HS256 key
	origins []string // cross-site origins allowed (CORS, WebSocket)
}

type app struct {
	e   *echo.Echo
	hub *framework.Hub
}

// maxPublish bounds a published event's size.
const maxPublish = 64 << 10

func newApp(cfg config) (*app, error) {
	hub, err := framework.NewHub(&framework.HubOptions{MaxTopics: 10000, MaxSubscribers: 10000})
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	if len(cfg.origins) > 0 {
		// Cross-origin SSE and polls: the browser preflights requests that
		// carry Authorization or Last-Event-ID; the answers expose the
		// headers a poll client reads. Credentials allow the cookie.
		e.Use(middleware.CORSWithConfig(middleware.CORSConfig{
			AllowOrigins:     cfg.origins,
			AllowMethods:     []string{http.MethodGet, http.MethodPost},
			AllowHeaders:     []string{echo.HeaderAuthorization, echo.HeaderContentType, "Last-Event-ID"},
			ExposeHeaders:    []string{longpoll.CursorHeader, echo.HeaderRetryAfter},
			AllowCredentials: true,
			MaxAge:           600,
		}))
	}
	s, err := sse.New(nil)
	if err != nil {
		return nil, err
	}
	lp, err := longpoll.New(nil)
	if err != nil {
		return nil, err
	}
	var hosts []string // WebSocket origin patterns are hosts
	for _, o := range cfg.origins {
		hosts = append(hosts, strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://"))
	}
	ws, err := websocket.New(&websocket.Options{OriginPatterns: hosts})
	if err != nil {
		return nil, err
	}
	for _, close := range []func(){s.Close, lp.Close, ws.Close} {
		e.Server.RegisterOnShutdown(close)
	}
	// The Endpoint publishes on POST; its transports are the ones above.
	ep, err := adapters.New(&adapters.Options{SSE: s, LongPoll: lp, WebSocket: ws, Publish: true, MaxPublish: maxPublish})
	if err != nil {
		return nil, err
	}
	// The hook is asked by each handler about the very topic it serves:
	// it guards rxstream's handlers only, so every route of the group is
	// one.
	topic := adapters.Param("topic")
	g := e.Group("/topics/:topic", rxecho.Authorize(authorizer(cfg.secret)))
	g.GET("/sse", rxecho.Wrap(s.Topic(hub, topic)))
	g.GET("/longpoll", rxecho.Wrap(lp.Topic(hub, topic)))
	g.GET("/ws", rxecho.Wrap(ws.Topic(hub, topic)))
	g.POST("", rxecho.Wrap(ep.Topic(hub, topic)))
	return &app{e: e, hub: hub}, nil
}
