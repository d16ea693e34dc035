package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/longpoll"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/broker/natsbroker"
	"github.com/rxstream/rxstream/framework"
)

// The environment of a node process: the test binary, run again with
// envNATS set, is one node of the cluster instead of the tests.
const (
	envNATS = "RXSTREAM_CLUSTER_NATS" // the NATS URL
	envPort = "RXSTREAM_CLUSTER_PORT" // the port to listen on; 0 for any
	envDie  = "RXSTREAM_CLUSTER_DIE"  // the chance that the node dies after handling a POST, before answering
	envTTL  = "RXSTREAM_CLUSTER_TTL"  // the node's presence TTL
)

// nodeProcess runs one node until SIGTERM, printing "ready <url>" once it
// listens. It reports whether this process is a node.
func nodeProcess() bool {
	natsURL := os.Getenv(envNATS)
	if natsURL == "" {
		return false
	}
	port, _ := strconv.Atoi(os.Getenv(envPort))
	die, _ := strconv.ParseFloat(os.Getenv(envDie), 64)
	ttl, _ := time.ParseDuration(os.Getenv(envTTL))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	err := run(ctx, config{
		nodes: 1, port: port, natsURL: natsURL,
		log:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		ready: func(urls []string) { fmt.Println("ready", urls[0]) },
		wrap:  dieAfterPublish(die), presenceTTL: ttl,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
	return true
}

// dieAfterPublish kills the process, with probability p, after a POST was
// handled and before its answer leaves: net/http sends the buffered answer
// only once the handler returns. The publisher then sees its connection
// break although the event was stored.
func dieAfterPublish(p float64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r)
			if r.Method == http.MethodPost && rand.Float64() < p {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				select {} // the signal takes the process
			}
		})
	}
}

// slot is one node of the cluster as a process that its supervisor
// restarts, on the same port, whenever it dies.
type slot struct {
	natsURL string
	die     float64
	ttl     time.Duration // presence TTL; 0 for the default
	port    int           // set by the first start, then read-only
	url     string        // set by the first start, then read-only

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan error // gets cmd's Wait
	up     bool
	starts int
	stderr bytes.Buffer
}

// start runs the node process and waits until it listens.
func (s *slot) start(ctx context.Context) error {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envNATS+"="+s.natsURL, envPort+"="+strconv.Itoa(s.port), envDie+"="+strconv.FormatFloat(s.die, 'f', -1, 64), envTTL+"="+s.ttl.String())
	s.mu.Lock()
	cmd.Stderr = &lockedWriter{mu: &s.mu, w: &s.stderr}
	s.mu.Unlock()
	ready := make(chan string, 1)
	cmd.Stdout = &readyWriter{ready: ready}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return fmt.Errorf("node on port %d exited before listening: %v", s.port, err)
	case u := <-ready:
		s.mu.Lock()
		s.cmd, s.exited, s.up = cmd, exited, true
		s.starts++
		if s.port == 0 { // the first start; url and port do not change after it
			p, _ := url.Parse(u)
			s.url = u
			s.port, _ = strconv.Atoi(p.Port())
		}
		s.mu.Unlock()
		return nil
	case <-ctx.Done():
		cmd.Process.Kill()
		<-exited
		return ctx.Err()
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-exited
		return fmt.Errorf("node on port %d not listening after 20s", s.port)
	}
}

// readyWriter is a node's standard output: it sends the URL of the
// node's "ready <url>" line, once.
type readyWriter struct {
	ready chan<- string
	line  []byte
	sent  bool
}

func (w *readyWriter) Write(p []byte) (int, error) {
	w.line = append(w.line, p...)
	for {
		i := bytes.IndexByte(w.line, '\n')
		if i < 0 {
			return len(p), nil
		}
		if u, ok := strings.CutPrefix(string(w.line[:i]), "ready "); ok && !w.sent {
			w.ready <- u // buffered: sent once
			w.sent = true
		}
		w.line = w.line[i+1:]
	}
}

