package websocket

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/labstack/echo/v4"
)

// IsUpgrade reports whether the request asks for a WebSocket upgrade
// (Connection: Upgrade and Upgrade: websocket).
func IsUpgrade(c echo.Context) bool { return isUpgrade(c.Request()) }

// GzipSkipper is a middleware.Skipper for echo's Gzip middleware that skips
// WebSocket upgrades, whose handshake the middleware would otherwise hold
// back:
//
//	g.Use(middleware.GzipWithConfig(middleware.GzipConfig{Skipper: websocket.GzipSkipper}))
//
// The handlers of this package also detect a compressing writer and
// upgrade past it, so the skipper only saves the middleware's work.
func GzipSkipper(c echo.Context) bool { return IsUpgrade(c) }

func isUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// checkOrigin applies the origin rule of the upgrade before any user code
// runs, as websocket.Accept will again: no Origin header, the request's own
// host, or a pattern match.
func (o *Options) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" || o.InsecureSkipVerify {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil {
		return fmt.Errorf("rxstream: websocket: malformed Origin %q", origin)
	}
	if strings.EqualFold(r.Host, u.Host) {
		return nil
	}
	for _, p := range o.OriginPatterns {
		target := u.Host
		if strings.Contains(p, "://") {
			target = u.Scheme + "://" + u.Host
		}
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(target)); ok {
			return nil
		}
	}
	return fmt.Errorf("rxstream: websocket: origin %q not allowed", origin)
}

func validPattern(p string) error {
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("rxstream: websocket: origin pattern %q: %w", p, err)
	}
	return nil
}

// upgradeWriter is what the handshake writes to. It writes the 101 status
// to the innermost writer, past middleware that delays headers (echo's
// Gzip holds WriteHeader back until the body, which a hijacked connection
// never has), keeps echo's Response bookkeeping right, and remembers the
// hijacked connection so the server can put deadlines on it. Every other
// status goes through the middleware chain as usual.
type upgradeWriter struct {
	http.ResponseWriter // the chain, as the handler sees it
	res                 *echo.Response
	conn                net.Conn
}

func (w *upgradeWriter) WriteHeader(code int) {
	if code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	inner := http.ResponseWriter(w.res)
	for {
		u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	w.res.Status, w.res.Committed = code, true
	inner.WriteHeader(code)
}

func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = nc
	return nc, brw, nil
}

var errNotUpgrade = errors.New("rxstream: websocket: not a WebSocket upgrade request")
