package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// nginxProxy runs examples/nginx/nginx.conf, with its addresses and read
// timeout changed, in front of backend. It returns nginx's base URL.
func nginxProxy(t *testing.T, backend string, readTimeout time.Duration) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatal("nginx is not installed (.ci/run installs Debian's nginx)")
			}
			t.Skip("nginx is not installed")
		}
	}
	conf, err := os.ReadFile("../nginx/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	// A port free a moment ago may be taken before nginx binds it (by
	// another test's server, on a shared machine): nginx then gives up
	// and exits, and whatever holds the port answers instead of it. So
	// nginx is ready when an answer comes from nginx itself (its Server
	// header); after an exit it starts again on another port.
	for attempt := 1; ; attempt++ {
		listen, exited := startNginx(t, bin, string(conf), backend, readTimeout)
		deadline := time.Now().Add(10 * time.Second)
		for fromNginx(listen) != nil {
			select {
			case <-exited:
				if attempt == 3 {
					t.Fatalf("nginx exited at start %d times", attempt)
				}
			case <-time.After(20 * time.Millisecond):
				if time.Now().After(deadline) {
					t.Fatalf("nginx does not answer on %s: %v", listen, fromNginx(listen))
				}
				continue
			}
			break
		}
		select {
		case <-exited:
		default:
			return "http://" + listen
		}
	}
}

// fromNginx asks listen for its front page and returns nil when nginx
// answered.
func fromNginx(listen string) error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + listen + "/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Server"), "nginx") {
		return fmt.Errorf("answered by %q, not nginx", resp.Header.Get("Server"))
	}
	return nil
}

// startNginx starts nginx with conf, its addresses and read timeout
// changed, on a port free a moment ago; exited is closed when it exits.
func startNginx(t *testing.T, bin, conf, backend string, readTimeout time.Duration) (listen string, exited <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen = l.Addr().String()
	l.Close() // nginx takes the port over
	c := conf
	for old, repl := range map[string]string{
		"server 127.0.0.1:8080;":  "server " + backend + ";",
		"listen 127.0.0.1:8000;":  "listen " + listen + ";",
		"proxy_read_timeout 75s;": "proxy_read_timeout " + readTimeout.String() + ";",
	} {
		if !strings.Contains(c, old) {
			t.Fatalf("nginx.conf lacks %q", old)
		}
		c = strings.ReplaceAll(c, old, repl)
	}
	prefix := t.TempDir()
	if err := os.MkdirAll(filepath.Join(prefix, "tmp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(prefix, "nginx.conf"), []byte(c), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", prefix, "-c", "nginx.conf", "-g", "daemon off;")
	cmd.Stderr = &testWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt) // fast shutdown
		<-done
	})
	return listen, done
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("nginx: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}

// sseLines opens an SSE stream and returns a channel of its lines; the
// channel closes when the stream ends.
func sseLines(t *testing.T, url string) <-chan string {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-t.Context().Done():
				return
			}
		}
	}()
	return lines
}

// waitLine waits for a line equal to want; it fails on the stream's end or
// after within.
func waitLine(t *testing.T, lines <-chan string, want string, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("stream ended before %q", want)
			}
			if l == want {
				return
			}
		case <-timeout:
			t.Fatalf("no %q within %v", want, within)
		}
	}
}

func publishText(t *testing.T, base, topic, data string) {
	t.Helper()
	resp, err := http.Post(base+"/topics/"+topic, "text/plain", strings.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %s", resp.Status)
	}
}

