package load

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/benchmarks/internal/servers"
)

// TopicsClient follows several topics on one connection to GET
// /sub?topic=..., feeding subs[i] with the events of topics[i], until ctx
// ends; it reconnects with the cursor of every topic when the stream ends
// early.
type TopicsClient func(ctx context.Context, d *Dialer, addr string, topics []string, subs []*Sub, c *Counters, o Options)

// TopicsClientFor returns the multiplexing client of a transport, or nil.
func TopicsClientFor(t servers.Transport) TopicsClient {
	switch t {
	case servers.SSE:
		return SSETopics
	case servers.WebSocket:
		return WebSocketTopics
	}
	return nil
}

// topicsPath is the multiplexed request of topics.
func topicsPath(topics []string) string {
	q := url.Values{"topic": topics}
	return "/sub?" + q.Encode()
}

// muxRouter sends each delivery of a multiplexed stream to its topic's Sub.
type muxRouter struct {
	topics []string
	subs   []*Sub
	bad    *Sub // where a delivery of no known topic is counted
}

func newMuxRouter(topics []string, subs []*Sub) *muxRouter {
	if len(topics) != len(subs) || len(subs) == 0 {
		panic(fmt.Sprintf("load: %d topics for %d subscribers", len(topics), len(subs)))
	}
	return &muxRouter{topics: topics, subs: subs, bad: subs[0]}
}

// index returns the position of topic, or -1.
func (m *muxRouter) index(topic []byte) int {
	for i, t := range m.topics {
		if string(topic) == t {
			return i
		}
	}
	return -1
}

func (m *muxRouter) sub(topic []byte) *Sub {
	if i := m.index(topic); i >= 0 {
		return m.subs[i]
	}
	return nil
}

// envelope routes one JSON delivery {"topic":..,"data":..} or, with gap, a
// gap notice of its topic.
func (m *muxRouter) envelope(msg []byte, gap bool) {
	s := m.sub(jsonString(msg, `"topic":"`))
	if s == nil {
		m.bad.bad++
		return
	}
	if gap {
		s.Gap()
		return
	}
	if data := jsonString(msg, `"data":"`); data != nil {
		s.Payload(data)
	} else {
		s.bad++
	}
}

// SSETopics is the multiplexed Server-Sent Events client: one GET
// /sub?topic=a&topic=b..., whose events carry their topic in a JSON
// envelope and whose id is the composite cursor of every topic, resent as
// Last-Event-ID on reconnect.
func SSETopics(ctx context.Context, d *Dialer, addr string, topics []string, subs []*Sub, c *Counters, o Options) {
	m := newMuxRouter(topics, subs)
	path := topicsPath(topics)
	var lastID string
	for ctx.Err() == nil {
		err := sseTopicsOnce(ctx, d, addr, path, m, c, &lastID)
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

func sseTopicsOnce(ctx context.Context, d *Dialer, addr, path string, m *muxRouter, c *Counters, lastID *string) error {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c.Connects.Add(1)
	var req strings.Builder
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", path, addr)
	if *lastID != "" {
		fmt.Fprintf(&req, "Last-Event-ID: %s\r\n", *lastID)
	}
	req.WriteString("\r\n")
	if _, err := conn.Write([]byte(req.String())); err != nil {
		return err
	}
	return readSSETopics(conn, m, lastID)
}

func readSSETopics(conn net.Conn, m *muxRouter, lastID *string) error {
	return readSSEBlocks(conn, lastID, m.envelope, nil, nil)
}

// WebSocketTopics is the multiplexed WebSocket client: one upgrade of GET
// /sub?topic=a&topic=b..., whose text frames are JSON envelopes naming
// their topic (acknowledgements, with a "type", are skipped). It
// reconnects with the composite cursor ":id1,id2,..." built from the last
// ID it saw of each topic (or its subscribed cursor).
func WebSocketTopics(ctx context.Context, d *Dialer, addr string, topics []string, subs []*Sub, c *Counters, o Options) {
	m := newMuxRouter(topics, subs)
	last := make([]string, len(topics))
	for ctx.Err() == nil {
		err := wsTopicsOnce(ctx, d, addr, m, c, last)
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

func wsTopicsOnce(ctx context.Context, d *Dialer, addr string, m *muxRouter, c *Counters, last []string) error {
	u := "ws://" + addr + topicsPath(m.topics)
	if slices.ContainsFunc(last, func(s string) bool { return s != "" }) {
		u += "&cursor=" + url.QueryEscape(":"+strings.Join(last, ","))
	}
	conn, _, err := websocket.Dial(ctx, u, wsOptions(d))
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
		var failed error
		envelopes(conn.Subprotocol() == batchProtocol, buf.Bytes(), func(msg []byte) {
			if typ := jsonString(msg, `"type":"`); typ != nil {
				switch string(typ) {
				case "subscribed":
					if i := m.index(jsonString(msg, `"topic":"`)); i >= 0 && last[i] == "" {
						last[i] = string(jsonString(msg, `"cursor":"`))
					}
				case "error":
					failed = fmt.Errorf("websocket: %s", msg)
				}
				return
			}
			if i := m.index(jsonString(msg, `"topic":"`)); i >= 0 {
				if id := jsonString(msg, `"id":"`); id != nil {
					last[i] = string(id)
				}
			}
			m.envelope(msg, string(jsonString(msg, `"event":"`)) == "gap")
		})
		if failed != nil {
			return failed
		}
	}
}