// supervise restarts the node whenever it dies, until ctx ends; it then
// stops it with SIGTERM.
func (s *slot) supervise(ctx context.Context) error {
	for {
		s.mu.Lock()
		cmd, exited := s.cmd, s.exited
		s.mu.Unlock()
		select {
		case <-exited:
		case <-ctx.Done():
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-exited
			}
			return nil
		}
		s.mu.Lock()
		s.up = false
		s.mu.Unlock()
		if err := s.start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// kill sends SIGKILL to the node, if it is up.
func (s *slot) kill() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.up {
		return false
	}
	s.up = false
	s.cmd.Process.Kill()
	return true
}

func (s *slot) isUp() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.up
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// roundRobin sends each request to the next node, whether it is up or
// not: a publisher that finds a node dead retries on the next one.
type roundRobin struct {
	hosts []string
	next  atomic.Uint64
}

func (rr *roundRobin) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	host := rr.hosts[rr.next.Add(1)%uint64(len(rr.hosts))]
	req.URL.Host, req.Host = host, host
	return http.DefaultTransport.RoundTrip(req)
}

// subscriber follows the topic on one node from a cursor, and keeps what
// it receives.
type subscriber struct {
	name   string
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	got  []framework.Event
	gaps int
}

func subscribe(name string, obs rxgo.Observable) *subscriber {
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscriber{name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for it := range obs.Observe(rxgo.WithContext(ctx)) {
			s.mu.Lock()
			switch v := it.V.(type) {
			case framework.Event:
				s.got = append(s.got, v)
			case framework.Gap:
				s.gaps++
			}
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *subscriber) stop() { s.cancel(); <-s.done }

func (s *subscriber) events() ([]framework.Event, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]framework.Event(nil), s.got...), s.gaps
}

