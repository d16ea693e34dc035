package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/sse"
	rxws "github.com/rxstream/rxstream/adapters/websocket"
)

// openSSE opens the topic's SSE stream with tok in the Authorization
// header, from cursor.
func openSSE(t *testing.T, ctx context.Context, srv *httptest.Server, tok, cursor string) (*http.Response, *sse.Decoder) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/topics/news/sse", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if cursor != "" {
		req.Header.Set("Last-Event-ID", cursor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, sse.NewDecoder(resp.Body)
}

func dialWS(t *testing.T, ctx context.Context, srv *httptest.Server, tok string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/topics/news/ws?access_token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

func post(t *testing.T, u, tok string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// expiresAt returns the exp of a token.
func expiresAt(t *testing.T, tok string) time.Time {
	t.Helper()
	var c claims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	return c.ExpiresAt.Time
}

// TestExpiryHonoured: a stream ends at its token's exp, within a second,
// on SSE and WebSocket; the same token is then refused although the
// parser's leeway would take it; a fresh token from POST /token resumes
// from the cursor.
func TestExpiryHonoured(t *testing.T) {
	a, srv := newServerWith(t, adapters.GateOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tok := mustMint(t, []string{"news"}, nil, 2*time.Second)
	exp := expiresAt(t, tok)

	resp, d := openSSE(t, ctx, srv, tok, "")
	ws := dialWS(t, ctx, srv, tok)
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.Status)
	}
	for a.gate.Connections() != 2 {
		time.Sleep(5 * time.Millisecond)
	}
	first, _ := a.hub.Publish(ctx, "news", eventOf("before"))
	if ev, err := d.Next(); err != nil || ev.ID != first {
		t.Fatalf("SSE: %v %v", ev, err)
	}
	ev, err := d.Next()
	if err != nil || ev.Name != sse.EventExpired || !strings.Contains(string(ev.Data), `"cursor":"`+first+`"`) {
		t.Fatalf("SSE ends with %+v, %v", ev, err)
	}
	if late := time.Since(exp); late < 0 || late >= time.Second {
		t.Fatalf("SSE ended %v after exp", late)
	}
	if _, err := d.Next(); err == nil {
		t.Fatal("the stream goes on after expired")
	}
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue // the event before
		}
		if websocket.CloseStatus(err) != rxws.StatusExpired {
			t.Fatalf("WebSocket: %v", err)
		}
		break
	}
	if late := time.Since(exp); late >= time.Second {
		t.Fatalf("WebSocket closed %v after exp", late)
	}

	if resp, _ := openSSE(t, ctx, srv, tok, first); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the same token, within the parser's leeway: %s", resp.Status)
	}
	missed, _ := a.hub.Publish(ctx, "news", eventOf("while away"))
	if code, _ := post(t, srv.URL+"/token", tok); code != http.StatusOK {
		// The streams end at exp; the issuer still renews a token within
		// its leeway, for a client whose refresh came late.
		t.Fatalf("POST /token after exp, within the parser's leeway: %d", code)
	}
	fresh := mustMint(t, []string{"news"}, nil, time.Hour)
	resp, d = openSSE(t, ctx, srv, fresh, first)
	if ev, err := d.Next(); resp.StatusCode != http.StatusOK || err != nil || ev.ID != missed {
		t.Fatalf("resuming: %s %v %v", resp.Status, ev, err)
	}
}

