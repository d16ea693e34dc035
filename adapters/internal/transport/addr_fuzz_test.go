package transport

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientAddress: whatever the peer and its X-Forwarded-For, the client
// address is the peer's own unless the peer is trusted, and otherwise one
// of the addresses the header names (or the peer), as a valid /32 or
// /64.
func FuzzClientAddress(f *testing.F) {
	f.Add("10.0.0.1:80", "198.51.100.1, 10.2.3.4")
	f.Add("203.0.113.7:5000", "198.51.100.1")
	f.Add("[::1]:5000", "[2001:db8::1]:80,unknown")
	f.Add("pipe", "")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	f.Fuzz(func(t *testing.T, peer, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Forwarded-For", xff)
		got, ok := ClientAddress(r, trusted)
		ap, err := netip.ParseAddrPort(peer)
		if err != nil {
			if ok {
				t.Fatalf("peer %q without an address counts as %v", peer, got)
			}
			return
		}
		if !ok || !got.IsValid() || (got.Bits() != 32 && got.Bits() != 64) {
			t.Fatalf("%v %v", got, ok)
		}
		own, _ := ClientAddress(r, nil)
		if !own.Contains(ap.Addr().Unmap().WithZone("")) {
			t.Fatalf("the peer %s counts as %v", peer, own)
		}
		if !isTrusted(ap.Addr().Unmap().WithZone(""), trusted) && got != own {
			t.Fatalf("an untrusted peer %s counts as %v from its header %q", peer, got, xff)
		}
		if got == own {
			return
		}
		for hop := range strings.SplitSeq(xff, ",") {
			if a, ok := parseHop(hop); ok && got.Contains(a) {
				return
			}
		}
		t.Fatalf("%v is neither the peer %s nor in %q", got, peer, xff)
	})
}
