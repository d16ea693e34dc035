package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/framework"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var secret = []byte("0123456789abcdef0123456789abcdef")

const origin = "https://app.example"

func newServer(t *testing.T) (*app, *httptest.Server) {
	t.Helper()
	return newServerWith(t, adapters.GateOptions{})
}

// newServerWith is newServer with the Gate's options, its handler
// wrapped by wrap when given (to watch the requests).
func newServerWith(t *testing.T, gate adapters.GateOptions, wrap ...func(http.Handler) http.Handler) (*app, *httptest.Server) {
	t.Helper()
	a, err := newApp(config{secret: secret, origins: []string{origin}, gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.e)
	srv.Config = a.e.Server
	srv.Config.Handler = a.e
	for _, w := range wrap {
		srv.Config.Handler = w(srv.Config.Handler)
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Config.Shutdown(t.Context())
		srv.Close()
		a.hub.Close()
	})
	return a, srv
}

func mustMint(t *testing.T, sub, pub []string, ttl time.Duration) string {
	t.Helper()
	tok, err := mint(secret, "test", sub, pub, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// signed signs claims with method and key, for tokens mint would not make.
func signed(t *testing.T, method jwt.SigningMethod, key any, c jwt.Claims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthorization(t *testing.T) {
	a, srv := newServer(t)
	reader := mustMint(t, []string{"news"}, nil, time.Hour)
	writer := mustMint(t, []string{"news"}, []string{"news"}, time.Hour)
	future := jwt.NewNumericDate(time.Now().Add(time.Hour))
	newsClaims := claims{RegisteredClaims: jwt.RegisteredClaims{ExpiresAt: future}, Subscribe: []string{"news"}}
	first, err := a.hub.Publish(context.Background(), "news", eventOf("first"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.hub.Publish(context.Background(), "news", eventOf("second")); err != nil {
		t.Fatal(err)
	}
	bearer := func(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }
	for _, tc := range []struct {
		name, method, path string
		header             map[string]string
		cookie             string
		want               int
	}{
		{"sse without a token", "GET", "/topics/news/sse", nil, "", 401},
		{"sse with garbage", "GET", "/topics/news/sse", bearer("not.a.jwt"), "", 401},
		{"sse with another key", "GET", "/topics/news/sse", bearer(signed(t, jwt.SigningMethodHS256, []byte("another key, 32 bytes long......"), newsClaims)), "", 401},
		{"sse with alg none", "GET", "/topics/news/sse", bearer(signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, newsClaims)), "", 401},
		{"sse with HS512", "GET", "/topics/news/sse", bearer(signed(t, jwt.SigningMethodHS512, secret, newsClaims)), "", 401},
		{"sse without expiry", "GET", "/topics/news/sse", bearer(signed(t, jwt.SigningMethodHS256, secret, claims{Subscribe: []string{"news"}})), "", 401},
		{"sse expired", "GET", "/topics/news/sse", bearer(mustMint(t, []string{"news"}, nil, -time.Minute)), "", 401},
		{"sse on a topic not granted", "GET", "/topics/secret/sse", bearer(reader), "", 403},
		{"sse with the header", "GET", "/topics/news/sse", bearer(reader), "", 200},
		{"sse with the query parameter (EventSource)", "GET", "/topics/news/sse?access_token=" + reader, nil, "", 200},
		{"sse with the cookie (EventSource)", "GET", "/topics/news/sse", nil, reader, 200},
		{"long-poll with the header", "GET", "/topics/news/longpoll?cursor=" + first, bearer(reader), "", 200},
		{"long-poll on a topic not granted", "GET", "/topics/secret/longpoll", bearer(reader), "", 403},
		{"publish without the right", "POST", "/topics/news", bearer(reader), "", 403},
		{"publish with the header", "POST", "/topics/news", bearer(writer), "", 200},
		{"publish with the query parameter", "POST", "/topics/news?access_token=" + writer, nil, "", 401},
		{"publish with the cookie", "POST", "/topics/news", nil, writer, 401},
		{"websocket without a token", "GET", "/topics/news/ws", nil, "", 401},
		{"websocket on a topic not granted", "GET", "/topics/secret/ws", bearer(reader), "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, tc.method, srv.URL+tc.path, strings.NewReader("hello"))
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if strings.HasSuffix(tc.path, "/ws") { // a handshake, as a browser sends it
				for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket",
					"Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="} {
					req.Header.Set(k, v)
				}
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: tokenCookie, Value: tc.cookie})
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s", resp.Status)
			}
			if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without a Bearer challenge: %v", resp.Header)
			}
			if tc.want == 200 && strings.HasSuffix(tc.path, "/sse") {
				// The stream is open: it starts with the topic's tip.
				if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "id: ") {
					t.Errorf("stream starts %q, %v", line, err)
				}
			}
		})
	}
}

