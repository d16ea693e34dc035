// Command stdlib serves the showcase's topic routes with the standard
// library alone: net/http's ServeMux, no echo anywhere in its imports.
//
//	go run ./examples/stdlib [-addr 127.0.0.1:8081]
//
// Routes:
//
//	GET  /topics/{topic}              one URL, every transport (WebSocket, SSE, long-poll, poll)
//	POST /topics/{topic}              publish the request body; answers {"id": ...}
//	GET  /topics/{topic}/sse          the topic on one transport each: also /longpoll, /poll, /ws
//	GET  /topics/{topic}/history      a page of its history: ?before=ID or ?after=ID, &limit=N
//	GET  /topics?topic=a&topic=b      several topics on one connection, every transport
//	GET  /ticks                       a producer: a counter every second, every transport
//	GET  /_rxstream/rxstream.js       the browser client
//
// Try it:
//
//	curl -N -H 'Accept: text/event-stream' localhost:8081/topics/chat &
//	curl -d 'hello' localhost:8081/topics/chat
//	curl 'localhost:8081/topics/chat/history?limit=10'
//	curl -N -H 'Accept: text/event-stream' 'localhost:8081/topics/chat?rewind=10'  # the last 10, then live
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/shortpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err == nil {
		slog.Info("stdlib: listening", "url", "http://"+l.Addr().String()+"/")
		err = serve(ctx, l)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "stdlib:", err)
		os.Exit(1)
	}
}

// serve serves the routes on l until ctx ends, then shuts down: open
// streams are ended (their clients told when to come back) and the server
// waits for their last writes.
func serve(ctx context.Context, l net.Listener) error {
	// Clients choose topic names: bound how many there can be.
	hub, err := framework.NewHub(&framework.HubOptions{MaxTopics: 10000})
	if err != nil {
		return err
	}
	defer hub.Close()
	mux, closers, err := routes(hub)
	if err != nil {
		return err
	}
	// No WriteTimeout: the streams set a deadline on each write.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	for _, c := range closers {
		srv.RegisterOnShutdown(c)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// routes builds the mux, and the Close of each server for shutdown.
func routes(hub *framework.Hub) (*http.ServeMux, []func(), error) {
	s, lp, sp, ws := &sse.Server{}, &longpoll.Server{}, &shortpoll.Server{}, &websocket.Server{}
	ep, err := adapters.New(&adapters.Options{SSE: s, LongPoll: lp, ShortPoll: sp, WebSocket: ws, Publish: true})
	if err != nil {
		return nil, nil, err
	}
	topic := adapters.Param("topic")
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}", ep.Topic(hub, topic)) // GET on every transport, POST publishes
	mux.Handle("GET /topics/{topic}/sse", s.Topic(hub, topic))
	mux.Handle("GET /topics/{topic}/longpoll", lp.Topic(hub, topic))
	mux.Handle("GET /topics/{topic}/poll", sp.Topic(hub, topic))
	mux.Handle("GET /topics/{topic}/ws", ws.Topic(hub, topic))
	mux.Handle("/topics/{topic}/history", ep.History(hub, topic)) // GET; it answers other methods 405
	mux.Handle("GET /topics", ep.Topics(hub))
	mux.Handle("GET /ticks", ep.Stream(ticks))
	mux.Handle("GET "+adapters.ClientPath, adapters.ClientHandler())
	return mux, []func(){s.Close, lp.Close, sp.Close, ws.Close}, nil
}

// ticks is a producer: "tick N" every second, resuming after the cursor
// the client gives (the N it saw last).
func ticks(r *http.Request, cursor string) (rxgo.Observable, error) {
	from := int64(0)
	if cursor != "" {
		n, err := strconv.ParseInt(cursor, 10, 64)
		if err != nil || n < 0 {
			return nil, &adapters.StatusError{Code: http.StatusBadRequest, Message: "the cursor of /ticks is the number of the last tick"}
		}
		from = n + 1
	}
	return streams.Map(streams.Interval(time.Second), func(n int64) framework.Event {
		n += from
		return framework.Event{ID: strconv.FormatInt(n, 10), Data: []byte("tick " + strconv.FormatInt(n, 10))}
	}), nil
}
