package forwardauth_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// BenchmarkForwardAuth measures the forward-auth door alone: an nginx or
// Traefik subrequest with identity headers to pdp's CheckRequest, and the
// answer with its headers; the decision is a canned allow.
func BenchmarkForwardAuth(b *testing.B) {
	allow := &decision.Decision{Kind: decision.KindAllow, ID: "d-1", Risk: decision.Risk{Score: 0.2}}
	h := newHandler(b, &fakeChecker{resp: allow}, nil)
	req := httptest.NewRequest(http.MethodGet, "/v1/forward-auth", nil)
	for k, v := range map[string]string{
		"X-Forwarded-Method": "PUT", "X-Forwarded-Uri": "/api/items/9?x=1", "X-Forwarded-Host": "shop.example",
		"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7", "X-PDP-Tenant": "shop",
		"X-PDP-User-Id": "u-1", "X-PDP-User-Email": "ada@shop.example", "X-PDP-Roles": "buyer,admin",
		"X-PDP-Auth-Provider": "google", "X-PDP-Device-Id": "d-9", "X-PDP-Session-Id": "s-4",
	} {
		req.Header.Set(k, v)
	}
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}
