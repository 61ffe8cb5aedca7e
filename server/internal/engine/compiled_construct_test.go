package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/types"
)

// Construct by construct, the compiled residual against topdown on the
// same modules and query, and against the value Rego gives.

// residualPair is a hand-written residual, compiled and prepared for
// topdown as the specialiser prepares one.
type residualPair struct {
	prog *program
	td   rego.PreparedEvalQuery
}

func newResidualPair(t *testing.T, strict bool, query string, modules ...string) residualPair {
	t.Helper()
	q, err := ast.ParseBody(query)
	if err != nil {
		t.Fatal(err)
	}
	var mods []*ast.Module
	opts := []func(*rego.Rego){rego.ParsedQuery(q), rego.Store(inmem.New()), rego.StrictBuiltinErrors(strict), rego.GenerateJSON(astResult)}
	for i, text := range modules {
		m, err := ast.ParseModuleWithOpts(fmt.Sprintf("m%d.rego", i), text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, m)
		opts = append(opts, rego.ParsedModule(m))
	}
	td, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	prog, err := compileResidual(q, mods, strict, nil)
	if err != nil {
		t.Fatalf("not compiled: %v", err)
	}
	return residualPair{prog: prog, td: td}
}

// eval evaluates input with both and fails the test when they differ; it
// returns the compiled result.
func (rp residualPair) eval(t *testing.T, input string) (rego.ResultSet, error) {
	t.Helper()
	in := ast.MustParseTerm(input).Value
	ctx := context.Background()
	c, cErr := rp.prog.eval(ctx, in, topdown.NewCancel())
	td, tErr := rp.td.Eval(ctx, rego.EvalParsedInput(in), noMetrics)
	if diff := sameResults(c, td, cErr, tErr); diff != "" {
		t.Fatalf("input %s: %s", input, diff)
	}
	return c, cErr
}

// binding is the compiled result's value of name, as Rego text; "undefined"
// when there is no result.
func (rp residualPair) binding(t *testing.T, input, name string) string {
	t.Helper()
	rs, err := rp.eval(t, input)
	if err != nil {
		t.Fatalf("input %s: %v", input, err)
	}
	if len(rs) == 0 {
		return "undefined"
	}
	return fmt.Sprint(rs[0].Bindings[name])
}

func TestAnIteratingRefEnumeratesEveryElement(t *testing.T) {
	rp := newResidualPair(t, true, `admin = data.partial.t.admin; roles = data.partial.t.roles`, `package partial.t
default admin := false
admin if input.roles[i] = "admin"
roles contains r if { r := input.roles[_]; r != "ghost" }
`)
	if got := rp.binding(t, `{"roles": ["viewer", "ghost", "admin"]}`, "admin"); got != "true" {
		t.Errorf("admin = %s, want true", got)
	}
	if got := rp.binding(t, `{"roles": ["viewer", "ghost", "admin"]}`, "roles"); got != `{"admin", "viewer"}` {
		t.Errorf("roles = %s", got)
	}
	if got := rp.binding(t, `{"roles": {"a": "admin"}}`, "admin"); got != "true" {
		t.Errorf("admin over an object's values = %s, want true", got)
	}
	if got := rp.binding(t, `{"roles": "admin"}`, "admin"); got != "false" {
		t.Errorf("admin over a string = %s, want false", got)
	}
}

func TestNotHoldsOnlyWhenItsExpressionHasNoSolution(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.quiet`, `package partial.t
default quiet := false
quiet if { not input.suspended; not ghost }
ghost if input.roles[_] = "ghost"
`)
	for in, want := range map[string]string{
		`{}`:                                  "true",
		`{"suspended": false}`:                "true",
		`{"suspended": true}`:                 "false",
		`{"roles": ["a", "ghost"]}`:           "false",
		`{"roles": ["a"], "suspended": null}`: "false",
	} {
		if got := rp.binding(t, in, "x"); got != want {
			t.Errorf("input %s: quiet = %s, want %s", in, got, want)
		}
	}
}

func TestAnUndefinedRefMakesItsRuleUndefinedAndTheQueryWithIt(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p`, `package partial.t
p := input.a.b
`)
	if got := rp.binding(t, `{"a": {"b": 1}}`, "x"); got != "1" {
		t.Errorf("p = %s, want 1", got)
	}
	if got := rp.binding(t, `{"a": {}}`, "x"); got != "undefined" {
		t.Errorf("p = %s, want undefined", got)
	}
	if got := rp.binding(t, `{"a": [1]}`, "x"); got != "undefined" {
		t.Errorf("p over an array = %s, want undefined", got)
	}
}

