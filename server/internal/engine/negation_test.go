package engine

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Tests of a trap of Rego's "not": the compiler binds the references and
// nested calls of a negated expression to variables before the negation
// (OPA issues 1877, 4743, 8387), so `not profile.travel.speed_kmh > 900`
// runs as `x := profile.travel.speed_kmh; not x > 900` and fails, instead
// of holding, when the field is absent. A quiet flag's cheap body written
// that way never holds for the requests without the field, and the slow
// body runs instead.

// negationSplit is a term of a negated expression that the compiler binds
// before the negation and that may be undefined.
type negationSplit struct {
	file string
	row  int
	expr string // the negated expression, as written
	term string // the term bound before it, compiled
}

func (s negationSplit) String() string {
	return fmt.Sprintf("%s:%d: %q: %s is bound before the \"not\", so the expression fails when it is undefined",
		s.file, s.row, s.expr, s.term)
}

// negationSplits finds, in the compiled modules of c, every negated
// expression the compiler split: an expression it generated from a term
// of the negation (located inside it) placed before it in the same body.
// A generated binding is harmless when its term is always defined: input
// itself, a rule with a default value or a constant one, or a built-in
// call (its own arguments are checked as bindings). Anything else (a
// field of input or of a variable, a rule that may be undefined, a call
// of a policy function) is reported.
func negationSplits(c *ast.Compiler) []negationSplit {
	var out []negationSplit
	for _, name := range slices.Sorted(maps.Keys(c.Modules)) {
		ast.WalkBodies(c.Modules[name], func(body ast.Body) bool {
			for i, e := range body {
				if !e.Negated || e.Location == nil {
					continue
				}
				lo, hi := e.Location.Offset, e.Location.Offset+len(e.Location.Text)
				for _, g := range body[:i] {
					loc := g.Location
					if !g.Generated || loc == nil || loc.File != e.Location.File || loc.Offset < lo || loc.Offset >= hi {
						continue
					}
					if term, ok := mayBeUndefined(c, g); ok {
						out = append(out, negationSplit{file: name, row: e.Location.Row, expr: string(e.Location.Text), term: term})
					}
				}
			}
			return false
		})
	}
	return out
}

// mayBeUndefined reports the term a generated expression binds when it
// may be undefined.
func mayBeUndefined(c *ast.Compiler, g *ast.Expr) (string, bool) {
	if g.IsEquality() {
		t := g.Operand(1)
		ref, ok := t.Value.(ast.Ref)
		if !ok || alwaysDefined(c, ref) {
			return "", false // a comprehension or a constant: always defined
		}
		return t.String(), true
	}
	if g.IsCall() {
		if _, builtin := ast.BuiltinMap[g.Operator().String()]; !builtin {
			return g.String(), true
		}
	}
	return "", false
}

// alwaysDefined reports whether ref is input itself, or names a rule that
// has a default value or only constant definitions.
func alwaysDefined(c *ast.Compiler, ref ast.Ref) bool {
	if ref.Equal(ast.InputRootRef) {
		return true
	}
	rules := c.GetRulesExact(ref)
	if len(rules) == 0 {
		return false
	}
	constant := true
	for _, r := range rules {
		if r.Default {
			return true
		}
		if r.Head.Value == nil || !r.Head.Value.IsGround() || len(r.Body) != 1 || !r.Body[0].Equal(ast.NewExpr(ast.BooleanTerm(true))) || r.Else != nil {
			constant = false
		}
	}
	return constant
}

// TestNegationSplitsFindsTheTrap holds the checker to what the compiler
// does: every source it reports fails with the field absent although its
// negated comparison should hold, and every source it accepts holds.
func TestNegationSplitsFindsTheTrap(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		body  string
		split string // a part of the term reported, "" for none
	}{
		// risk_factors_quiet's cheap body, as it was.
		{"a field of a local", "profile := input.signals.profile\n\tnot profile.travel.speed_kmh > 900", ".travel.speed_kmh"},
		{"a field of input", "not input.signals.profile.failed_logins >= 3", "input.signals.profile.failed_logins"},
		{"a nested call", "not count(input.domains) > 0", "input.domains"},
		{"membership", `not "FR" in input.countries`, "input.countries"},
		{"a built-in on a field", "not regex.match(`\\s`, input.email)", "input.email"},
		{"a rule that may be undefined", "not maybe > 1", "data.t.maybe"},
		{"a policy function", "not f(1) > 1", "data.t.f(1,"},
		{"equality is not split", "not input.travel.speed_kmh == 1000", ""},
		{"a plain reference is not split", "not input.travel.speed_kmh", ""},
		{"a default", "not object.get(input, [\"travel\", \"speed_kmh\"], 0) > 900", ""},
		{"the positive comparison", "object.get(input, [\"travel\", \"speed_kmh\"], 0) <= 900", ""},
		{"a rule with a default value", "not defaulted > 1", ""},
		{"a constant rule", `not "FR" in constant`, ""},
		{"a bound variable", "x := 1\n\tnot x > 900", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := "package t\n\nmaybe := 1 if input.never\n\ndefault defaulted := 0\n\nconstant := {\"DE\"}\n\nf(x) := x if input.never\n\np if {\n\t" + tc.body + "\n}\n"
			c, err := compile(map[string]string{"t.rego": src, "d.rego": "package pdp\n\ndecision := {}\n"})
			if err != nil {
				t.Fatal(err)
			}
			splits := negationSplits(c)
			var got string
			if len(splits) > 0 {
				got = splits[0].term
			}
			if len(splits) > 1 || (got == "") != (tc.split == "") || !strings.Contains(got, tc.split) {
				t.Fatalf("reported %v, want %q", splits, tc.split)
			}
			// The compiler's rewriting is what makes the trap: with an
			// empty input, a reported body fails and an accepted one holds.
			rs, err := rego.New(rego.Query("data.t.p"), rego.Compiler(c), rego.Input(map[string]any{})).Eval(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if holds := len(rs) > 0; holds != (tc.split == "") {
				t.Errorf("with an empty input the body holds: %v; reported: %q", holds, tc.split)
			}
		})
	}
}

// Neither the built-in library, the demo's author modules nor the
// examples' may negate a term the compiler binds before the negation:
// test the positive comparison, give the field a default (object.get), or
// bind it explicitly before the "not" when the rule needs it.
func TestPoliciesHaveNoSplitNegation(t *testing.T) {
	t.Parallel()
	library, err := LibraryModules(builtinLibrary())
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]map[string]string{"rego": library}
	for _, dir := range []string{"../../demo/policies", "../../../examples/authzen-documents/policies"} {
		modules, err := LibraryModules(os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		if len(modules) == 0 {
			t.Fatalf("%s holds no module", dir)
		}
		named := maps.Clone(library)
		for p, src := range modules {
			named[filepath.Join(dir, p)] = src
		}
		sets[dir] = named
	}
	for _, set := range slices.Sorted(maps.Keys(sets)) {
		c, err := compile(sets[set])
		if err != nil {
			t.Fatalf("%s: %v", set, err)
		}
		for _, s := range negationSplits(c) {
			if set != "rego" && strings.HasPrefix(s.file, "rego/") {
				continue // reported with the library alone
			}
			t.Error(s)
		}
	}
}
