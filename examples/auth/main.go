// Command auth guards a hub's topics with bearer tokens: JSON Web Tokens
// (HS256) whose claims list the topics their holder may subscribe to and
// publish to, checked by one adapters.Authorize hook on every transport.
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
	"io"
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
	authz, err := adapters.Authorize(adapters.AuthorizeConfig{Authorize: authorizer(cfg.secret)})
	if err != nil {
		return nil, err
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
	a := &app{e: e, hub: hub}
	g := e.Group("/topics/:topic", authz)
	g.GET("/sse", s.Topic(hub, sse.Param("topic")))
	g.GET("/longpoll", lp.Topic(hub, longpoll.Param("topic"), nil))
	g.GET("/ws", ws.Topic(hub, websocket.Param("topic")))
	g.POST("", a.publish)
	return a, nil
}

// publish appends the request body to the topic as one event.
func (a *app) publish(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxPublish+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "reading body: "+err.Error())
	}
	if len(body) > maxPublish {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "event larger than 64 KiB")
	}
	id, err := a.hub.Publish(c.Request().Context(), c.Param("topic"), framework.Event{Data: body})
	switch {
	case errors.Is(err, framework.ErrInvalidTopic), errors.Is(err, framework.ErrInvalidEvent):
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	case err != nil:
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	return c.JSON(http.StatusOK, map[string]string{"id": id})
}
