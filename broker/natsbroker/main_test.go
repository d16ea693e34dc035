package natsbroker_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/broker/natsbroker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// natsServer is an in-process NATS server with JetStream on loopback.
type natsServer struct {
	t    testing.TB
	dir  string
	port int
	srv  *server.Server
}

// startNATS starts a server on a random port, stopped by the test's cleanup.
func startNATS(t testing.TB) *natsServer {
	t.Helper()
	ns := &natsServer{t: t, dir: t.TempDir(), port: -1}
	ns.start()
	t.Cleanup(ns.stop)
	return ns
}

func (ns *natsServer) start() {
	ns.t.Helper()
	s, err := server.NewServer(&server.Options{
		Host:      "127.0.0.1",
		Port:      ns.port,
		JetStream: true,
		StoreDir:  ns.dir,
		NoLog:     true,
		NoSigs:    true,
	})
	if err != nil {
		ns.t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		ns.t.Fatal("nats server not ready")
	}
	ns.srv = s
	ns.port = s.Addr().(*net.TCPAddr).Port // a restart keeps the port
}

// stop shuts the server down and waits for it; idempotent.
func (ns *natsServer) stop() {
	if ns.srv != nil {
		ns.srv.Shutdown()
		ns.srv.WaitForShutdown()
		ns.srv = nil
	}
}

func (ns *natsServer) url() string { return "nats://127.0.0.1:" + strconv.Itoa(ns.port) }

// target is a NATS server the suite runs against: the in-process one, and
// the one NATS_URL names when set (that one is never restarted).
type target struct {
	name string
	// setup returns the base options of the test's brokers.
	setup func(t *testing.T) natsbroker.Options
}

func targets() []target {
	ts := []target{{name: "embedded", setup: func(t *testing.T) natsbroker.Options {
		return natsbroker.Options{URL: startNATS(t).url()}
	}}}
	if u := os.Getenv("NATS_URL"); u != "" {
		ts = append(ts, target{name: "NATS_URL", setup: func(t *testing.T) natsbroker.Options {
			// A stream and prefix of its own per test on a shared server,
			// deleted at the end.
			id := strconv.FormatInt(time.Now().UnixNano(), 36)
			o := natsbroker.Options{URL: u, Stream: "RXTEST_" + id, Prefix: "rxtest_" + id}
			t.Cleanup(func() {
				nc, err := nats.Connect(u)
				if err != nil {
					return
				}
				defer nc.Close()
				if js, err := jetstream.New(nc); err == nil {
					_ = js.DeleteStream(context.Background(), o.Stream)
				}
			})
			return o
		}})
	}
	return ts
}

var discard = slog.New(slog.DiscardHandler)

// newBroker connects a Broker for a test with short timeouts.
func newBroker(t testing.TB, o natsbroker.Options) *natsbroker.Broker {
	t.Helper()
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.ReconnectWait == 0 {
		o.ReconnectWait = 20 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = discard
	}
	b, err := natsbroker.New(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