func TestTwoDifferentValuesOfACompleteRuleAreAConflict(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p`, `package partial.t
p := 1 if input.a
p := 2 if input.b
p := 1 if input.c
`)
	if got := rp.binding(t, `{"a": true, "c": true}`, "x"); got != "1" {
		t.Errorf("p = %s, want 1", got)
	}
	if _, err := rp.eval(t, `{"a": true, "b": true}`); err == nil {
		t.Error("two values of p: want a conflict error")
	}
}

func TestADefaultIsTheValueWhenNoRuleHolds(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.level; s = data.partial.t.none`, `package partial.t
default level := "low"
level := "high" if input.score > 0.7
none contains x if { x := input.xs[_]; x > 10 }
`)
	if got := rp.binding(t, `{"score": 0.9}`, "x"); got != `"high"` {
		t.Errorf("level = %s", got)
	}
	if got := rp.binding(t, `{"score": 0.1}`, "x"); got != `"low"` {
		t.Errorf("level = %s", got)
	}
	if got := rp.binding(t, `{"xs": [1]}`, "s"); got != "set()" {
		t.Errorf("a partial set no rule adds to = %s, want the empty set", got)
	}
}

func TestABuiltinErrorFailsStrictEvaluationAndIsUndefinedOtherwise(t *testing.T) {
	mod := `package partial.t
default many := false
many if count(input.n) > 1
`
	strict := newResidualPair(t, true, `x = data.partial.t.many`, mod)
	if _, err := strict.eval(t, `{"n": 5}`); err == nil {
		t.Error("count of a number under strict built-in errors: want an error")
	}
	if got := strict.binding(t, `{"n": [1, 2]}`, "x"); got != "true" {
		t.Errorf("many = %s, want true", got)
	}
	lenient := newResidualPair(t, false, `x = data.partial.t.many`, mod)
	if got := lenient.binding(t, `{"n": 5}`, "x"); got != "false" {
		t.Errorf("count of a number, lenient: many = %s, want false (the expression is undefined)", got)
	}
}

func TestComprehensionsCollectEverySolution(t *testing.T) {
	rp := newResidualPair(t, true, `a = data.partial.t.a; s = data.partial.t.s; o = data.partial.t.o`, `package partial.t
a := [y | x := input.xs[_]; x > 1; y := x * 2]
s := {x | x := input.xs[_]}
o := {k: v | v := input.m[k]; v != 0}
`)
	in := `{"xs": [1, 2, 3, 2], "m": {"a": 1, "b": 0}}`
	for name, want := range map[string]string{"a": "[4, 6, 4]", "s": "{1, 2, 3}", "o": `{"a": 1}`} {
		if got := rp.binding(t, in, name); got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	if got := rp.binding(t, `{"xs": [], "m": {}}`, "a"); got != "[]" {
		t.Errorf("an empty array comprehension = %s", got)
	}
}

func TestFunctionsTakeTheirArgumentsAndTheirDefault(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.text; y = data.partial.t.big`, `package partial.t
default big := false
unit(n) := "s" if n < 60
unit(n) := "m" if n >= 60
default kind(_) := "other"
kind(n) := "even" if n % 2 == 0
text := concat(",", [unit(input.n), kind(input.n)])
big if data.partial.t.check(input.n)
check(n) if n > 100
`)
	if got := rp.binding(t, `{"n": 120}`, "x"); got != `"m,even"` {
		t.Errorf("text = %s", got)
	}
	if got := rp.binding(t, `{"n": 7}`, "x"); got != `"s,other"` {
		t.Errorf("text = %s", got)
	}
	if got := rp.binding(t, `{"n": 7}`, "y"); got != `false` {
		t.Errorf("big = %s, want false", got)
	}
	if got := rp.binding(t, `{"n": 120}`, "y"); got != `true` {
		t.Errorf("big = %s, want true", got)
	}
}

func TestUnificationBindsCompositesAndComparesRefs(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p`, `package partial.t
p := [a, b] if {
	[a, {"k": b}] = input.pair
	input.check = b
}
`)
	if got := rp.binding(t, `{"pair": [1, {"k": 2}], "check": 2}`, "x"); got != "[1, 2]" {
		t.Errorf("p = %s", got)
	}
	if got := rp.binding(t, `{"pair": [1, {"k": 2}], "check": 3}`, "x"); got != "undefined" {
		t.Errorf("p = %s, want undefined", got)
	}
	if got := rp.binding(t, `{"pair": [1, {"k": 2, "j": 3}], "check": 2}`, "x"); got != "undefined" {
		t.Errorf("an object with another key: p = %s, want undefined", got)
	}
}

