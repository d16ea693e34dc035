package pipenet_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/adapters/internal/pipenet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHTTPInBubble(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pipenet.Listen()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Hour) // fake time: returns at once
			io.WriteString(w, "hello "+r.URL.Path)
		})}
		go srv.Serve(l)
		tr := &http.Transport{DialContext: l.Dial}
		c := &http.Client{Transport: tr}
		start := time.Now()
		resp, err := c.Get("http://pipe/x")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "hello /x" {
			t.Fatalf("body %q, %v", body, err)
		}
		if d := time.Since(start); d != time.Hour {
			t.Errorf("fake time elapsed %v, want 1h", d)
		}
		tr.CloseIdleConnections()
		srv.Close()
	})
}

func TestClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pipenet.Listen()
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, r.Host)
		})}
		go srv.Serve(l)
		client := l.Client()
		// Any host reaches the listener; keep-alive reuses the connection.
		for _, host := range []string{"pipe", "example.com"} {
			resp, err := client.Get("http://" + host + "/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != host {
				t.Errorf("body %q, want %q", body, host)
			}
		}
		client.CloseIdleConnections()
		srv.Close()
	})
}

func TestClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pipenet.Listen()
		l.Close()
		l.Close() // idempotent
		if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v", err)
		}
		if _, err := l.Dial(context.Background(), "tcp", "x"); !errors.Is(err, pipenet.ErrClosed) {
			t.Errorf("Dial after Close: %v", err)
		}
		if got := l.Addr().String(); got != "pipe" {
			t.Errorf("Addr %q", got)
		}
	})
}

func TestDialWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pipenet.Listen()
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		// Nobody accepts: Dial waits until ctx ends.
		if _, err := l.Dial(ctx, "tcp", "x"); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Dial without Accept: %v", err)
		}
	})
}

func TestWriteDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pipenet.Listen()
		defer l.Close()
		accepted := make(chan net.Conn)
		go func() {
			c, err := l.Accept()
			if err == nil {
				accepted <- c
			}
		}()
		client, err := l.Dial(context.Background(), "tcp", "x")
		if err != nil {
			t.Fatal(err)
		}
		server := <-accepted
		// The client never reads: the write blocks until the deadline, on
		// the bubble's clock.
		start := time.Now()
		server.SetWriteDeadline(start.Add(10 * time.Second))
		_, err = server.Write([]byte("x"))
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Write: %v, want deadline exceeded", err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Errorf("Write returned after %v, want 10s", d)
		}
		server.Close()
		client.Close()
	})
}
