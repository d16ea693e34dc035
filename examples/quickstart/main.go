// Command quickstart is the README's usage example: a per-request producer
// and a hub topic, served as Server-Sent Events.
package main

import (
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/reactivex/rxgo/v2"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/rxecho"
	"github.com/rxstream/rxstream/adapters/sse"
	"github.com/rxstream/rxstream/framework"
	"github.com/rxstream/rxstream/streams"
)

func main() {
	var hub framework.Hub // in-memory topics with bounded history
	s, _ := sse.New(nil)  // default heartbeat, write deadline, batching
	e := echo.New()
	e.Server.RegisterOnShutdown(s.Close) // e.Shutdown ends open streams

	// Flux.interval(Duration.ofSeconds(1)).map(seq -> "tick " + seq)
	e.GET("/ticks", rxecho.Wrap(s.Stream(func(r *http.Request, cursor string) (rxgo.Observable, error) {
		return streams.Map(streams.Interval(time.Second), func(seq int64) string {
			return fmt.Sprint("tick ", seq)
		}), nil
	})))

	// A topic: POST publishes, GET streams and resumes from Last-Event-ID.
	e.POST("/topics/:topic", func(c echo.Context) error {
		id, err := hub.Publish(c.Request().Context(), c.Param("topic"),
			framework.Text(c.QueryParam("text")))
		if err != nil {
			return echo.NewHTTPError(400, err.Error())
		}
		return c.JSON(200, map[string]string{"id": id})
	})
	e.GET("/topics/:topic/sse", rxecho.Wrap(s.Topic(&hub, adapters.Param("topic"))))

	e.Logger.Fatal(e.Start("127.0.0.1:8080"))
}