// TestProcessesKilled runs three nodes as separate processes on one NATS
// and publishes through adapters.PublishTo from four publishers that send
// each request to the next node, while nodes are killed with SIGKILL at
// random and restarted, and while each node also dies, now and then, after
// storing a publish and before answering it. Subscribers follow the topic
// on every node, over SSE and long-poll, resuming after each kill. Every
// payload must be stored exactly once, under the ID its publisher was
// answered, and delivered to every subscriber exactly once, in order.
func TestProcessesKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node processes for several seconds")
	}
	const (
		publishers = 4
		each       = 50   // payloads per publisher
		die        = 0.04 // the chance that a node dies after storing a publish
	)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	ns, err := startNATS()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.stop()

	// Start the nodes, then supervise them.
	slots := make([]*slot, 3)
	for i := range slots {
		slots[i] = &slot{natsURL: ns.url, die: die}
		if err := slots[i].start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	superCtx, stopNodes := context.WithCancel(ctx)
	var nodes sync.WaitGroup
	for _, s := range slots {
		nodes.Go(func() {
			if err := s.supervise(superCtx); err != nil {
				t.Errorf("node on port %d: %v", s.port, err)
			}
		})
	}
	defer func() {
		stopNodes()
		nodes.Wait()
		if t.Failed() {
			for _, s := range slots {
				t.Logf("node on port %d, stderr:\n%s", s.port, s.stderr.String())
			}
		}
	}()

	// The test's own view of the stream, and where the subscribers start.
	b, err := natsbroker.New(ctx, &natsbroker.Options{URL: ns.url, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start, err := b.Publish(ctx, "orders", framework.Text("start"))
	if err != nil {
		t.Fatal(err)
	}
	var subs []*subscriber
	for i, s := range slots {
		u := s.url + "/topics/orders/sse"
		c, err := sse.NewClient(u, &sse.ClientOptions{Cursor: start.String(), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, subscribe(fmt.Sprintf("sse on node %d", i+1), c.Events()))
	}
	lp, err := longpoll.NewClient(slots[1].url+"/topics/orders/longpoll", &longpoll.ClientOptions{Cursor: start.String(), MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, RequestTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	subs = append(subs, subscribe("longpoll on node 2", lp.Events()))
	defer func() {
		for _, s := range subs {
			s.stop()
		}
	}()

	// Kill a node every 150 to 400 ms while two or more are up.
	pubCtx, pubDone := context.WithCancel(ctx)
	var kills atomic.Int64
	var killer sync.WaitGroup
	killer.Go(func() {
		for {
			select {
			case <-pubCtx.Done():
				return
			case <-time.After(150*time.Millisecond + rand.N(250*time.Millisecond)):
			}
			up := 0
			for _, s := range slots {
				if s.isUp() {
					up++
				}
			}
			if up >= 2 && slots[rand.N(len(slots))].kill() {
				kills.Add(1)
			}
		}
	})

	var hosts []string
	for _, s := range slots {
		u, _ := url.Parse(s.url)
		hosts = append(hosts, u.Host)
	}
	rr := &roundRobin{hosts: hosts}
	client := &http.Client{Transport: rr, Timeout: 3 * time.Second}
	ids := make(map[string]string) // payload -> the ID its publisher was answered
	var idsMu sync.Mutex
	began := time.Now()
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for i := range each {
				payload := fmt.Sprintf("p%d-%d", p, i)
				id, err := adapters.PublishTo(ctx, slots[0].url+"/topics/orders", []byte(payload), &adapters.PublishOptions{
					HTTPClient: client, MaxAttempts: 40,
					MinBackoff: 20 * time.Millisecond, MaxBackoff: 300 * time.Millisecond,
				})
				if err != nil {
					t.Errorf("publish %s: %v", payload, err)
					return
				}
				idsMu.Lock()
				ids[payload] = id
				idsMu.Unlock()
				time.Sleep(20*time.Millisecond + rand.N(40*time.Millisecond))
			}
		})
	}
	pubs.Wait()
	pubDone()
	killer.Wait()
	published := time.Since(began)
	if t.Failed() {
		return
	}
	restarts := 0
	for _, s := range slots {
		s.mu.Lock()
		restarts += s.starts - 1
		s.mu.Unlock()
	}
	t.Logf("%d payloads published in %v by %d publishers; %d nodes killed by the test, %d restarts in all (the others died after handling a POST, before answering it)",
		len(ids), published.Round(time.Millisecond), publishers, kills.Load(), restarts)
	if restarts == int(kills.Load()) {
		t.Logf("no node died between handling a POST and answering it this time")
	}

	end, err := b.Publish(ctx, "orders", framework.Text("end"))
	if err != nil {
		t.Fatal(err)
	}

	// Stored exactly once, under the ID answered.
	var stored []framework.Record
	for after := start.Seq; ; {
		p, err := b.Read(ctx, "orders", after, 500)
		if err != nil {
			t.Fatal(err)
		}
		if p.Lost {
			t.Fatal("the stream lost events")
		}
		stored = append(stored, p.Records...)
		if len(p.Records) == 0 || p.Records[len(p.Records)-1].Seq >= end.Seq {
			break
		}
		after = p.Records[len(p.Records)-1].Seq
	}
	count := make(map[string]int)
	for _, r := range stored {
		d := string(r.Event.Data)
		count[d]++
		if id, ok := ids[d]; ok && id != r.Event.ID {
			t.Errorf("%s stored as %s; its publisher was answered %s", d, r.Event.ID, id)
		}
	}
	for d := range ids {
		if count[d] != 1 {
			t.Errorf("%s stored %d times", d, count[d])
		}
	}
	if want := publishers*each + 1; len(stored) != want {
		t.Errorf("%d events stored after start; want %d", len(stored), want)
	}

	// Delivered exactly once to every subscriber, in the stream's order.
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range subs {
		for {
			got, gaps := s.events()
			if len(got) > 0 && got[len(got)-1].ID == end.String() || len(got) > len(stored) {
				if gaps > 0 {
					t.Errorf("%s got %d gap notices", s.name, gaps)
				}
				if len(got) != len(stored) {
					t.Errorf("%s got %d events; %d were stored", s.name, len(got), len(stored))
				}
				for i := range min(len(got), len(stored)) {
					if got[i].ID != stored[i].Event.ID || string(got[i].Data) != string(stored[i].Event.Data) {
						t.Errorf("%s: event %d is %s %q; stored %s %q", s.name, i, got[i].ID, got[i].Data, stored[i].Event.ID, stored[i].Event.Data)
						break
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s got %d of %d events by the deadline", s.name, len(got), len(stored))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
