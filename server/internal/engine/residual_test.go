package engine

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Tests of the library's shape for partial evaluation: with a tenant
// environment known and the request unknown, every rule on the way from
// the sets the decision reads must fold into residual queries and support
// rules of their own, never leave a reference to a library rule behind
// (rego/core.rego, "Specialisation").

var dumpResiduals = flag.Bool("residuals", false, "TestLibraryResidualsReferenceNoLibraryRule: print every residual")

// residualSize is the size of one tenant environment's residual.
type residualSize struct {
	queries, queryExprs, support, supportExprs int
}

func (s residualSize) String() string {
	return fmt.Sprintf("%d queries (%d expressions), %d support rules (%d expressions)",
		s.queries, s.queryExprs, s.support, s.supportExprs)
}

// partialOf partially evaluates the specialised query for one tenant
// environment of e's policy set, as the engine's specialiser does (full
// inlining).
func partialOf(t *testing.T, e *Engine, tenant, env string) *rego.PartialQueries {
	t.Helper()
	s := e.current.Load().special.spec
	if s == nil {
		t.Fatal("specialisation is off")
	}
	in, err := ast.InterfaceToValue(map[string]any{"tenant": tenant, "environment": env, "explain": false})
	if err != nil {
		t.Fatal(err)
	}
	pq, err := s.partialQueries(context.Background(), s.query, in, false)
	if err != nil {
		t.Fatalf("%s/%s: %v", tenant, env, err)
	}
	return pq
}

// residualPolicySets are the policy sets whose tenant environments are
// specialised: the engine tests' tenants, the demo's (pdp serve --tenants
// server/demo/tenants) with and without its author modules, the AuthZEN
// example's, and generated ones.
func residualPolicySets(t *testing.T) map[string]residualSet {
	t.Helper()
	demo, modules := residualExample(t, "../../demo")
	authzen, authzenModules := residualExample(t, "../../../examples/authzen-documents")
	// Generated policies exercise every control (bias 0), with the
	// golden test's author modules in package pdp and pdp.custom.
	g := &gen{state: 0x5eed}
	generated := map[string]any{}
	for i := range 8 {
		generated[fmt.Sprintf("t%d", i)] = map[string]any{
			"plan":         "enterprise",
			"environments": map[string]any{"production": g.policy(), "staging": g.policy()},
		}
	}
	bundles := map[string]Bundle{
		"testdata":               {Tenants: demoTenants(t)},
		"demo":                   {Tenants: demo},
		"demo with its policies": {Tenants: demo, Modules: modules},
		"authzen example":        {Tenants: authzen, Modules: authzenModules},
		"generated":              {Tenants: generated},
		"generated with author modules": {Tenants: generated,
			Modules: map[string]string{"custom/custom.rego": libCustom, "custom/extra.rego": libExtra}},
	}
	sets := map[string]residualSet{}
	for name, b := range bundles {
		sets[name] = residualSet{engine: loaded(t, Options{}, b), tenants: b.Tenants}
	}
	return sets
}

// residualExample reads the tenants and modules of an example directory
// (its tenants/ and policies/).
func residualExample(t *testing.T, dir string) (map[string]any, map[string]string) {
	t.Helper()
	policies, err := tenantdata.LoadDir(dir + "/tenants")
	if err != nil {
		t.Fatal(err)
	}
	modules, err := LibraryModules(os.DirFS(dir + "/policies"))
	if err != nil {
		t.Fatal(err)
	}
	return tenantdata.Data(policies), modules
}

// residualSet is a loaded policy set and its tenants.
type residualSet struct {
	engine  *Engine
	tenants map[string]any
}

// forEachTenantEnvironment calls fn for every tenant environment of e.
func forEachTenantEnvironment(t *testing.T, tenants map[string]any, fn func(tenant, env string)) {
	t.Helper()
	for _, tenant := range slices.Sorted(maps.Keys(tenants)) {
		envs := tenants[tenant].(map[string]any)["environments"].(map[string]any)
		for _, env := range slices.Sorted(maps.Keys(envs)) {
			fn(tenant, env)
		}
	}
}

// residualBudget bounds the expressions of one tenant environment's
// residual (queries and support rules). Every tenant environment of the
// test sets is under 1,000; inlining a helper of several bodies into each
// of its readers multiplies them (they were over 2,000 before the helpers
// got defaults).
const residualBudget = 1200

// TestLibraryResidualsReferenceNoLibraryRule partially evaluates the sets
// of the decision for every tenant environment of the test and demo
// tenants, the request unknown, and fails on a residual that refers to a
// rule of package pdp or to the tenant data: the library must fold into
// support rules of its own, or the specialised evaluation would run the
// unspecialised library. It also fails on a residual over residualBudget.
func TestLibraryResidualsReferenceNoLibraryRule(t *testing.T) {
	t.Parallel()
	sets := residualPolicySets(t)
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		set := sets[name]
		forEachTenantEnvironment(t, set.tenants, func(tenant, env string) {
			pq := partialOf(t, set.engine, tenant, env)
			size := residualSize{queries: len(pq.Queries)}
			for _, q := range pq.Queries {
				size.queryExprs += len(q)
				for _, ref := range libraryRefs(q) {
					t.Errorf("%s: %s/%s: a residual query refers to %v:\n%v", name, tenant, env, ref, q)
				}
			}
			for _, m := range pq.Support {
				for _, r := range m.Rules {
					size.support++
					size.supportExprs += len(r.Body)
					for _, ref := range libraryRefs(r) {
						t.Errorf("%s: %s/%s: support rule %v refers to %v", name, tenant, env, r.Head.Ref(), ref)
					}
				}
			}
			t.Logf("%s: %s/%s: %v", name, tenant, env, size)
			if n := size.queryExprs + size.supportExprs; n > residualBudget {
				t.Errorf("%s: %s/%s: the residual has %d expressions, more than %d: a helper read in several places is inlined into each reader (give it a default, rego/core.rego, \"Specialisation\")",
					name, tenant, env, n, residualBudget)
			}
			if *dumpResiduals {
				for i, q := range pq.Queries {
					t.Logf("query %d: %v", i, q)
				}
				for _, m := range pq.Support {
					t.Logf("%v", m)
				}
			}
		})
	}
}

// TestLibraryResidualsNeedNoShallowInlining makes every tenant
// environment's residual as the specialiser first does, with full
// inlining: it must leave no variable of a rule's head unbound, or the
// residual is made again with shallow inlining, larger and slower. A
// control's contribution is inlined into the core's library_* set, so a
// helper without a default in its head is inlined twice over, which is
// where OPA leaves the variable unbound (rego/core.rego,
// "Specialisation").
func TestLibraryResidualsNeedNoShallowInlining(t *testing.T) {
	t.Parallel()
	sets := residualPolicySets(t)
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		set := sets[name]
		s := set.engine.current.Load().special.spec
		forEachTenantEnvironment(t, set.tenants, func(tenant, env string) {
			in, err := ast.InterfaceToValue(map[string]any{"tenant": tenant, "environment": env, "explain": false})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.partial(context.Background(), s.query, in, false); err != nil {
				t.Errorf("%s: %s/%s: %v", name, tenant, env, err)
			}
		})
	}
}

// libraryRefs are the references of x to data.pdp and data.tenants.
func libraryRefs(x any) []ast.Ref {
	var refs []ast.Ref
	ast.WalkRefs(x, func(r ast.Ref) bool {
		if r.HasPrefix(pdpPath) || r.HasPrefix(tenantsPath) {
			refs = append(refs, r)
		}
		return false
	})
	return refs
}

var tenantsPath = ast.MustParseRef("data.tenants")
