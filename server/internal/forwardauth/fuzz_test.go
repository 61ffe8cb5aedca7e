package forwardauth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/forwardauth"
	"github.com/pdp-dev/pdp/server/internal/gateway"
)

// fuzzTrusted are the proxies of the fuzz handler.
var fuzzTrusted = prefixes("10.0.0.0/8", "fd00::/8", "127.0.0.1/32")

// FuzzForwardAuth feeds forward-auth calls: the peer address, the
// X-Forwarded-For lines (one per line of xff), X-Real-IP, the original
// method and URI, and more headers as "Name: value" lines. The client IP
// is never garbage: it is the peer, or a hop or X-Real-IP of a trusted
// peer, always a plain unmapped address. The handler never fails the
// call: it answers 200 with the decision headers, 400 with JSON
// violations that each name field, source and description, or 401 for a
// bearer token it cannot verify; and a decided request carries that
// client IP and a clean path.
func FuzzForwardAuth(f *testing.F) {
	seeds := []struct{ peer, xff, realIP, method, uri, extra string }{
		{"10.0.0.5:4000", "203.0.113.1", "", "GET", "/api/items?x=1", "X-Forwarded-Host: shop.example\nX-Forwarded-Proto: https"},
		{"10.0.0.5:4000", "1.2.3.4, 10.9.9.9\n203.0.113.1, 10.0.0.7", "", "POST", "/a/../b/./c/", ""},
		{"[fd00::1]:4000", "[2001:db8::7]:51234, [fd00::2]:443", "", "DELETE", "https://shop.example/admin?q", ""},
		{"[fd00::1]:4000", "::ffff:203.0.113.9", "", "get", "/", "X-Pdp-Roles: admin, customer\nX-Pdp-Mfa-Enrolled: true"},
		{"[fd00::1]:4000", "fe80::1%eth0", "", "PUT", "//x//y", "X-Pdp-Mfa-Verified-At: 2026-03-10T09:00:00Z"},
		{"10.0.0.5:4000", "", "2001:db8::9", "HEAD", "/h", "X-Pdp-Authenticated-At: 1773133800.5"},
		{"198.51.100.7:4000", "203.0.113.1", "203.0.113.2", "GET", "/x", "X-Pdp-Action: orders.read"},
		{"10.0.0.5:4000", "evil, 10.0.0.2", "", "GET", "/%zz", "X-Pdp-Session-Last-Activity: yesterday"},
		{"10.0.0.5:4000", "203.0.113.1, <script>", "", "", "", "Authorization: Bearer abc.def.ghi"},
		{"@unix", "", "", "GET", "/x", "X-Pdp-Tenant: other\nX-Pdp-Environment: Prod"},
		{"127.0.0.1:1", `"[2001:db8::1]", 10.0.0.1:80`, "", "PATCH", "*", "X-Original-Method: OPTIONS\nX-Forwarded-Uri: /fw"},
	}
	for _, s := range seeds {
		f.Add(s.peer, s.xff, s.realIP, s.method, s.uri, s.extra)
	}
	checker := &fakeChecker{}
	h := newHandler(f, checker, func(c *config.Gateway) { c.TrustedProxies = fuzzTrusted })
	f.Fuzz(func(t *testing.T, peer, xff, realIP, method, uri, extra string) {
		r := httptest.NewRequest(http.MethodGet, forwardauth.Path, nil)
		r.RemoteAddr = peer
		r.Header.Set("X-Pdp-Tenant", "shop")
		r.Header.Set("X-Pdp-Environment", "production")
		for line := range strings.Lines(xff) {
			r.Header.Add("X-Forwarded-For", strings.TrimSuffix(line, "\n"))
		}
		if realIP != "" {
			r.Header.Set("X-Real-IP", realIP)
		}
		if method != "" {
			r.Header.Set("X-Original-Method", method)
		}
		if uri != "" {
			r.Header.Set("X-Original-URI", uri)
		}
		for line := range strings.Lines(extra) {
			if name, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), ":"); ok && name != "" {
				r.Header.Add(name, strings.TrimSpace(value))
			}
		}

		ip, src := forwardauth.ClientIP(r.RemoteAddr, r.Header, fuzzTrusted)
		checkClientIP(t, r, ip, src)

		checker.got, checker.resp = nil, allowResponse()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		switch w.Code {
		case http.StatusOK:
			got := checker.got
			if got == nil || w.Header().Get(gateway.HeaderDecisionID) == "" {
				t.Fatalf("200 without a decision: %v", w.Header())
			}
			if gotIP := addrText(got.Network.IP); gotIP != ip {
				t.Fatalf("decided with network.ip %q, ClientIP says %q", gotIP, ip)
			}
			if res := got.Action.Resource; !strings.HasPrefix(res, "/") || strings.Contains(res, "/../") || strings.HasSuffix(res, "/..") {
				t.Fatalf("decided with resource %q from URI %q", res, uri)
			}
		case http.StatusBadRequest:
			var body struct {
				FieldViolations []struct{ Field, Source, Description string } `json:"field_violations"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || len(body.FieldViolations) == 0 {
				t.Fatalf("400 body %q: %v", w.Body, err)
			}
			for _, v := range body.FieldViolations {
				if v.Field == "" || v.Source == "" || v.Description == "" {
					t.Fatalf("incomplete violation %+v", v)
				}
			}
		default:
			t.Fatalf("status %d (%s) for %v", w.Code, w.Body, r.Header)
		}
	})
}

// checkClientIP holds ClientIP's answer to the rules of its doc.
func checkClientIP(t *testing.T, r *http.Request, ip, src string) {
	t.Helper()
	if ip == "" {
		if src != "" {
			t.Fatalf("no address but source %q", src)
		}
		return
	}
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" || a.Is4In6() || a.String() != ip {
		t.Fatalf("client IP %q is not a plain address (%v)", ip, err)
	}
	peer, peerOK := hopAddr(r.RemoteAddr)
	trustedPeer := peerOK && inAny(peer, fuzzTrusted)
	hops := map[netip.Addr]bool{}
	for _, line := range r.Header.Values("X-Forwarded-For") {
		for _, hop := range strings.Split(line, ",") {
			if h, ok := hopAddr(hop); ok {
				hops[h] = true
			}
		}
	}
	switch src {
	case forwardauth.SourcePeer:
		if !peerOK || a != peer {
			t.Fatalf("client %q from the peer %q", ip, r.RemoteAddr)
		}
	case forwardauth.SourceForwardedFor:
		if !trustedPeer || !hops[a] {
			t.Fatalf("client %q from X-Forwarded-For %q of peer %q", ip, r.Header.Values("X-Forwarded-For"), r.RemoteAddr)
		}
	case forwardauth.SourceRealIP:
		if real, ok := hopAddr(r.Header.Get("X-Real-IP")); !trustedPeer || !ok || real != a ||
			strings.Trim(strings.Join(r.Header.Values("X-Forwarded-For"), ""), ", \t") != "" {
			t.Fatalf("client %q from X-Real-IP of peer %q with X-Forwarded-For %q", ip, r.RemoteAddr, r.Header.Values("X-Forwarded-For"))
		}
	default:
		t.Fatalf("client %q from unknown source %q", ip, src)
	}
	if !trustedPeer && src != forwardauth.SourcePeer {
		t.Fatalf("an untrusted peer %q set the client %q (%s)", r.RemoteAddr, ip, src)
	}
}

// hopAddr is the test's own reading of an address, with or without a
// port or brackets, unmapped; zones are refused.
func hopAddr(s string) (netip.Addr, bool) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	a, err := netip.ParseAddr(s)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(s); perr == nil {
			a, err = ap.Addr(), nil
		} else if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
			a, err = netip.ParseAddr(s[1 : len(s)-1])
		}
	}
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func inAny(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// addrText is a as the API writes it: "" when there is none.
func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func allowResponse() *decision.Decision {
	return &decision.Decision{Kind: decision.KindAllow, ID: "d-1", Risk: decision.Risk{Score: 0.2}}
}
