// Command cluster runs three rxstream nodes that share their topics through
// NATS JetStream or Redis Streams: publish on any node, receive on every
// node, and resume on any node from the last event ID seen on another.
//
//	go run ./examples/cluster                              # embedded NATS, nodes on :8081-8083
//	go run ./examples/cluster -port 9001                   # nodes on :9001-9003
//	go run ./examples/cluster -nats nats://127.0.0.1:4222  # join an existing NATS
//	go run ./examples/cluster -redis redis://127.0.0.1:6379 # share the topics through Redis instead
//
// Without -nats or -redis it starts a NATS server in-process (JetStream in
// a temporary folder, on loopback, removed at exit). With -redis each node
// has its own Redis broker (github.com/rxstream/rxstream/broker/redisbroker)
// on that server, and everything else is the same. Each node serves:
//
//	GET  /topics/:topic/sse        the topic over SSE, resuming from Last-Event-ID
//	GET  /topics/:topic/longpoll   the topic by long-poll, resuming from ?cursor=
//	GET  /topics/:topic/ws         the topic over WebSocket, resuming from ?cursor=
//	POST /topics/:topic            publish the request body; answers {"id": ...} and X-Node
//
// A POST with an Idempotency-Key header is safe to retry on any node: a
// repeat of the key within two minutes answers the first ID (and
// Idempotent-Replayed: true) and stores nothing, since JetStream
// deduplicates it for every node. adapters.PublishTo and the browser
// client's publish send one and retry with it.
//
// Try it:
//
//	curl -N localhost:8082/topics/news/sse &
//	curl -N localhost:8083/topics/news/sse &
//	curl -d hello localhost:8081/topics/news
//	curl -d hello -H 'Idempotency-Key: k1' localhost:8082/topics/news  # twice: one event
//
// An event ID from one node resumes on any other:
//
//	curl -N -H 'Last-Event-ID: <id>' localhost:8083/topics/news/sse
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/broker/redisbroker"
)

func main() {
	port := flag.Int("port", 8081, "port of the first node; the others listen on the next ports")
	nodes := flag.Int("nodes", 3, "number of nodes")
	natsURL := flag.String("nats", "", "URL of an existing NATS server with JetStream (default: start one in-process)")
	redisURL := flag.String("redis", "", "URL of a Redis server (6.2 or later) to share the topics through, instead of NATS")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, config{port: *port, nodes: *nodes, natsURL: *natsURL, redisURL: *redisURL, log: slog.Default()}); err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
}

// config is what the command line sets.
type config struct {
	port     int // first node's port; 0 picks free ports
	nodes    int
	natsURL  string // "" starts an embedded server, unless redisURL is set
	redisURL string // the Redis server to use instead of NATS
	log      *slog.Logger
	ready    func(urls []string)             // called once every node listens (tests)
	wrap     func(http.Handler) http.Handler // wraps each node's handling of every request (tests)
	// presenceTTL bounds how long a dead node's users stay listed on
	// the others (NATS); 0 means natsbroker's default, 30 s.
	presenceTTL time.Duration
}

// run starts NATS (unless given one, or Redis) and the nodes, and stops
// them all when ctx ends.
func run(ctx context.Context, cfg config) error {
	if cfg.nodes < 1 {
		return fmt.Errorf("need at least one node, not %d", cfg.nodes)
	}
	if cfg.natsURL != "" && cfg.redisURL != "" {
		return fmt.Errorf("-nats and -redis: give one of them")
	}
	url := cfg.natsURL
	if url == "" && cfg.redisURL == "" {
		ns, err := startNATS()
		if err != nil {
			return err
		}
		defer ns.stop()
		url = ns.url
		cfg.log.Info("cluster: embedded NATS with JetStream", "url", url, "store", ns.dir)
	}
	if cfg.redisURL != "" {
		cfg.log.Info("cluster: topics shared through Redis", "url", cfg.redisURL)
	}
	var started []*node
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, n := range started {
			n.stop(sctx)
		}
	}()
	var urls []string
	for i := range cfg.nodes {
		port := 0
		if cfg.port != 0 {
			port = cfg.port + i
		}
		name := fmt.Sprintf("node%d", i+1)
		var b broker
		var err error
		if cfg.redisURL != "" {
			b, err = redisbroker.New(ctx, &redisbroker.Options{URL: cfg.redisURL, Name: "rxstream-" + name, Logger: cfg.log.With("node", name), PresenceTTL: cfg.presenceTTL})
		} else {
			b, err = natsbroker.New(ctx, &natsbroker.Options{URL: url, Name: "rxstream " + name, Logger: cfg.log.With("node", name), PresenceTTL: cfg.presenceTTL})
		}
		if err != nil {
			return err
		}
		n, err := startNode(name, b, port, cfg.log, cfg.wrap)
		if err != nil {
			return err
		}
		started = append(started, n)
		urls = append(urls, n.url)
		cfg.log.Info("cluster: node listening", "node", n.name, "url", n.url)
	}
	if cfg.ready != nil {
		cfg.ready(urls)
	}
	<-ctx.Done()
	cfg.log.Info("cluster: shutting down")
	return nil
}
