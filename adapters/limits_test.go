package adapters_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rxstream/rxstream/adapters"
	"github.com/rxstream/rxstream/adapters/sse"
	rxws "github.com/rxstream/rxstream/adapters/websocket"
	"github.com/rxstream/rxstream/framework"
)

// from returns an HTTP client whose connections leave from the loopback
// address ip (127.0.0.x: each is an address of its own to the server).
func from(t *testing.T, ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 200}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// holdSSE opens a stream of topic x as user from ip, held until the test
// ends.
func holdSSE(t *testing.T, v *authEnv, ip, user string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, v.url+"/rooms/x?transport=sse", nil)
	req.Header.Set("Authorization", "Bearer "+mint(user, time.Now().Add(time.Hour)))
	resp, err := from(t, ip).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("holding a stream: %s", resp.Status)
	}
}

// attempt is one connection attempt on a transport, as user from ip: the
// HTTP status, or for a WebSocket that was upgraded 101, the subprotocol
// it agreed to (it asks for the browser client's, BatchSubprotocol) and
// the close code and reason that came first ("" when a message came
// first: the connection is served).
type attempt struct {
	status     int
	retryAfter string
	protocol   string
	code       websocket.StatusCode
	reason     string
}

func try(t *testing.T, v *authEnv, transport, ip, user string) attempt {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	token := mint(user, time.Now().Add(time.Hour))
	client := from(t, ip)
	if transport == "websocket" {
		u := "ws" + strings.TrimPrefix(v.url, "http") + "/topics?topic=x" // answers subscribed at once
		c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: client,
			HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}, Subprotocols: []string{rxws.BatchSubprotocol}})
		if err != nil {
			if resp == nil {
				t.Fatal(err)
			}
			return attempt{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
		}
		defer c.CloseNow()
		a := attempt{status: http.StatusSwitchingProtocols, protocol: c.Subprotocol()}
		if _, _, err := c.Read(ctx); err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				t.Fatal(err)
			}
			a.code, a.reason = ce.Code, ce.Reason
		}
		return a
	}
	q := "?transport=" + transport
	if transport == "longpoll" {
		q += "&timeout=0s"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/rooms/x"+q, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if transport == "sse" {
		req.Header.Set("Accept", "text/event-stream")
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return attempt{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
}

// TestLimits: every limit refuses the connection past it, on every
// transport, in the way the transport can tell (429 with a Retry-After on
// HTTP, the WebSocket closed at once with 1013 or 1008 and a reason that
// says when to try again, after agreeing to the subprotocol it asked for
// as a served one does, or its handshake answered 429 over the connect
// rate), and leaves every other client alone.
func TestLimits(t *testing.T) {
	for _, row := range []struct {
		name  string
		gate  adapters.GateOptions
		setup func(t *testing.T, v *authEnv) // fill the limit of alice at 127.0.0.1
		code  websocket.StatusCode           // a WebSocket's close; 0: its handshake is refused 429
		other []string                       // ip and user of attempts that are served
	}{
		{name: "connections per address",
			gate: adapters.GateOptions{MaxPerAddress: 2, ConnectRate: -1},
			setup: func(t *testing.T, v *authEnv) {
				holdSSE(t, v, "127.0.0.1", "bob")
				holdSSE(t, v, "127.0.0.1", "carol")
			},
			code: rxws.StatusTryAgainLater, other: []string{"127.0.0.2", "alice"}},
		{name: "connections per user",
			gate: adapters.GateOptions{MaxPerUser: 2, ConnectRate: -1},
			setup: func(t *testing.T, v *authEnv) {
				holdSSE(t, v, "127.0.0.2", "alice")
				holdSSE(t, v, "127.0.0.3", "alice")
			},
			code: rxws.StatusPolicyViolation, other: []string{"127.0.0.1", "bob"}},
		{name: "connect rate per address",
			gate: adapters.GateOptions{ConnectRate: 0.01, ConnectBurst: 2, MaxPerAddress: -1},
			setup: func(t *testing.T, v *authEnv) {
				for range 2 {
					if a := try(t, v, "poll", "127.0.0.1", "bob"); a.status != http.StatusOK {
						t.Fatalf("within the burst: %+v", a)
					}
				}
			},
			other: []string{"127.0.0.2", "alice"}},
	} {
		t.Run(row.name, func(t *testing.T) {
			for _, tr := range []string{"sse", "longpoll", "poll", "websocket"} {
				t.Run(tr, func(t *testing.T) {
					v := newAuthEnv(t, &row.gate)
					row.setup(t, v)
					a := try(t, v, tr, "127.0.0.1", "alice")
					switch {
					case tr != "websocket" || row.code == 0:
						if s, err := strconv.Atoi(a.retryAfter); a.status != http.StatusTooManyRequests || err != nil || s < 1 {
							t.Fatalf("%+v, want 429 with a Retry-After in seconds", a)
						}
					case a.status != http.StatusSwitchingProtocols || a.code != row.code || !strings.HasPrefix(a.reason, "retry in ") || a.protocol != rxws.BatchSubprotocol:
						t.Fatalf("%+v, want %s agreed, then closed with %d and when to retry", a, rxws.BatchSubprotocol, row.code)
					}
					ok := map[string]int{"sse": 200, "longpoll": 204, "poll": 200, "websocket": 101}[tr] // served; the long-poll asked not to wait
					if b := try(t, v, tr, row.other[0], row.other[1]); b.status != ok || b.code != 0 || (tr == "websocket" && b.protocol != rxws.BatchSubprotocol) {
						t.Fatalf("another client: %+v", b)
					}
				})
			}
		})
	}
}

// TestFloodFromOneAddress: 2,000 connection attempts from one address, as
// fast as they go, are refused past the default limits with 429 and a
// Retry-After, while 100 clients from other addresses receive every event
// of a topic published meanwhile, none of them refused or cut.
func TestFloodFromOneAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("2,100 connections")
	}
	v := newAuthEnv(t, nil) // default limits
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	start, _ := v.hub.Publish(ctx, "x", framework.Text("start"))
	const clients, events = 100, 200
	var ready, wg sync.WaitGroup
	results := make(chan error, clients)
	lastAt := make(chan time.Time, clients)
	for i := range clients {
		ip := fmt.Sprintf("127.0.0.%d", 2+i%4)
		ready.Add(1)
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/rooms/x", nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Authorization", "Bearer "+mint(fmt.Sprint("user", i), time.Now().Add(time.Hour)))
			req.Header.Set("Last-Event-ID", start)
			resp, err := from(t, ip).Do(req)
			ready.Done()
			if err != nil {
				results <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				results <- fmt.Errorf("client %d: %s", i, resp.Status)
				return
			}
			d := sse.NewDecoder(bufio.NewReader(resp.Body))
			for n := 0; n < events; n++ {
				ev, err := d.Next()
				if err != nil {
					results <- fmt.Errorf("client %d after %d events: %w", i, n, err)
					return
				}
				if want := "e" + strconv.Itoa(n); string(ev.Data) != want {
					results <- fmt.Errorf("client %d: event %q, want %q", i, ev.Data, want)
					return
				}
			}
			lastAt <- time.Now()
			results <- nil
		})
	}
	ready.Wait()
	for v.gate.Connections() < clients {
		select {
		case <-ctx.Done():
			t.Fatalf("%d clients admitted", v.gate.Connections())
		case <-time.After(5 * time.Millisecond):
		}
	}

	// The flood: held streams, so that both the connect rate and the
	// per-address limit are in play.
	var admitted, refused atomic.Int64
	var bad sync.Map
	var held []io.Closer
	var heldMu sync.Mutex
	flood := from(t, "127.0.0.1")
	floodStart := time.Now()
	var fw sync.WaitGroup
	attempts := make(chan int)
	for range 64 {
		fw.Go(func() {
			for range attempts {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, v.url+"/rooms/x", nil)
				req.Header.Set("Accept", "text/event-stream")
				req.Header.Set("Authorization", "Bearer "+mint("", time.Now().Add(time.Hour))) // anonymous: no per-user limit
				resp, err := flood.Do(req)
				if err != nil {
					bad.Store(err.Error(), true)
					continue
				}
				switch s, _ := strconv.Atoi(resp.Header.Get("Retry-After")); {
				case resp.StatusCode == http.StatusOK:
					admitted.Add(1)
					heldMu.Lock()
					held = append(held, resp.Body)
					heldMu.Unlock()
				case resp.StatusCode == http.StatusTooManyRequests && s >= 1:
					refused.Add(1)
					resp.Body.Close()
				default:
					bad.Store(resp.Status+" Retry-After "+resp.Header.Get("Retry-After"), true)
					resp.Body.Close()
				}
			}
		})
	}
	// Publish while the flood runs, at 100 events a second.
	pubDone := make(chan time.Time, 1)
	pubStart := time.Now()
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for n := range events {
			<-tick.C
			if _, err := v.hub.Publish(ctx, "x", framework.Text("e"+strconv.Itoa(n))); err != nil {
				t.Error(err)
			}
		}
		pubDone <- time.Now()
	}()
	for i := range 2000 {
		attempts <- i
	}
	close(attempts)
	fw.Wait()
	floodTime := time.Since(floodStart)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Error(err)
		}
	}
	published := <-pubDone
	close(lastAt)
	var lag time.Duration
	for at := range lastAt {
		lag = max(lag, at.Sub(published))
	}
	bad.Range(func(k, _ any) bool { t.Errorf("an attempt got %v", k); return true })
	heldMu.Lock()
	for _, b := range held {
		b.Close()
	}
	heldMu.Unlock()

	// At most the burst, what the rate refilled during the flood, and an
	// attempt in flight per worker are admitted.
	limit := int64(2*adapters.DefaultConnectRate + adapters.DefaultConnectRate*floodTime.Seconds() + 64)
	t.Logf("flood of 2000 in %v: %d admitted, %d refused 429; publishing %d events took %v, the slowest of %d clients got the last %v after it was published",
		floodTime, admitted.Load(), refused.Load(), events, published.Sub(floodStart), clients, lag)
	if admitted.Load()+refused.Load() != 2000 || admitted.Load() > min(limit, adapters.DefaultMaxPerAddress) || refused.Load() == 0 {
		t.Fatalf("%d admitted, %d refused of 2000; at most %d should be admitted", admitted.Load(), refused.Load(), min(limit, adapters.DefaultMaxPerAddress))
	}
	if floodStart.Add(floodTime).Before(pubStart) {
		t.Fatal("the flood ended before the publishing began")
	}
}
