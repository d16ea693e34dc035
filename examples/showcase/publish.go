package main

import (
	"errors"
	"io"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/rxstream/rxstream/framework"
)

// maxPublish bounds a published event's size.
const maxPublish = 64 << 10

// publish appends the request body to the topic as one event, named by the
// optional "event" query parameter, and answers {"id": ...}.
func (a *app) publish(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxPublish+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "reading body: "+err.Error())
	}
	if len(body) > maxPublish {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "event larger than 64 KiB")
	}
	id, err := a.hub.Publish(c.Request().Context(), c.Param("topic"),
		framework.Event{Name: c.QueryParam("event"), Data: body})
	switch {
	case errors.Is(err, framework.ErrInvalidTopic), errors.Is(err, framework.ErrInvalidEvent):
		return echo.NewHTTPError(http.StatusBadRequest, err.Error())
	case err != nil:
		return echo.NewHTTPError(http.StatusServiceUnavailable, err.Error())
	}
	return c.JSON(http.StatusOK, map[string]string{"id": id})
}
