package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/framework"
)

// hostileEnv is what a hostile-input case gets: the showcase under test.
type hostileEnv struct {
	a    *app
	base string // http://host:port
	addr string // host:port
	c    *http.Client
}

// open returns the open streams of a transport, as /metrics reports them.
func (h *hostileEnv) open(transport string) int { return h.a.open.counts()[transport]() }

// waitClosed waits until transport has no open stream; fail says why it
// should have.
func (h *hostileEnv) waitClosed(t *testing.T, transport, why string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.open(transport) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%s stream still open 10s after %s", transport, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitOpened waits until transport has n open streams.
func (h *hostileEnv) waitOpened(t *testing.T, transport string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.open(transport) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d open streams, want %d", transport, h.open(transport), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// status sends a request and checks its status; an error status must come
// with echo's JSON {"message": ...} unless plain is set. It returns the
// response's headers and body.
func (h *hostileEnv) status(t *testing.T, method, path string, hdr map[string]string, body []byte, want int) (http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		t.Fatalf("%s %.80s: %s %.200s, want %d", method, path, resp.Status, b, want)
	}
	if want >= 400 {
		var msg struct{ Message string }
		if json.Unmarshal(b, &msg) != nil || msg.Message == "" {
			t.Errorf("%s %.80s: %d body %.200q is not {\"message\": ...}", method, path, want, b)
		}
	}
	return resp.Header, b
}

// rawRequest sends a hand-written request on a new TCP connection and
// returns the connection and a reader of it.
func (h *hostileEnv) rawRequest(t *testing.T, req string, rcvbuf int) (net.Conn, *bufio.Reader) {
	t.Helper()
	d := net.Dialer{}
	if rcvbuf > 0 {
		// A tiny receive window, set before connecting, so that a client
		// that never reads fills up quickly.
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	conn, err := d.DialContext(t.Context(), "tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	return conn, bufio.NewReader(conn)
}

// wsRaw opens a WebSocket on path with a hand-made handshake, so that the
// test can send frames no library would.
func (h *hostileEnv) wsRaw(t *testing.T, path string, rcvbuf int) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, br := h.rawRequest(t, "GET "+path+" HTTP/1.1\r\nHost: "+h.addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", rcvbuf)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	conn.SetReadDeadline(time.Time{})
	return conn, br
}

// frame encodes a client frame: first byte as given (FIN, RSV, opcode),
// the payload masked unless unmasked, its length as lenOverride when >= 0.
func frame(b0 byte, payload []byte, unmasked bool, lenOverride int64) []byte {
	n := int64(len(payload))
	if lenOverride >= 0 {
		n = lenOverride
	}
	out := []byte{b0, 0}
	if !unmasked {
		out[1] = 0x80
	}
	switch {
	case n < 126:
		out[1] |= byte(n)
	case n <= 0xffff:
		out[1] |= 126
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out[1] |= 127
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if unmasked {
		return append(out, payload...)
	}
	key := []byte{1, 2, 3, 4}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// closeCode reads server frames until a close frame and returns its code;
// 0 when the connection ended without one.
func closeCode(t *testing.T, conn net.Conn, br *bufio.Reader) int {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("connection neither closed nor sent a close frame within 5s")
			}
			return 0
		}
		n := int64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			io.ReadFull(br, b[:])
			n = int64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			io.ReadFull(br, b[:])
			n = int64(binary.BigEndian.Uint64(b[:]))
		}
		payload := make([]byte, min(n, 1<<20))
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0
		}
		if hdr[0]&0x0f == 8 {
			if len(payload) < 2 {
				return 1005
			}
			return int(binary.BigEndian.Uint16(payload))
		}
	}
}

// sseEvents reads an SSE stream until an event whose data is until, and
// returns every line read.
func sseEventsUntil(t *testing.T, body io.Reader, until string) []string {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if sc.Text() == "data: "+until {
			return lines
		}
	}
	t.Fatalf("stream ended before %q: %q", until, lines)
	return nil
}

