package pdptest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