// TestBehindNginx runs the showcase behind the real nginx with the
// repository's configuration.
func TestBehindNginx(t *testing.T) {
	t.Run("first event unbuffered", func(t *testing.T) {
		// A heartbeat far away: only an unbuffered proxy passes the event.
		_, srv := newServerWith(t, config{heartbeat: time.Hour})
		base := nginxProxy(t, strings.TrimPrefix(srv.URL, "http://"), 75*time.Second)
		lines := sseLines(t, base+"/topics/chat/sse")
		time.Sleep(50 * time.Millisecond) // let the subscription open
		publishText(t, base, "chat", "through nginx 你好")
		waitLine(t, lines, "data: through nginx 你好", 10*time.Second)
	})
	t.Run("heartbeats outlive the read timeout", func(t *testing.T) {
		// nginx drops a silent upstream after 1s; heartbeats every 200ms
		// keep the stream open for 3s.
		_, srv := newServerWith(t, config{heartbeat: 200 * time.Millisecond})
		base := nginxProxy(t, strings.TrimPrefix(srv.URL, "http://"), time.Second)
		lines := sseLines(t, base+"/topics/chat/sse")
		waitLine(t, lines, ": heartbeat", 5*time.Second)
		time.Sleep(3 * time.Second)
		publishText(t, base, "chat", "still here")
		waitLine(t, lines, "data: still here", 10*time.Second)
	})
	t.Run("WebSocket echo", func(t *testing.T) {
		// The upgrade passes through the map of $http_upgrade.
		_, srv := newServer(t)
		base := nginxProxy(t, strings.TrimPrefix(srv.URL, "http://"), 75*time.Second)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		for _, msg := range []string{"你好", "through nginx"} {
			if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
				t.Fatal(err)
			}
			typ, got, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := "服务器回复: " + msg; typ != websocket.MessageText || string(got) != want {
				t.Errorf("reply %v %q, want text %q", typ, got, want)
			}
		}
		c.Close(websocket.StatusNormalClosure, "")
	})
	t.Run("long-poll held and answered", func(t *testing.T) {
		// A poll held by the showcase is answered through nginx as soon as
		// an event arrives, and the cursor it gets resumes exactly.
		_, srv := newServer(t)
		base := nginxProxy(t, strings.TrimPrefix(srv.URL, "http://"), 75*time.Second)
		type page struct {
			Cursor string `json:"cursor"`
			Events []struct {
				ID   string `json:"id"`
				Data string `json:"data"`
			} `json:"events"`
		}
		poll := func(cursor string) page {
			resp, err := http.Get(base + "/topics/news/longpoll?cursor=" + url.QueryEscape(cursor))
			if err != nil {
				t.Error(err)
				return page{}
			}
			defer resp.Body.Close()
			var p page
			if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&p) != nil {
				t.Errorf("long-poll: %s", resp.Status)
			}
			return p
		}
		publishText(t, base, "news", "before") // older than the first poll
		got := make(chan page, 1)
		go func() { got <- poll("") }()    // no cursor: held until the next event
		time.Sleep(100 * time.Millisecond) // let the poll be held
		publishText(t, base, "news", "second")
		var p page
		select {
		case p = <-got:
			if len(p.Events) != 1 || p.Events[0].Data != "second" || p.Cursor != p.Events[0].ID {
				t.Fatalf("held poll answered %+v", p)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("held long-poll not answered through nginx")
		}
		publishText(t, base, "news", "third")
		if next := poll(p.Cursor); len(next.Events) != 1 || next.Events[0].Data != "third" {
			t.Errorf("poll with cursor %s answered %+v, want third", p.Cursor, next)
		}
	})
	t.Run("without heartbeats nginx cuts the stream", func(t *testing.T) {
		// The control: the same stream without heartbeats ends.
		_, srv := newServerWith(t, config{heartbeat: -1})
		base := nginxProxy(t, strings.TrimPrefix(srv.URL, "http://"), time.Second)
		lines := sseLines(t, base+"/topics/chat/sse")
		timeout := time.After(10 * time.Second)
		for {
			select {
			case _, ok := <-lines:
				if !ok {
					return // cut, as expected
				}
			case <-timeout:
				t.Fatal("nginx did not cut a silent stream: the read-timeout test proves nothing")
			}
		}
	})
}
