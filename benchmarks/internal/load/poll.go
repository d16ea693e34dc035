package load

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"time"
)

// pollBody is the answer of a long-poll or short-poll.
type pollBody struct {
	Events []struct {
		ID    string `json:"id"`
		Event string `json:"event"`
		Data  string `json:"data"`
	} `json:"events"`
	Cursor string          `json:"cursor"`
	Gap    json.RawMessage `json:"gap"`
}

// LongPoll polls again as soon as an answer arrives, on one keep-alive
// connection, with the cursor of the last answer.
func LongPoll(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, o Options) {
	poll(ctx, d, addr, s, c, 0)
}

// ShortPoll polls every o.PollInterval (the first after a random part of
// it, so the pollers spread out).
func ShortPoll(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, o Options) {
	every := o.PollInterval
	if every <= 0 {
		every = 100 * time.Millisecond
	}
	if !pause(ctx, rand.N(every)) {
		return
	}
	poll(ctx, d, addr, s, c, every)
}

func poll(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, every time.Duration) {
	var (
		conn   net.Conn
		br     *bufio.Reader
		cursor string
		stop   func() bool
	)
	defer func() {
		if conn != nil {
			stop()
			conn.Close()
		}
	}()
	next := time.Now()
	for ctx.Err() == nil {
		if conn == nil {
			var err error
			if conn, err = d.DialContext(ctx, "tcp", addr); err != nil {
				if ended(ctx) {
					return
				}
				c.fail(err)
				if !pause(ctx, retryPause) {
					return
				}
				continue
			}
			c.Connects.Add(1)
			br = bufio.NewReader(conn)
			cc := conn
			stop = context.AfterFunc(ctx, func() { cc.Close() })
		}
		err := pollOnce(conn, br, addr, s, c, &cursor)
		if err != nil {
			stop()
			conn.Close()
			conn = nil
			if ended(ctx) {
				return
			}
			c.fail(err)
			if !pause(ctx, retryPause) {
				return
			}
			continue
		}
		if every > 0 {
			next = next.Add(every)
			if !pause(ctx, time.Until(next)) {
				return
			}
		}
	}
}

func pollOnce(conn net.Conn, br *bufio.Reader, addr string, s *Sub, c *Counters, cursor *string) error {
	req := "GET /sub?cursor=" + url.QueryEscape(*cursor) + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: application/json\r\n\r\n"
	c.Requests.Add(1)
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("poll: %s: %.200s", resp.Status, body)
	}
	var b pollBody
	if err := json.Unmarshal(body, &b); err != nil {
		return fmt.Errorf("poll: %w: %.200s", err, body)
	}
	if len(b.Gap) > 0 && string(b.Gap) != "null" {
		s.Gap()
	}
	for _, ev := range b.Events {
		if ev.Event == "gap" {
			s.Gap()
			continue
		}
		s.Payload([]byte(ev.Data))
	}
	if b.Cursor != "" {
		*cursor = b.Cursor
	} else if n := len(b.Events); n > 0 && b.Events[n-1].ID != "" {
		*cursor = b.Events[n-1].ID
	}
	return nil
}
