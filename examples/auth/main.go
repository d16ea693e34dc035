// Command auth guards a hub's topics with bearer tokens: JSON Web Tokens
// (HS256) whose claims list the topics their holder may subscribe to and
// publish to, checked by one authorization hook on every transport, and
// honoured for as long as they are valid, no longer.
//
//	go run ./examples/auth -addr 127.0.0.1:8081 -secret "$SECRET" -origin https://app.example
//
// It prints a demo token and an admin token at start. Routes, all guarded:
//
//	GET  /topics/:topic/sse        SSE (EventSource)
//	GET  /topics/:topic/longpoll   long-poll
//	GET  /topics/:topic/poll       short-poll
//	GET  /topics/:topic/ws         WebSocket
//	POST /topics/:topic            publish the body
//	POST /token                    a fresh token for a valid one (same claims)
//	POST /admin/revoke?user=U      revoke a user (or ?topic=T: a topic), admin tokens only
//	GET  /?token=T&topic=news      a page that follows the topic with the browser client
//
// Every stream ends at its token's exp, on every transport (SSE with an
// "expired" event, WebSocket with close code 4401, a held long-poll with
// 401), and a client with a fresh token resumes from its cursor: the
// page's client asks POST /token for one before exp, and keeps its
// WebSocket open by sending it in a refresh message. Revoking a user ends
// their streams at once (SSE "revoked", WebSocket 4403, long-poll 403) and
// refuses their tokens issued until then. One adapters.Gate counts every
// transport's connections against the limits that the -max-per-user,
// -max-per-address and -connect-rate flags set (429 beyond them, 1008 or
// 1013 on a WebSocket); behind a reverse proxy, list it with
// -trusted-proxies so that the limits count its clients, not it.
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
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	secret := flag.String("secret", os.Getenv("RXSTREAM_SECRET"), "HS256 key of the tokens (default $RXSTREAM_SECRET)")
	origins := flag.String("origin", "", "comma-separated origins allowed to call from another site (CORS and WebSocket)")
	perUser := flag.Int("max-per-user", 0, "open connections per user (0: the default, 32; -1: no limit)")
	perAddr := flag.Int("max-per-address", 0, "open connections per client address (0: the default, 512; -1: no limit)")
	rate := flag.Float64("connect-rate", 0, "connection attempts per second per client address (0: the default, 100; -1: no limit)")
	proxies := flag.String("trusted-proxies", "", "comma-separated prefixes of the reverse proxies whose X-Forwarded-For is believed, such as 10.0.0.0/8")
	ttl := flag.Duration("token-ttl", time.Hour, "life of the demo tokens printed at start")
	flag.Parse()
	if len(*secret) < 32 {
		fmt.Fprintln(os.Stderr, "auth: -secret (or RXSTREAM_SECRET) must be at least 32 bytes")
		os.Exit(2)
	}
	cfg := config{secret: []byte(*secret), tokenTTL: *ttl,
		gate: adapters.GateOptions{MaxPerUser: *perUser, MaxPerAddress: *perAddr, ConnectRate: *rate}}
	if *origins != "" {
		cfg.origins = strings.Split(*origins, ",")
	}
	for p := range strings.SplitSeq(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "auth: -trusted-proxies:", err)
			os.Exit(2)
		}
		cfg.gate.TrustedProxies = append(cfg.gate.TrustedProxies, prefix)
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
	demo, err := mint(cfg.secret, "demo", []string{"news"}, []string{"news"}, cfg.tokenTTL)
	if err != nil {
		return err
	}
	admin, err := sign(cfg.secret, claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "admin"}, Admin: true}, cfg.tokenTTL)
	if err != nil {
		return err
	}
	slog.Info("auth: listening", "url", "http://"+addr+"/?token="+demo, "demo_token", demo, "admin_token", admin)
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
	secret   []byte   // HS256 key
	origins  []string // cross-site origins allowed (CORS, WebSocket)
	gate     adapters.GateOptions
	tokenTTL time.Duration // of the demo tokens
}

type app struct {
	e        *echo.Echo
	hub      *framework.Hub
	cfg      config
	gate     *adapters.Gate // every transport's limits, expiry and revocation
	verifier *verifier
	revoked  *revocations
}

// maxPublish bounds a published event's size.
const maxPublish = 64 << 10

func newApp(cfg config) (*app, error) {
	hub, err := framework.NewHub(&framework.HubOptions{MaxTopics: 10000, MaxSubscribers: 10000})
	if err != nil {
		return nil, err
	}
	gate, err := adapters.NewGate(&cfg.gate)
	if err != nil {
		return nil, err
	}
	a := &app{hub: hub, cfg: cfg, gate: gate, revoked: &revocations{}}
	a.verifier = newVerifier(cfg.secret, a.revoked)
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Use(middleware.Recover())
	a.e = e
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
	s, err := sse.New(&sse.Options{Gate: gate})
	if err != nil {
		return nil, err
	}
	lp, err := longpoll.New(&longpoll.Options{Gate: gate})
	if err != nil {
		return nil, err
	}
	sp, err := shortpoll.New(&shortpoll.Options{Gate: gate})
	if err != nil {
		return nil, err
	}
	var hosts []string // WebSocket origin patterns are hosts
	for _, o := range cfg.origins {
		hosts = append(hosts, strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://"))
	}
	ws, err := websocket.New(&websocket.Options{OriginPatterns: hosts, Gate: gate})
	if err != nil {
		return nil, err
	}
	for _, close := range []func(){s.Close, lp.Close, sp.Close, ws.Close} {
		e.Server.RegisterOnShutdown(close)
	}
	// The Endpoint publishes on POST; its transports are the ones above.
	ep, err := adapters.New(&adapters.Options{SSE: s, LongPoll: lp, ShortPoll: sp, WebSocket: ws, Publish: true, MaxPublish: maxPublish, Gate: gate})
	if err != nil {
		return nil, err
	}
	// The hook is asked by each handler about the very topic it serves:
	// it guards rxstream's handlers only, so every route of the group is
	// one.
	topic := adapters.Param("topic")
	g := e.Group("/topics/:topic", rxecho.Authorize(authorizer(a.verifier)))
	g.GET("/sse", rxecho.Wrap(s.Topic(hub, topic)))
	g.GET("/longpoll", rxecho.Wrap(lp.Topic(hub, topic)))
	g.GET("/poll", rxecho.Wrap(sp.Topic(hub, topic)))
	g.GET("/ws", rxecho.Wrap(ws.Topic(hub, topic)))
	g.POST("", rxecho.Wrap(ep.Topic(hub, topic)))
	e.POST("/token", echo.WrapHandler(http.HandlerFunc(a.refresh)))
	e.POST("/admin/revoke", echo.WrapHandler(http.HandlerFunc(a.revoke)))
	e.GET("/", echo.WrapHandler(http.HandlerFunc(page)))
	rxecho.ServeClient(e)
	return a, nil
}
