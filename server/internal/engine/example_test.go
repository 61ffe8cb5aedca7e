package engine_test

import (
	"context"
	"fmt"
	"log"
	"net/netip"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// exampleTenant is a tenant policy as an operator writes it in
// --tenants-dir.
const exampleTenant = `
tenant: acme
plan: enterprise
environments:
  production:
    mfa:
      mode: all
      max_age: 1h
    ip_denylist: [203.0.113.66/32]
    roles:
      engineer:
        actions: [login, "api.*", "export.*"]
`

// exampleModule is an author's module as loaded from --policy-dir: it adds
// a deny to the same decision as the library's rules.
const exampleModule = `package pdp.custom

deny contains {
	"code": "custom.export_requires_managed_device",
	"message": "exports need a managed device",
	"rule": "custom.export_requires_managed_device",
} if {
	startswith(input.action.name, "export.")
	not input.device.managed
}
`

func ExampleEngine_Decide() {
	policy, err := tenantdata.Parse("acme.yaml", []byte(exampleTenant))
	if err != nil {
		log.Fatal(err)
	}
	if err := tenantdata.Validate(policy); err != nil {
		log.Fatal(err)
	}

	// The zero Options use the library embedded in the binary (rego/).
	e := engine.New(engine.Options{})
	if _, err := e.Load(context.Background(), engine.Bundle{
		Modules: map[string]string{"policies/export.rego": exampleModule},
		Tenants: tenantdata.Data(map[string]*pdpv1.TenantPolicy{"acme": policy}),
	}); err != nil {
		log.Fatal(err) // names file:line of every problem; the last good set keeps serving
	}

	// A pinned time keeps the decision reproducible; without one the engine
	// uses Options.Now.
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	request := func(action string, mfaAt time.Time, managed bool) *decision.Request {
		return &decision.Request{
			Tenant:         "acme",
			Environment:    "production",
			Subject:        decision.Subject{ID: "u-1", Roles: []string{"engineer"}, MFAEnrolled: true, Tenant: "acme"},
			Authentication: decision.Authentication{Provider: "google", AuthenticatedAt: mfaAt, MFAVerifiedAt: mfaAt},
			Network:        decision.Network{IP: netip.MustParseAddr("198.51.100.7")},
			Device:         decision.Device{ID: "laptop-7", Managed: managed, Compliant: managed},
			Action:         decision.Action{Name: action},
			Session:        decision.Session{StartedAt: mfaAt, LastActivityAt: now.Add(-time.Minute)},
			Time:           now,
		}
	}

	for _, req := range []*decision.Request{
		request("api.read", now.Add(-20*time.Minute), true),     // MFA 20m ago: allowed
		request("api.read", now.Add(-3*time.Hour), true),        // MFA older than max_age: a challenge
		request("export.reports", now.Add(-time.Minute), false), // the author's rule denies
	} {
		d, err := e.Decide(context.Background(), req)
		if err != nil {
			// The engine could not decide: refuse, never allow.
			log.Fatal(err)
		}
		fmt.Println(req.Action.Name, d.Kind)
		for _, r := range d.Reasons {
			fmt.Printf("  reason %s: %s\n", r.Code, r.Message)
		}
		for _, s := range d.StepUps {
			fmt.Printf("  step-up %s max_age=%s (for %s)\n", s.Kind, s.MaxAge, s.ReasonCode)
		}
		if d.Kind == decision.KindAllow {
			fmt.Println("  session expires", d.Session.ExpiresAt.Format(time.RFC3339), "risk", d.Risk.Level)
		}
	}
	// Output:
	// api.read allow
	//   session expires 2026-12-02T13:59:00Z risk low
	// api.read challenge
	//   reason authn.mfa_required: MFA required for all users: MFA last verified 3h ago, more than the max age of 1h
	//   step-up mfa max_age=1h0m0s (for authn.mfa_required)
	// export.reports deny
	//   reason custom.export_requires_managed_device: exports need a managed device
}