func TestACallOnConstantsIsFoldedAtCompileTime(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p`, `package partial.t
p := object.get({"a": {"b": 2}}, ["a", "b"], 0) + input.n
`)
	if got := rp.binding(t, `{"n": 1}`, "x"); got != "3" {
		t.Errorf("p = %s, want 3", got)
	}
	if n := countCalls(rp.prog, "object.get"); n != 0 {
		t.Errorf("object.get on constants is called %d times at run time, want folded", n)
	}
	if n := countCalls(rp.prog, "plus"); n != 1 {
		t.Errorf("plus on the input: %d calls compiled, want 1", n)
	}
}

func TestACallOnConstantsThatFailsIsLeftToFailAtRunTime(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p`, `package partial.t
default p := 0
p := 1 if { input.go; to_number("five") > 0 }
`)
	if n := countCalls(rp.prog, "to_number"); n != 1 {
		t.Errorf("to_number(\"five\"): %d calls compiled, want it left to run", n)
	}
	if _, err := rp.eval(t, `{"go": true}`); err == nil {
		t.Error("to_number(\"five\") under strict built-in errors: want an error")
	}
	if got := rp.binding(t, `{}`, "x"); got != "0" {
		t.Errorf("p = %s, want the default", got)
	}
}

func TestWhatTheCompilerDoesNotImplementIsRefusedWithAReason(t *testing.T) {
	for src, want := range map[string]string{
		`p if { input.x with input as {} }`:                   "with",
		`p if { walk(input, [path, v]); v == 1 }`:             "relation",
		`p if { print(input.x) }`:                             "",
		`p if { rand.intn("x", 10) > 1 }`:                     "not deterministic",
		`p[k] := 1 if { some k in input.ks }`:                 "partial object",
		`p := x if { x := input.x } else := 2 if input.y`:     "else",
		"default f(_) := 1\nf(x) := 2 if x > 0\np if f(5, 1)": "bound output",
	} {
		q := ast.MustParseBody(`x = data.partial.t.p`)
		m, err := ast.ParseModuleWithOpts("m.rego", "package partial.t\n"+src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		_, err = compileResidual(q, []*ast.Module{m}, true, nil)
		if src == `p if { print(input.x) }` {
			// The compiler removes print calls, as it does for topdown.
			if err != nil {
				t.Errorf("%s: %v", src, err)
			}
			continue
		}
		var r *refusal
		if !errorsAs(err, &r) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: refused with %v, want a refusal naming %q", src, err, want)
		}
	}
}

