package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rxstream/rxstream/benchmarks/internal/load"
	"github.com/rxstream/rxstream/benchmarks/internal/report"
	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// vanishHeartbeat is the servers' heartbeat in the vanish scenario: a
// client that vanished is seen at the first heartbeat after it.
const vanishHeartbeat = time.Second

// How a client of the vanish scenario leaves.
const (
	// leaveReset closes with SO_LINGER 0: the kernel sends a RST, as it
	// does for a killed client that had unread bytes.
	leaveReset = "reset"
	// leaveSilent sends nothing at all: the socket is put in TCP_REPAIR
	// mode (CAP_NET_ADMIN) before it is closed, as when the client's host
	// lost the connection (a reboot, a NAT entry that expired). Its
	// kernel answers the server's next write with a RST.
	leaveSilent = "silent"
)

// Vanish holds N idle streams whose clients then leave without a FIN
// (see leaveReset, leaveSilent), and measures how long the server takes
// to release them all and whether a descriptor leaked. reps, when
// positive, bounds its repetitions. The silent case needs CAP_NET_ADMIN;
// without it, it is left out.
func Vanish(n, reps int) Scenario {
	s := Scenario{
		ScenarioInfo: report.ScenarioInfo{
			Name:  "vanish",
			Title: "Clients that leave without a FIN",
			About: fmt.Sprintf("N idle SSE streams (heartbeat %v) whose clients all leave at once without a FIN: "+
				"reset closes each socket with SO_LINGER 0 (a RST, what a killed client with unread bytes sends); "+
				"silent puts it in TCP_REPAIR mode before closing it, so nothing at all is sent, and the server learns "+
				"of it only when a write is answered by a RST (the client's kernel no longer knows the connection), "+
				"that is at its next heartbeat. Release is the time from the last close until the server holds no "+
				"stream, also in heartbeat intervals; leaked descriptors are the server's open descriptors "+
				"(/proc/self/fd) then, less those before the first connection. The run gives up after 3 intervals.",
				vanishHeartbeat),
			Key: "release_s",
			Metrics: []report.MetricSpec{
				{Key: "release_s", Title: "all released after", Unit: "s", Better: report.Lower},
				{Key: "release_heartbeats", Title: "in heartbeats", Better: report.Lower},
				{Key: "released", Title: "released", Better: report.Higher},
				{Key: "fds_leaked", Title: "descriptors leaked", Better: report.Lower},
			},
		},
		// Heartbeats are what sees a silent client leave; the rxstream
		// servers have them (RXBENCH_HEARTBEAT), the raw one has none.
		For: func(c servers.Contender) bool { return c.Transport == servers.SSE && c.Kind == servers.Rxstream },
	}
	hows := []string{leaveReset}
	if canRepair() {
		hows = append(hows, leaveSilent)
	}
	for _, how := range hows {
		s.Cases = append(s.Cases, Case{
			Name:      fmt.Sprintf("N=%d %s", n, how),
			Params:    map[string]float64{"N": float64(n)},
			Reps:      reps,
			ServerEnv: []string{servers.EnvHeartbeat + "=" + vanishHeartbeat.String()},
			Run: func(ctx context.Context, env *Env, p *load.Proc, c servers.Contender) (Sample, error) {
				return runVanish(ctx, env, p, n, how)
			},
		})
	}
	return s
}

func runVanish(ctx context.Context, env *Env, p *load.Proc, n int, how string) (Sample, error) {
	s := newSample()
	st0, err := p.Stats(ctx)
	if err != nil {
		return s, err
	}
	if st0.FDs < 0 {
		return s, errors.New("the server cannot count its descriptors")
	}
	conns, err := openIdle(ctx, env.dialer(n), p, n)
	defer func() {
		for _, c := range conns {
			_ = c.Close() // those left after a failure
		}
	}()
	if err != nil {
		return s, err
	}
	if _, err := p.WaitInflight(ctx, st0.Inflight+int64(n), false, 30*time.Second); err != nil {
		return s, err
	}
	// A beat after the last stream opened, so every one is idle and,
	// where it parks, parked.
	time.Sleep(vanishHeartbeat / 2)
	for _, c := range conns {
		if err := leave(c.(*net.TCPConn), how); err != nil {
			return s, fmt.Errorf("%s: %w", how, err)
		}
	}
	conns = nil
	gone := time.Now()
	give := 3 * vanishHeartbeat
	st, err := p.WaitInflight(ctx, st0.Inflight, true, give)
	took := time.Since(gone)
	s.Values["released"] = float64(int64(n) - (st.Inflight - st0.Inflight))
	if err != nil {
		if ctx.Err() != nil {
			return s, err
		}
		s.note("%d streams still held %v after their clients left", st.Inflight-st0.Inflight, give)
	} else {
		s.Values["release_s"] = took.Seconds()
		s.Values["release_heartbeats"] = took.Seconds() / vanishHeartbeat.Seconds()
	}
	// Released streams close their sockets at once; allow the closes of
	// the last ones to land before counting.
	deadline := time.Now().Add(time.Second)
	for {
		if st, err = p.Stats(ctx); err != nil {
			return s, err
		}
		if st.FDs <= st0.FDs || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.Values["fds_leaked"] = float64(max(st.FDs-st0.FDs, 0))
	return s, nil
}

// openIdle opens n streams of GET /sub, 64 at a time, each read up to the
// end of its headers; it returns the connections opened, also on error.
func openIdle(ctx context.Context, d *load.Dialer, p *load.Proc, n int) ([]net.Conn, error) {
	conns := make([]net.Conn, n)
	errs := make([]error, n)
	req := []byte("GET /sub HTTP/1.1\r\nHost: " + p.Addr + "\r\nAccept: text/event-stream\r\n\r\n")
	var wg sync.WaitGroup
	next := make(chan int)
	for range 64 {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for i := range next {
				conns[i], errs[i] = openOne(ctx, d, p.Addr, req, buf)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	var opened []net.Conn
	for _, c := range conns {
		if c != nil {
			opened = append(opened, c)
		}
	}
	return opened, errors.Join(errs...)
}

func openOne(ctx context.Context, d *load.Dialer, addr string, req, buf []byte) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(req); err != nil {
		c.Close()
		return nil, err
	}
	got := 0
	for !bytes.Contains(buf[:got], []byte("\r\n\r\n")) {
		if got == len(buf) {
			c.Close()
			return nil, errors.New("headers longer than 4 KiB")
		}
		k, err := c.Read(buf[got:])
		if err != nil {
			c.Close()
			return nil, err
		}
		got += k
	}
	if !bytes.HasPrefix(buf[:got], []byte("HTTP/1.1 200")) {
		c.Close()
		return nil, fmt.Errorf("answered %q", bytes.SplitN(buf[:got], []byte("\r\n"), 2)[0])
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// leave closes c as how says, without a FIN.
func leave(c *net.TCPConn, how string) error {
	if how == leaveReset {
		_ = c.SetLinger(0)
		return c.Close()
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_REPAIR, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		c.Close()
		return fmt.Errorf("TCP_REPAIR (needs CAP_NET_ADMIN): %w", serr)
	}
	return c.Close()
}

// canRepair reports whether this process may put a socket in TCP_REPAIR
// mode.
func canRepair() bool {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_REPAIR, 1) == nil
}
