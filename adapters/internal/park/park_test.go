//go:build linux

package park

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoTask writes a line naming why it ran, and ends on a hang-up.
type echoTask struct {
	mu   sync.Mutex
	runs []Why
}

func (t *echoTask) Run(c *Conn, why Why) {
	t.mu.Lock()
	t.runs = append(t.runs, why)
	t.mu.Unlock()
	switch {
	case why&HungUp != 0:
		c.Close()
	case why&Woken != 0:
		_ = c.Write([]byte("woken\n"))
	case why&Beat != 0:
		_ = c.Write([]byte("beat\n"))
	}
}

// pair returns a parked end, over TCP or (pipe) without a descriptor, and
// its peer.
func pair(t *testing.T, pipe bool) (server, client net.Conn) {
	t.Helper()
	if pipe {
		return net.Pipe()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if server, err = l.Accept(); err != nil {
		t.Fatal(err)
	}
	return server, client
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLoop: a parked connection is run when woken (also by a wake that
// came before it was parked), when a beat is due, and when its peer hangs
// up; its last Close stops the Loop's goroutines (goleak).
func TestLoop(t *testing.T) {
	for _, pipe := range []bool{false, true} {
		name := "tcp"
		if pipe {
			name = "no descriptor"
		}
		t.Run(name, func(t *testing.T) {
			l := &Loop{Heartbeat: 20 * time.Millisecond, WriteTimeout: time.Second}
			task := &echoTask{}
			c := l.Hold(task)
			c.Wake() // before Park: recorded
			server, client := pair(t, pipe)
			defer client.Close()
			if err := c.Park(server); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(client)
			for _, want := range []string{"woken\n", "beat\n"} {
				line, err := r.ReadString('\n')
				if err != nil || line != want {
					t.Fatalf("read %q, %v; want %q", line, err, want)
				}
			}
			c.Wake()
			if line, err := r.ReadString('\n'); err != nil || line != "woken\n" {
				t.Fatalf("read %q, %v; want a second wake", line, err)
			}
			if l.Len() != 1 {
				t.Fatalf("Len %d, want 1", l.Len())
			}
			if pipe { // no poller: the hang-up is seen at the next write
				client.Close()
			} else {
				_ = client.(*net.TCPConn).SetLinger(0)
				client.Close()
			}
			waitFor(t, "the connection closed", func() bool { return l.Len() == 0 })
		})
	}
}

// TestUnacked: a parked TCP socket gives up on data its peer leaves
// unacknowledged after the heartbeat interval or the write timeout,
// whichever is longer (TCP_USER_TIMEOUT), so that a peer that vanished
// without a reset is let go within two heartbeats, not the kernel's
// quarter of an hour.
func TestUnacked(t *testing.T) {
	for _, tc := range []struct {
		heartbeat, writeTimeout time.Duration
		want                    int // milliseconds; 0 is the kernel's default
	}{
		{3 * time.Second, 5 * time.Second, 5000},
		{15 * time.Second, 10 * time.Second, 15000},
		{0, 10 * time.Second, 0},
	} {
		l := &Loop{Heartbeat: tc.heartbeat, WriteTimeout: tc.writeTimeout}
		c := l.Hold(&echoTask{})
		server, client := pair(t, false)
		if err := c.Park(server); err != nil {
			t.Fatal(err)
		}
		rc, err := server.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if got != tc.want {
			t.Errorf("heartbeat %v, write timeout %v: TCP_USER_TIMEOUT %d ms, want %d", tc.heartbeat, tc.writeTimeout, got, tc.want)
		}
		_ = client.(*net.TCPConn).SetLinger(0)
		client.Close()
		waitFor(t, "the connection closed", func() bool { return l.Len() == 0 })
	}
}
