package load

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// Dialer opens the load generator's connections. With Sources > 1 it
// spreads them over that many loopback source addresses (127.0.0.1,
// 127.0.0.2, ...), so more connections fit than one address has ports.
type Dialer struct {
	Sources int
	next    atomic.Uint32
}

// DialContext dials a TCP connection to addr, which must be on loopback.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second}
	if d != nil && d.Sources > 1 {
		i := d.next.Add(1) % uint32(d.Sources)
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}
	}
	return nd.DialContext(ctx, network, addr)
}