func TestACancelledEvaluationStops(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p`, `package partial.t
p := count([1 | some x in input.xs])
`)
	cancel := topdown.NewCancel()
	cancel.Cancel()
	_, err := rp.prog.eval(context.Background(), ast.MustParseTerm(`{"xs": [1, 2]}`).Value, cancel)
	var te *topdown.Error
	if !errorsAs(err, &te) || te.Code != topdown.CancelErr {
		t.Errorf("err = %v, want topdown's cancellation", err)
	}
}

// countCalls counts the built-in calls of name compiled in p.
func countCalls(p *program, name string) int {
	n := 0
	seen := map[*body]bool{}
	var walkBody func(b *body)
	var walkOp func(o operand)
	walkOp = func(o operand) {
		switch x := o.(type) {
		case ruleOp:
			for _, r := range x.rs.rules {
				walkBody(r.body)
			}
		case *compOp:
			walkBody(x.body)
		case refOp:
			walkOp(x.head)
		}
	}
	walkBody = func(b *body) {
		if b == nil || seen[b] {
			return
		}
		seen[b] = true
		for _, s := range b.steps {
			switch x := s.(type) {
			case *callStep:
				if x.name == name {
					n++
				}
				for _, a := range x.args {
					walkOp(a)
				}
			case *funcStep:
				for _, r := range x.fn.rules {
					walkBody(r.body)
				}
			case *notStep:
				walkBody(x.inner)
			case *eqStep:
				walkOp(x.a)
				walkOp(x.b)
			case *matchStep:
				walkOp(x.op)
			case *truthStep:
				walkOp(x.op)
			case *compareStep:
				walkOp(x.a)
				walkOp(x.b)
			case *enumStep:
				walkOp(x.ref.head)
			}
		}
	}
	walkBody(p.query)
	return n
}

func errorsAs[T any](err error, target *T) bool { return errors.As(err, target) }

func TestAnEnumeratedRefMatchesAVariableItsKeysBind(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.fixed; y = data.partial.t.at`, `package partial.t
fixed contains i if input.xs[i] = i
at contains i if input.xs[i] = input.want
`)
	if got := rp.binding(t, `{"xs": [0, 5, 2, 3], "want": 5}`, "x"); got != "{0, 2, 3}" {
		t.Errorf("fixed = %s", got)
	}
	if got := rp.binding(t, `{"xs": [0, 5, 2, 5], "want": 5}`, "y"); got != "{1, 3}" {
		t.Errorf("at = %s", got)
	}
	if got := rp.binding(t, `{"xs": [0, 5]}`, "y"); got != "set()" {
		t.Errorf("at without want = %s", got)
	}
}

func TestIntegerArithmeticIsTopdownsToTheDigit(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.r`, `package partial.t
r := [input.a + input.b, input.a - input.b, input.a * input.b, round(input.a), ceil(input.b), floor(input.a), abs(input.b), input.a % input.b]
q := input.a / input.b
`)
	for _, in := range []string{
		`{"a": 1772532900000000000, "b": 43200000000000}`,
		`{"a": 9223372036854775807, "b": 1}`,
		`{"a": -9223372036854775808, "b": 1}`,
		`{"a": -9223372036854775808, "b": -1}`,
		`{"a": 4294967296, "b": 4294967296}`,
		`{"a": 3037000500, "b": 3037000500}`,
		`{"a": 5.0, "b": 2}`,
		`{"a": 1.5, "b": -2.5}`,
		`{"a": 1e3, "b": 7}`,
		`{"a": 0, "b": -0}`,
		`{"a": 12345678901234567890123, "b": 1}`,
		`{"a": 0, "b": -5}`,
		`{"a": 10, "b": -1}`,
		`{"a": 7, "b": 2}`,
		`{"a": -7, "b": 2}`,
		`{"a": 3600000000000, "b": 60000000000}`,
		`{"a": -9223372036854775808, "b": -1}`,
	} {
		rp.eval(t, in)
		q := newResidualPair(t, false, `x = data.partial.t.q`, `package partial.t
q := input.a / input.b
`)
		q.eval(t, in)
	}
	if got := rp.binding(t, `{"a": 1772532900000000000, "b": -3}`, "x"); got != "[1772532899999999997, 1772532900000000003, -5317598700000000000, 1772532900000000000, -3, 1772532900000000000, 3, 0]" {
		t.Errorf("r = %s", got)
	}
}

// panicky is a built-in that panics on a negative operand, to hold the
// compiled evaluation to its recovery.
var panicky = &ast.Builtin{
	Name: "test.compiled_panicky",
	Decl: types.NewFunction(types.Args(types.N), types.N),
}

func init() {
	ast.RegisterBuiltin(panicky)
	topdown.RegisterBuiltinFunc(panicky.Name, func(_ topdown.BuiltinContext, ops []*ast.Term, iter func(*ast.Term) error) error {
		if ast.Compare(ops[0].Value, ast.Number("0")) < 0 {
			panic("negative")
		}
		return iter(ops[0])
	})
}

func TestAPanicOfTheCompiledEvaluationIsAnErrorForTopdownToDecide(t *testing.T) {
	q := ast.MustParseBody(`x = data.partial.t.p`)
	m, err := ast.ParseModuleWithOpts("m.rego", "package partial.t\np := test.compiled_panicky(input.n)", ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := compileResidual(q, []*ast.Module{m}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := prog.eval(ctx, ast.MustParseTerm(`{"n": -1}`).Value, topdown.NewCancel()); !errors.Is(err, errCompiledPanic) {
		t.Errorf("err = %v, want the panic as an error", err)
	}
	rs, err := prog.eval(ctx, ast.MustParseTerm(`{"n": 2}`).Value, topdown.NewCancel())
	if err != nil || len(rs) != 1 || fmt.Sprint(rs[0].Bindings["x"]) != "2" {
		t.Errorf("after the panic: %v, %v; want x = 2", rs, err)
	}
}

func TestEveryHoldsWhenItsBodyHoldsForEveryElement(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p; y = data.partial.t.q`, `package partial.t
default p := false
p if { every x in input.xs { x > 1 } }
default q := false
q if { every k, v in input.m { v > 1; k != "z" } }
`)
	for in, want := range map[string][2]string{
		`{"xs": [2, 3], "m": {"a": 2}}`:         {"true", "true"},
		`{"xs": [2, 1], "m": {"z": 2}}`:         {"false", "false"},
		`{"xs": [], "m": {}}`:                   {"true", "true"},
		`{"xs": "abc", "m": 5}`:                 {"false", "false"},
		`{"m": {"a": 3, "b": 0}}`:               {"false", "false"},
		`{"xs": {"a": 5, "b": 7}, "m": [2, 3]}`: {"true", "true"},
	} {
		for i, name := range []string{"x", "y"} {
			if got := rp.binding(t, in, name); got != want[i] && !(want[i] == "false" && got == "undefined") {
				t.Errorf("input %s: %s = %s, want %s", in, name, got, want[i])
			}
		}
	}
}

