package pdptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/pdptest"
)

func TestGatewayDoorsNeedAPEPKey(t *testing.T) {
	t.Parallel()
	pep := pdptest.NewKey(t, "edge-gateway", authn.RolePEP)
	tenantAdmin := pdptest.NewKey(t, "sec-admin", authn.RoleTenantAdmin, "sec")
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, pep, tenantAdmin), pdptest.WithTenant("sec.yaml", secTenant))

	req := &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		ContextExtensions: map[string]string{"tenant": "sec", "environment": "development", "action": "api.read"},
	}}
	for key, want := range map[string]codes.Code{pep.Key: codes.OK, tenantAdmin.Key: codes.PermissionDenied, "": codes.Unauthenticated} {
		_, err := authv3.NewAuthorizationClient(s.DialAs(t, key)).Check(secCtx(t), req)
		if status.Code(err) != want {
			t.Errorf("ext_authz with key %.8s: %v, want %s", key, err, want)
		}
	}

	// forward-auth: the user's token stays in Authorization, the key
	// travels in X-PDP-Api-Key.
	for key, want := range map[string]string{pep.Key: "", tenantAdmin.Key: "PERMISSION_DENIED", "": "UNAUTHENTICATED"} {
		r, _ := http.NewRequest(http.MethodGet, s.HTTPURL+"/v1/forward-auth", nil)
		r.Header.Set("Authorization", "Bearer user-token")
		r.Header.Set("X-Forwarded-Uri", "/reports")
		r.Header.Set("X-Pdp-Tenant", "sec")
		r.Header.Set("X-Pdp-Environment", "development")
		if key != "" {
			r.Header.Set(authn.APIKeyHeader, key)
		}
		resp, err := s.HTTPAs("").Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct{ Code string }
		_ = json.Unmarshal(body, &got)
		if got.Code != want && !(want == "" && got.Code != "UNAUTHENTICATED" && got.Code != "PERMISSION_DENIED") {
			t.Errorf("forward-auth with key %.8s: %d %s, want code %q", key, resp.StatusCode, body, want)
		}
	}
}

// otherTenant is a second tenant beside sec, for keys scoped to one.
const otherTenant = `
tenant: other
plan: free
environments:
  development:
    roles:
      member:
        actions: [login, api.read]
`