func hostileCases() []struct {
	name string
	run  func(t *testing.T, h *hostileEnv)
} {
	long := strings.Repeat("9", 10<<10)
	badUTF8 := []byte{'o', 'k', 0xff, 0xfe, 0xc3}
	return []struct {
		name string
		run  func(t *testing.T, h *hostileEnv)
	}{
		// Cursors, on every transport, in the header and the query.
		{"sse: malformed Last-Event-ID", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/topics/t/sse", map[string]string{"Last-Event-ID": "not a cursor"}, nil, 400)
		}},
		{"sse: 10 KiB Last-Event-ID", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/topics/t/sse", map[string]string{"Last-Event-ID": long}, nil, 400)
		}},
		{"sse: lastEventId query injecting a field", func(t *testing.T, h *hostileEnv) {
			_, body := h.status(t, "GET", "/topics/t/sse?lastEventId=x%0Aid:%20evil%0A%0A", nil, nil, 400)
			if bytes.Contains(body, []byte("\nid: evil")) {
				t.Errorf("the cursor reached the body raw: %q", body)
			}
		}},
		{"sse interval: negative and overflowing sequence", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/sse/interval?every=10ms", map[string]string{"Last-Event-ID": "-5"}, nil, 400)
			h.status(t, "GET", "/sse/interval?every=10ms", map[string]string{"Last-Event-ID": "99999999999999999999"}, nil, 400)
			h.status(t, "GET", "/sse/interval?every=1ns", nil, nil, 400)
		}},
		{"longpoll: malformed cursor", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/topics/t/longpoll?cursor=zz-zz", nil, nil, 400)
		}},
		{"longpoll: 10 KiB cursor", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/topics/t/longpoll?cursor="+long, nil, nil, 400)
		}},
		{"longpoll: cursor injecting a header", func(t *testing.T, h *hostileEnv) {
			hdr, _ := h.status(t, "GET", "/topics/t/longpoll?cursor=1%0D%0ASet-Cookie:%20a=b", nil, nil, 400)
			if hdr.Get("Set-Cookie") != "" || hdr.Get("X-Cursor") != "" {
				t.Errorf("injected header answered: %v", hdr)
			}
		}},
		{"longpoll: malformed Last-Event-ID", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/topics/t/longpoll", map[string]string{"Last-Event-ID": "abc-"}, nil, 400)
		}},
		{"shortpoll: malformed cursor and 10 KiB header", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/topics/t/poll?cursor=-1", nil, nil, 400)
			h.status(t, "GET", "/topics/t/poll", map[string]string{"Last-Event-ID": long}, nil, 400)
		}},
		{"shortpoll: cursor of another epoch gets a gap", func(t *testing.T, h *hostileEnv) {
			_, body := h.status(t, "GET", "/topics/t/poll?cursor=zzzzzzzzzzzzzzzz-18446744073709551615", nil, nil, 200)
			if !bytes.Contains(body, []byte(`"gap"`)) {
				t.Errorf("no gap for a foreign cursor: %s", body)
			}
		}},
		{"websocket: malformed cursor refused before the upgrade", func(t *testing.T, h *hostileEnv) {
			_, resp, err := websocket.Dial(t.Context(), "ws://"+h.addr+"/topics/t/ws?cursor=%0A%0Aevil", nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("handshake with a bad cursor: %v %v, want 400", resp, err)
			}
		}},
		{"longpoll deferred: bad duration", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/poll?after=-1s", nil, nil, 400)
		}},

		// Topics, methods, routes, headers.
		{"topic: 200 bytes", func(t *testing.T, h *hostileEnv) {
			topic := strings.Repeat("a", 200)
			h.status(t, "GET", "/topics/"+topic+"/sse", nil, nil, 400)
			h.status(t, "POST", "/topics/"+topic, nil, []byte("x"), 400)
		}},
		{"topic: forbidden characters", func(t *testing.T, h *hostileEnv) {
			for _, topic := range []string{"a%0Ab", "a%20b", "..", "%C3%A9t%C3%A9", "a%00"} {
				h.status(t, "GET", "/topics/"+topic+"/poll", nil, nil, 400)
			}
		}},
		{"wrong methods", func(t *testing.T, h *hostileEnv) {
			h.status(t, "DELETE", "/topics/t/sse", nil, nil, 405)
			h.status(t, "POST", "/topics/t/longpoll", nil, []byte("x"), 405)
			h.status(t, "PUT", "/topics/t/ws", nil, nil, 405)
		}},
		{"unknown route", func(t *testing.T, h *hostileEnv) {
			h.status(t, "GET", "/topics/t/nope", nil, nil, 404)
		}},
		{"2 MiB of headers", func(t *testing.T, h *hostileEnv) {
			conn, br := h.rawRequest(t, "GET /topics/t/poll HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 2<<20)+"\r\n\r\n", 0)
			conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("status %s, want 431", resp.Status)
			}
		}},

		// Publishes.
		{"publish: 64 KiB + 1", func(t *testing.T, h *hostileEnv) {
			h.status(t, "POST", "/topics/t", nil, bytes.Repeat([]byte("x"), maxPublish+1), 413)
		}},
		{"publish: 8 MiB", func(t *testing.T, h *hostileEnv) {
			h.status(t, "POST", "/topics/t", nil, bytes.Repeat([]byte("x"), 8<<20), 413)
		}},
		{"publish: invalid UTF-8", func(t *testing.T, h *hostileEnv) {
			h.status(t, "POST", "/topics/t", nil, badUTF8, 400)
		}},
		{"publish: event name with LF, CR or NUL", func(t *testing.T, h *hostileEnv) {
			for _, name := range []string{"a%0Adata:%20x", "a%0Did:%201", "a%00"} {
				h.status(t, "POST", "/topics/t?event="+name, nil, []byte("x"), 400)
			}
		}},
		{"publish: data cannot inject SSE fields", func(t *testing.T, h *hostileEnv) {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", h.base+"/topics/inject/sse", nil)
			resp, err := h.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			h.waitOpened(t, "sse", 1)
			evil := "x\n\nid: evil\nevent: evil\nretry: 1\ndata: injected\r\n"
			h.status(t, "POST", "/topics/inject?event=a%0Adata:%20x", nil, []byte("x"), 400)
			h.status(t, "POST", "/topics/inject", nil, []byte(evil), 200)
			h.status(t, "POST", "/topics/inject", nil, []byte("end"), 200)
			// Group the lines into events: each data line must be one of
			// ours, prefixed, and the data must come out as it went in.
			var datas []string
			var cur []string
			for _, l := range sseEventsUntil(t, resp.Body, "end") {
				switch {
				case l == "":
					if cur != nil {
						datas = append(datas, strings.Join(cur, "\n"))
					}
					cur = nil
				case strings.HasPrefix(l, "data: "):
					cur = append(cur, l[len("data: "):])
				case strings.HasPrefix(l, "id: ") && !strings.Contains(l, "evil"):
				default:
					t.Errorf("a client's data became a field: %q", l)
				}
			}
			if want := strings.ReplaceAll(evil, "\r\n", "\n"); len(datas) != 1 || datas[0] != want {
				t.Errorf("events before \"end\": %q, want one with data %q", datas, want)
			}
		}},

		// WebSocket frames.
		{"websocket: no upgrade header", func(t *testing.T, h *hostileEnv) {
			resp, err := h.c.Get(h.base + "/ws")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode/100 != 4 {
				t.Errorf("plain GET /ws: %s, want a 4xx", resp.Status)
			}
		}},
		{"websocket: foreign Origin", func(t *testing.T, h *hostileEnv) {
			_, resp, err := websocket.Dial(t.Context(), "ws://"+h.addr+"/ws", &websocket.DialOptions{
				HTTPHeader: http.Header{"Origin": {"https://evil.example"}},
			})
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-origin handshake: %v %v, want 403", resp, err)
			}
		}},
		{"websocket: message over the read limit", func(t *testing.T, h *hostileEnv) {
			c, _, err := websocket.Dial(t.Context(), "ws://"+h.addr+"/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			c.Write(t.Context(), websocket.MessageText, bytes.Repeat([]byte("x"), 64<<10))
			_, _, err = c.Read(t.Context())
			if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
				t.Errorf("read after an oversize message: %v, want 1009", err)
			}
		}},
		{"websocket: frame header claiming 2^62 bytes", func(t *testing.T, h *hostileEnv) {
			conn, br := h.wsRaw(t, "/ws", 0)
			conn.Write(frame(0x81, nil, false, 1<<62))
			conn.Write(bytes.Repeat([]byte("x"), 40<<10)) // past the 32 KiB read limit
			if got := closeCode(t, conn, br); got != int(websocket.StatusMessageTooBig) {
				t.Errorf("close code %d, want 1009", got)
			}
		}},
		{"websocket: unmasked client frame", func(t *testing.T, h *hostileEnv) {
			conn, br := h.wsRaw(t, "/ws", 0)
			conn.Write(frame(0x81, []byte("hi"), true, -1))
			// RFC 6455 5.1: the server closes the connection, with or
			// without a close frame.
			if got := closeCode(t, conn, br); got != 0 && got != int(websocket.StatusProtocolError) {
				t.Errorf("close code %d, want 1002 or none", got)
			}
		}},
		{"websocket: reserved bits and opcodes", func(t *testing.T, h *hostileEnv) {
			for _, b0 := range []byte{0x81 | 0x40, 0x83, 0x8b} { // RSV1, opcode 3, opcode 11
				conn, br := h.wsRaw(t, "/ws", 0)
				conn.Write(frame(b0, []byte("hi"), false, -1))
				if got := closeCode(t, conn, br); got != int(websocket.StatusProtocolError) {
					t.Errorf("first byte %#x: close code %d, want 1002", b0, got)
				}
			}
		}},
		{"websocket: broken control frames", func(t *testing.T, h *hostileEnv) {
			for name, f := range map[string][]byte{
				"fragmented ping":   frame(0x09, []byte("p"), false, -1),
				"ping of 200 B":     frame(0x89, bytes.Repeat([]byte("p"), 200), false, -1),
				"lone continuation": frame(0x80, []byte("c"), false, -1),
			} {
				conn, br := h.wsRaw(t, "/ws", 0)
				conn.Write(f)
				if got := closeCode(t, conn, br); got != int(websocket.StatusProtocolError) {
					t.Errorf("%s: close code %d, want 1002", name, got)
				}
			}
		}},
		{"websocket: truncated frame then hang-up", func(t *testing.T, h *hostileEnv) {
			conn, _ := h.wsRaw(t, "/ws", 0)
			h.waitOpened(t, "websocket", 1)
			conn.Write(frame(0x81, []byte("hello"), false, -1)[:4])
			conn.Close()
			h.waitClosed(t, "websocket", "the client hung up mid-frame")
		}},

		// Clients that never read, or vanish mid-write.
		{"sse: client never reads", func(t *testing.T, h *hostileEnv) {
			h.rawRequest(t, "GET /topics/stuck/sse HTTP/1.1\r\nHost: x\r\n\r\n", 4096)
			h.waitOpened(t, "sse", 1)
			fill(t, h, "stuck", "sse")
		}},
		{"websocket: client never reads", func(t *testing.T, h *hostileEnv) {
			h.wsRaw(t, "/topics/stuck/ws", 4096)
			h.waitOpened(t, "websocket", 1)
			fill(t, h, "stuck", "websocket")
		}},
		{"sse: abrupt disconnect mid-stream", func(t *testing.T, h *hostileEnv) {
			conn, br := h.rawRequest(t, "GET /sse/interval?every=10ms HTTP/1.1\r\nHost: x\r\n\r\n", 0)
			if _, err := br.ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
			conn.Close()
			h.waitClosed(t, "sse", "a reset")
		}},
		{"websocket: vanishes without a close frame", func(t *testing.T, h *hostileEnv) {
			c, _, err := websocket.Dial(t.Context(), "ws://"+h.addr+"/topics/gone/ws", nil)
			if err != nil {
				t.Fatal(err)
			}
			h.waitOpened(t, "websocket", 1)
			c.CloseNow()
			h.waitClosed(t, "websocket", "the peer vanished")
		}},
		{"longpoll: client leaves a held poll", func(t *testing.T, h *hostileEnv) {
			conn, _ := h.rawRequest(t, "GET /topics/held/longpoll HTTP/1.1\r\nHost: x\r\n\r\n", 0)
			h.waitOpened(t, "longpoll", 1)
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
			h.waitClosed(t, "longpoll", "the client left")
		}},
	}
}

