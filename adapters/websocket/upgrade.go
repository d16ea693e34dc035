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
	"time"

	"github.com/rxstream/rxstream/adapters/internal/transport"
)

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
// to the innermost writer, past middleware that delays headers (a gzip
// middleware that holds WriteHeader back until the body, which a
// hijacked connection never has), and remembers the hijacked connection
// so the server can put deadlines on it. Every other status goes through
// the middleware chain as usual. Middleware that records the status
// therefore does not see the 101. The connection's writes go through a
// [batchConn] with the write timeout.
type upgradeWriter struct {
	http.ResponseWriter // the chain, as the handler sees it
	timeout             time.Duration
	conn                net.Conn
	batch               *batchConn
}

func (w *upgradeWriter) WriteHeader(code int) {
	if code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	inner := w.ResponseWriter
	for {
		u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		inner = u.Unwrap()
	}
	// The handshake's headers, should a wrapper keep its own map (most
	// share the inner one: then this changes nothing).
	h := inner.Header()
	for k, v := range w.ResponseWriter.Header() {
		h[k] = v
	}
	inner.WriteHeader(code)
}

func (w *upgradeWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if err := brw.Writer.Flush(); err != nil { // net/http flushed the handshake: a no-op
		return nil, nil, err
	}
	w.conn, w.batch = nc, &batchConn{Conn: nc, timeout: w.timeout}
	brw.Writer.Reset(w.batch)
	return w.batch, brw, nil
}

var errNotUpgrade = errors.New("rxstream: websocket: not a WebSocket upgrade request")

// check refuses what no WebSocket handler serves, before any user code
// runs: another method than GET (405), a request that is no upgrade
// (426), an origin the options do not allow (403).
func (o *Options) check(r *http.Request) error {
	if r.Method != http.MethodGet {
		return &StatusError{
			Code:    http.StatusMethodNotAllowed,
			Message: fmt.Sprintf("rxstream: websocket: method %s not allowed, only GET", r.Method),
			Header:  http.Header{"Allow": {http.MethodGet}},
		}
	}
	if !isUpgrade(r) {
		return &StatusError{
			Code:    http.StatusUpgradeRequired,
			Message: errNotUpgrade.Error(),
			Header:  http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}},
			Err:     errNotUpgrade,
		}
	}
	if err := o.checkOrigin(r); err != nil {
		return transport.Status(http.StatusForbidden, err)
	}
	return nil
}
