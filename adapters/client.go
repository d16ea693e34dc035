package adapters

import (
	"embed"
	"net/http"
	"strings"
)

// ClientPath is where the browser client is served by [ClientHandler]: the
// ES module at ClientPath + "rxstream.js", its TypeScript types at
// ClientPath + "rxstream.d.ts".
const ClientPath = "/_rxstream/"

//go:embed web/rxstream.js web/rxstream.d.ts
var clientFiles embed.FS

var clientTypes = map[string]string{
	"rxstream.js":   "text/javascript; charset=utf-8",
	"rxstream.d.ts": "application/typescript; charset=utf-8",
}

// ClientHandler serves the browser client's two files under [ClientPath]
// (anything else there is a 404):
//
//	mux.Handle("GET "+adapters.ClientPath, adapters.ClientHandler())
//
// A page then uses it with
//
//	import { connect } from '/_rxstream/rxstream.js';
//	const stream = connect('/topics/chat', { onEvent: (e) => console.log(e.data) });
func ClientHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutPrefix(r.URL.Path, ClientPath)
		typ, known := clientTypes[name]
		if !ok || !known {
			http.NotFound(w, r)
			return
		}
		body, _ := clientFiles.ReadFile("web/" + name) // embedded: cannot fail
		w.Header().Set("Content-Type", typ)
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	})
}
