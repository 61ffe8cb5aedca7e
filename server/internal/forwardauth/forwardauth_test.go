package forwardauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/forwardauth"
	"github.com/pdp-dev/pdp/server/internal/gateway"
)

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, p := range s {
		out[i] = netip.MustParsePrefix(p)
	}
	return out
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	lb := prefixes("10.0.0.0/8", "fd00::/8")
	tests := []struct {
		name, peer string
		trusted    []netip.Prefix
		xff        []string
		realIP     string
		want, src  string
	}{
		{"no trusted proxies: the peer, whatever the headers", "198.51.100.7:4000", nil, []string{"203.0.113.1"}, "203.0.113.2", "198.51.100.7", forwardauth.SourcePeer},
		{"untrusted peer: headers ignored", "198.51.100.7:4000", lb, []string{"203.0.113.1"}, "", "198.51.100.7", forwardauth.SourcePeer},
		{"one trusted proxy", "10.0.0.5:4000", lb, []string{"203.0.113.1"}, "", "203.0.113.1", forwardauth.SourceForwardedFor},
		{"spoofed hops left of the real client are never reached", "10.0.0.5:4000", lb,
			[]string{"1.2.3.4, 10.9.9.9", "203.0.113.1, 10.0.0.7"}, "", "203.0.113.1", forwardauth.SourceForwardedFor},
		{"a client claiming to be a trusted proxy is still the client", "10.0.0.5:4000", lb,
			[]string{"10.1.1.1, 198.51.100.99"}, "", "198.51.100.99", forwardauth.SourceForwardedFor},
		{"all hops trusted: the leftmost", "10.0.0.5:4000", lb, []string{"10.0.0.1, 10.0.0.2"}, "", "10.0.0.1", forwardauth.SourceForwardedFor},
		{"garbage stops at the proxy that wrote it", "10.0.0.5:4000", lb, []string{"evil, 10.0.0.2"}, "", "10.0.0.2", forwardauth.SourceForwardedFor},
		{"garbage from the last hop leaves the peer", "10.0.0.5:4000", lb, []string{"203.0.113.1, <script>"}, "", "10.0.0.5", forwardauth.SourcePeer},
		{"IPv6 peer and hops with ports and brackets", "[fd00::1]:4000", lb,
			[]string{"[2001:db8::7]:51234, [fd00::2]:443"}, "", "2001:db8::7", forwardauth.SourceForwardedFor},
		{"IPv4-mapped hop is unmapped", "[fd00::1]:4000", lb, []string{"::ffff:203.0.113.9"}, "", "203.0.113.9", forwardauth.SourceForwardedFor},
		{"zoned hop is refused", "[fd00::1]:4000", lb, []string{"fe80::1%eth0"}, "", "fd00::1", forwardauth.SourcePeer},
		{"X-Real-IP from a trusted peer", "10.0.0.5:4000", lb, nil, "2001:db8::9", "2001:db8::9", forwardauth.SourceRealIP},
		{"X-Real-IP from an untrusted peer", "198.51.100.7:4000", lb, nil, "2001:db8::9", "198.51.100.7", forwardauth.SourcePeer},
		{"X-Forwarded-For wins over X-Real-IP", "10.0.0.5:4000", lb, []string{"203.0.113.1"}, "203.0.113.2", "203.0.113.1", forwardauth.SourceForwardedFor},
		{"unparsable peer", "@unix", lb, nil, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, v := range tc.xff {
				h.Add("X-Forwarded-For", v)
			}
			if tc.realIP != "" {
				h.Set("X-Real-IP", tc.realIP)
			}
			ip, src := forwardauth.ClientIP(tc.peer, h, tc.trusted)
			if ip != tc.want || src != tc.src {
				t.Fatalf("ClientIP = %q (%s), want %q (%s)", ip, src, tc.want, tc.src)
			}
		})
	}
}

// fakeChecker answers the request the gateway validated with resp or
// err, keeping the request.
type fakeChecker struct {
	got  *decision.Request
	resp *decision.Decision
	err  error
}

func (f *fakeChecker) Check(_ context.Context, in *decision.Request) (*decision.Decision, error) {
	f.got = in
	return f.resp, f.err
}

