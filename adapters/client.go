package adapters

import (
	"embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// ClientPath is where [ServeClient] serves the browser client: the ES
// module at ClientPath + "rxstream.js", its TypeScript types at
// ClientPath + "rxstream.d.ts".
const ClientPath = "/_rxstream/"

//go:embed web/rxstream.js web/rxstream.d.ts
var clientFiles embed.FS

// ServeClient registers the browser client's two files on r at
// [ClientPath]. A page uses it with
//
//	import { connect } from '/_rxstream/rxstream.js';
//	const stream = connect('/topics/chat', { onEvent: (e) => console.log(e.data) });
func ServeClient(r Router) {
	for name, typ := range map[string]string{
		"rxstream.js":   "text/javascript; charset=utf-8",
		"rxstream.d.ts": "application/typescript; charset=utf-8",
	} {
		body, _ := clientFiles.ReadFile("web/" + name) // embedded: cannot fail
		r.GET(ClientPath+name, func(c echo.Context) error {
			c.Response().Header().Set("Cache-Control", "no-cache")
			return c.Blob(http.StatusOK, typ, body)
		})
	}
}
