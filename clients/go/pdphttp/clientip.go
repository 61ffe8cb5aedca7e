package pdphttp

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// RemoteIP is the IP address of r.RemoteAddr, the peer of the connection,
// or "" when it is not an IP address (a Unix socket).
func RemoteIP(r *http.Request) string {
	a, ok := remoteAddr(r)
	if !ok {
		return ""
	}
	return a.String()
}

func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// ForwardedFor returns a client-IP function for an application behind the
// given proxies. When the peer is one of them, it reads X-Forwarded-For from
// right to left, skipping the addresses of trusted proxies, and returns the
// first address that is not one: the client as seen by the outermost
// trusted proxy. Hops a client wrote itself, left of that address, are
// never used. A malformed hop yields "" (no IP) rather than a guess. A peer
// that is not a trusted proxy is the client.
func ForwardedFor(trusted ...netip.Prefix) func(*http.Request) string {
	isTrusted := func(a netip.Addr) bool {
		for _, p := range trusted {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(r *http.Request) string {
		client, ok := remoteAddr(r)
		if !ok {
			return ""
		}
		if !isTrusted(client) {
			return client.String()
		}
		var hops []string
		for _, v := range r.Header.Values("X-Forwarded-For") {
			hops = append(hops, strings.Split(v, ",")...)
		}
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := parseHop(hops[i])
			if !ok {
				return ""
			}
			client = a
			if !isTrusted(a) {
				break
			}
		}
		return client.String()
	}
}

// parseHop parses one X-Forwarded-For entry: an address, possibly with a
// port ("203.0.113.7:4711", "[2001:db8::1]:443").
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, err := netip.ParseAddrPort(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone(""), true
}
