// Package redistest runs a real redis-server for tests: a process of the
// test's own on a free loopback port, with its own data folder, stopped
// when the test ends.
package redistest

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is one redis-server process. Stop, Kill and Start may be called
// from any goroutine, one at a time.
type Server struct {
	t    testing.TB
	dir  string
	port int
	args []string

	mu  sync.Mutex
	cmd *exec.Cmd
	out *buffer
}

// Start starts redis-server with extra arguments (such as "--appendonly",
// "yes"); the defaults keep nothing on disk ("--save ”", "--appendonly
// no"). Without the binary the test is skipped, except under CI (CI set),
// where it fails: CI installs it.
func Start(t testing.TB, extra ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server is needed under CI: %v", err)
		}
		t.Skip("redis-server not installed (apt-get install redis-server)")
	}
	port := freePort(t)
	s := &Server{t: t, dir: t.TempDir(), port: port}
	s.args = append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", "",
	}, extra...)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Start runs the server (again: same port, same folder) and waits until it
// answers PING.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = &buffer{}
	cmd := exec.Command("redis-server", s.args...)
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server not ready: %v\n%s", err, s.out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop ends the server with SIGTERM (it writes its append-only file) and
// waits for it; idempotent.
func (s *Server) Stop() { s.signal(syscall.SIGTERM) }

// Kill ends the server with SIGKILL, as a crash does, and waits for it.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Addr is the server's "127.0.0.1:PORT".
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is the server's "redis://127.0.0.1:PORT".
func (s *Server) URL() string { return "redis://" + s.Addr() }

// Client returns a plain client of the server, closed when the test ends.
func (s *Server) Client(t testing.TB) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

// Log returns what the server printed since its last start.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// buffer is a bytes.Buffer for concurrent writers.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// StartCluster starts n redis-servers (n >= 3) in cluster mode, each a
// master of a share of the slots (no replicas), and waits until the
// cluster is up. It skips or fails as Start does, and also needs
// redis-cli (Debian's redis-tools, which redis-server depends on).
func StartCluster(t testing.TB, n int) []*Server {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-cli is needed under CI: %v", err)
		}
		t.Skip("redis-cli not installed (apt-get install redis-server)")
	}
	servers := make([]*Server, n)
	args := []string{"--cluster", "create"}
	for i := range servers {
		servers[i] = Start(t, "--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(freePort(t)), "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000")
		args = append(args, servers[i].Addr())
	}
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command("redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	deadline := time.Now().Add(20 * time.Second)
	for _, s := range servers {
		c := s.Client(t)
		for {
			info, err := c.ClusterInfo(context.Background()).Result()
			if err == nil && bytes.Contains([]byte(info), []byte("cluster_state:ok")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster not up: %v\n%s", err, info)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return servers
}
