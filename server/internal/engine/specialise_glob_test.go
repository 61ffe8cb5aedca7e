package engine

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// escapedPatternModule denies an action matching one of the viewer
// role's patterns, read from the tenant's data, with "." delimiters: in
// the residual the pattern is a constant, which OPA's rule index reads.
const escapedPatternModule = `package pdp.custom

deny contains {"code": "files.viewer_pattern", "message": "matched", "rule": "files.viewer_pattern"} if {
	a := input.action.name
	some p in data.tenants[input.tenant].environments[input.environment].roles.viewer.actions
	glob.match(p, ["."], a)
}
`

// A tenant's action pattern with an escape ("files\\.read" matches the
// action "files.read" literally) is decided alike by the reference, the
// compiled residual and topdown on the residual, although OPA's rule
// index would drop the residual's rule (specialise_glob.go).
func TestAnEscapedActionPatternIsDecidedAsTheReferenceDecidesIt(t *testing.T) {
	tenants := demoTenants(t)
	prod := tenants["acme"].(map[string]any)["environments"].(map[string]any)["production"].(map[string]any)
	prod["roles"].(map[string]any)["viewer"] = map[string]any{"actions": []any{`files\.read`}}
	b := Bundle{Tenants: tenants, Modules: map[string]string{"policies/files.rego": escapedPatternModule}}

	ref := loaded(t, Options{Reference: true}, b)
	compiled := loaded(t, Options{}, b)
	fillAll(t, compiled)
	td := loaded(t, Options{}, b)
	fillAll(t, td)
	withoutCompiled(td)

	for _, action := range []string{"files.read", "files.write", `files\.read`} {
		req := demoRequest()
		req.Subject.Roles = []string{"viewer"}
		req.Action.Name = action
		want, err := ref.Decide(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for name, e := range map[string]*Engine{"compiled": compiled, "topdown": td} {
			req := demoRequest()
			req.Subject.Roles = []string{"viewer"}
			req.Action.Name = action
			got, err := e.Decide(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			got.ID = want.ID // each decision has its own
			if diff := sameDecision(want, got, nil, nil); diff != "" {
				t.Errorf("%s, action %q: %s", name, action, diff)
			}
		}
	}
	if n := compiled.Paths()[Specialised]; n != 3 {
		t.Errorf("compiled engine: %d specialised decisions, want 3", n)
	}
	if n := td.Evaluators()[EvaluatorTopdown]; n != 3 {
		t.Errorf("topdown engine: %d decisions on topdown, want 3", n)
	}
}

// A module that matches a literal escaped pattern itself, or splits on a
// glob metacharacter, is decided through the rule index by the reference;
// its policy set is left to the reference, with the reason.
func TestAModuleWithALiteralEscapedPatternIsLeftToTheReference(t *testing.T) {
	for _, match := range []string{"glob.match(`files\\.read`, [\".\"], input.action.name)", "glob.match(\"a*b\", [\"*\"], input.action.name)"} {
		e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t), Modules: map[string]string{
			"policies/files.rego": "package pdp.custom\n\ndeny contains {\"code\": \"files.literal\", \"message\": \"no\", \"rule\": \"files.literal\"} if " + match + "\n",
		}})
		p := e.current.Load()
		for k := range p.special.slots {
			_ = e.fill(context.Background(), p.special, k) // refused: recorded below
		}
		spec := e.Specialisations()
		if len(spec) == 0 {
			t.Fatal("no tenant environment listed")
		}
		for _, s := range spec {
			if s.State != "unspecialisable" || !strings.Contains(s.Reason, "rule index") {
				t.Errorf("%s: %s/%s: %+v, want it refused for the pattern", match, s.Tenant, s.Environment, s)
			}
		}
	}
}

// A residual query that tests a condition instead of only binding the
// sets is refused: prepared for topdown, its test would move to the end.
func TestAResidualQueryWithAConditionIsRefused(t *testing.T) {
	for q, ok := range map[string]bool{
		`data.partial.pdp.deny = deny; data.partial.pdp.core_session = session`: true,
		`lt(input.b, 0); to_number(input.a, y)`:                                 false,
		`x = 1; not input.x`:                                                    false,
		`input.a`:                                                               false,
	} {
		err := onlyBindings(ast.MustParseBody(q))
		if (err == nil) != ok {
			t.Errorf("%s: %v, want accepted %v", q, err, ok)
		}
	}
}