// TestRefreshKeepsWebSocket: a WebSocket client that sends a fresh token
// from POST /token before exp stays connected past it.
func TestRefreshKeepsWebSocket(t *testing.T) {
	a, srv := newServerWith(t, adapters.GateOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	tok := mustMint(t, []string{"news"}, nil, 2*time.Second)
	exp := expiresAt(t, tok)
	ws := dialWS(t, ctx, srv, tok)
	time.Sleep(time.Until(exp.Add(-800 * time.Millisecond))) // as a client does, shortly before exp
	code, body := post(t, srv.URL+"/token", tok)
	fresh, _ := body["token"].(string)
	if code != http.StatusOK || !expiresAt(t, fresh).After(exp) {
		t.Fatalf("POST /token: %d %v", code, body)
	}
	msg, _ := json.Marshal(map[string]string{"type": "refresh", "token": fresh})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		t.Fatal(err)
	}
	var m struct{ Type, Expires, Data string }
	if _, b, err := ws.Read(ctx); err != nil || json.Unmarshal(b, &m) != nil || m.Type != "refreshed" {
		t.Fatalf("answer %s, %v", b, err)
	}
	if got, _ := time.Parse(time.RFC3339, m.Expires); !got.Equal(expiresAt(t, fresh)) {
		t.Errorf("refreshed until %s, want the fresh token's exp %s", m.Expires, expiresAt(t, fresh))
	}
	time.Sleep(time.Until(exp.Add(500 * time.Millisecond)))
	if _, err := a.hub.Publish(ctx, "news", eventOf("after exp")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := ws.Read(ctx); err != nil || json.Unmarshal(b, &m) != nil || m.Data != "after exp" {
		t.Fatalf("after the first token's exp: %s, %v", b, err)
	}
}

// TestAdminRevoke: POST /admin/revoke?user= ends the user's streams on
// every transport, and their tokens issued until then are refused, by the
// hook and by POST /token; only an admin token may call it.
func TestAdminRevoke(t *testing.T) {
	a, srv := newServerWith(t, adapters.GateOptions{})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	alice, err := mint(secret, "alice", []string{"news"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bob, _ := mint(secret, "bob", []string{"news"}, nil, time.Hour)
	admin, _ := sign(secret, claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "root"}, Admin: true}, time.Hour)
	_, d := openSSE(t, ctx, srv, alice, "")
	ws := dialWS(t, ctx, srv, alice)
	_, bobs := openSSE(t, ctx, srv, bob, "")
	for a.gate.Connections() != 3 {
		time.Sleep(5 * time.Millisecond)
	}

	for _, tc := range []struct {
		tok  string
		want int
	}{{"", 401}, {bob, 403}} {
		if code, _ := post(t, srv.URL+"/admin/revoke?user=alice", tc.tok); code != tc.want {
			t.Fatalf("revoke with %q: %d, want %d", tc.tok, code, tc.want)
		}
	}
	code, body := post(t, srv.URL+"/admin/revoke?user=alice", admin)
	if code != http.StatusOK || body["ended"] != 2.0 {
		t.Fatalf("revoke: %d %v", code, body)
	}
	if ev, err := d.Next(); err != nil || ev.Name != sse.EventRevoked {
		t.Fatalf("alice's SSE: %+v %v", ev, err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != rxws.StatusRevoked {
		t.Fatalf("alice's WebSocket: %v", err)
	}
	if resp, _ := openSSE(t, ctx, srv, alice, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("alice's token after the revocation: %s", resp.Status)
	}
	if code, _ := post(t, srv.URL+"/token", alice); code != http.StatusUnauthorized {
		t.Fatalf("POST /token with alice's revoked token: %d", code)
	}
	// A token issued after the revocation is taken.
	later := signed(t, jwt.SigningMethodHS256, secret, claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "alice",
		IssuedAt: jwt.NewNumericDate(time.Now().Add(time.Second)), ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))},
		Subscribe: []string{"news"}})
	if resp, _ := openSSE(t, ctx, srv, later, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("a token issued after the revocation: %s", resp.Status)
	}
	id, _ := a.hub.Publish(ctx, "news", eventOf("for bob"))
	for {
		ev, err := bobs.Next()
		if err != nil {
			t.Fatalf("bob's stream: %v", err)
		}
		if ev.ID == id {
			break
		}
	}
	if code, _ := post(t, srv.URL+"/admin/revoke?topic=news", admin); code != http.StatusOK {
		t.Fatalf("revoke a topic: %d", code)
	}
	if ev, err := bobs.Next(); err != nil || ev.Name != sse.EventRevoked || !strings.Contains(string(ev.Data), `"topic":"news"`) {
		t.Fatalf("bob's stream after the topic's revocation: %+v %v", ev, err)
	}
}

// TestLimitsPerUser: the -max-per-user limit counts every transport; past
// it a user's stream is refused 429 with a Retry-After, a WebSocket closed
// with 1008; another user is served.
func TestLimitsPerUser(t *testing.T) {
	_, srv := newServerWith(t, adapters.GateOptions{MaxPerUser: 2})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	alice, _ := mint(secret, "alice", []string{"news"}, nil, time.Hour)
	bob, _ := mint(secret, "bob", []string{"news"}, nil, time.Hour)
	openSSE(t, ctx, srv, alice, "")
	dialWS(t, ctx, srv, alice)
	resp, _ := openSSE(t, ctx, srv, alice, "")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || err != nil || s < 1 {
		t.Fatalf("a third stream of alice: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	ws := dialWS(t, ctx, srv, alice)
	var ce websocket.CloseError
	if _, _, err := ws.Read(ctx); !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || !strings.HasPrefix(ce.Reason, "retry in ") {
		t.Fatalf("a third connection of alice over WebSocket: %v", err)
	}
	if resp, _ := openSSE(t, ctx, srv, bob, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob: %s", resp.Status)
	}
}
