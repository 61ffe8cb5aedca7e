package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// TestEveryTestResidualCompiles specialises every tenant environment of
// the residual test sets and fails on one whose residual the compiler
// refuses: the compiled path must cover the library and the test modules.
func TestEveryTestResidualCompiles(t *testing.T) {
	t.Parallel()
	sets := residualPolicySets(t)
	n := 0
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		set := sets[name]
		fillAll(t, set.engine)
		p := set.engine.current.Load()
		forEachTenantEnvironment(t, set.tenants, func(tenant, env string) {
			sl := p.special.slots[envKey{tenant, env}]
			sp := sl.sp.Load()
			if sp == nil {
				t.Errorf("%s: %s/%s is not specialised", name, tenant, env)
				return
			}
			if sp.compiled == nil {
				t.Errorf("%s: %s/%s is not compiled: %s", name, tenant, env, sp.compiledWhy)
				return
			}
			n++
		})
	}
	t.Logf("%d residuals compiled", n)
}

// compiledInputs are generated requests moved to one tenant environment.
func compiledInputs(tenant, env string, n int, seed uint64) []ast.Value {
	g := &gen{state: seed}
	out := make([]ast.Value, 0, n)
	for range n {
		in := g.input()
		in["tenant"], in["environment"], in["explain"] = tenant, env, false
		v, err := ast.InterfaceToValue(in)
		if err != nil {
			panic(err)
		}
		out = append(out, v)
	}
	return out
}

// sameResults reports how the compiled residual's result differs from
// topdown's on the same residual: "" when every binding is equal and
// both or neither failed.
func sameResults(compiled, td rego.ResultSet, cErr, tErr error) string {
	if (cErr != nil) != (tErr != nil) {
		return fmt.Sprintf("compiled error %v, topdown error %v", cErr, tErr)
	}
	if cErr != nil {
		return ""
	}
	if len(compiled) != len(td) {
		return fmt.Sprintf("%d compiled results, %d topdown results", len(compiled), len(td))
	}
	for i := range td {
		a, b := compiled[i].Bindings, td[i].Bindings
		for _, name := range slices.Sorted(maps.Keys(b)) {
			x, ok := a[name].(ast.Value)
			if !ok {
				return fmt.Sprintf("%s: compiled has no value, topdown %v", name, b[name])
			}
			// Equal, and written the same: 0 and -0 are equal numbers.
			if ast.Compare(x, b[name].(ast.Value)) != 0 || x.String() != b[name].(ast.Value).String() {
				return fmt.Sprintf("%s: compiled %v, topdown %v", name, x, b[name])
			}
		}
		if len(a) != len(b) {
			return fmt.Sprintf("compiled binds %v, topdown %v", slices.Sorted(maps.Keys(a)), slices.Sorted(maps.Keys(b)))
		}
	}
	return ""
}

// bothEvaluators evaluates one input with a residual compiled and with
// topdown.
func bothEvaluators(sp *specialised, in ast.Value) (compiled, td rego.ResultSet, cErr, tErr error) {
	ctx := context.Background()
	compiled, cErr = sp.compiled.eval(ctx, in, topdown.NewCancel())
	td, tErr = sp.topdown(ctx, in, topdown.NewCancel())
	return compiled, td, cErr, tErr
}

// TestCompiledResidualsEqualTopdownOnTheSameResidual evaluates generated
// requests with every residual of the residual test sets, compiled and by
// topdown: every binding the decision is assembled from must be equal,
// value by value, and the two must fail on the same requests.
func TestCompiledResidualsEqualTopdownOnTheSameResidual(t *testing.T) {
	t.Parallel()
	sets := residualPolicySets(t)
	compared := 0
	for _, name := range slices.Sorted(maps.Keys(sets)) {
		set := sets[name]
		fillAll(t, set.engine)
		p := set.engine.current.Load()
		forEachTenantEnvironment(t, set.tenants, func(tenant, env string) {
			sp := p.special.slots[envKey{tenant, env}].sp.Load()
			if sp == nil || sp.compiled == nil {
				t.Errorf("%s: %s/%s has no compiled residual", name, tenant, env)
				return
			}
			for i, in := range compiledInputs(tenant, env, 40, uint64(len(name))*7919+uint64(len(tenant))) {
				c, td, cErr, tErr := bothEvaluators(sp, in)
				compared++
				if diff := sameResults(c, td, cErr, tErr); diff != "" {
					t.Errorf("%s: %s/%s: request %d: %s\ninput %v", name, tenant, env, i, diff, in)
				}
			}
		})
	}
	if compared < 1000 {
		t.Errorf("only %d requests compared", compared)
	}
}

// withoutCompiled makes e's residuals evaluate on topdown, as before the
// compiled residual (benchmarks).
func withoutCompiled(e *Engine) {
	for _, sl := range e.current.Load().special.slots {
		if sp := sl.sp.Load(); sp != nil {
			cp := *sp
			cp.compiled, cp.compiledWhy = nil, "turned off"
			sl.sp.Store(&cp)
		}
	}
}

// TestTheCompiledRiskScoreIsTopdowns holds the compiled risk score to
// topdown's over factors of every kind of weight.
func TestTheCompiledRiskScoreIsTopdowns(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	fillAll(t, e)
	var sp *specialised
	for _, sl := range e.current.Load().special.slots {
		if sp = sl.sp.Load(); sp != nil {
			break
		}
	}
	if sp == nil || sp.scoreProgram == nil {
		t.Fatal("no compiled risk score")
	}
	for _, factors := range []string{
		`{{"name": "a", "weight": 0.3}}`,
		`{{"name": "a", "weight": 0.35}, {"name": "b", "weight": 0.2}}`,
		`{{"name": "a", "weight": 0.5}, {"name": "b", "weight": 0.4}, {"name": "c", "weight": 0.4}}`,
		`{{"name": "a", "weight": 0.123456}}`,
		`{{"name": "a", "weight": -1}}`,
		`{{"name": "a", "weight": 1}, {"name": "b", "weight": 0}}`,
		`{{"name": "a", "weight": "x"}}`,
		`{{"name": "a"}}`,
	} {
		fs := ast.MustParseTerm(factors).Value
		c, cErr := sp.scoreProgram.eval(context.Background(), fs, nil)
		td, tErr := sp.score.Eval(context.Background(), rego.EvalParsedInput(fs), noMetrics)
		if diff := sameResults(c, td, cErr, tErr); diff != "" {
			t.Errorf("factors %s: %s", factors, diff)
		}
	}
}