func TestWebSocketWithToken(t *testing.T) {
	a, srv := newServer(t)
	reader := mustMint(t, []string{"news"}, nil, time.Hour)
	ws := "ws" + strings.TrimPrefix(srv.URL, "http") + "/topics/news/ws"
	for _, tc := range []struct {
		name string
		url  string
		hdr  http.Header
		want int // 0: the upgrade succeeds
	}{
		{"header", ws, http.Header{"Authorization": {"Bearer " + reader}}, 0},
		{"query parameter (browser)", ws + "?access_token=" + reader, nil, 0},
		{"allowed cross-site origin", ws + "?access_token=" + reader, http.Header{"Origin": {origin}}, 0},
		{"foreign origin", ws + "?access_token=" + reader, http.Header{"Origin": {"https://evil.example"}}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, tc.url, &websocket.DialOptions{HTTPHeader: tc.hdr})
			if tc.want != 0 {
				if err == nil || resp == nil || resp.StatusCode != tc.want {
					t.Fatalf("Dial: %v %v, want %d", resp, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			for a.hub.Stats().Subscribers == 0 { // the subscription is open
				time.Sleep(5 * time.Millisecond)
			}
			if _, err := a.hub.Publish(ctx, "news", eventOf("hi "+tc.name)); err != nil {
				t.Fatal(err)
			}
			_, msg, err := c.Read(ctx)
			var env struct{ Data string }
			if err != nil || json.Unmarshal(msg, &env) != nil || env.Data != "hi "+tc.name {
				t.Fatalf("read %s, %v", msg, err)
			}
			c.Close(websocket.StatusNormalClosure, "")
			for a.hub.Stats().Subscribers != 0 {
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	_, srv := newServer(t)
	reader := mustMint(t, []string{"news"}, nil, time.Hour)
	preflight := func(from string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/topics/news/longpoll", nil)
		req.Header.Set("Origin", from)
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "authorization,last-event-id")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	t.Run("preflight from the allowed origin", func(t *testing.T) {
		resp := preflight(origin)
		h := resp.Header
		if resp.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != origin ||
			h.Get("Access-Control-Allow-Credentials") != "true" ||
			!strings.Contains(strings.ToLower(h.Get("Access-Control-Allow-Headers")), "last-event-id") {
			t.Errorf("%s %v", resp.Status, h)
		}
	})
	t.Run("preflight from another origin", func(t *testing.T) {
		if got := preflight("https://evil.example").Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Access-Control-Allow-Origin %q for a foreign origin", got)
		}
	})
	t.Run("poll exposes the cursor header", func(t *testing.T) {
		// A refused poll is answered at once; the middleware's headers come
		// with every answer.
		req, _ := http.NewRequest("GET", srv.URL+"/topics/news/longpoll?cursor=bad", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Authorization", "Bearer "+reader)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
			!strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Cursor") {
			t.Errorf("%s %v", resp.Status, resp.Header)
		}
	})
}

func eventOf(s string) framework.Event { return framework.Event{Data: []byte(s)} }
