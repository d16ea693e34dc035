package sse

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rxstream/rxstream/adapters/internal/pipenet"
	"github.com/rxstream/rxstream/framework"
)

// bubble is an SSE app served over an in-memory network inside a synctest
// bubble, so heartbeats and write deadlines run on the fake clock.
type bubble struct {
	s      *Server
	hub    *framework.Hub
	srv    *http.Server
	tr     *http.Transport
	client *http.Client
	done   chan struct{}
}

// newBubble must be called inside synctest.Test; close must run before the
// bubble's function returns.
func newBubble(t *testing.T, opts *Options) *bubble {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b := &bubble{s: s, hub: &framework.Hub{}, done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.Handle("GET /topics/{topic}", s.Topic(b.hub, pathTopic))
	l := pipenet.Listen()
	b.srv = &http.Server{Handler: mux} // WriteTimeout 0, as streams need
	go func() {
		defer close(b.done)
		b.srv.Serve(l)
	}()
	b.tr = &http.Transport{DialContext: l.Dial}
	b.client = &http.Client{Transport: b.tr}
	return b
}

func (b *bubble) get(t *testing.T, path string) (*http.Response, *bufio.Reader) {
	t.Helper()
	resp, err := b.client.Get("http://pipe" + path)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return resp, bufio.NewReader(resp.Body)
}

func (b *bubble) close() {
	b.tr.CloseIdleConnections()
	b.srv.Close()
	<-b.done
	b.hub.Close()
}

// skipTip reads the block a stream without cursor opens with: "id: TIP".
func skipTip(t *testing.T, r *bufio.Reader) {
	t.Helper()
	id, _ := r.ReadString('\n')
	blank, _ := r.ReadString('\n')
	if !strings.HasPrefix(id, "id: ") || blank != "\n" {
		t.Fatalf("stream opens with %q %q, want an id-only block", id, blank)
	}
}

func TestHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 5 * time.Second
		b := newBubble(t, &Options{Heartbeat: every})
		defer b.close()
		resp, r := b.get(t, "/topics/quiet")
		defer resp.Body.Close()
		skipTip(t, r)
		start := time.Now()
		for i := 1; i <= 3; i++ {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line != ": heartbeat\n" {
				t.Fatalf("line %q, want a heartbeat comment", line)
			}
			if got := time.Since(start); got != time.Duration(i)*every {
				t.Errorf("heartbeat %d after %v, want %v", i, got, time.Duration(i)*every)
			}
		}
		// An event postpones the next heartbeat.
		time.Sleep(every / 2)
		if _, err := b.hub.Publish(context.Background(), "quiet", framework.Event{Data: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		sent := time.Now()
		for range 3 { // id, data, blank line
			r.ReadString('\n')
		}
		line, _ := r.ReadString('\n')
		if line != ": heartbeat\n" || time.Since(sent) != every {
			t.Errorf("after an event: %q %v later, want a heartbeat %v later", line, time.Since(sent), every)
		}
	})
}

func TestHeartbeatOff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, &Options{Heartbeat: -1})
		defer b.close()
		resp, r := b.get(t, "/topics/quiet")
		defer resp.Body.Close()
		// Were a heartbeat written in this hour, the unread pipe would hold
		// it (and the write deadline would drop the stream).
		time.Sleep(time.Hour)
		synctest.Wait()
		if b.s.Connections() != 1 {
			t.Fatal("stream dropped while idle")
		}
		id, err := b.hub.Publish(context.Background(), "quiet", framework.Event{Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		skipTip(t, r)
		if line, _ := r.ReadString('\n'); line != "id: "+id+"\n" {
			t.Errorf("first line %q, want the event's id", line)
		}
	})
}

func TestWriteTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 3 * time.Second
		log := &hookLog{t: t}
		b := newBubble(t, &Options{WriteTimeout: timeout, Heartbeat: -1, Hooks: log.hooks(), Logger: quiet})
		defer b.close()
		resp, _ := b.get(t, "/topics/firehose")
		defer resp.Body.Close()
		// The client reads nothing more; 1 MB fills every buffer on the way.
		// The first write, and so its deadline, starts with the first
		// publish; the publishes after it are paced (the stream's backlog
		// is over the Hub's PaceBacklog) and take a PaceWait of the 3 s.
		chunk := strings.Repeat("x", 64<<10)
		start := time.Now()
		for range 16 {
			if _, err := b.hub.Publish(context.Background(), "firehose", framework.Event{Data: []byte(chunk)}); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		if n := b.s.Connections(); n != 1 {
			t.Fatalf("%d streams open while the write blocks, want 1", n)
		}
		time.Sleep(time.Until(start.Add(timeout - time.Nanosecond)))
		synctest.Wait()
		if n := b.s.Connections(); n != 1 {
			t.Fatalf("%d streams open before the write timeout, want 1", n)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if n := b.s.Connections(); n != 0 {
			t.Fatalf("%d streams open after the write timeout, want 0", n)
		}
		if n := b.hub.Topics(); n != 0 {
			t.Errorf("%d topics after the stream was dropped", n)
		}
		// The write that timed out is an error; the client is gone.
		log.check(t, b.s, ErrClientGone, 1)
		if err := log.errs[0]; !errors.Is(log.reason, err) || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("Error %v, Closed %v; want the write's timeout in both", err, log.reason)
		}
	})
}