// fill publishes 32 KiB events to topic until the transport's stream to a
// client that never reads is dropped; the bound is far beyond what the
// socket buffers hold.
func fill(t *testing.T, h *hostileEnv, topic, transport string) {
	t.Helper()
	data := bytes.Repeat([]byte("x"), 32<<10)
	for i := 0; i < 2000 && h.open(transport) > 0; i++ {
		if _, err := h.a.hub.Publish(t.Context(), topic, framework.Event{Data: data}); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	h.waitClosed(t, transport, "its client stopped reading")
}

// TestHostileInput throws broken and hostile input at every transport of
// the real showcase. Each gets a clear error or a clean close; afterwards
// the server still serves a normal client and holds no more goroutines
// than before.
func TestHostileInput(t *testing.T) {
	a, srv := newServerWith(t, config{writeTimeout: 200 * time.Millisecond})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	h := &hostileEnv{a: a, base: srv.URL, addr: strings.TrimPrefix(srv.URL, "http://"), c: &http.Client{Transport: tr}}
	h.status(t, "GET", "/topics/t/poll", nil, nil, 200) // warm up
	tr.CloseIdleConnections()
	baseline := runtime.NumGoroutine()

	cases := hostileCases()
	if len(cases) < 25 {
		t.Fatalf("%d cases, want at least 25", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, h)
			for _, transport := range []string{"sse", "longpoll", "websocket"} {
				h.waitClosed(t, transport, "the case ended")
			}
		})
	}

	t.Run("a normal client afterwards", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", h.base+"/topics/fine/sse", nil)
		resp, err := h.c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		h.waitOpened(t, "sse", 1)
		h.status(t, "POST", "/topics/fine", nil, []byte("你好"), 200)
		sseEventsUntil(t, resp.Body, "你好")
		c, _, err := websocket.Dial(ctx, "ws://"+h.addr+"/ws", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		c.Write(ctx, websocket.MessageText, []byte("ping"))
		if _, got, err := c.Read(ctx); err != nil || string(got) != "服务器回复: ping" {
			t.Errorf("echo: %q %v", got, err)
		}
		c.Close(websocket.StatusNormalClosure, "")
	})

	tr.CloseIdleConnections()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the hostile input:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
		tr.CloseIdleConnections() // the test's own late keep-alive dials
	}
}
