package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// syncBuffer is a bytes.Buffer safe for a writing process and a reading test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startShowcase builds the showcase and runs it on a free port. It returns
// the running command, its address, and its standard error.
func startShowcase(t *testing.T) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "showcase")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "-addr", addr)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := net.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			return cmd, addr, stderr
		}
		if time.Now().After(deadline) {
			t.Fatalf("showcase does not listen on %s: %v\n%s", addr, err, stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitOpen polls /metrics until every transport in want has that many open
// streams.
func waitOpen(t *testing.T, base string, want map[string]int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var body []byte
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		ok := true
		for transport, n := range want {
			line := `rxstream_open_streams{transport="` + transport + `"} ` + strconv.Itoa(n)
			ok = ok && bytes.Contains(body, []byte(line+"\n"))
		}
		if ok {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("open streams never reached %v:\n%s", want, body)
}

// TestShutdownOnSIGTERM runs the showcase binary, opens a stream on each
// transport, and sends SIGTERM: every stream ends as its transport says
// (SSE with a retry hint, WebSocket with 1001, a held long-poll with 503)
// and the process exits 0, all within a few seconds.
func TestShutdownOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the showcase binary")
	}
	cmd, addr, stderr := startShowcase(t)
	base := "http://" + addr
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// SSE: collect the lines until the stream ends.
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/topics/chat/sse", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sseDone := make(chan []string, 1)
	go func() {
		var lines []string
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		sseDone <- lines
	}()

	// WebSocket: read until the close frame.
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/topics/chat/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsDone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				wsDone <- err
				return
			}
		}
	}()

	// Long-poll: a request held for want of events.
	type answer struct {
		status int
		header http.Header
		body   []byte
		err    error
	}
	pollDone := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/topics/chat/longpoll", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			pollDone <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		pollDone <- answer{resp.StatusCode, resp.Header, body, err}
	}()

	waitOpen(t, base, map[string]int{"sse": 1, "websocket": 1, "longpoll": 1})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	within := time.After(5 * time.Second)

	select {
	case lines := <-sseDone:
		re := regexp.MustCompile(`^retry: (\d+)$`)
		var retry int
		for _, l := range lines {
			if m := re.FindStringSubmatch(l); m != nil {
				retry, _ = strconv.Atoi(m[1])
			}
		}
		// The adapters' default ShutdownRetry is 2s, jittered up to twice.
		if retry < 2000 || retry > 4000 {
			t.Errorf("SSE ended without a retry hint in [2000, 4000] ms: %q", lines)
		}
	case <-within:
		t.Fatal("SSE stream still open 5s after SIGTERM")
	}
	select {
	case err := <-wsDone:
		if got := websocket.CloseStatus(err); got != websocket.StatusGoingAway {
			t.Errorf("WebSocket ended with %v (status %d), want 1001", err, got)
		}
	case <-within:
		t.Fatal("WebSocket still open 5s after SIGTERM")
	}
	select {
	case a := <-pollDone:
		// The cursor to come back with (the topic's tip) and when.
		retry, _ := strconv.Atoi(a.header.Get("Retry-After"))
		if a.err != nil || a.status != http.StatusServiceUnavailable || retry < 1 || a.header.Get("X-Cursor") == "" {
			t.Errorf("long-poll answered %d %v %s (%v), want 503 with X-Cursor and Retry-After", a.status, a.header, a.body, a.err)
		}
	case <-within:
		t.Fatal("long-poll still held 5s after SIGTERM")
	}

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) || err != nil {
			t.Errorf("showcase exited with %v, want 0\n%s", err, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("showcase still running 10s after SIGTERM\n%s", stderr)
	}
	if log := stderr.String(); !strings.Contains(log, "INFO showcase: shutting down") {
		t.Errorf("no shutdown line at Info in the log:\n%s", log)
	}
}
