package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

func TestLoadRefusesContributionsOfTheWrongShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tenants := demoTenants(t)
	e := New(Options{Library: coreLibrary(t, nil)})
	good := "package pdp.custom\n\ndeny contains {\"code\": \"custom.blocked\", \"message\": \"blocked\", \"rule\": \"custom.blocked\"} if {\n\tinput.action.name == \"api.blocked\"\n}\n"
	rev, err := e.Load(ctx, Bundle{Modules: map[string]string{"policies/custom.rego": good}, Tenants: tenants})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct{ name, src, want string }{
		{"a string denied", `package pdp

deny contains "notanobject" if input.action.name == "api.blocked"
`, `policies/bad.rego:3: data.pdp.deny contains a value of the wrong shape: the element is a string, not an object`},
		{"a reason without a message", `package pdp.custom

notices contains {"code": "c", "rule": "r"} if true
`, `policies/bad.rego:3: data.pdp.custom.notices contains a value of the wrong shape: the element has no "message"`},
		{"a number where a string goes, through a variable", `package pdp

deny contains x if {
	x := {"code": 7, "message": "m", "rule": "r"}
}
`, `policies/bad.rego:3: data.pdp.deny contains a value of the wrong shape: the element.code is a number, not a string`},
		{"an unknown key", `package pdp.custom

risk_factors contains {"name": "n", "weight": 0.2, "detail": "d", "why": "w"} if true
`, `the element has the key why; it may have only detail, name, weight`},
		{"a weight that is a string", `package pdp.custom

risk_factors contains {"name": "n", "weight": "0.2", "detail": "d"} if true
`, `the element.weight is a string, not a number`},
		{"step-ups that are a set", `package pdp.custom

challenge contains {"code": "c", "message": "m", "rule": "r", "step_ups": {{"kind": "mfa", "reason_code": "c"}}} if true
`, `the element.step_ups is a set, not an array`},
		{"a step-up kind that is a number", `package pdp.custom

challenge contains {"code": "c", "message": "m", "rule": "r", "step_ups": [{"kind": 1, "reason_code": "c"}]} if true
`, `the element.step_ups[0].kind is a number, not a string`},
		{"obligation params that are not strings", `package pdp.custom

obligations contains {"kind": "audit", "params": {"n": 1}} if true
`, `the element.params.n is a number, not a string`},
	} {
		_, err := e.Load(ctx, Bundle{Modules: map[string]string{"policies/bad.rego": tt.src}, Tenants: tenants})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Load = %v, want an error containing %q", tt.name, err, tt.want)
		}
		if e.Revision() != rev {
			t.Fatalf("%s: the refused set replaced the last good one", tt.name)
		}
	}

	// The last good set still decides.
	req := demoRequest()
	req.Action.Name = "api.blocked"
	if d, err := e.Decide(ctx, req); err != nil || d.Kind != decision.KindDeny {
		t.Fatalf("after the refusals: %+v, %v", d, err)
	}
}

func TestLoadAcceptsContributionsOfTheRightOrUnknownShape(t *testing.T) {
	t.Parallel()
	src := `package pdp.custom

deny contains {"code": "c", "message": sprintf("%s", [input.action.name]), "rule": "r"} if input.action.name == "x"

deny contains x if {
	some x in input.attributes.denials
}

challenge contains {"code": "c", "message": "m", "rule": "r", "step_ups": [{"kind": "mfa", "reason_code": "c", "max_age_ns": 1}]} if input.action.name == "y"

obligations contains {"kind": "audit", "params": {"who": input.subject.id}} if input.action.name == "z"

obligations contains {"kind": "audit"} if input.action.name == "w"

risk_factors contains {"name": "n", "weight": 0.5, "detail": "d"} if input.action.name == "v"

checks contains {"rule": "r", "code": "c", "effect": "deny", "message": "m"} if input.explain
`
	if _, err := New(Options{Library: coreLibrary(t, nil)}).Load(context.Background(), Bundle{
		Modules: map[string]string{"policies/ok.rego": src}, Tenants: demoTenants(t),
	}); err != nil {
		t.Fatal(err)
	}
}

func TestLoadProbesContributionsWhoseTypeIsKnownOnlyAtEvaluation(t *testing.T) {
	t.Parallel()
	// data.tenants has no type at compile time; the plan is a string.
	src := "package pdp.custom\n\ndeny contains x if {\n\tx := data.tenants[input.tenant].plan\n}\n"
	_, err := New(Options{Library: coreLibrary(t, nil)}).Load(context.Background(), Bundle{
		Modules: map[string]string{"policies/plan.rego": src}, Tenants: demoTenants(t),
	})
	if err == nil || !strings.Contains(err.Error(), "cannot decide a probe Check for tenant acme, environment production") {
		t.Fatalf("Load = %v, want the probe's refusal", err)
	}
}

func TestLoadRefusesAGrantOfTheWrongShape(t *testing.T) {
	t.Parallel()
	e := New(Options{Library: coreLibrary(t, nil)})
	_, err := e.Load(context.Background(), Bundle{Tenants: demoTenants(t), Modules: map[string]string{"policies/app.rego": `package pdp.custom

grant contains "the owner" if input.resource.properties.owner == input.subject.id
`}})
	if want := `policies/app.rego:3: data.pdp.custom.grant contains a value of the wrong shape: the element is a string, not an object`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v, want an error containing %q", err, want)
	}
}