func newHandler(t testing.TB, c gateway.Checker, edit func(*config.Gateway)) *forwardauth.Handler {
	t.Helper()
	cfg := config.DefaultGateway()
	if edit != nil {
		edit(&cfg)
	}
	gw, err := gateway.New(context.Background(), cfg, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return forwardauth.New(forwardauth.Options{Gateway: gw, Checker: c, TrustedProxies: cfg.TrustedProxies})
}

func TestHandler(t *testing.T) {
	t.Parallel()
	allow := &decision.Decision{Kind: decision.KindAllow, ID: "d-1", Risk: decision.Risk{Score: 0.2}}
	deny := &decision.Decision{Kind: decision.KindDeny, ID: "d-2", Risk: decision.Risk{Score: 0.95},
		Reasons: []decision.Reason{{Code: "risk.deny", Message: "risk 0.95"}, {Code: "network.ip_denied"}}}
	tests := []struct {
		name       string
		checker    *fakeChecker
		headers    map[string]string
		wantStatus int
		wantHeader map[string]string
		wantBody   string
		wantCheck  func(t *testing.T, r *decision.Request)
	}{{
		name:    "Traefik headers",
		checker: &fakeChecker{resp: allow},
		headers: map[string]string{"X-Forwarded-Method": "PUT", "X-Forwarded-Uri": "/api/items/9?x=1", "X-Forwarded-Host": "shop.example",
			"X-Forwarded-Proto": "https", "X-PDP-Tenant": "shop", "X-PDP-User-Id": "u-1", "X-PDP-Roles": "a,b"},
		wantStatus: 200,
		wantHeader: map[string]string{"X-Pdp-Decision-Id": "d-1", "X-Pdp-Risk-Score": "0.2", "Cache-Control": "no-store"},
		wantCheck: func(t *testing.T, r *decision.Request) {
			if r.Action.Name != "http.put" || r.Action.Resource != "/api/items/9" || r.Network.IP.String() != "192.0.2.1" ||
				r.Subject.ID != "u-1" || len(r.Subject.Roles) != 2 {
				t.Errorf("request %v", r)
			}
			if h := r.Attributes["http"].(map[string]any); h["host"] != "shop.example" || h["scheme"] != "https" || h["query"] != "x=1" {
				t.Errorf("attributes %v", h)
			}
		},
	}, {
		name:       "nginx headers win, and a deny is 403 with reason codes",
		checker:    &fakeChecker{resp: deny},
		headers:    map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/a", "X-Forwarded-Method": "POST", "X-Forwarded-Uri": "/b", "X-PDP-Tenant": "shop"},
		wantStatus: 403,
		wantHeader: map[string]string{"X-Pdp-Decision-Id": "d-2", "X-Pdp-Risk-Score": "0.95", "Content-Type": "application/json"},
		wantBody:   `{"decision":"deny","decision_id":"d-2","reasons":["risk.deny","network.ip_denied"]}` + "\n",
		wantCheck: func(t *testing.T, r *decision.Request) {
			if r.Action.Name != "http.get" || r.Action.Resource != "/a" {
				t.Errorf("request %v", r)
			}
		},
	}, {
		name:       "no URI is 400 naming the headers",
		checker:    &fakeChecker{resp: allow},
		headers:    map[string]string{"X-PDP-Tenant": "shop"},
		wantStatus: 400,
		wantBody: `{"code":"INVALID_ARGUMENT","message":"invalid request from the gateway","field_violations":[` +
			`{"field":"action.resource","source":"header X-Original-URI or X-Forwarded-Uri","description":"required: the original request URI"}]}` + "\n",
	}, {
		name:       "no policy loaded is 503",
		checker:    &fakeChecker{err: fault.New(fault.Unavailable, "no policy loaded")},
		headers:    map[string]string{"X-Original-URI": "/", "X-PDP-Tenant": "shop"},
		wantStatus: 503,
		wantBody:   `{"code":"UNAVAILABLE","message":"no policy loaded"}` + "\n",
	}, {
		name:       "an internal error is 500 without detail",
		checker:    &fakeChecker{err: errors.New("store exploded at 10.1.2.3")},
		headers:    map[string]string{"X-Original-URI": "/", "X-PDP-Tenant": "shop"},
		wantStatus: 500,
		wantBody:   `{"code":"INTERNAL","message":"internal error"}` + "\n",
	}, {
		name:       "a cancelled call is 499",
		checker:    &fakeChecker{err: context.Canceled},
		headers:    map[string]string{"X-Original-URI": "/", "X-PDP-Tenant": "shop"},
		wantStatus: 499,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, forwardauth.Path, nil)
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			newHandler(t, tc.checker, nil).ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			for k, v := range tc.wantHeader {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tc.wantBody != "" {
				if diff := cmp.Diff(tc.wantBody, rec.Body.String()); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
			if tc.wantCheck != nil {
				tc.wantCheck(t, tc.checker.got)
			}
		})
	}
}

// TestJWTThroughTheHandler: identity from a verified token, a rotated key
// picked up from the rewritten JWKS file, and invalid tokens answered 401.
func TestJWTThroughTheHandler(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	old, rotated := newIssuer(t, "2026-02"), newIssuer(t, "2026-03")
	path := writeJWKS(t, dir, old)
	checker := &fakeChecker{resp: &decision.Decision{Kind: decision.KindAllow, ID: "d"}}
	h := newHandler(t, checker, func(c *config.Gateway) {
		c.JWKSFile = path
		c.JWTAudience = []string{"shop-api"}
		c.JWKSMinRefresh = 0
		c.IdentityHeaders = false
	})
	call := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, forwardauth.Path, nil)
		req.Header.Set("X-Original-URI", "/api")
		req.Header.Set("X-PDP-Tenant", "shop")
		req.Header.Set("X-PDP-User-Id", "spoofed")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	if rec := call(old.token(t, customer())); rec.Code != 200 || checker.got.Subject.ID != "u-1001" || !checker.got.Subject.MFAEnrolled {
		t.Fatalf("status %d, subject %v", rec.Code, checker.got.Subject)
	}
	rec := call(rotated.token(t, customer()))
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="no key for the token's kid"` {
		t.Fatalf("unpublished key: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["code"] != "UNAUTHENTICATED" {
		t.Fatalf("body %s", rec.Body)
	}
	writeJWKS(t, dir, old, rotated)
	if rec := call(rotated.token(t, customer())); rec.Code != 200 {
		t.Fatalf("after rotation: %d %s", rec.Code, rec.Body)
	}
	wrongAud := customer()
	wrongAud["aud"] = "billing"
	if rec := call(rotated.token(t, wrongAud)); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="wrong audience"` {
		t.Fatalf("wrong audience: %d %q", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}
