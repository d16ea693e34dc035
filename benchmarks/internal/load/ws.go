package load

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"sync"

	"github.com/coder/websocket"
)

var (
	wsClientsMu sync.Mutex
	wsClients   = map[*Dialer]*http.Client{}
)

func wsClient(d *Dialer) *http.Client {
	wsClientsMu.Lock()
	defer wsClientsMu.Unlock()
	hc := wsClients[d]
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: -1}}
		wsClients[d] = hc
	}
	return hc
}

// WebSocket is the WebSocket client (coder/websocket for every contender):
// it reads text frames holding JSON envelopes, and reconnects with the
// last id as ?cursor=.
func WebSocket(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, o Options) {
	var lastID string
	for ctx.Err() == nil {
		err := wsOnce(ctx, d, addr, s, c, &lastID)
		if ended(ctx) {
			return
		}
		if err != nil {
			c.fail(err)
		}
		if o.Once {
			return
		}
		c.Reconnects.Add(1)
		if !pause(ctx, retryPause) {
			return
		}
	}
}

// DialWebSocket opens a WebSocket to GET /sub and returns it unread.
func DialWebSocket(ctx context.Context, d *Dialer, addr, cursor string) (*websocket.Conn, error) {
	u := "ws://" + addr + "/sub"
	if cursor != "" {
		u += "?cursor=" + url.QueryEscape(cursor)
	}
	conn, _, err := websocket.Dial(ctx, u, wsOptions(d))
	return conn, err
}

// batchProtocol is rxstream's WebSocket subprotocol of batches: a message
// may be a JSON array of envelopes. The load generator offers it to every
// contender; the others do not take it.
const batchProtocol = "rxstream.batch.v1"

func wsOptions(d *Dialer) *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: wsClient(d), Subprotocols: []string{batchProtocol}}
}

// envelopes calls f with each envelope of a message: the message, or,
// when batched (under batchProtocol), each element of its array.
func envelopes(batched bool, msg []byte, f func([]byte)) {
	if !batched || len(msg) == 0 || msg[0] != '[' {
		f(msg)
		return
	}
	depth, start, in, esc := 0, 0, false, false
	for i, c := range msg {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case in:
		case c == '{':
			if depth == 0 {
				start = i
			}
			depth++
		case c == '}':
			if depth--; depth == 0 {
				f(msg[start : i+1])
			}
		}
	}
}

func wsOnce(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, lastID *string) error {
	conn, err := DialWebSocket(ctx, d, addr, *lastID)
	if err != nil {
		return err
	}
	defer conn.CloseNow()
	c.Connects.Add(1)
	var buf bytes.Buffer
	for {
		_, r, err := conn.Reader(ctx)
		if err != nil {
			return err
		}
		buf.Reset()
		if _, err := buf.ReadFrom(r); err != nil {
			return err
		}
		envelopes(conn.Subprotocol() == batchProtocol, buf.Bytes(), func(msg []byte) {
			if id := jsonString(msg, `"id":"`); id != nil {
				*lastID = string(id)
			}
			if ev := jsonString(msg, `"event":"`); string(ev) == "gap" {
				s.Gap()
				return
			}
			if data := jsonString(msg, `"data":"`); data != nil {
				s.Payload(data)
			}
		})
	}
}

// jsonString returns the raw value of the first string field that key
// (`"name":"`) opens; the values the benchmarks send hold no escapes.
func jsonString(msg []byte, key string) []byte {
	i := bytes.Index(msg, []byte(key))
	if i < 0 {
		return nil
	}
	v := msg[i+len(key):]
	j := bytes.IndexByte(v, '"')
	if j < 0 {
		return nil
	}
	return v[:j]
}
