package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/gateway"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

// recorder is a Checker that keeps the request and answers with resp.
type recorder struct {
	got  *decision.Request
	resp *decision.Decision
}

func (r *recorder) Check(_ context.Context, in *decision.Request) (*decision.Decision, error) {
	r.got = in
	if r.resp != nil {
		return r.resp, nil
	}
	return &decision.Decision{Kind: decision.KindAllow, ID: "d-1", Risk: decision.Risk{Score: 0.2}}, nil
}

func newGateway(t testing.TB, edit func(*config.Gateway)) *gateway.Gateway {
	t.Helper()
	cfg := config.DefaultGateway()
	if edit != nil {
		edit(&cfg)
	}
	g, err := gateway.New(context.Background(), cfg, gateway.Options{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func headers(kv ...string) func(string) string {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return func(name string) string { return h.Get(name) }
}

func ts(s string) *timestamppb.Timestamp {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return timestamppb.New(t)
}

func httpAttrs(kv map[string]any) *structpb.Struct {
	st, err := structpb.NewStruct(map[string]any{"http": kv})
	if err != nil {
		panic(err)
	}
	return st
}

func TestMapping(t *testing.T) {
	t.Parallel()
	allHeaders := headers(
		"x-pdp-tenant", "shop", "x-pdp-environment", "staging",
		"x-pdp-user-id", "u-1", "x-pdp-user-email", "Ana@Shop.example", "x-pdp-roles", " customer,, viewer ",
		"x-pdp-auth-provider", "saml:okta", "x-pdp-mfa-enrolled", "true",
		"x-pdp-mfa-verified-at", "2026-03-10T09:00:00Z", "x-pdp-authenticated-at", "1773133800.5",
		"x-pdp-device-id", "dev-1", "x-pdp-session-id", "s-1", "x-pdp-session-last-activity", "2026-03-10T09:14:00+01:00",
	)
	tests := []struct {
		name string
		cfg  func(*config.Gateway)
		in   gateway.Input
		want *pdpv1.CheckRequest
	}{{
		name: "every identity header",
		in:   gateway.Input{Method: "get", URI: "/a/./b/../c%20d/?x=1&y=2", ClientIP: "2001:db8::1", Header: allHeaders},
		want: &pdpv1.CheckRequest{
			Tenant: "shop", Environment: "staging",
			Subject:        &pdpv1.Subject{Id: "u-1", Email: "Ana@Shop.example", Roles: []string{"customer", "viewer"}, MfaEnrolled: true},
			Authentication: &pdpv1.Authentication{Provider: "saml:okta", MfaVerifiedAt: ts("2026-03-10T09:00:00Z"), AuthenticatedAt: timestamppb.New(time.Unix(1773133800, 5e8))},
			Network:        &pdpv1.Network{Ip: "2001:db8::1"},
			Device:         &pdpv1.Device{Id: "dev-1"},
			Action:         &pdpv1.Action{Name: "http.get", Resource: "/a/c d/"},
			Session:        &pdpv1.Session{Id: "s-1", LastActivityAt: ts("2026-03-10T08:14:00Z")},
			Attributes:     httpAttrs(map[string]any{"method": "get", "path": "/a/c d/", "query": "x=1&y=2"}),
		},
	}, {
		name: "claims win over headers, headers fill the rest; amr proves MFA at auth_time",
		in: gateway.Input{
			Method: "POST", URI: "https://shop.example/api/orders", Host: "shop.example", Scheme: "https",
			Header: allHeaders,
			Claims: map[string]any{"sub": "u-9", "email": "olga@shop.example", "roles": "admin auditor",
				"amr": []any{"pwd", "hwk"}, "auth_time": float64(1773133200), "idp": "oidc:corp", "tenant": "shop", "acr": "gold"},
			Routing: map[string]string{"action": "orders.write", "environment": "production"}, RoutingSource: "context_extensions",
		},
		want: &pdpv1.CheckRequest{
			Tenant: "shop", Environment: "production",
			Subject: &pdpv1.Subject{Id: "u-9", Email: "olga@shop.example", Roles: []string{"admin", "auditor"}, MfaEnrolled: true, Tenant: "shop"},
			Authentication: &pdpv1.Authentication{Provider: "oidc:corp", Methods: []string{"pwd", "hwk"}, Acr: "gold",
				AuthenticatedAt: timestamppb.New(time.Unix(1773133200, 0)), MfaVerifiedAt: timestamppb.New(time.Unix(1773133200, 0))},
			Network:    &pdpv1.Network{},
			Device:     &pdpv1.Device{Id: "dev-1"},
			Action:     &pdpv1.Action{Name: "orders.write", Resource: "/api/orders"},
			Session:    &pdpv1.Session{Id: "s-1", LastActivityAt: ts("2026-03-10T08:14:00Z")},
			Attributes: httpAttrs(map[string]any{"method": "POST", "host": "shop.example", "scheme": "https", "path": "/api/orders"}),
		},
	}, {
		name: "identity headers off; renamed headers and a nested roles claim",
		cfg: func(c *config.Gateway) {
			c.IdentityHeaders = false
			c.IdentityHeaderPrefix = "x-auth-"
			c.IdentityHeader = map[string]string{"tenant": "X-Workspace"}
			c.JWTClaim = map[string]string{"roles": "realm_access.roles", "sub": "preferred_username"}
		},
		in: gateway.Input{
			Method: "DELETE", URI: "/items/7",
			Header: headers("x-workspace", "shop", "x-auth-environment", "development", "x-auth-user-id", "spoofed", "x-pdp-tenant", "other"),
			Claims: map[string]any{"preferred_username": "ana", "sub": "ignored", "realm_access": map[string]any{"roles": []any{"viewer"}}},
		},
		want: &pdpv1.CheckRequest{
			Tenant: "shop", Environment: "development",
			Subject:        &pdpv1.Subject{Id: "ana", Roles: []string{"viewer"}},
			Authentication: &pdpv1.Authentication{}, Network: &pdpv1.Network{}, Device: &pdpv1.Device{}, Session: &pdpv1.Session{},
			Action:     &pdpv1.Action{Name: "http.delete", Resource: "/items/7"},
			Attributes: httpAttrs(map[string]any{"method": "DELETE", "path": "/items/7"}),
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			a, err := newGateway(t, tc.cfg).Decide(context.Background(), rec, tc.in)
			if err != nil || a.Status != http.StatusOK {
				t.Fatalf("answer %d %s, %v", a.Status, a.Body, err)
			}
			// The request decided is the CheckRequest wanted, validated.
			want, err := pdpsvc.ToRequest(tc.want, t0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, rec.got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Fatalf("request (-want +got):\n%s", diff)
			}
		})
	}
}

type violation struct{ Field, Source, Description string }

func TestMalformedInputIsA400NamingTheSource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   gateway.Input
		want []violation
	}{{
		name: "headers",
		in: gateway.Input{Method: "GET", MethodSource: "method", URI: "/x", URISource: "uri", ClientIP: "10.0.0.300", ClientIPSource: "peer address",
			Header: headers("x-pdp-tenant", "Shop!", "x-pdp-mfa-enrolled", "maybe", "x-pdp-session-last-activity", "tomorrow", "x-pdp-roles", "a,b")},
		want: []violation{
			{"subject.mfa_enrolled", "header x-pdp-mfa-enrolled", "must be true or false"},
			{"session.last_activity_at", "header x-pdp-session-last-activity", "must be an RFC 3339 time or Unix seconds"},
			{"tenant", "header x-pdp-tenant", "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'"},
			{"network.ip", "peer address", "not an IPv4 or IPv6 address"},
		},
	}, {
		name: "claims, no tenant, no URI",
		in: gateway.Input{Method: "GET", MethodSource: "method", URISource: "header X-Original-URI",
			RoutingSource: "context_extensions",
			Claims:        map[string]any{"roles": []any{"a", 7.0}, "auth_time": "yesterday", "email": true}, ClaimsSource: "jwt_authn metadata"},
		want: []violation{
			{"action.resource", "header X-Original-URI", "required: the original request URI"},
			{"subject.email", "claim email (jwt_authn metadata)", "claim must be a string"},
			{"subject.roles", "claim roles (jwt_authn metadata)", "claim must be a string or an array of strings"},
			{"authentication.authenticated_at", "claim auth_time (jwt_authn metadata)", "claim must be a NumericDate (seconds since 1970)"},
			{"tenant", "context_extensions.tenant or header x-pdp-tenant", "required"},
		},
	}, {
		name: "routing, no method",
		in: gateway.Input{MethodSource: "method", URI: "/x", URISource: "uri",
			Routing: map[string]string{"tenant": "Shop!", "environment": "prod uction"}, RoutingSource: "context_extensions"},
		want: []violation{
			{"action.name", "method", "required: the original request method"},
			{"tenant", "context_extensions.tenant", "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'"},
			{"environment", "context_extensions.environment", "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'"},
		},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			a, err := newGateway(t, nil).Decide(context.Background(), rec, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if a.Status != http.StatusBadRequest || a.Kind != gateway.KindInvalid || rec.got != nil {
				t.Fatalf("answer %d %s (checked: %v), want 400 without a check", a.Status, a.Body, rec.got != nil)
			}
			var body struct {
				Code            string
				FieldViolations []violation `json:"field_violations"`
			}
			if err := json.Unmarshal(a.Body, &body); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, body.FieldViolations); diff != "" {
				t.Fatalf("violations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChallengeHeader(t *testing.T) {
	t.Parallel()
	steps := []decision.StepUp{
		{Kind: decision.StepUpMFA, MaxAge: 12 * time.Hour, ReasonCode: "authn.mfa_required"},
		{Kind: decision.StepUpUseProvider, AllowedProviders: []string{"google", "saml:okta"}, ReasonCode: "authn.provider_not_allowed"},
		{Kind: decision.StepUpVerifyDevice, ReasonCode: "risk.step_up"},
		{Kind: decision.StepUpMFA, MaxAge: time.Hour, ReasonCode: "risk.step_up"},
	}
	tests := []struct {
		name  string
		cfg   func(*config.Gateway)
		steps []decision.StepUp
		want  string
	}{
		{"mfa, provider and device", nil, steps,
			`Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required; sign in with google or saml:okta; device verification required", acr_values="urn:pdp:acr:mfa urn:pdp:acr:device", max_age=3600`},
		{"re-authentication is max_age=0", nil, []decision.StepUp{{Kind: decision.StepUpReauthenticate}, steps[0]},
			`Bearer error="insufficient_user_authentication", error_description="re-authentication required; multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=0`},
		{"configured acr values", func(c *config.Gateway) {
			c.StepUpACR = map[string]string{"mfa": "http://schemas.openid.net/pape/policies/2007/06/multi-factor", "verify_device": ""}
		}, steps,
			`Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required; sign in with google or saml:okta; device verification required", acr_values="http://schemas.openid.net/pape/policies/2007/06/multi-factor", max_age=3600`},
		{"enrollment has no age", nil, []decision.StepUp{{Kind: decision.StepUpEnrollMFA, Deadline: t0}},
			`Bearer error="insufficient_user_authentication", error_description="enrollment in multi-factor authentication required", acr_values="urn:pdp:acr:mfa-enroll"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{resp: &decision.Decision{Kind: decision.KindChallenge, ID: "d-7", StepUps: tc.steps,
				Reasons: []decision.Reason{{Code: "authn.mfa_required"}}, Risk: decision.Risk{Score: 0.30000000000000004}}}
			a, err := newGateway(t, tc.cfg).Decide(context.Background(), rec, gateway.Input{Method: "GET", URI: "/", Header: headers("x-pdp-tenant", "shop")})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, h := range a.Headers {
				got[h[0]] = h[1]
			}
			if a.Status != http.StatusUnauthorized || got[gateway.HeaderWWWAuthenticate] != tc.want {
				t.Fatalf("status %d, WWW-Authenticate\n got %s\nwant %s", a.Status, got[gateway.HeaderWWWAuthenticate], tc.want)
			}
			if got[gateway.HeaderDecisionID] != "d-7" || got[gateway.HeaderRiskScore] != "0.3" {
				t.Fatalf("decision headers %v", got)
			}
		})
	}
}

// The typed resource of AuthZEN (input.resource) comes from the route:
// Envoy's context extensions, else the resource headers.
func TestTheTypedResourceComesFromTheRoute(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   gateway.Input
		want *pdpv1.Resource
	}{
		{"headers", gateway.Input{Method: "GET", URI: "/docs/d-1", Header: headers("x-pdp-tenant", "shop", "x-pdp-resource-type", "document", "x-pdp-resource-id", "d-1")},
			&pdpv1.Resource{Type: "document", Id: "d-1"}},
		{"context extensions win", gateway.Input{Method: "GET", URI: "/docs/d-1", RoutingSource: "context_extensions",
			Routing: map[string]string{"tenant": "shop", "resource-type": "document", "resource-id": "d-2"},
			Header:  headers("x-pdp-resource-id", "d-1")},
			&pdpv1.Resource{Type: "document", Id: "d-2"}},
		{"none", gateway.Input{Method: "GET", URI: "/docs/d-1", Header: headers("x-pdp-tenant", "shop")}, nil},
	} {
		rec := &recorder{}
		if _, err := newGateway(t, nil).Decide(context.Background(), rec, tc.in); err != nil {
			t.Fatal(err)
		}
		// The request decided holds the wanted resource, converted as a
		// direct Check converts it.
		var want decision.Resource
		if tc.want != nil {
			want = decision.Resource{Type: tc.want.GetType(), ID: tc.want.GetId()}
		}
		if diff := cmp.Diff(want, rec.got.Resource); diff != "" {
			t.Errorf("%s: resource (-want +got):\n%s", tc.name, diff)
		}
	}
}
