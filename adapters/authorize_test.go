package adapters

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
)

func TestAuthorize(t *testing.T) {
	var seen []string
	mw, err := Authorize(AuthorizeConfig{Authorize: func(c echo.Context, topic string, a Action) error {
		seen = append(seen, a.String()+" "+topic)
		switch {
		case topic == "secret":
			return errors.New("no entry")
		case topic == "login":
			return echo.NewHTTPError(http.StatusUnauthorized, "token needed")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	ok := func(c echo.Context) error { return c.String(200, "ok") }
	e.GET("/topics/:topic", ok, mw)
	e.POST("/topics/:topic", ok, mw)
	for _, tc := range []struct {
		method, path string
		want         int
		seen         string
	}{
		{"GET", "/topics/news", 200, "subscribe news"},
		{"POST", "/topics/news", 200, "publish news"},
		{"GET", "/topics/secret", 403, "subscribe secret"},
		{"POST", "/topics/login", 401, "publish login"},
	} {
		seen = nil
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.want || len(seen) != 1 || seen[0] != tc.seen {
			t.Errorf("%s %s: %d %v, want %d [%s]", tc.method, tc.path, rec.Code, seen, tc.want, tc.seen)
		}
	}
	if _, err := Authorize(AuthorizeConfig{}); err == nil {
		t.Error("a config without Authorize was accepted")
	}
}
