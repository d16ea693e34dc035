package load

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
)

// SSE is the Server-Sent Events client: a bare HTTP/1.1 GET whose body it
// reads line by line, resending the last id as Last-Event-ID on reconnect.
func SSE(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, o Options) {
	var lastID string
	for ctx.Err() == nil {
		err := sseOnce(ctx, d, addr, s, c, &lastID)
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

func sseOnce(ctx context.Context, d *Dialer, addr string, s *Sub, c *Counters, lastID *string) error {
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c.Connects.Add(1)
	req := "GET /sub HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n"
	if *lastID != "" {
		req += "Last-Event-ID: " + *lastID + "\r\n"
	}
	if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
		return err
	}
	return readSSE(conn, s, lastID)
}

func readSSE(conn net.Conn, s *Sub, lastID *string) error {
	return readSSEBlocks(conn, lastID, func(data []byte, gap bool) {
		if !gap {
			s.Payload(bytes.TrimPrefix(data, []byte(" ")))
		}
	}, s.Gap, func() { s.beats.Add(1) })
}

// readSSEBlocks reads an SSE response from conn, handing each data line to
// data (with whether its block is a gap notice), calling gap at each
// "event: gap" and beat at each comment (a heartbeat), and keeping the
// last id in lastID.
func readSSEBlocks(conn net.Conn, lastID *string, data func(line []byte, gap bool), gap, beat func()) error {
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sse: %s", resp.Status)
	}
	body := bufio.NewReaderSize(resp.Body, 16<<10)
	inGap := false
	for {
		line, err := body.ReadSlice('\n')
		if err != nil {
			return err
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			inGap = false
		case bytes.Equal(line, []byte("event: gap")):
			inGap = true
			if gap != nil {
				gap()
			}
		case line[0] == ':':
			if beat != nil {
				beat()
			}
		case bytes.HasPrefix(line, []byte("data:")):
			data(line[5:], inGap)
		case bytes.HasPrefix(line, []byte("id:")):
			*lastID = string(bytes.TrimPrefix(line[3:], []byte(" ")))
		}
	}
}

// Stall opens a subscription to GET /sub on transport t and never reads
// from it, with a small receive buffer so that it backs up soon. Close the
// returned closer to drop it.
func Stall(ctx context.Context, d *Dialer, addr string, ws bool) (io.Closer, error) {
	if ws {
		c, err := DialWebSocket(ctx, d, addr, "")
		if err != nil {
			return nil, err
		}
		return closerFunc(func() error { return c.CloseNow() }), nil
	}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4096)
	}
	req := "GET /sub HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }
