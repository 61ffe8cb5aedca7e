package forwardauth

import (
	"net/http"
	"net/netip"
	"strings"
)

// Sources ClientIP reports; field violations of network.ip name them.
const (
	// SourcePeer is the address of the connection that called.
	SourcePeer = "peer address"
	// SourceForwardedFor is a hop of X-Forwarded-For.
	SourceForwardedFor = "header X-Forwarded-For"
	// SourceRealIP is X-Real-IP.
	SourceRealIP = "header X-Real-IP"
)

const (
	headerForwardedFor  = "X-Forwarded-For"
	headerRealIP        = "X-Real-IP"
	maxForwardedForHops = 64
)

// ClientIP finds the client address of a forward-auth call made by a
// proxy at remoteAddr (host:port, as http.Request.RemoteAddr).
//
//   - When trusted is empty, or the peer is not in it, the answer is the
//     peer: forwarding headers from anyone else are ignored.
//   - Otherwise X-Forwarded-For (every header line, comma-separated hops)
//     is read from right to left: each trusted hop is skipped, and the
//     first untrusted hop is the client. A client can prepend any hops it
//     likes, but they lie left of the first untrusted address and are never
//     reached. When every hop is trusted the leftmost is the client. A hop
//     that does not parse ends the walk at the hop right of it (the
//     proxy that wrote it), so garbage never becomes an address.
//   - Without X-Forwarded-For, X-Real-IP from a trusted peer is the client.
//
// Hops may carry a port ("192.0.2.1:4711", "[2001:db8::1]:443");
// IPv4-mapped IPv6 addresses are unmapped. The empty string means the peer
// address itself did not parse.
func ClientIP(remoteAddr string, h http.Header, trusted []netip.Prefix) (ip, source string) {
	peer, ok := parseHop(remoteAddr)
	if !ok {
		return "", ""
	}
	if !inPrefixes(peer, trusted) {
		return peer.String(), SourcePeer
	}
	hops := forwardedFor(h)
	if len(hops) == 0 {
		if a, ok := parseHop(h.Get(headerRealIP)); ok {
			return a.String(), SourceRealIP
		}
		return peer.String(), SourcePeer
	}
	client, src := peer, SourcePeer
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		client, src = a, SourceForwardedFor
		if !inPrefixes(a, trusted) {
			break
		}
	}
	return client.String(), src
}

// forwardedFor splits every X-Forwarded-For line into hops, keeping at
// most the rightmost maxForwardedForHops.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values(headerForwardedFor) {
		for _, hop := range strings.Split(line, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				hops = append(hops, hop)
			}
		}
	}
	if len(hops) > maxForwardedForHops {
		hops = hops[len(hops)-maxForwardedForHops:]
	}
	return hops
}

// parseHop reads an address with or without a port, bracketed IPv6
// included; zones are refused.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if s == "" {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		if perr != nil {
			if !strings.HasPrefix(s, "[") || !strings.HasSuffix(s, "]") {
				return netip.Addr{}, false
			}
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return netip.Addr{}, false
			}
		} else {
			a = ap.Addr()
		}
	}
	if a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inPrefixes(a netip.Addr, prefixes []netip.Prefix) bool {
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
