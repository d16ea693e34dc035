package longpoll

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/framework"
)

// TestAskedTimeout: ?timeout= shortens the wait (0s answers at once with
// the starting cursor), never lengthens it, and is validated.
func TestAskedTimeout(t *testing.T) {
	hub, _ := framework.NewHub(nil)
	defer hub.Close()
	tip, _ := hub.Publish(context.Background(), "t", framework.Event{Data: []byte("x")})
	s, _ := New(&Options{Timeout: time.Hour})
	e := echo.New()
	e.GET("/t", s.Topic(hub, func(echo.Context) string { return "t" }, nil))
	ts := httptest.NewServer(e)
	defer ts.Close()
	for _, tc := range []struct {
		query  string
		status int
		cursor string
	}{
		{"timeout=0s", http.StatusNoContent, tip},
		{"timeout=1ms&cursor=" + tip, http.StatusNoContent, tip},
		{"timeout=0s&cursor=0", http.StatusOK, tip}, // retained events come first
		{"timeout=soon", http.StatusBadRequest, ""},
		{"timeout=-1s", http.StatusBadRequest, ""},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/t?"+tc.query, nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Header.Get(CursorHeader) != tc.cursor {
			t.Errorf("%s: %d cursor %q, want %d %q", tc.query, resp.StatusCode, resp.Header.Get(CursorHeader), tc.status, tc.cursor)
		}
	}
}