func TestCountAndMembershipAreTopdowns(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.r`, `package partial.t
r := [count(input.c), input.m in input.xs]
`)
	for _, in := range []string{
		`{"c": [1, 2], "m": 1, "xs": [1.0, 2]}`,
		`{"c": {"a": 1}, "m": "a", "xs": {"k": "a"}}`,
		`{"c": {1, 2, 3}, "m": 2, "xs": {2}}`,
		`{"c": "héllo", "m": 3, "xs": "abc"}`,
		`{"c": "", "m": null, "xs": [null]}`,
	} {
		rp.eval(t, in)
	}
	if got := rp.binding(t, `{"c": "héllo", "m": 1, "xs": [1.0]}`, "x"); got != "[5, true]" {
		t.Errorf("r = %s", got)
	}
	if _, err := rp.eval(t, `{"c": 5, "m": 1, "xs": []}`); err == nil {
		t.Error("count of a number: want topdown's error")
	}
}

func TestEveryOverSetsNestedAndReadingOuterVariables(t *testing.T) {
	rp := newResidualPair(t, true, `x = data.partial.t.p; y = data.partial.t.q; z = data.partial.t.r`, `package partial.t
default p := false
p if { lim := input.lim; every x in input.s { x < lim } }
default q := false
q if { every row in input.rows { every c in row { c != 0 } } }
r contains n if { some n in input.ns; every v in input.s { v != n } }
`)
	for _, in := range []string{
		`{"lim": 5, "s": {1, 2}, "rows": [[1], [2, 3]], "ns": [1, 7]}`,
		`{"lim": 2, "s": {1, 2}, "rows": [[1], [0]], "ns": [2]}`,
		`{"lim": 2, "s": [], "rows": [], "ns": []}`,
		`{"s": {1}, "rows": {"a": [1]}, "ns": {3, 1}}`,
		`{"lim": "a", "s": {"b"}, "rows": [[], []], "ns": [null]}`,
	} {
		rp.eval(t, in)
	}
	if got := rp.binding(t, `{"lim": 5, "s": {1, 2}, "rows": [[1], [2, 3]], "ns": [1, 7]}`, "z"); got != "{7}" {
		t.Errorf("r = %s, want {7}", got)
	}
}