// TestScopedPEPKeyServesOnlyItsTenants sends the same check and report
// for tenant sec and tenant other through every door, with a pep key
// scoped to sec and with an unscoped one: the scoped key is refused for
// other everywhere, with PERMISSION_DENIED; the unscoped key serves both.
func TestScopedPEPKeyServesOnlyItsTenants(t *testing.T) {
	t.Parallel()
	scoped := pdptest.NewKey(t, "sec-gateway", authn.RolePEP, "sec")
	unscoped := pdptest.NewKey(t, "edge-gateway", authn.RolePEP)
	s := pdptest.Start(t, pdptest.WithAPIKeys(t, scoped, unscoped),
		pdptest.WithTenant("sec.yaml", secTenant), pdptest.WithTenant("other.yaml", otherTenant))

	type door struct {
		name string
		call func(key, tenant string) codes.Code
	}
	grpcCode := func(err error) codes.Code { return status.Code(err) }
	httpCode := func(key, path, body string) codes.Code {
		r, _ := http.NewRequest(http.MethodPost, s.HTTPURL+path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		resp, err := s.HTTPAs(key).Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return httpStatusCode(t, resp)
	}
	doors := []door{
		{"gRPC Check", func(key, tenant string) codes.Code {
			c := secCheck()
			c.Tenant = tenant
			_, err := pdpv1.NewDecisionServiceClient(s.DialAs(t, key)).Check(secCtx(t), c)
			return grpcCode(err)
		}},
		{"gRPC BatchCheck item", func(key, tenant string) codes.Code {
			c := secCheck()
			c.Tenant = tenant
			resp, err := pdpv1.NewDecisionServiceClient(s.DialAs(t, key)).BatchCheck(secCtx(t), &pdpv1.BatchCheckRequest{Checks: []*pdpv1.CheckRequest{c}})
			if err != nil {
				return grpcCode(err)
			}
			return codes.Code(resp.GetResults()[0].GetError().GetCode())
		}},
		{"gRPC Report", func(key, tenant string) codes.Code {
			_, err := pdpv1.NewDecisionServiceClient(s.DialAs(t, key)).Report(secCtx(t), &pdpv1.ReportRequest{
				Tenant: tenant, Environment: "development", Event: pdpv1.Event_EVENT_LOGIN_FAILED, Subject: &pdpv1.Subject{Id: "u1"}})
			return grpcCode(err)
		}},
		{"HTTP /v1/check", func(key, tenant string) codes.Code {
			return httpCode(key, "/v1/check", strings.Replace(secCheckJSON, `"tenant":"sec"`, `"tenant":"`+tenant+`"`, 1))
		}},
		{"HTTP /v1/report", func(key, tenant string) codes.Code {
			return httpCode(key, "/v1/report", `{"tenant":"`+tenant+`","environment":"development","event":"EVENT_LOGIN_FAILED","subject":{"id":"u1"}}`)
		}},
		{"ext_authz", func(key, tenant string) codes.Code {
			resp, err := authv3.NewAuthorizationClient(s.DialAs(t, key)).Check(secCtx(t), &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
				Request:           &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/reports"}},
				ContextExtensions: map[string]string{"tenant": tenant, "environment": "development", "action": "api.read"},
			}})
			if err == nil && resp.GetDynamicMetadata().GetFields()["decision_id"].GetStringValue() == "" {
				t.Errorf("ext_authz for tenant %s answered without a decision: %v", tenant, resp)
			}
			return grpcCode(err)
		}},
		{"forward-auth", func(key, tenant string) codes.Code {
			r, _ := http.NewRequest(http.MethodGet, s.HTTPURL+"/v1/forward-auth", nil)
			r.Header.Set("X-Forwarded-Uri", "/reports")
			r.Header.Set("X-Pdp-Tenant", tenant)
			r.Header.Set("X-Pdp-Environment", "development")
			r.Header.Set(authn.APIKeyHeader, key)
			resp, err := s.HTTPAs("").Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			return httpStatusCode(t, resp)
		}},
	}
	for _, d := range doors {
		for _, tc := range []struct {
			key    pdptest.Key
			tenant string
			want   codes.Code
		}{
			{scoped, "sec", codes.OK},
			{scoped, "other", codes.PermissionDenied},
			{unscoped, "sec", codes.OK},
			{unscoped, "other", codes.OK},
		} {
			if got := d.call(tc.key.Key, tc.tenant); got != tc.want {
				t.Errorf("%s with %s for tenant %s: %v, want %v", d.name, tc.key.Name, tc.tenant, got, tc.want)
			}
		}
	}
}

// httpStatusCode is the code of an HTTP answer: OK for a decision (a
// forward-auth deny is a 403 with a decision), else the code of its JSON
// error body.
func httpStatusCode(t *testing.T, resp *http.Response) codes.Code {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	var got struct{ Code, Decision, EventID string }
	_ = json.Unmarshal(body, &got)
	if got.Decision != "" || got.EventID != "" {
		return codes.OK
	}
	for c := codes.OK; c <= codes.Unauthenticated; c++ {
		if strings.EqualFold(strings.ReplaceAll(c.String(), "_", ""), strings.ReplaceAll(got.Code, "_", "")) {
			return c
		}
	}
	t.Errorf("HTTP %d %s: no gRPC code in the body", resp.StatusCode, body)
	return codes.Unknown
}

// A server without keys listens on loopback only; a page whose name an
// attacker resolves to 127.0.0.1 (DNS rebinding) would be same-origin to
// the browser, so only requests addressed to a loopback host are answered
// (forward-auth, whose proxy passes the public Host, and health excepted).
func TestWithoutKeysARequestToAnotherHostIsRefused(t *testing.T) {
	t.Parallel()
	s := pdptest.Start(t)
	post := func(path, host, body string) int {
		req, err := http.NewRequest(http.MethodPost, s.HTTPURL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Host = host
		resp, err := s.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	report := `{"tenant":"acme","event":"EVENT_LOGIN_FAILED","subject":{"id":"u-42"},"network":{"ip":"203.0.113.7"}}`
	if got := post("/v1/report", "rebound.example:8181", report); got != http.StatusForbidden {
		t.Errorf("a Report addressed to rebound.example: %d, want 403", got)
	}
	if got := post("/v1/report", "localhost", report); got != http.StatusOK {
		t.Errorf("a Report addressed to localhost: %d, want 200", got)
	}
}
