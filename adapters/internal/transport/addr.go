package transport

import (
	"net/http"
	"net/netip"
	"slices"
	"strings"
)

// ClientAddress returns the client address that r counts against for the
// per-address limits, and false when r has none to count.
//
// It is the peer's IP address, unless the peer is in trusted: then the
// X-Forwarded-For header is read from its right end (the entry the
// nearest proxy appended) past every trusted address, and the first
// address not trusted is the client's. An entry that is not an address
// stops the walk at the proxy that sent it. An IPv6 client counts by its
// /64 (one host or one site: a host is given a /64, and could rotate
// through it), an IPv4 client by its address. A peer without an IP
// address (a Unix socket, an in-memory pipe) has none.
func ClientAddress(r *http.Request, trusted []netip.Prefix) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Prefix{}, false
	}
	addr := ap.Addr().Unmap().WithZone("")
	if len(trusted) > 0 {
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		for i := len(hops) - 1; i >= 0 && isTrusted(addr, trusted); i-- {
			next, ok := parseHop(hops[i])
			if !ok {
				break
			}
			addr = next
		}
	}
	if addr.Is4() {
		return netip.PrefixFrom(addr, 32), true
	}
	p, _ := addr.Prefix(64)
	return p, true
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	return slices.ContainsFunc(trusted, func(p netip.Prefix) bool { return p.Contains(a) })
}

// parseHop reads one X-Forwarded-For entry: an address, with a port or
// brackets as some proxies write it.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}
