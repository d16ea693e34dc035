package browsertest

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestConns opens three connections, one of which the handler hijacks: the
// counter saw 3 HTTP connections at once (the third before its upgrade) and
// 1 hijacked, and none once the client closed them.
func TestConns(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			rw.WriteString("HTTP/1.1 101 Switching Protocols\r\n\r\n")
			rw.Flush()
			go func() { <-release; conn.Close() }()
			return
		}
		w.Write([]byte("ok"))
	}))
	var c Conns
	c.Count(srv)
	srv.Start()
	defer srv.Close()
	var conns []net.Conn
	for _, path := range []string{"/", "/", "/hijack"} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
		if _, err := conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if h, ws := c.Max(); h != 3 || ws != 1 {
		t.Errorf("Max() = %d, %d, want 3, 1", h, ws)
	}
	if all, ws := c.Accepted(); all != 3 || ws != 1 {
		t.Errorf("Accepted() = %d, %d, want 3, 1", all, ws)
	}
	for _, conn := range conns {
		conn.Close()
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		h, ws := c.Open()
		if h == 0 && ws == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Open() = %d, %d after the client closed every connection", h, ws)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConnsBusy holds two requests at once on two connections, lets them
// end, and holds one more on a third: 3 connections were open at once, at
// most 2 of them serving a request.
func TestConnsBusy(t *testing.T) {
	hold := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-hold
		w.Write([]byte("ok"))
	}))
	var c Conns
	c.Count(srv)
	srv.Start()
	defer srv.Close()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	var readers []*bufio.Reader
	request := func() {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if _, err := conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		readers = append(readers, bufio.NewReader(conn))
	}
	request()
	request()
	wait("two busy", func() bool { return c.busy() == 2 })
	for range 2 {
		hold <- struct{}{}
	}
	for _, r := range readers {
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	wait("both idle", func() bool { return c.busy() == 0 })
	request()
	wait("the third busy", func() bool { return c.busy() == 1 })
	if h, _ := c.Max(); h != 3 || c.MaxBusy() != 2 {
		t.Errorf("Max() = %d, MaxBusy() = %d, want 3 and 2", h, c.MaxBusy())
	}
	hold <- struct{}{}
}
