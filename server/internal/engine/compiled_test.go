package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"

	"github.com/pdp-dev/pdp/server/internal/decision"
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

// walkModule adds a deny with walk, a relation the compiler refuses.
const walkModule = `package pdp.custom

deny contains {"code": "custom.deep", "message": "a deep attribute", "rule": "custom.deep"} if {
	walk(input.attributes, [path, value])
	count(path) > 1
	value == "deep"
}
`

// A residual the compiler refuses is evaluated by topdown: the tenant
// environment says so and why, the evaluation is counted as topdown's,
// and the decision is the whole library's.
func TestAResidualTheCompilerRefusesIsEvaluatedByTopdown(t *testing.T) {
	t.Parallel()
	b := Bundle{Tenants: demoTenants(t), Modules: map[string]string{"custom/walk.rego": walkModule}}
	e := loaded(t, Options{}, b)
	fillAll(t, e)
	ref := loaded(t, Options{Reference: true}, b)
	var refused int
	for _, s := range e.Specialisations() {
		if s.State != Specialised {
			t.Fatalf("%+v: want specialised", s)
		}
		if s.Evaluator == EvaluatorTopdown && strings.Contains(s.EvaluatorReason, "relation") {
			refused++
		}
	}
	if refused != len(e.Specialisations()) {
		t.Errorf("%d of %d tenant environments refused for walk, want all", refused, len(e.Specialisations()))
	}
	for _, attrs := range []map[string]any{{"a": map[string]any{"b": "deep"}}, {"a": "deep"}} {
		req := demoRequest()
		req.Attributes = attrs
		got, err := e.Decide(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		req = demoRequest()
		req.Attributes = attrs
		want, err := ref.Decide(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if diff := sameDecision(&decision.Decision{Kind: want.Kind, Reasons: want.Reasons},
			&decision.Decision{Kind: got.Kind, Reasons: got.Reasons}, nil, nil); diff != "" {
			t.Errorf("attributes %v: %s", attrs, diff)
		}
		deep := slices.ContainsFunc(got.Reasons, func(r decision.Reason) bool { return r.Code == "custom.deep" })
		if _, nested := attrs["a"].(map[string]any); deep != nested {
			t.Errorf("attributes %v: custom.deep among the reasons %v, want %v", attrs, deep, nested)
		}
	}
	if got := e.Evaluators(); got[EvaluatorTopdown] != 2 || got[EvaluatorCompiled] != 0 {
		t.Errorf("Evaluators() = %v, want 2 by topdown", got)
	}
}

// numberModule adds a deny whose built-in fails on a request whose
// attribute is not a number.
const numberModule = `package pdp.custom

deny contains {"code": "custom.big", "message": "too big", "rule": "custom.big"} if {
	to_number(input.attributes.n) > 5
}
`

// A request on which the compiled evaluation fails (a built-in error
// under strict built-in errors) is evaluated again by topdown, which
// decides: here, the same error the whole library gives.
func TestARequestTheCompiledResidualFailsOnIsDecidedByTopdown(t *testing.T) {
	t.Parallel()
	b := Bundle{Tenants: demoTenants(t), Modules: map[string]string{"custom/number.rego": numberModule}}
	e := loaded(t, Options{}, b)
	fillAll(t, e)
	ref := loaded(t, Options{Reference: true}, b)
	for _, n := range []any{"7", "abc"} {
		req := demoRequest()
		req.Attributes = map[string]any{"n": n}
		_, err := e.Decide(context.Background(), req)
		req = demoRequest()
		req.Attributes = map[string]any{"n": n}
		_, refErr := ref.Decide(context.Background(), req)
		if (err != nil) != (refErr != nil) {
			t.Errorf("n = %v: error %v, the whole library's %v", n, err, refErr)
		}
		if n == "abc" && err == nil {
			t.Errorf("n = %v: want to_number's error", n)
		}
	}
	want := map[string]int64{EvaluatorCompiled: 1, EvaluatorTopdown: 0, EvaluatorCompiledError: 1}
	if got := e.Evaluators(); !maps.Equal(got, want) {
		t.Errorf("Evaluators() = %v, want %v", got, want)
	}
}
