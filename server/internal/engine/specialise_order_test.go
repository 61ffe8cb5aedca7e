package engine

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// orderedModule defines a flag whose cheap body comes first, as the
// library's quiet flags do, a body the tenant's data rules out, and the
// first body again.
const orderedModule = `package pdp

mode := "all"

scope := "for all users" if mode == "all"

scope := sprintf("for roles %v", [roles]) if {
	mode == "privileged"
	count(roles) > 0
}

roles contains role if some role in input.roles

default quiet := false

quiet if input.z == 1

quiet if not scope

quiet if {
	input.a == 1
	input.b == 2
}

quiet if input.z == 1
`

// supportOf partially evaluates data.pdp.quiet with the input unknown
// and the rule kept as a support rule, and returns its definitions.
func supportOf(t *testing.T) (*ast.Compiler, []*ast.Module) {
	t.Helper()
	c := ast.MustCompileModules(map[string]string{"ordered.rego": orderedModule})
	pq, err := rego.New(
		rego.Query("data.pdp.quiet = true"),
		rego.Compiler(c),
		rego.Unknowns([]string{"input"}),
		rego.DisableInlining([]string{"data.pdp.quiet"}),
	).Partial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return c, pq.Support
}

func bodies(support []*ast.Module) []string {
	var out []string
	for _, m := range support {
		for _, r := range m.Rules {
			if !r.Default {
				out = append(out, r.Body.String())
			}
		}
	}
	return out
}

func TestSupportRulesKeepTheLibrarysOrderOfDefinitions(t *testing.T) {
	c, support := supportOf(t)
	sourceOrder(c, support)
	got := bodies(support)
	want := []string{"input.z = 1", "input.a = 1; input.b = 2"}
	if len(got) != len(want) {
		t.Fatalf("definitions %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("definitions %q, want %q (the cheap one first, the one that never holds and the duplicate dropped)", got, want)
		}
	}
}

// TestTheDemoAllowsResidualEvaluatesLessThanTheReference traces the demo
// tenant's plain allow: its residual must evaluate fewer expressions
// and enter fewer rules than data.pdp.decision does for the same
// request, or specialisation costs more than it saves.
func TestTheDemoAllowsResidualEvaluatesLessThanTheReference(t *testing.T) {
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	fillAll(t, e)
	p := e.current.Load()
	sp := p.special.slots[envKey{"acme", "production"}].sp.Load()
	if sp == nil {
		t.Fatal("acme/production is not specialised")
	}
	req := demoRequest()
	in, err := buildInputAt(req, req.Time)
	if err != nil {
		t.Fatal(err)
	}
	count := func(pq *rego.PreparedEvalQuery) map[topdown.Op]int {
		tr := topdown.NewBufferTracer()
		if _, err := pq.Eval(context.Background(), rego.EvalParsedInput(in), rego.EvalQueryTracer(tr)); err != nil {
			t.Fatal(err)
		}
		ops := map[topdown.Op]int{}
		for _, ev := range *tr {
			ops[ev.Op]++
		}
		return ops
	}
	ref, spec := count(&p.query), count(mustPrepared(t, sp))
	for _, op := range []topdown.Op{topdown.EvalOp, topdown.EnterOp} {
		if spec[op] >= ref[op] {
			t.Errorf("%s events: residual %d, reference %d", op, spec[op], ref[op])
		}
	}
}
