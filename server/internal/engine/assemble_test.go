package engine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// randomElements makes sets of reason-like and factor-like objects with
// the cases that decide an order: equal codes and names, equal cuts of
// different elements, missing fields, values of other types.
func randomElements(r *rand.Rand, n int) ast.Set {
	pick := func(vals ...any) *ast.Term {
		return ast.NewTerm(ast.MustInterfaceToValue(vals[r.IntN(len(vals))]))
	}
	s := ast.NewSet()
	for range n {
		o := ast.NewObject()
		for _, k := range []string{"code", "message", "rule", "name", "extra"} {
			if r.IntN(8) == 0 {
				continue // missing
			}
			o.Insert(ast.StringTerm(k), pick("a", "b", "", "a.b", 1, 0.5, true, nil, []any{"x"}))
		}
		s.Add(ast.NewTerm(o))
	}
	return s
}

// sortByPairs is core_sort_by as Rego computes it: a set of [key value,
// element] pairs, sorted.
func sortByPairs(xs ast.Set, key *ast.Term) []*ast.Term {
	pairs := ast.NewSet()
	xs.Foreach(func(x *ast.Term) {
		k := emptyString
		if o, ok := x.Value.(ast.Object); ok {
			if v := o.Get(key); v != nil {
				k = v
			}
		}
		pairs.Add(ast.ArrayTerm(k, x))
	})
	var out []*ast.Term
	pairs.Sorted().Foreach(func(p *ast.Term) { out = append(out, p.Value.(*ast.Array).Elem(1)) })
	return out
}

func TestSortByOrdersAsTheSortedPairsOfCoreSortBy(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 11))
	for i := range 500 {
		xs := randomElements(r, r.IntN(40)) // past insertion sort's 12
		for _, key := range []*ast.Term{codeKey, nameKey} {
			got, want := sortBy(xs, key), sortByPairs(xs, key)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("set %d by %v:\n got %v\nwant %v", i, key, got, want)
			}
		}
	}
}

// The reasons of elements that all have a code, a message and a rule,
// read without making their cuts, are the cuts object.filter makes, in
// their order, once each.
func TestWholeReasonsAreTheSortedCutsOfTheElements(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 5))
	whole := 0
	for i := range 2000 {
		xs := randomElements(r, r.IntN(6))
		want, err := cutReasons(xs)
		got, ok := wholeReasons(xs)
		if !ok {
			continue
		}
		whole++
		if err != nil {
			t.Fatalf("set %d: the cuts fail (%v) where the whole reasons do not", i, err)
		}
		if showReasons(got) != showReasons(want) {
			t.Fatalf("set %d %v:\n got %v\nwant %v", i, xs, showReasons(got), showReasons(want))
		}
	}
	if whole < 200 {
		t.Fatalf("only %d sets had whole reasons", whole)
	}
}

// A score taken from scores is the one scoreQuery computes for the
// factors at hand, and weights that hash alike are told apart.
func TestACachedRiskScoreIsTheScoreQuerysOwn(t *testing.T) {
	t.Parallel()
	q, err := rego.New(rego.Query(scoreQuery), rego.StrictBuiltinErrors(true), rego.GenerateJSON(astResult)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sp := &specialised{score: &q}
	r := rand.New(rand.NewPCG(1, 2))
	weightsFrom := []any{0.1, 0.2, 0.25, 0.3, 1, 0.15, 0.35, 0.05, 0.6, 0.123456789, 2}
	for i := range 3000 {
		factors := ast.NewSet()
		for j := range r.IntN(5) + 1 {
			factors.Add(ast.ObjectTerm(
				ast.Item(nameKey, ast.StringTerm(fmt.Sprintf("f%d", r.IntN(4)))),
				ast.Item(weightKey, ast.NewTerm(ast.MustInterfaceToValue(weightsFrom[r.IntN(len(weightsFrom))]))),
				ast.Item(ast.StringTerm("detail"), ast.StringTerm(fmt.Sprint(j))),
			))
		}
		got, err := sp.riskScore(factors)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := q.Eval(context.Background(), rego.EvalParsedInput(factors))
		if err != nil {
			t.Fatal(err)
		}
		if want := rs[0].Bindings["score"].(ast.Value); got.Value.Compare(want) != 0 || got.String() != want.String() {
			t.Fatalf("factors %d %v: score %v, the query's %v", i, factors, got, want)
		}
	}

	// Another list of weights in the slot of these is a miss.
	var w weights
	w.list[0], w.n, w.hash = "0.5", 1, 42
	scores.put(&w, ast.StringTerm("the score of 0.5"))
	other := w
	other.list[0] = "0.25"
	if got := scores.get(&other); got != nil {
		t.Errorf("the weights [0.25] read the score %v of [0.5]", got)
	}
	if got := scores.get(&w); got == nil {
		t.Error("the weights [0.5] lost their score")
	}
}

// A factor whose weight is not a number is scored by the query, which
// fails as the reference does.
func TestARiskFactorWithoutANumberWeightIsScoredByTheQuery(t *testing.T) {
	t.Parallel()
	q, err := rego.New(rego.Query(scoreQuery), rego.StrictBuiltinErrors(true), rego.GenerateJSON(astResult)).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sp := &specialised{score: &q}
	factors := ast.NewSet(ast.ObjectTerm(ast.Item(nameKey, ast.StringTerm("f")), ast.Item(weightKey, ast.StringTerm("heavy"))))
	if _, ok := weightsOf(factors); ok {
		t.Fatal("a string weight is kept as a weight")
	}
	if _, err := sp.riskScore(factors); err == nil {
		t.Fatal("a string weight was scored")
	}
}

func showReasons(rs []reasonParts) string {
	out := ""
	for _, r := range rs {
		out += fmt.Sprintf("[%v %v %v]", r.code, r.message, r.rule)
	}
	return out
}

// TestASpecialisedDecisionStaysWithinItsAllocationBudgetOutsideEvaluation
// guards what a decision of the demo tenant's residual costs besides the
// evaluation (bench/README.md, issue 11, part 4): routing, the planned
// input, the hand-off to a worker, the assembly and the id, for each
// outcome, the residual's result handed back as evaluated once.
func TestASpecialisedDecisionStaysWithinItsAllocationBudgetOutsideEvaluation(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	fillAll(t, e)
	// The same request again: its input's objects come from the memo
	// (memo.go); TestThePlannedInputOfTheDemoStaysWithinItsAllocationBudget
	// holds the input built afresh.
	budgets := map[string]float64{"allow": 26, "deny": 50, "challenge": 43, "allow_expiring": 36}
	for _, o := range outcomeRequests() {
		budget, ok := budgets[o.name]
		if !ok {
			continue
		}
		sp, _ := e.route(e.current.Load(), o.req)
		parts, err := convertParts(o.req)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := sp.eval(context.Background(), parts.input(o.req, o.req.Time, sp.plan))
		if err != nil {
			t.Fatal(err)
		}
		e.workers.evalFn = func(evaluator, context.Context, ast.Value) (rego.ResultSet, error) { return rs, nil }
		ctx := context.Background()
		if _, err := e.Decide(ctx, o.req); err != nil { // the risk score, once
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := e.Decide(ctx, o.req); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > budget {
			t.Errorf("%s: a decision allocates %v times besides evaluation, want at most %v", o.name, allocs, budget)
		}
	}
}
