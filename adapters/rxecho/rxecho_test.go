package rxecho_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/reactivex/rxgo/v2"
	"go.uber.org/goleak"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url string, h http.Header) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b)
}

// Wrap gives the handler the route's parameters as path values and the
// echo.Context; a Producer written for echo keeps echo's error status.
func TestWrap(t *testing.T) {
	e := echo.New()
	e.GET("/a/:x/:y", rxecho.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := rxecho.Context(r)
		if c == nil || c.Param("x") != r.PathValue("x") {
			t.Errorf("Context(r) = %v, want the route's context", c)
		}
		io.WriteString(w, adapters.Param("x")(r)+","+r.PathValue("y"))
	})))
	s := &sse.Server{}
	defer s.Close()
	e.GET("/p/:n", rxecho.Wrap(s.Stream(rxecho.Producer(func(c echo.Context, cursor string) (rxgo.Observable, error) {
		if c.Param("n") == "bad" {
			return nil, echo.NewHTTPError(http.StatusTeapot, "no such n")
		}
		return streams.Map(streams.FromChannel(closed("one")), func(s string) string { return c.Param("n") + s }), nil
	}))))
	ts := httptest.NewServer(e)
	defer ts.Close()

	if code, body := get(t, ts.URL+"/a/1/2", nil); code != 200 || body != "1,2" {
		t.Fatalf("path values: %d %q, want 200 \"1,2\"", code, body)
	}
	if code, body := get(t, ts.URL+"/p/bad", nil); code != http.StatusTeapot || !strings.Contains(body, `"message":"no such n"`) {
		t.Fatalf("producer's echo error: %d %q, want 418 with its message", code, body)
	}
	if code, body := get(t, ts.URL+"/p/7", nil); code != 200 || !strings.Contains(body, "data: 7one") {
		t.Fatalf("producer: %d %q", code, body)
	}
}

func closed(vs ...string) chan string {
	ch := make(chan string, len(vs))
	for _, v := range vs {
		ch <- v
	}
	close(ch)
	return ch
}

// Authorize asks its hook about the very topic served, and an
// *echo.HTTPError keeps its status; Mount and ServeClient register routes.
func TestAuthorizeMountServeClient(t *testing.T) {
	hub, err := framework.NewHub(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	ep, err := adapters.New(&adapters.Options{Publish: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ep.Close()
	var asked []string
	e := echo.New()
	e.Use(middleware.GzipWithConfig(middleware.GzipConfig{Skipper: rxecho.GzipSkipper}))
	g := e.Group("/g", rxecho.Authorize(func(r *http.Request, topic string, a adapters.Action) error {
		asked = append(asked, a.String()+" "+topic)
		switch topic {
		case "login":
			return echo.NewHTTPError(http.StatusUnauthorized, "token needed")
		case "admin":
			return errors.New("admins only")
		}
		return nil
	}))
	rxecho.Mount(g, "/rooms/:room", ep.Topic(hub, adapters.Param("room")))
	rxecho.ServeClient(e)
	ts := httptest.NewServer(e)
	defer ts.Close()

	for _, tc := range []struct {
		method, topic string
		want          int
	}{
		{"GET", "login", 401}, {"GET", "admin", 403}, {"GET", "lobby", 200}, {"POST", "lobby", 200}, {"DELETE", "lobby", 405},
	} {
		asked = nil
		req, _ := http.NewRequest(tc.method, ts.URL+"/g/rooms/"+tc.topic+"?transport=poll", strings.NewReader("hi"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.topic, resp.StatusCode, tc.want)
		}
		action := map[string]string{"GET": "subscribe", "POST": "publish"}[tc.method]
		if want := []string{action + " " + tc.topic}; action != "" && !slices.Equal(asked, want) {
			t.Errorf("%s %s: hook asked %v, want %v", tc.method, tc.topic, asked, want)
		}
	}
	if code, body := get(t, ts.URL+adapters.ClientPath+"rxstream.js", nil); code != 200 || !strings.Contains(body, "export function connect") {
		t.Fatalf("browser client: %d %.80q", code, body)
	}
	if code, _ := get(t, ts.URL+adapters.ClientPath+"other.js", nil); code != 404 {
		t.Fatalf("unknown client file: %d, want 404", code)
	}
}
