package main

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"
)

// The page is web/index.html with every web/panels/*.html (one per
// transport, in file-name order) in its panel area. ?panels=chat,sse keeps
// only the panels named (a file's name without its number and .html), for
// looking at one transport alone.
//
//go:embed web
var web embed.FS

var page = template.Must(template.ParseFS(web, "web/index.html"))

// panelNames lists the page's panels in order, by the name ?panels= takes,
// with the file of each.
func panelNames() (names, files []string, err error) {
	files, err = fs.Glob(web, "web/panels/*.html")
	if err != nil {
		return nil, nil, err
	}
	sort.Strings(files)
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if _, rest, ok := strings.Cut(name, "-"); ok {
			name = rest
		}
		names = append(names, name)
	}
	return names, files, nil
}

func (a *app) page(c echo.Context) error {
	names, files, err := panelNames()
	if err != nil {
		return err
	}
	want := map[string]bool{}
	if q := c.QueryParam("panels"); q != "" {
		for _, n := range strings.Split(q, ",") {
			if !slices.Contains(names, n) {
				return echo.NewHTTPError(http.StatusBadRequest, fmt.Sprintf("panels: no panel %q (the panels are %s)", n, strings.Join(names, ", ")))
			}
			want[n] = true
		}
	}
	var panels []template.HTML
	for i, name := range files {
		if len(want) > 0 && !want[names[i]] {
			continue
		}
		b, err := web.ReadFile(name)
		if err != nil {
			return err
		}
		panels = append(panels, template.HTML(b)) // our own embedded files
	}
	var buf bytes.Buffer
	if err := page.Execute(&buf, struct {
		Panels []template.HTML
		Names  []string
	}{panels, names}); err != nil {
		return err
	}
	return c.HTMLBlob(http.StatusOK, buf.Bytes())
}
