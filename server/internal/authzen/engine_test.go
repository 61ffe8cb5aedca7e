package authzen_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authzen"
	"github.com/pdp-dev/pdp/server/internal/authzen/authzentest"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

const engineTenant = `
tenant: acme
plan: enterprise
environments:
  production:
    mfa:
      mode: all
      max_age: 1h
    roles:
      reader:
        actions: [can_read]
`

// resourceModule reads the AuthZEN resource: only documents may be read.
const resourceModule = `package pdp.custom

deny contains {"code": "custom.documents_only", "message": "only documents", "rule": "custom.documents_only"} if {
	input.resource.type != "document"
}
`

// engineChecker decides with the real engine and library.
func engineChecker(t *testing.T) authzen.Checker {
	t.Helper()
	policy, err := tenantdata.Parse("acme.yaml", []byte(engineTenant))
	if err != nil {
		t.Fatal(err)
	}
	e := engine.New(engine.Options{})
	if _, err := e.Load(context.Background(), engine.Bundle{
		Modules: map[string]string{"policies/resource.rego": resourceModule},
		Tenants: tenantdata.Data(map[string]*pdpv1.TenantPolicy{"acme": policy}),
	}); err != nil {
		t.Fatal(err)
	}
	return engineCheck{e}
}

// engineCheck decides with the engine alone, as the decision service does
// after filling in the caller and the signals.
type engineCheck struct{ e *engine.Engine }

func (c engineCheck) Check(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	return c.e.Decide(ctx, req)
}

func TestTheEngineDecidesAuthZENRequestsWithEveryControl(t *testing.T) {
	t.Parallel()
	srv := serve(t, authzen.Options{Checker: engineChecker(t)})
	for _, tt := range []struct {
		name, body string
		decision   bool
		reason     string
		obligation string
	}{
		{"a reader with a fresh second factor reads a document", `{
		  "subject": {"type": "user", "id": "u-1", "properties": {"roles": ["reader"], "mfa_enrolled": true}},
		  "resource": {"type": "document", "id": "d-1"}, "action": {"name": "can_read"},
		  "context": {"time": "2026-12-02T10:00:00Z", "mfa_verified_at": "2026-12-02T09:50:00Z"}}`, true, "", ""},
		{"the author's rule reads input.resource", `{
		  "subject": {"type": "user", "id": "u-1", "properties": {"roles": ["reader"], "mfa_enrolled": true}},
		  "resource": {"type": "account", "id": "a-1"}, "action": {"name": "can_read"},
		  "context": {"time": "2026-12-02T10:00:00Z", "mfa_verified_at": "2026-12-02T09:50:00Z"}}`, false, "custom.documents_only", ""},
		{"no role grants the action", `{
		  "subject": {"type": "user", "id": "u-1", "properties": {"roles": ["reader"], "mfa_enrolled": true}},
		  "resource": {"type": "document", "id": "d-1"}, "action": {"name": "can_write"},
		  "context": {"time": "2026-12-02T10:00:00Z", "mfa_verified_at": "2026-12-02T09:50:00Z"}}`, false, "authz.role_forbidden", ""},
		{"an old second factor is a step-up", `{
		  "subject": {"type": "user", "id": "u-1", "properties": {"roles": ["reader"], "mfa_enrolled": true}},
		  "resource": {"type": "document", "id": "d-1"}, "action": {"name": "can_read"},
		  "context": {"time": "2026-12-02T10:00:00Z", "mfa_verified_at": "2026-12-02T07:00:00Z"}}`, false, "authn.mfa_required", "step-up"},
		{"an unknown tenant environment denies", `{
		  "subject": {"type": "user", "id": "u-1"}, "resource": {"type": "document", "id": "d-1"}, "action": {"name": "can_read"},
		  "context": {"environment": "staging"}}`, false, "tenant.environment_unknown", ""},
	} {
		a := post(t, srv, "/tenants/acme/access/v1/evaluation", tt.body).want(t, http.StatusOK)
		authzentest.Valid(t, a.body, authzentest.EvaluationResponse, authzentest.Obligations)
		var d struct {
			Decision bool
			Context  struct {
				ID          string
				Reasons     []struct{ Code string }
				Obligations []struct{ Type string }
			}
		}
		if err := json.Unmarshal(a.body, &d); err != nil {
			t.Fatal(err)
		}
		if d.Decision != tt.decision || d.Context.ID == "" {
			t.Errorf("%s: answered %s", tt.name, a.body)
		}
		if tt.reason != "" && (len(d.Context.Reasons) == 0 || d.Context.Reasons[0].Code != tt.reason) {
			t.Errorf("%s: reasons %+v, want %s first", tt.name, d.Context.Reasons, tt.reason)
		}
		if tt.obligation != "" && (len(d.Context.Obligations) == 0 || d.Context.Obligations[0].Type != tt.obligation) {
			t.Errorf("%s: obligations %+v, want %s", tt.name, d.Context.Obligations, tt.obligation)
		}
	}
}
