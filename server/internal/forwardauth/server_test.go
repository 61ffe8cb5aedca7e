package forwardauth_test

import (
	"io"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// TestTraefikStyleThroughTheServer calls /v1/forward-auth of a real server
// the way Traefik and Caddy do: X-Forwarded-* headers and identity headers
// set by the proxy.
func TestTraefikStyleThroughTheServer(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t, pdptest.WithTenant("shop.yaml", shopTenant), pdptest.WithConfig(func(c *config.Config) {
		c.Gateway.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}))
	call := func(t *testing.T, method, uri, xff string, identity ...string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, s.HTTPURL+"/v1/forward-auth", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Forwarded-Method", method)
		req.Header.Set("X-Forwarded-Uri", uri)
		req.Header.Set("X-Forwarded-Host", "shop.example.com")
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("X-PDP-Tenant", "shop")
		for i := 0; i+1 < len(identity); i += 2 {
			req.Header.Set(identity[i], identity[i+1])
		}
		resp, err := s.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	customerHeaders := []string{"X-PDP-User-Id", "u-1001", "X-PDP-Roles", "customer", "X-PDP-Mfa-Enrolled", "true",
		"X-PDP-Mfa-Verified-At", time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)}
	adminHeaders := []string{"X-PDP-User-Id", "u-7", "X-PDP-Roles", "admin", "X-PDP-Mfa-Enrolled", "true"}
	tests := []struct {
		name, method, uri, xff string
		identity               []string
		status                 int
		wwwAuthenticate        string
	}{
		{"allow", "GET", "/api/orders?page=2", "2001:db8:1::7", customerHeaders, 200, ""},
		{"challenge", "POST", "/admin/users", "2001:db8:1::7", adminHeaders, 401, wantChallenge},
		{"deny from a denied IPv6 client", "GET", "/api/orders", "2001:db8:bad::1, 127.0.0.1", customerHeaders, 403, ""},
		{"malformed header", "GET", "/api/orders", "2001:db8:1::7", []string{"X-PDP-Mfa-Verified-At", "soon"}, 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, tc.method, tc.uri, tc.xff, tc.identity...)
			if resp.StatusCode != tc.status {
				body, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != tc.wwwAuthenticate {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.wwwAuthenticate)
			}
			if decided := tc.status != 400; decided != (resp.Header.Get("X-PDP-Decision-Id") != "") {
				t.Errorf("X-PDP-Decision-Id %q on a %d", resp.Header.Get("X-PDP-Decision-Id"), tc.status)
			}
		})
	}
}
