package rxecho_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/framework"
)

// One Endpoint on an echo route and on a ServeMux: the same handler, the
// same name function, the same answers.
func ExampleMount() {
	hub := &framework.Hub{}
	defer hub.Close()
	ep, _ := adapters.New(&adapters.Options{Publish: true})
	defer ep.Close()
	topic := ep.Topic(hub, adapters.Param("topic"))

	e := echo.New()
	rxecho.Mount(e, "/topics/:topic", topic)
	mux := http.NewServeMux()
	mux.Handle("/topics/{topic}", topic)

	for name, h := range map[string]http.Handler{"echo": e, "net/http": mux} {
		ts := httptest.NewServer(h)
		seen, _ := hub.Publish(context.Background(), "news", framework.Text("seen before"))
		resp, _ := http.Post(ts.URL+"/topics/news", "text/plain", strings.NewReader("hello from "+name))
		resp.Body.Close()
		resp, _ = http.Get(ts.URL + "/topics/news?transport=poll&cursor=" + seen)
		var answer struct{ Events []struct{ Data string } }
		json.NewDecoder(resp.Body).Decode(&answer)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, answer.Events[0].Data)
		ts.Close()
	}
	// Unordered output:
	// 200 hello from echo
	// 200 hello from net/http
}
