package main

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"sort"

	"github.com/labstack/echo/v4"
)

// The page is web/index.html with every web/panels/*.html (one per
// transport, in file-name order) in its panel area.
//
//go:embed web
var web embed.FS

var page = template.Must(template.ParseFS(web, "web/index.html"))

func (a *app) page(c echo.Context) error {
	names, err := fs.Glob(web, "web/panels/*.html")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var panels []template.HTML
	for _, name := range names {
		b, err := web.ReadFile(name)
		if err != nil {
			return err
		}
		panels = append(panels, template.HTML(b)) // our own embedded files
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, panels); err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}
