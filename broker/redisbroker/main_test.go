package redisbroker_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/broker/redisbroker"
)

func TestMain(m *testing.M) {
	redis.SetLogger(quiet{}) // the dial errors of the outage tests
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// redisServer is a redis-server process of the test's own, on a free
// loopback port, with its own data folder.
type redisServer struct {
	t    testing.TB
	dir  string
	port int
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *syncBuffer
}

// startRedis starts redis-server with extra arguments (such as
// "--appendonly", "yes"), stopped by the test's cleanup. Without the
// binary it skips the test, unless CI is set: CI must run them.
func startRedis(t testing.TB, extra ...string) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is needed under CI: %v", err)
		}
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	rs := &redisServer{t: t, dir: t.TempDir(), port: port}
	rs.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", rs.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
	}, extra...)
	rs.start()
	t.Cleanup(rs.stop)
	return rs
}

// start runs the server (again, on the same port and folder) and waits
// until it answers.
func (rs *redisServer) start() {
	rs.t.Helper()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.out = &syncBuffer{}
	cmd := exec.Command("redis-server", rs.args...)
	cmd.Stdout, cmd.Stderr = rs.out, rs.out
	if err := cmd.Start(); err != nil {
		rs.t.Fatal(err)
	}
	rs.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: rs.addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			rs.t.Fatalf("redis-server not ready: %v\n%s", err, rs.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop ends the server with SIGTERM (it writes its AOF) and waits for it;
// idempotent.
func (rs *redisServer) stop() { rs.signal(syscall.SIGTERM) }

// kill ends the server with SIGKILL, as a crash does.
func (rs *redisServer) kill() { rs.signal(syscall.SIGKILL) }

func (rs *redisServer) signal(sig syscall.Signal) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.cmd == nil {
		return
	}
	_ = rs.cmd.Process.Signal(sig)
	_ = rs.cmd.Wait()
	rs.cmd = nil
}

func (rs *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(rs.port) }
func (rs *redisServer) url() string  { return "redis://" + rs.addr() }

// client returns a plain client of the server, closed at the test's end.
func (rs *redisServer) client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: rs.addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// syncBuffer is a bytes.Buffer for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var discard = slog.New(slog.DiscardHandler)

// newBroker connects a Broker for a test with short timeouts.
func newBroker(t testing.TB, o redisbroker.Options) *redisbroker.Broker {
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
	b, err := redisbroker.New(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
