// Command showcase serves one hub and one page that shows every rxstream
// transport live.
//
//	go run ./examples/showcase [-addr 127.0.0.1:8080] [-tls] [-heartbeat 15s] [-debug]
//
// Routes (README.md explains each):
//
//	GET  /                             the page: a chat on every transport, a panel per transport
//	GET  /?panels=chat,sse             the page with only the panels named (chat, sse, poll, ws)
//	GET  /topics/:topic                one URL, every transport (WebSocket, SSE, long-poll, poll)
//	GET  /topics?topic=a&topic=b       several topics on one connection, every transport
//	POST /topics/:topic                publish the request body; answers {"id": ...}
//	GET  /topics/:topic/sse            the topic on one transport each: also /longpoll, /poll, /ws
//	GET  /topics/:topic/history        a page of its history: ?before=ID or ?after=ID, &limit=N
//	GET  /sse/interval?every=10s       Flux.interval(...).map(seq -> "new message") over SSE
//	GET  /poll?after=10s               DeferredResult: "new message" after a while, 30 s timeout
//	GET  /ws                           WebSocketHandler: echoes "服务器回复: " + each message
//	GET  /_rxstream/rxstream.js        the browser client (and rxstream.d.ts)
//	GET  /metrics                      Prometheus metrics
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
	"syscall"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/framework"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	cfg := config{log: slog.Default()}
	flag.DurationVar(&cfg.heartbeat, "heartbeat", 0, "interval of keep-alive heartbeats on streams (0: the adapters' defaults)")
	debug := flag.Bool("debug", false, "log at debug level (a line per stream that ends on an error)")
	flag.BoolVar(&cfg.tls, "tls", false, "serve HTTPS with HTTP/2 and a self-signed certificate (more than 6 streams per browser)")
	flag.Parse()
	if *debug {
		slog.SetLogLoggerLevel(slog.LevelDebug)
	}
	if err := run(*addr, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "showcase:", err)
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
	srv := a.e.Server
	srv.Addr = addr
	scheme := "http"
	if cfg.tls {
		if srv.TLSConfig, err = tlsConfig(); err != nil {
			return err
		}
		scheme = "https"
	}
	errc := make(chan error, 1)
	go func() { errc <- a.e.StartServer(srv) }()
	slog.Info("showcase: listening", "url", scheme+"://"+addr+"/")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	slog.Info("showcase: shutting down")
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

// app is the showcase: one echo instance, one hub, and a route file per
// transport (sse.go, ...), each adding its routes and its shutdown hook.
type app struct {
	e    *echo.Echo
	hub  *framework.Hub
	log  *slog.Logger
	cfg  config
	open openStreams    // each transport server's Open, for /metrics (metrics.go)
	gate *adapters.Gate // every transport server's: one count of the limits
}

// config is what the command line sets.
type config struct {
	log          *slog.Logger
	heartbeat    time.Duration        // 0: defaults; negative: off
	disable      []adapters.Transport // transports /topics/:topic does not offer
	tls          bool                 // HTTPS with HTTP/2
	writeTimeout time.Duration        // per-write deadline of SSE and WebSocket streams; 0: defaults
	gate         *adapters.Gate       // the limits of every transport; nil: defaults
}

func newApp(cfg config) (*app, error) {
	log := cfg.log
	// Clients choose topic names: bound how many there can be.
	hub, err := framework.NewHub(&framework.HubOptions{MaxTopics: 10000})
	if err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.Server.ReadHeaderTimeout = 10 * time.Second // no WriteTimeout: streams set per-write deadlines
	e.Use(middleware.Recover())
	a := &app{e: e, hub: hub, log: log, cfg: cfg, gate: cfg.gate}
	if a.gate == nil {
		a.gate = &adapters.Gate{}
	}
	e.GET("/", a.page)
	for _, register := range routes {
		if err := register(a); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// routes holds each transport's route registration; each transport's file
// appends to it in an init function.
var routes []func(*app) error

// onShutdown registers fn to run when the server shuts down, so that open
// streams end and Shutdown returns promptly.
func (a *app) onShutdown(fn func()) { a.e.Server.RegisterOnShutdown(fn) }
