package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// The compiled residual against topdown on generated residuals: small
// modules in the residual's language (package partial.x; complete rules
// with and without defaults and with several bodies, partial sets,
// functions, not, comprehensions closing over outer variables,
// unification of composites, iterating refs, number representations,
// built-in calls and their errors) and generated inputs. Whenever the
// compiled evaluation returns a result, topdown must return the same one
// without an error; an error of the compiled evaluation is allowed, since
// the engine then decides the request with topdown (specialised.eval).

// progGen writes a Rego module and query from a byte string; once the
// bytes run out every choice is the first, so any string is a program.
type progGen struct {
	b    []byte
	i    int
	vars int
	out  strings.Builder
	// rules are the rules written so far, which later rules may read.
	rules []genRule
}

type genRule struct {
	name string
	kind int // genValue, genBool, genSet or genFunc
}

const (
	genValue = iota
	genBool
	genSet
	genFunc
)

func (g *progGen) n(k int) int {
	if k <= 1 || g.i >= len(g.b) {
		return 0
	}
	v := int(g.b[g.i])
	g.i++
	return v % k
}

func (g *progGen) pick(xs ...string) string { return xs[g.n(len(xs))] }

func (g *progGen) fresh() string {
	g.vars++
	return fmt.Sprintf("v%d", g.vars)
}

// constants are the values the generator writes: number representations
// of the same number, big numbers, strings that read as numbers, and the
// scalars and composites at the edges of unification.
var genConstants = []string{
	`0`, `1`, `1.0`, `1e0`, `-1`, `0.5`, `2`, `12345678901234567890`, `12345678901234567891`,
	`"1"`, `"a"`, `""`, `"a,b"`, `null`, `true`, `false`, `[]`, `{}`, `[1]`, `[1.0, "a"]`,
	`{"k": 1}`, `{"k": 1.0}`, `{1: "a", "1": "b"}`, `set()`, `{1}`, `{1, "1", null}`,
}

func (g *progGen) constant() string { return genConstants[g.n(len(genConstants))] }

// hot are the few values the programs compare with most and the inputs
// hold most.
func (g *progGen) hot() string {
	return g.pick(`1`, `1.0`, `"a"`, `0`, `"a.b"`, `[1, 1.0, 2]`, `{"k": 1}`, `true`)
}

// inputRef is a ref into the input, sometimes iterating.
func (g *progGen) inputRef() string {
	return g.pick(`input.a`, `input.b`, `input.n`, `input.xs`, `input.o`, `input.s`, `input.pair`,
		`input.xs[0]`, `input.xs[-1]`, `input.xs[1.0]`, `input.o["1"]`, `input.o[1]`, `input.o.k`,
		`input.o.k.k`, `input.pair[1]`, `input.a.b`)
}

// iterRef is a ref into the input with an iterated key bound to a fresh
// variable (returned), or a wildcard.
func (g *progGen) iterRef() (string, string) {
	v := g.fresh()
	switch g.n(6) {
	case 0:
		return fmt.Sprintf("input.xs[%s]", v), v
	case 1:
		return fmt.Sprintf("input.o[%s]", v), v
	case 2:
		return fmt.Sprintf("input.s[%s]", v), v
	case 3:
		return fmt.Sprintf("input.a[%s]", v), v
	case 4:
		return fmt.Sprintf("input.pair[%s]", v), v
	}
	return "input.xs[_]", ""
}

func (g *progGen) anyVar(scope []string) string {
	if len(scope) == 0 {
		return g.constant()
	}
	return scope[g.n(len(scope))]
}

// value is a bound variable or a ref into the input.
func (g *progGen) value(scope []string) string {
	if len(scope) == 0 || g.n(4) == 0 {
		return g.inputRef()
	}
	return g.anyVar(scope)
}

// collection is what a ref may start from: a bound variable or the
// input's values.
func (g *progGen) collection(scope []string) string {
	if len(scope) == 0 || g.n(3) == 0 {
		return g.pick("input.xs", "input.o", "input.s", "input.a", "input.pair")
	}
	return g.anyVar(scope)
}

// cond writes a condition binding no variable of the body: what not
// negates.
func (g *progGen) cond(scope []string) string {
	x := g.anyVar(scope)
	switch g.n(9) {
	case 0:
		return fmt.Sprintf("%s %s %s", x, g.pick("==", "!=", "<", ">="), g.operand(scope))
	case 1:
		return g.inputRef()
	case 2:
		return fmt.Sprintf("%s in %s", x, g.collection(scope))
	case 3:
		return fmt.Sprintf("count(%s) > %s", x, g.pick("0", "1", "1.0"))
	case 4:
		return fmt.Sprintf("startswith(%s, \"a\")", x)
	case 5:
		return fmt.Sprintf("%s, %s in %s", g.operand(scope), x, g.collection(scope))
	case 6:
		rs := g.readable(-1)
		if len(rs) > 0 {
			r := rs[g.n(len(rs))]
			switch r.kind {
			case genSet:
				return fmt.Sprintf("data.partial.x.%s[%s]", r.name, g.operand(scope))
			case genFunc:
				return fmt.Sprintf("data.partial.x.%s(%s, %s)", r.name, g.operand(scope), g.operand(scope))
			}
			return "data.partial.x." + r.name
		}
	case 7:
		return fmt.Sprintf("%s == 1", x)
	}
	return fmt.Sprintf("input.o[%s] == 1", x)
}

// genPatterns are glob patterns and affixes, with escapes, wildcards
// and delimiters.
var genPatterns = []string{
	`"a.b"`, `"a.*"`, `"*.b"`, `"*"`, `"a\\.b"`, `"a\\b"`, `"a.\\*"`, `"a:*"`, `"a?b"`, `"a.**"`,
	`"[ab].b"`, `"{a,c}.b"`, `"a"`, `""`, `"ab"`, `"é"`, `"a..b"`,
}

// indexCond writes a condition topdown's rule index reads: equality of
// an input ref to a constant, glob.match, affixes, membership, an
// iterated ref compared to a constant, a local standing for an input ref.
func (g *progGen) indexCond(scope []string) string {
	ref := g.pick(`input.a`, `input.b`, `input.n`, `input.o.k`, `input.xs[0]`, `input.pair`)
	if len(scope) > 0 && g.n(3) == 0 {
		ref = g.anyVar(scope)
	}
	pat := genPatterns[g.n(len(genPatterns))]
	switch g.n(14) {
	case 12, 13:
		return fmt.Sprintf("%s %s %s", ref, g.pick("<", "<=", ">", ">=", "!="), g.pick(`1`, `1.0`, `0`, `"a"`, `"1"`, `null`, `false`, `[1]`, `2.5`, `100`))
	case 0:
		return fmt.Sprintf("%s == %s", ref, g.constant())
	case 1:
		return fmt.Sprintf("%s = %s", g.constant(), ref)
	case 2:
		return fmt.Sprintf("glob.match(%s, %s, %s)", pat, g.pick(`[]`, `["."]`, `[":"]`, `[".", ":"]`, `["ab"]`, `[""]`, `["*"]`, `["?"]`, `["{"]`), ref)
	case 3:
		return fmt.Sprintf("%s(%s, %s)", g.pick("startswith", "endswith"), ref, pat)
	case 4:
		return fmt.Sprintf("%s(%s, [%s, %s])", g.pick("strings.any_prefix_match", "strings.any_suffix_match"), ref, pat, genPatterns[g.n(len(genPatterns))])
	case 5:
		return fmt.Sprintf("%s in {%s, %s}", ref, g.constant(), g.constant())
	case 6:
		return fmt.Sprintf("%s in [%s, %s]", ref, g.constant(), g.constant())
	case 7:
		return fmt.Sprintf("%s in %s", g.constant(), g.pick("input.xs", "input.o", "input.s", "input.a"))
	case 8:
		return fmt.Sprintf("%s[_] == %s", g.pick("input.xs", "input.o", "input.s", "input.a"), g.constant())
	case 9:
		return fmt.Sprintf("%s == [%s, %s]", ref, g.constant(), g.constant())
	case 10:
		return fmt.Sprintf("%s == %s", ref, pat)
	}
	return fmt.Sprintf("%s == %s", g.pick(`input.a[0]`, `input.a["0"]`, `input.o[1]`, `input.o["1"]`, `input.a.b`), g.constant())
}

// operand is a bound variable or a constant.
func (g *progGen) operand(scope []string) string {
	if len(scope) > 0 && g.n(3) != 0 {
		return g.anyVar(scope)
	}
	return g.constant()
}

func (g *progGen) readable(kind int) []genRule {
	var out []genRule
	for _, r := range g.rules {
		if kind < 0 || r.kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// stmt writes one expression of a body; it returns the expression and
// the variables it binds.
func (g *progGen) stmt(scope []string, depth int) (string, []string) {
	v := g.fresh()
	switch g.n(26) {
	case 24:
		w := g.fresh()
		return fmt.Sprintf("every %s in %s { %s }", w, g.collection(scope), g.cond(append(scope, w))), nil
	case 25:
		return fmt.Sprintf("count(%s) %s %s", g.value(scope), g.pick("==", ">", "<="), g.pick("0", "1", "2", "1.0")), nil
	case 16, 17, 18:
		return g.indexCond(scope), nil
	case 19, 20, 21, 22, 23:
		x := g.pick(`input.a`, `input.b`, `input.n`, `input.o.k`, `input.xs[0]`)
		if len(scope) > 0 && g.n(2) == 0 {
			x = g.anyVar(scope)
		}
		return fmt.Sprintf("%s %s %s", x, g.pick("<", "<=", ">", ">=", "==", "!="), g.hot()), nil
	case 0:
		return fmt.Sprintf("%s := %s", v, g.inputRef()), []string{v}
	case 1:
		ref, k := g.iterRef()
		bound := []string{v}
		if k != "" {
			bound = append(bound, k)
		}
		if g.n(2) == 0 {
			return fmt.Sprintf("%s := %s", v, ref), bound
		}
		return fmt.Sprintf("%s = %s", ref, v), bound
	case 2:
		op := g.pick("==", "!=", "<", ">=", "=", ">")
		return fmt.Sprintf("%s %s %s", g.anyVar(scope), op, g.operand(scope)), nil
	case 3, 4:
		return g.call(scope, v)
	case 5:
		return "not " + g.cond(scope), nil
	case 6:
		return g.comprehension(scope, v, depth)
	case 7:
		return g.unification(scope, v)
	case 8, 9:
		return g.ruleRead(scope, v)
	case 10:
		return fmt.Sprintf("%s := %s", v, g.constant()), []string{v}
	case 11:
		w := g.fresh()
		return fmt.Sprintf("some %s, %s in %s", w, v, g.pick("input.xs", "input.o", "input.s", "input.a")), []string{v, w}
	case 12:
		// A ref over a value built in the body.
		b := g.collection(scope)
		if g.n(2) == 0 {
			return fmt.Sprintf("%s := %s[_]", v, b), []string{v}
		}
		w := g.fresh()
		return fmt.Sprintf("%s := %s[%s]", v, b, w), []string{v, w}
	case 13:
		return fmt.Sprintf("%s := %s[%s]", v, g.collection(scope), g.pick(`0`, `-1`, `1.0`, `"k"`, `1`, `"1"`, `null`)), []string{v}
	case 14:
		return g.inputRef(), nil
	}
	return fmt.Sprintf("%s := [%s, %s]", v, g.operand(scope), g.operand(scope)), []string{v}
}

// call writes a built-in call: with its result assigned, with an output
// operand unified against a constant, or as a condition.
func (g *progGen) call(scope []string, v string) (string, []string) {
	x := g.value(scope)
	y := g.operand(scope)
	switch g.n(30) {
	case 22:
		return fmt.Sprintf("%s := array.slice(%s, %s, %s)", v, x, g.pick("-1", "0", "1"), g.pick("2", "-1", "10")), []string{v}
	case 23:
		return fmt.Sprintf("%s := substring(%s, %s, %s)", v, x, g.pick("0", "1", "-1"), g.pick("-1", "1", "10")), []string{v}
	case 24:
		return fmt.Sprintf("%s := indexof(%s, %s)", v, x, g.pick(`"é"`, `"b"`, `""`)), []string{v}
	case 25:
		return fmt.Sprintf("%s := sprintf(%s, [%s])", v, g.pick(`"%d"`, `"%s"`, `"%.1f"`, `"%v-%v"`), x), []string{v}
	case 26:
		return fmt.Sprintf("%s := object.union(%s, {\"k\": %s})", v, x, y), []string{v}
	case 27:
		return fmt.Sprintf("%s := sort(%s)", v, x), []string{v}
	case 28:
		return fmt.Sprintf("%s in %s", y, x), nil
	case 29:
		return fmt.Sprintf("%s := concat(\",\", {%s, \"b\"})", v, x), []string{v}
	case 0:
		return fmt.Sprintf("%s := count(%s)", v, x), []string{v}
	case 1:
		return fmt.Sprintf("count(%s, %s)", x, g.pick("0", "1", "1.0", "2")), nil
	case 2:
		return fmt.Sprintf("%s := %s %s %s", v, x, g.pick("+", "-", "*", "/", "%"), y), []string{v}
	case 3:
		return fmt.Sprintf("%s := to_number(%s)", v, x), []string{v}
	case 4:
		return fmt.Sprintf("startswith(%s, %s)", x, g.pick(`"a"`, `"1"`, `""`)), nil
	case 5:
		return fmt.Sprintf("%s := concat(\",\", %s)", v, x), []string{v}
	case 6:
		return fmt.Sprintf("%s := object.get(%s, %s, %s)", v, x, g.pick(`"k"`, `["k", "k"]`, `1`, `"1"`, `[]`), y), []string{v}
	case 7:
		return fmt.Sprintf("%s := sum(%s)", v, x), []string{v}
	case 8:
		return fmt.Sprintf("%s := abs(%s)", v, x), []string{v}
	case 9:
		return fmt.Sprintf("%s := type_name(%s)", v, x), []string{v}
	case 10:
		return fmt.Sprintf("is_number(%s)", x), nil
	case 11:
		return fmt.Sprintf("%s := json.marshal(%s)", v, x), []string{v}
	case 12:
		return fmt.Sprintf("%s := split(%s, \",\")", v, x), []string{v}
	case 13:
		return fmt.Sprintf("%s := max(%s)", v, x), []string{v}
	case 14:
		return fmt.Sprintf("%s := sprintf(\"%%v\", [%s])", v, x), []string{v}
	case 15:
		return fmt.Sprintf("%s := array.concat(%s, [1])", v, x), []string{v}
	case 16:
		return fmt.Sprintf("%s := object.keys(%s)", v, x), []string{v}
	case 17:
		return fmt.Sprintf("%s := {%s, 1} | {%s}", v, x, y), []string{v}
	case 18:
		return fmt.Sprintf("%s := round(%s)", v, x), []string{v}
	case 19:
		return fmt.Sprintf("%s := lower(%s)", v, x), []string{v}
	case 20:
		return fmt.Sprintf("equal(%s, %s, %s)", x, y, g.pick("true", "false")), nil
	}
	return fmt.Sprintf("%s := format_int(%s, 10)", v, x), []string{v}
}

// comprehension writes a comprehension, often closing over a variable
// of the enclosing body.
func (g *progGen) comprehension(scope []string, v string, depth int) (string, []string) {
	y, k := g.fresh(), g.fresh()
	outer := g.anyVar(scope)
	cond := ""
	switch g.n(4) {
	case 0:
		cond = fmt.Sprintf("; %s != %s", y, outer)
	case 1:
		cond = fmt.Sprintf("; %s == %s", y, outer)
	case 2:
		if depth < 2 {
			inner, _ := g.stmt(append(scope, y), depth+1)
			cond = "; " + inner
		}
	}
	src := g.pick("input.xs", "input.o", "input.s", g.collection(scope), "input.a")
	switch g.n(4) {
	case 0:
		return fmt.Sprintf("%s := [%s | some %s in %s%s]", v, y, y, src, cond), []string{v}
	case 1:
		return fmt.Sprintf("%s := {%s | %s := %s[_]%s}", v, y, y, src, cond), []string{v}
	case 2:
		return fmt.Sprintf("%s := {%s: %s | %s := %s[%s]%s}", v, k, y, y, src, k, cond), []string{v}
	}
	return fmt.Sprintf("%s := count([1 | %s := %s[_]%s])", v, y, src, cond), []string{v}
}

// unification writes the unification of composites with variables on
// either side.
func (g *progGen) unification(scope []string, v string) (string, []string) {
	w := g.fresh()
	switch g.n(7) {
	case 0:
		return fmt.Sprintf("[%s, %s] = input.pair", v, w), []string{v, w}
	case 1:
		return fmt.Sprintf("{\"k\": %s} = input.o", v), []string{v}
	case 2:
		return fmt.Sprintf("[%s, %s] = input.pair", v, g.operand(scope)), []string{v}
	case 3:
		return fmt.Sprintf("input.pair = [%s, {\"k\": %s}]", v, w), []string{v, w}
	case 4:
		return fmt.Sprintf("[%s, %s] = [%s, %s]", v, w, g.operand(scope), g.operand(scope)), []string{v, w}
	case 5:
		return fmt.Sprintf("[%s, %s] = [%s, %s]", v, v, g.operand(scope), g.operand(scope)), []string{v}
	}
	return fmt.Sprintf("{\"a\": %s, \"b\": %s} = input.o", v, w), []string{v, w}
}

// ruleRead reads a rule written before: its value, a set's elements,
// a function's value.
func (g *progGen) ruleRead(scope []string, v string) (string, []string) {
	rs := g.readable(-1)
	if len(rs) == 0 {
		return fmt.Sprintf("%s := %s", v, g.inputRef()), []string{v}
	}
	r := rs[g.n(len(rs))]
	ref := "data.partial.x." + r.name
	switch r.kind {
	case genSet:
		switch g.n(3) {
		case 0:
			return fmt.Sprintf("%s[%s]", ref, v), []string{v}
		case 1:
			return fmt.Sprintf("%s[%s]", ref, g.operand(scope)), nil
		}
		return fmt.Sprintf("%s := %s", v, ref), []string{v}
	case genFunc:
		a, b := g.operand(scope), g.operand(scope)
		switch g.n(3) {
		case 0:
			return fmt.Sprintf("%s(%s, %s)", ref, a, b), nil
		case 1:
			return fmt.Sprintf("%s(%s, %s, %s)", ref, a, b, g.constant()), nil
		}
		return fmt.Sprintf("%s := %s(%s, %s)", v, ref, a, b), []string{v}
	}
	switch g.n(6) {
	case 0, 1:
		return fmt.Sprintf("not %s", ref), nil
	case 2:
		return fmt.Sprintf("%s := %s[%s]", v, ref, g.pick("0", `"k"`, "1", "-1")), []string{v}
	case 3:
		w := g.fresh()
		return fmt.Sprintf("some %s, %s in %s", w, v, ref), []string{v, w}
	}
	return fmt.Sprintf("%s := %s", v, ref), []string{v}
}

// body writes a rule's body; scope holds the function's parameters.
func (g *progGen) body(scope []string) (string, []string) {
	var lines []string
	for range 1 + g.n(4) {
		s, bound := g.stmt(scope, 0)
		lines = append(lines, "\t"+s)
		scope = append(scope, bound...)
	}
	return strings.Join(lines, "\n"), scope
}

// head is a rule's value: a bound variable, a constant or a composite.
func (g *progGen) head(scope []string) string {
	switch g.n(4) {
	case 0:
		return g.constant()
	case 1:
		return fmt.Sprintf("[%s, %s]", g.operand(scope), g.operand(scope))
	}
	return g.operand(scope)
}

func (g *progGen) rule(idx int) {
	kind := g.n(4)
	name := fmt.Sprintf("r%d", idx)
	if kind == genFunc {
		name = fmt.Sprintf("f%d", idx)
	}
	bodies := 1 + g.n(3)
	hasDefault := g.n(2) == 0
	switch kind {
	case genValue:
		if hasDefault {
			fmt.Fprintf(&g.out, "default %s := %s\n", name, g.constant())
		}
	case genBool:
		if hasDefault {
			fmt.Fprintf(&g.out, "default %s := false\n", name)
		}
	case genFunc:
		if hasDefault {
			fmt.Fprintf(&g.out, "default %s(_, _) := %s\n", name, g.constant())
		}
	}
	for range bodies {
		switch kind {
		case genValue:
			b, scope := g.body(nil)
			fmt.Fprintf(&g.out, "%s := %s if {\n%s\n}\n", name, g.head(scope), b)
		case genBool:
			b, _ := g.body(nil)
			fmt.Fprintf(&g.out, "%s if {\n%s\n}\n", name, b)
		case genSet:
			b, scope := g.body(nil)
			fmt.Fprintf(&g.out, "%s contains %s if {\n%s\n}\n", name, g.head(scope), b)
		case genFunc:
			p, q := g.fresh(), g.fresh()
			params := []string{p, q}
			ps := p
			if g.n(3) == 0 {
				ps = g.pick("1", `"a"`, "[1, x]", `{"k": x}`, "[x, _]")
				params = []string{q}
				if strings.Contains(ps, "x") {
					params = append(params, "x")
				}
			}
			b, scope := g.body(params)
			fmt.Fprintf(&g.out, "%s(%s, %s) := %s if {\n%s\n}\n", name, ps, q, g.head(scope), b)
		}
	}
	g.rules = append(g.rules, genRule{name: name, kind: kind})
}

// program writes the module and the query reading its rules.
func (g *progGen) program() (module, query string) {
	g.out.WriteString("package partial.x\n\n")
	for i := range 1 + g.n(4) {
		g.rule(i)
	}
	var q []string
	for i, r := range g.rules {
		ref := "data.partial.x." + r.name
		switch {
		case r.kind == genFunc:
			if g.n(2) == 0 {
				q = append(q, fmt.Sprintf("q%d = %s(input.a, input.n)", i, ref))
			}
		case i == len(g.rules)-1 || g.n(2) == 0:
			if g.n(3) == 0 {
				q = append(q, fmt.Sprintf("q%d = [w | w = %s]", i, ref))
			} else {
				q = append(q, fmt.Sprintf("q%d = %s", i, ref))
			}
		}
	}
	if len(q) == 0 {
		q = append(q, "q = true")
	}
	return g.out.String(), strings.Join(q, "; ")
}

// inputGen writes an input document from a byte string: the fields the
// generated programs read, with values at the edges.
type inputGen struct{ progGen }

var genInputValues = []string{
	`0`, `1`, `1.0`, `1e0`, `-1`, `2.5`, `12345678901234567890`, `"1"`, `"a"`, `"a,b"`, `""`, `null`,
	`true`, `false`, `[]`, `{}`, `set()`, `{1, "1"}`, `{"a", "b"}`, `[1, 1.0, 2]`, `["a", "b"]`,
	`[1, {"k": 1}]`, `{"k": 1}`, `{"k": {"k": 2}}`, `{"1": "s", "k": 1.0}`, `{1: "n", "1": "s"}`,
	`{"a": 1, "b": 2}`, `[[1], [2]]`, `[null, false]`, `[-1, 0.5]`,
	`"a.b"`, `"a\\.b"`, `"ab"`, `"a:b"`, `"a.*"`, `"abc"`, `"café"`, `"a..b"`, `".a"`, `"c.b"`, `"a.b.c"`,
	`["a", "b"]`, `{"0": "a"}`, `["a.b"]`, `-0`, `0.0`, `1e2`, `100`,
}

func (g *inputGen) document() string {
	var fields []string
	for _, f := range []string{"a", "b", "n", "xs", "o", "s", "pair", "k"} {
		if g.n(5) == 0 {
			continue
		}
		v := genInputValues[g.n(len(genInputValues))]
		if g.n(2) == 0 {
			v = g.hot()
		}
		fields = append(fields, fmt.Sprintf("%q: %s", f, v))
	}
	return "{" + strings.Join(fields, ", ") + "}"
}

// genResidual is a generated program prepared for both evaluators.
type genResidual struct {
	module, query string
	prog          *program
	// td is topdown as the engine prepares it, own topdown on a
	// compilation of its own.
	td, own rego.PreparedEvalQuery
	// noIndex: topdown evaluates without its rule index, as the engine
	// does for a residual holding a glob pattern the index misreads
	// (specialise_glob.go).
	noIndex bool
}

// genOutcome is what comparing one generated program found.
type genOutcome int

const (
	genInvalid  genOutcome = iota // topdown does not prepare it
	genRefused                    // the compiler refuses it
	genCompiled                   // compiled and compared
)

// prepareGenerated prepares module and query as the specialiser does
// (specialiser.partial: one compilation of the support modules for
// topdown's prepared query and the compiled residual), and for topdown
// once more from the parsed modules, as a reference independent of that
// compilation.
func prepareGenerated(module, query string, strict bool) (*genResidual, genOutcome, error) {
	parse := func() (ast.Body, *ast.Module, error) {
		q, err := ast.ParseBody(query)
		if err != nil {
			return nil, nil, err
		}
		m, err := ast.ParseModuleWithOpts("gen.rego", module, ast.ParserOptions{RegoVersion: ast.RegoV1})
		return q, m, err
	}
	ctx := context.Background()
	q, m, err := parse()
	if err != nil {
		return nil, genInvalid, err
	}
	own, err := rego.New(rego.ParsedQuery(q), rego.ParsedModule(m), rego.Store(inmem.New()),
		rego.StrictBuiltinErrors(strict), rego.GenerateJSON(astResult)).PrepareForEval(ctx)
	if err != nil {
		return nil, genInvalid, err
	}
	q, m, _ = parse()
	c, err := compileSupport([]*ast.Module{m})
	if err != nil {
		return nil, genInvalid, err
	}
	td, err := rego.New(rego.ParsedQuery(q), rego.Compiler(c), rego.Store(inmem.New()),
		rego.StrictBuiltinErrors(strict), rego.GenerateJSON(astResult)).PrepareForEval(ctx)
	if err != nil {
		return nil, genInvalid, err
	}
	prog, err := compileProgram(c, q, strict, nil)
	if err != nil {
		var r *refusal
		if errors.As(err, &r) {
			return nil, genRefused, err
		}
		return nil, genInvalid, err
	}
	return &genResidual{module: module, query: query, prog: prog, td: td, own: own, noIndex: escapedGlob(m) != ""}, genCompiled, nil
}

// compare evaluates one input compiled and by topdown, both as the
// engine prepares them and from the parsed modules; "" when the compiled
// result may stand for topdown's: equal results, value and text, or a
// compiled error (the engine then asks topdown).
func (gr *genResidual) compare(input string) (diff string, compiledErr bool) {
	in := ast.MustParseTerm(input).Value
	ctx := context.Background()
	c, cErr := gr.prog.eval(ctx, in, topdown.NewCancel())
	if cErr != nil {
		return "", true
	}
	for _, ref := range []struct {
		name string
		q    rego.PreparedEvalQuery
	}{{"topdown", gr.td}, {"topdown on its own compilation", gr.own}} {
		td, tErr := ref.q.Eval(ctx, rego.EvalParsedInput(in), noMetrics, rego.EvalRuleIndexing(!gr.noIndex))
		if d := sameText(c, td, tErr); d != "" {
			return fmt.Sprintf("against %s: %s", ref.name, d), false
		}
	}
	return "", false
}

// sameText reports how a compiled result differs from topdown's.
func sameText(c, td rego.ResultSet, tErr error) string {
	if tErr != nil {
		return fmt.Sprintf("compiled %v, topdown error %v", c, tErr)
	}
	if d := sameResults(c, td, nil, nil); d != "" {
		return fmt.Sprintf("%s\ncompiled %v\ntopdown  %v", d, c, td)
	}
	// Equal values may still be written differently (1 and 1.0): the
	// decision's JSON must be the same text.
	for i := range td {
		for name, v := range td[i].Bindings {
			if x, y := fmt.Sprint(c[i].Bindings[name]), fmt.Sprint(v); x != y {
				return fmt.Sprintf("%s: compiled %s, topdown %s (equal values written differently)", name, x, y)
			}
		}
	}
	return ""
}

func (gr *genResidual) report(input, diff string) string {
	return fmt.Sprintf("%s\nquery: %s\nmodule:\n%s\ninput: %s", diff, gr.query, gr.module, input)
}

// FuzzCompiledEqualsTopdownOnGeneratedResiduals generates a residual and
// inputs from the fuzz bytes and requires the compiled evaluation to
// equal topdown's on each input, each input evaluated after the others
// on the same pooled frames.
func FuzzCompiledEqualsTopdownOnGeneratedResiduals(f *testing.F) {
	f.Add([]byte("prog"), []byte("input"), true)
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, []byte{9, 8, 7, 6, 5, 4, 3, 2, 1}, false)
	for i := range 8 {
		prog, in := seedBytes(uint64(i) + 1)
		f.Add(prog, in, i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, progBytes, inBytes []byte, strict bool) {
		g := &progGen{b: progBytes}
		module, query := g.program()
		gr, outcome, _ := prepareGenerated(module, query, strict)
		if outcome != genCompiled {
			return
		}
		ig := &inputGen{progGen{b: inBytes}}
		for range 4 {
			input := ig.document()
			if diff, _ := gr.compare(input); diff != "" {
				t.Fatal(gr.report(input, diff))
			}
		}
	})
}

// seedBytes are pseudo-random bytes for seeds and the generated test.
func seedBytes(seed uint64) (prog, in []byte) {
	s := seed*0x9e3779b97f4a7c15 + 1
	next := func() byte {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		return byte(s >> 24)
	}
	prog, in = make([]byte, 160), make([]byte, 64)
	for i := range prog {
		prog[i] = next()
	}
	for i := range in {
		in[i] = next()
	}
	return prog, in
}

// TestCompiledEqualsTopdownOnGeneratedResiduals runs the fuzz target's
// property over a fixed set of generated programs, and fails when the
// generator writes mostly programs topdown rejects or the compiler
// refuses: the property must be tested on compiled programs.
func TestCompiledEqualsTopdownOnGeneratedResiduals(t *testing.T) {
	t.Parallel()
	n := 600
	if testing.Short() {
		n = 150
	}
	counts := map[genOutcome]int{}
	why := map[string]int{}
	evaluated, compiledErrs := 0, 0
	for i := range n {
		progBytes, inBytes := seedBytes(uint64(i) + 1000)
		g := &progGen{b: progBytes}
		module, query := g.program()
		gr, outcome, err := prepareGenerated(module, query, i%2 == 0)
		counts[outcome]++
		if outcome == genRefused {
			why[refusalKind(err)]++
		}
		if outcome != genCompiled {
			continue
		}
		ig := &inputGen{progGen{b: inBytes}}
		for range 6 {
			input := ig.document()
			diff, cErr := gr.compare(input)
			evaluated++
			if cErr {
				compiledErrs++
			}
			if diff != "" {
				t.Errorf("program %d: %s", i, gr.report(input, diff))
				break
			}
		}
	}
	t.Logf("%d programs: %d invalid, %d refused %v, %d compiled; %d inputs evaluated, %d compiled errors",
		n, counts[genInvalid], counts[genRefused], why, counts[genCompiled], evaluated, compiledErrs)
	if valid := counts[genRefused] + counts[genCompiled]; valid < n/3 || counts[genCompiled] < valid/2 {
		t.Errorf("the generator writes too few compiled programs: %v", counts)
	}
}

// refusalKind is a refusal's reason without its location and terms.
func refusalKind(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "gen.rego") {
		s = s[i+2:]
	}
	for _, w := range []string{"with is not", "relation", "recursive", "else", "partial object", "indexed comprehension",
		"unbound", "not compiled", "evaluated", "not deterministic", "different shapes", "support rule"} {
		if strings.Contains(s, w) {
			return w
		}
	}
	return s
}

// trickyCase is a hand-written residual and the inputs that reach its
// edges.
type trickyCase struct {
	name, module, query string
	inputs              []string
}

var trickyCases = []trickyCase{
	{"not over a variable bound outside and one bound inside", `
default p := false
p if { x := input.a; not x in input.xs; not count(input.xs) > 2; not data.partial.x.has(x) }
has(v) if input.o[v]
`, `x = data.partial.x.p`, []string{`{"a": 1, "xs": [2]}`, `{"a": 1, "xs": [1.0]}`, `{"a": "k", "xs": [], "o": {"k": true}}`,
		`{"a": "k", "xs": [], "o": {"k": false}}`, `{"a": 1, "xs": [1, 2, 3]}`, `{"xs": []}`}},
	{"comprehensions closing over outer variables and over values built in the body", `
a := [y | some y in input.xs; y != input.a]
s := {y | some y in input.xs; y > input.a}
o := {k: v | some k, v in input.o; v != input.a}
b := [z | some y in built; z := y * 2] if built := [input.a, 2, input.a]
`, `a = data.partial.x.a; s = data.partial.x.s; o = data.partial.x.o; b = [v | v = data.partial.x.b]`,
		[]string{`{"a": 1, "xs": [1, 1.0, 2, "1"], "o": {"k": 1.0, "j": 2}}`, `{"a": "a", "xs": [], "o": {}}`, `{"a": 2.5, "xs": [3, 2.5], "o": {"1": 2.5}}`}},
	{"unification of composites with variables on both sides", `
p := [a, b] if { [a, {"k": b}] = input.pair }
q := [a, c] if { {"a": a, "b": [1, c]} = input.o }
r := a if { [a, a] = input.pair }
s := x if { x := [input.a, 1]; [1, y] = x; y == input.a }
`, `p = [v | v = data.partial.x.p]; q = [v | v = data.partial.x.q]; r = [v | v = data.partial.x.r]; s = [v | v = data.partial.x.s]`,
		[]string{`{"pair": [1, {"k": 2}], "o": {"a": 1, "b": [1, 2]}, "a": 1}`, `{"pair": [1, {"k": 2, "j": 3}], "o": {"a": 1, "b": [1.0, 2]}}`,
			`{"pair": [1, 1.0], "o": {"a": 1}, "a": 1.0}`, `{"pair": [[1], [1]], "o": {"a": 1, "b": [2, 2]}}`, `{"pair": "ab"}`}},
	{"refs with negative, non-integer, big and string indexes", `
v := [object.get(input, "missing", 0), x0, x1] if { x0 := [z | z := input.xs[-1]]; x1 := [z | z := input.xs[1.0]] }
w := [[z | z := input.xs[12345678901234567890]], [z | z := input.o[1]], [z | z := input.o["1"]], [z | z := input.xs["0"]]]
`, `v = data.partial.x.v; w = data.partial.x.w`,
		[]string{`{"xs": [1, 2], "o": {"1": "s"}}`, `{"xs": {"-1": 3, "1.0": 4, "0": 5}, "o": {"1": "s", "k": 1}}`, `{"xs": "ab"}`}},
	{"number representations compare equal and keep their text", `
default one := false
one if input.a == 1
same contains x if { some x in input.xs; x == 1 }
big if input.a == 12345678901234567890
echo := [input.a, input.b]
`, `one = data.partial.x.one; same = data.partial.x.same; big = [v | v = data.partial.x.big]; echo = data.partial.x.echo`,
		[]string{`{"a": 1.0, "b": 1e0, "xs": [1, 1.0, 1e0]}`, `{"a": 12345678901234567890, "b": 12345678901234567891}`,
			`{"a": 12345678901234567891, "b": 1.2345678901234567890e19}`, `{"a": "1", "b": -0}`}},
	{"null and booleans are values, false fails an expression", `
default t := "none"
t := "false" if input.a == false
t := "null" if input.a == null
default n := false
n if not input.a
u contains k if { some k, v in input.o; v }
`, `t = data.partial.x.t; n = data.partial.x.n; u = data.partial.x.u`,
		[]string{`{"a": false, "o": {"x": false, "y": null, "z": 0}}`, `{"a": null}`, `{}`, `{"a": 0, "o": {"x": true}}`}},
	{"a built-in's output unified against a constant", `
default empty := false
empty if count(input.xs, 0)
default one := false
one if count(input.xs, 1.0)
default ab := false
ab if startswith(input.a, "a", true)
`, `e = data.partial.x.empty; o = data.partial.x.one; ab = data.partial.x.ab`,
		[]string{`{"xs": [], "a": "ab"}`, `{"xs": [7], "a": "b"}`, `{"xs": "x", "a": 1}`, `{"xs": {}}`}},
	{"built-in errors fail a strict evaluation and are undefined otherwise", `
default p := "default"
p := "number" if to_number(input.a) > 0
default q := 0
q := 10 / input.n
r contains x if { some y in input.xs; x := lower(y) }
`, `p = data.partial.x.p; q = data.partial.x.q; r = data.partial.x.r`,
		[]string{`{"a": "x", "n": 0, "xs": ["A", 1]}`, `{"a": "2", "n": 5, "xs": ["A"]}`, `{"a": [], "n": "x"}`}},
	{"conflicting complete rule bodies", `
p := 1 if input.a
p := 2 if input.b
p := 1.0 if input.c
f(x) := 1 if x > 0
f(x) := 2 if x > 10
q := f(input.n)
`, `p = [v | v = data.partial.x.p]; q = [v | v = data.partial.x.q]`,
		[]string{`{"a": true, "c": true, "n": 5}`, `{"a": true, "b": true, "n": 20}`, `{"b": true, "n": -1}`}},
	{"undefined propagates through calls", `
f(x) := y if y := x.k
g(x) := f(x)
default h(_) := "default"
h(x) := "k" if f(x)
p := [h(input.a), h(input.b)]
s contains g(input.a)
s contains g(input.b)
`, `p = data.partial.x.p; s = data.partial.x.s`,
		[]string{`{"a": {"k": 1}}`, `{"a": {"k": false}, "b": {"j": 1}}`, `{"a": 1, "b": {"k": "v"}}`}},
	{"partial sets of composite values", `
r contains {"k": x, "v": [x, 1]} if some x in input.xs
r contains {"k": x, "v": [x, 1]} if some x in input.ys
r contains [x, {x}] if x := input.a
`, `r = data.partial.x.r`,
		[]string{`{"xs": [1, 2], "ys": [1.0, 3], "a": "a"}`, `{"xs": [{"a": 1}], "ys": [{"a": 1.0}]}`, `{}`}},
	{"a query enumerating a partial set and an object", `
r contains x if some x in input.xs
o := {k: v | some k, v in input.o}
`, `x = data.partial.x.r[_]; y = data.partial.x.o[k]`,
		[]string{`{"xs": [3, 1, "a", 2.5, [1], null], "o": {"b": 1, "a": 2, "1": 3}}`, `{"xs": [1], "o": {}}`}},
	{"a function's results for equal arguments written differently", `
f(x) := json.marshal(x)
p := [f(input.a), f(input.b), f([input.a]), f([input.b])]
`, `p = data.partial.x.p`,
		[]string{`{"a": 1, "b": 1.0}`, `{"a": 1.0, "b": 1}`, `{"a": 1e0, "b": 1}`}},
	{"a value looked up in a set", `
r contains k if { s := {1.0, 2}; x := input.a; s[k] = x }
`, `r = data.partial.x.r`,
		[]string{`{"a": 1}`, `{"a": 1.0}`, `{"a": 2.0}`}},
}

// TestCompiledEqualsTopdownOnTrickySemantics evaluates hand-written
// residuals at the edges of Rego's semantics, with strict built-in errors
// and without: a compiled result must be topdown's, value and text, and
// each residual must be compiled, not refused.
func TestCompiledEqualsTopdownOnTrickySemantics(t *testing.T) {
	t.Parallel()
	for _, c := range trickyCases {
		for _, strict := range []bool{true, false} {
			gr, outcome, err := prepareGenerated("package partial.x\n"+c.module, c.query, strict)
			if outcome != genCompiled {
				t.Errorf("%s (strict %v): not compiled: %v", c.name, strict, err)
				continue
			}
			decided := 0
			for _, in := range c.inputs {
				diff, cErr := gr.compare(in)
				if diff != "" {
					t.Errorf("%s (strict %v): %s", c.name, strict, gr.report(in, diff))
				}
				if !cErr {
					decided++
				}
			}
			if decided == 0 {
				t.Errorf("%s (strict %v): the compiled evaluation failed on every input", c.name, strict)
			}
		}
	}
}

// TestACancelledEvaluationEndsBothEvaluatorsWithTopdownsCancellation
// cancels, through the context as specialised.eval does, evaluations
// that would run for hours: in a comprehension, in a rule's body, under
// not, in a function, in a partial set and under every. Both evaluators must stop
// soon with topdown's cancellation error.
func TestACancelledEvaluationEndsBothEvaluatorsWithTopdownsCancellation(t *testing.T) {
	t.Parallel()
	const support = `
r := numbers.range(1, 2000)
f(x, y) if x + y > 0
`
	for name, rule := range map[string]string{
		"comprehension": `p := count([1 | some x in r; some y in r; some z in r; x + y == z * 7919])`,
		"rule body":     `p if { some x in r; some y in r; some z in r; x + y + z < 0 }`,
		"not":           `p if { some x in r; some y in r; some z in r; not f(x, y + z) }`,
		"function":      "p if { some x in r; some y in r; g(x, y) }\ng(x, y) if { some z in r; x + y + z < 0 }",
		"partial set":   `p contains [x, y, z] if { some x in r; some y in r; some z in r; x + y + z < 0 }`,
		"every":         `p if { some x in r; every y in r { every z in r { x + y + z > 0 } }; x < 0 }`,
	} {
		gr, outcome, err := prepareGenerated("package partial.x\n"+support+rule+"\n", `x = data.partial.x.p`, true)
		if outcome != genCompiled {
			t.Fatalf("%s: not compiled: %v", name, err)
		}
		in := ast.MustParseTerm(`{}`).Value
		for evaluator, eval := range map[string]func(context.Context, topdown.Cancel) error{
			"compiled": func(ctx context.Context, c topdown.Cancel) error {
				_, err := gr.prog.eval(ctx, in, c)
				return err
			},
			"topdown": func(ctx context.Context, c topdown.Cancel) error {
				_, err := gr.td.Eval(ctx, rego.EvalParsedInput(in), noMetrics, rego.EvalExternalCancel(c))
				return err
			},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			c := topdown.NewCancel()
			stop := context.AfterFunc(ctx, c.Cancel)
			done := make(chan error, 1)
			go func() { done <- eval(ctx, c) }()
			select {
			case err := <-done:
				var te *topdown.Error
				if !errors.As(err, &te) || te.Code != topdown.CancelErr {
					t.Errorf("%s, %s: err = %v, want topdown's cancellation", name, evaluator, err)
				}
			case <-time.After(10 * time.Second):
				// The evaluation goes on until the test binary exits.
				t.Errorf("%s, %s: still evaluating 10s after the cancellation", name, evaluator)
			}
			stop()
			cancel()
		}
	}
}

// advCustom are author modules in package pdp.custom using what the
// compiled residual refuses (else, a partial object, with, a function
// with a default called with an output operand), every, and a glob
// pattern topdown's rule index misreads.
var advCustom = map[string]string{
	"every": `deny contains {"code": "custom.every", "message": "every tag is x", "rule": "custom.every"} if {
	count(input.attributes.tags) > 0
	every t in input.attributes.tags { startswith(t, "x") }
}`,
	"else": `level := "high" if input.attributes.n > 5
else := "low"

notices contains {"code": concat(".", ["custom", level]), "message": "level", "rule": "custom.level"} if input.attributes.hello == true`,
	"partial object": `labels[k] := v if some k, v in input.attributes.labels

obligations contains {"kind": "label", "params": labels} if count(labels) > 0`,
	"default function with an output operand": `default tier(_) := "basic"

tier(n) := "gold" if n > 3

risk_factors contains {"name": "unusual_time", "weight": 0.2, "detail": "tier"} if tier(input.attributes.n, "basic")`,
	"escaped glob": `challenge contains {"code": "custom.csv", "message": "csv", "rule": "custom.csv", "step_ups": [{"kind": "mfa", "reason_code": "custom.csv"}]} if {
	glob.match("export\\\\.csv", [], input.action.name)
}`,
	"with": `inner if input.attributes.flag

deny contains {"code": "custom.with", "message": "with", "rule": "custom.with"} if {
	inner with input.attributes.flag as input.attributes.risky
}`,
}

// TestAuthorModulesAtTheCompilersEdgesDecideAsTheReference loads the
// demo tenants with each of advCustom: every tenant environment must be
// compiled, evaluated by topdown with the compiler's reason, or left to
// the reference with the specialiser's, and decide generated requests as
// the reference does.
func TestAuthorModulesAtTheCompilersEdgesDecideAsTheReference(t *testing.T) {
	t.Parallel()
	tenants := demoTenants(t)
	attrs := []map[string]any{
		{"tags": []any{"xa", "xb"}, "n": json.Number("1"), "m": json.Number("1.0"), "hello": true},
		{"tags": []any{"xa", "b"}, "n": json.Number("7"), "labels": map[string]any{"a": "b"}, "flag": true, "risky": true},
		{"n": json.Number("1.0"), "m": json.Number("1"), "hello": true, "risky": false},
		{"n": json.Number("4"), "labels": map[string]any{}, "tags": []any{}},
	}
	for _, name := range slices.Sorted(maps.Keys(advCustom)) {
		e := loaded(t, Options{}, Bundle{Tenants: tenants, Modules: map[string]string{"custom/adv.rego": "package pdp.custom\n\n" + advCustom[name] + "\n"}})
		fillAll(t, e)
		p := e.current.Load()
		var how []string
		for _, s := range e.Specialisations() {
			switch {
			case s.State == Specialised && s.Evaluator == EvaluatorTopdown && s.EvaluatorReason == "":
				t.Errorf("%s: %s/%s is evaluated by topdown without a reason", name, s.Tenant, s.Environment)
			case s.State == FallbackUnspecialisable && s.Reason == "":
				t.Errorf("%s: %s/%s is not specialised, without a reason", name, s.Tenant, s.Environment)
			}
			how = append(how, fmt.Sprintf("%s/%s %s %s", s.Tenant, s.Environment, s.State, s.Evaluator))
		}
		t.Logf("%s: %s", name, strings.Join(how, ", "))
		g := &gen{state: 0xad5}
		for i := range 120 {
			in := g.input()
			for k, v := range attrs[i%len(attrs)] {
				in["attributes"].(map[string]any)[k] = v
			}
			if i%5 == 0 {
				in["action"].(map[string]any)["name"] = "export.csv"
			}
			ref, spec, refErr, specErr, sp := decideBoth(t, p, in)
			if sp == nil {
				continue
			}
			if diff := sameDecision(ref, spec, refErr, specErr); diff != "" {
				t.Errorf("%s: request %d: %s\ninput %v", name, i, diff, in)
			}
		}
	}
}

// TestTimeNowNsIsOneInstantPerEvaluationInBothEvaluators reads
// time.now_ns in rules, a function, a comprehension and the query: in
// one evaluation every read is the same instant, taken during it, and
// the next evaluation on the same pooled frames reads a later one.
func TestTimeNowNsIsOneInstantPerEvaluationInBothEvaluators(t *testing.T) {
	t.Parallel()
	gr, outcome, err := prepareGenerated(`package partial.x
a := time.now_ns()
f(x) := time.now_ns() + x
b := [t | some x in input.xs; t := f(x) - x]
`, `a = data.partial.x.a; b = data.partial.x.b; c = time.now_ns()`, true)
	if outcome != genCompiled {
		t.Fatalf("not compiled: %v", err)
	}
	in := ast.MustParseTerm(`{"xs": [1, 2, 3]}`).Value
	instant := func(name string, rs rego.ResultSet) int64 {
		t.Helper()
		if len(rs) != 1 {
			t.Fatalf("%s: %d results", name, len(rs))
		}
		b := rs[0].Bindings
		want := b["c"].(ast.Value)
		if ast.Compare(b["a"].(ast.Value), want) != 0 {
			t.Errorf("%s: a = %v, c = %v", name, b["a"], want)
		}
		ts := b["b"].(*ast.Array)
		for i := range ts.Len() {
			if ast.Compare(ts.Elem(i).Value, want) != 0 {
				t.Errorf("%s: b[%d] = %v, c = %v", name, i, ts.Elem(i), want)
			}
		}
		n, _ := want.(ast.Number).Int64()
		return n
	}
	var last int64
	for range 3 {
		before := time.Now().UnixNano()
		c, cErr := gr.prog.eval(context.Background(), in, topdown.NewCancel())
		td, tErr := gr.td.Eval(context.Background(), rego.EvalParsedInput(in), noMetrics)
		after := time.Now().UnixNano()
		if cErr != nil || tErr != nil {
			t.Fatalf("compiled error %v, topdown error %v", cErr, tErr)
		}
		for name, rs := range map[string]rego.ResultSet{"compiled": c, "topdown": td} {
			if n := instant(name, rs); n < before || n > after {
				t.Errorf("%s: time.now_ns() = %d, not within the evaluation [%d, %d]", name, n, before, after)
			}
		}
		n := instant("compiled", c)
		if n <= last {
			t.Errorf("compiled: time.now_ns() = %d, not after the previous evaluation's %d", n, last)
		}
		last = n
		time.Sleep(time.Millisecond)
	}
}

// TestTheCompiledResidualKeepsItsPatternsInTheEnginesCache evaluates
// glob.match and regex.match on the input with a compiled residual: the
// patterns are kept in the value cache it was compiled with, as topdown
// keeps them (TestEvaluationsKeepTheirPatternsInTheEnginesCache), and
// the engine compiles its residuals with its own cache.
func TestTheCompiledResidualKeepsItsPatternsInTheEnginesCache(t *testing.T) {
	t.Parallel()
	q := ast.MustParseBody(`x = data.partial.x.p`)
	m, err := ast.ParseModuleWithOpts("m.rego", `package partial.x
p := [glob.match("adv.*", null, input.a), regex.match("^adv", input.a)]
`, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		t.Fatal(err)
	}
	vc := newBuiltinCache()
	prog, err := compileResidual(q, []*ast.Module{m}, true, vc)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := prog.eval(context.Background(), ast.MustParseTerm(`{"a": "adv.x"}`).Value, topdown.NewCancel())
	if err != nil || len(rs) != 1 || rs[0].Bindings["x"].(ast.Value).String() != "[true, true]" {
		t.Fatalf("p = %v, %v; want [true, true]", rs, err)
	}
	for _, key := range []string{"adv.*-", "^adv"} {
		if _, ok := vc.Get(ast.String(key)); !ok {
			t.Errorf("the value cache does not hold the pattern %q", key)
		}
	}
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	fillAll(t, e)
	for k, sl := range e.current.Load().special.slots {
		if sp := sl.sp.Load(); sp != nil && sp.compiled != nil && sp.compiled.valueCache != e.builtins {
			t.Errorf("%v: the compiled residual does not use the engine's value cache", k)
		}
	}
}

// edgeNumbers are numbers at the edges of the compiled residual's
// integer arithmetic: signs and zeros, the int64 bounds and past them,
// integers past a float's precision, fractions and exponents.
var edgeNumbers = []string{
	"0", "-0", "-0.0", "1", "-1", "2", "3", "7", "-7", "1.0", "0.5", "1e2", "1E2",
	"3037000500", "-3037000500", "4611686018427387904", "-4611686018427387904",
	"9007199254740993", "-9007199254740993", "18014398509481985",
	"9223372036854775807", "-9223372036854775808", "9223372036854775808", "12345678901234567890",
}

// TestCompiledArithmeticEqualsTopdownOnEdgeNumbers applies every
// arithmetic operator to every pair of edgeNumbers, and round, ceil,
// floor and abs to each, strict and not: the compiled result must be
// topdown's, to the digit.
func TestCompiledArithmeticEqualsTopdownOnEdgeNumbers(t *testing.T) {
	t.Parallel()
	var rules []string
	for i, op := range []string{"+", "-", "*", "/", "%"} {
		rules = append(rules, fmt.Sprintf("b%d := input.a %s input.b", i, op))
	}
	for _, f := range []string{"round", "ceil", "floor", "abs"} {
		rules = append(rules, fmt.Sprintf("u_%s := %s(input.a)", f, f))
	}
	var query []string
	for _, r := range rules {
		name := strings.Fields(r)[0]
		query = append(query, fmt.Sprintf("%s = [v | v = data.partial.x.%s]", name, name))
	}
	for _, strict := range []bool{true, false} {
		gr, outcome, err := prepareGenerated("package partial.x\n"+strings.Join(rules, "\n")+"\n", strings.Join(query, "; "), strict)
		if outcome != genCompiled {
			t.Fatalf("not compiled: %v", err)
		}
		decided := 0
		for _, a := range edgeNumbers {
			for _, b := range edgeNumbers {
				in := fmt.Sprintf(`{"a": %s, "b": %s}`, a, b)
				diff, cErr := gr.compare(in)
				if diff != "" {
					t.Errorf("strict %v, a %s, b %s: %s", strict, a, b, diff)
				}
				if !cErr {
					decided++
				}
			}
		}
		if want := len(edgeNumbers) * len(edgeNumbers) / 2; decided < want {
			t.Errorf("strict %v: the compiled evaluation decided %d pairs, want at least %d", strict, decided, want)
		}
	}
}

// TestConcurrentCompiledEvaluationsAreIndependent evaluates one compiled
// residual from several goroutines at once, each input in a different
// order, some failing under strict built-in errors: every result must be
// the one the input gets alone (frames, memos, function results and
// comprehension accumulators are per evaluation).
func TestConcurrentCompiledEvaluationsAreIndependent(t *testing.T) {
	t.Parallel()
	gr, outcome, err := prepareGenerated(`package partial.x
f(x) := json.marshal(x)
g(x) := y if { y := [z | some z in input.xs; z != x] }
default p := "none"
p := f(input.a) if not input.b
s contains g(x) if some x in input.xs
n := count([1 | some x in input.xs; to_number(x) > 0])
`, `p = data.partial.x.p; s = data.partial.x.s; n = [v | v = data.partial.x.n]`, true)
	if outcome != genCompiled {
		t.Fatalf("not compiled: %v", err)
	}
	var inputs []ast.Value
	want := map[int]string{}
	for i := range 24 {
		in := ast.MustParseTerm(fmt.Sprintf(`{"a": %d.0, "b": %v, "xs": [%d, 2, "%d", %s]}`, i, i%3 == 0, i, i, []string{"1", `"x"`, "1.0"}[i%3])).Value
		inputs = append(inputs, in)
		rs, err := gr.prog.eval(context.Background(), in, topdown.NewCancel())
		want[i] = fmt.Sprint(rs, err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range 20 {
				for j := range inputs {
					i := (j*7 + w*5 + round) % len(inputs)
					rs, err := gr.prog.eval(context.Background(), inputs[i], topdown.NewCancel())
					if got := fmt.Sprint(rs, err); got != want[i] {
						t.Errorf("input %d evaluated concurrently: %s, alone: %s", i, got, want[i])
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}

// peResidual is a generated module partially evaluated as the
// specialiser does (the input unknown but for one known field), its
// residual prepared for topdown and compiled.
type peResidual struct {
	prog             *program
	td               rego.PreparedEvalQuery
	module, residual string
	known            *ast.Term
	// noIndex is genResidual's.
	noIndex bool
}

var peComprehension = regexp.MustCompile(`\[w \| w = (data\.gen\.\w+)\]`)

// peUnknowns are the input fields the generated programs read.
var peUnknowns = []string{"a", "b", "n", "xs", "o", "s", "pair", "d"}

// preparePartial partially evaluates a generated program (its package
// renamed gen) with input.k known, with full inlining or none, and
// prepares the one residual query as specialiser.partial does; nil when
// partial evaluation fails, leaves other than one query or one that tests
// a condition (the specialiser refuses both), or the compiler refuses the
// residual.
func preparePartial(module, query string, strict, inline bool, known *ast.Term) *peResidual {
	module = strings.ReplaceAll(module, "partial.x", "gen")
	// Partial evaluation leaves a comprehension as it is, reading the
	// original rules: read them directly.
	query = peComprehension.ReplaceAllString(strings.ReplaceAll(query, "partial.x", "gen"), "$1")
	q, err := ast.ParseBody(query)
	if err != nil {
		return nil
	}
	m, err := ast.ParseModuleWithOpts("gen.rego", module, ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err != nil {
		return nil
	}
	var unknowns []*ast.Term
	for _, f := range peUnknowns {
		unknowns = append(unknowns, ast.RefTerm(ast.InputRootDocument, ast.StringTerm(f)))
	}
	opts := []func(*rego.Rego){rego.ParsedQuery(q), rego.ParsedModule(m), rego.Store(inmem.New()),
		rego.ParsedInput(ast.NewObject(ast.Item(ast.StringTerm("k"), known))), rego.ParsedUnknowns(unknowns),
		rego.StrictBuiltinErrors(strict)}
	if !inline {
		var rules []string
		for _, r := range m.Rules {
			rules = append(rules, r.Head.Ref().String())
		}
		opts = append(opts, rego.DisableInlining(rules))
	}
	ctx := context.Background()
	pq, err := rego.New(opts...).Partial(ctx)
	if err != nil || len(pq.Queries) != 1 || onlyBindings(pq.Queries[0]) != nil {
		return nil
	}
	c, err := compileSupport(pq.Support)
	if err != nil {
		return nil
	}
	td, err := rego.New(rego.ParsedQuery(pq.Queries[0]), rego.Compiler(c), rego.Store(inmem.New()),
		rego.StrictBuiltinErrors(strict), rego.GenerateJSON(astResult)).PrepareForEval(ctx)
	if err != nil {
		return nil
	}
	prog, err := compileProgram(c, pq.Queries[0], strict, nil)
	if err != nil {
		return nil
	}
	var sb strings.Builder
	sb.WriteString(pq.Queries[0].String())
	for _, s := range pq.Support {
		sb.WriteString("\n" + s.String())
	}
	noIndex := false
	for _, m := range pq.Support {
		noIndex = noIndex || escapedGlob(m) != ""
	}
	return &peResidual{prog: prog, td: td, module: module, residual: sb.String(), known: known, noIndex: noIndex}
}

// compare evaluates one input with the residual compiled and by topdown;
// a compiled error is allowed, as in genResidual.compare.
func (pe *peResidual) compare(input string) string {
	in, ok := ast.MustParseTerm(input).Value.(ast.Object)
	if !ok {
		return ""
	}
	in.Insert(ast.StringTerm("k"), pe.known)
	ctx := context.Background()
	c, cErr := pe.prog.eval(ctx, in, topdown.NewCancel())
	if cErr != nil {
		return ""
	}
	td, tErr := pe.td.Eval(ctx, rego.EvalParsedInput(in), noMetrics, rego.EvalRuleIndexing(!pe.noIndex))
	if d := sameText(c, td, tErr); d != "" {
		return fmt.Sprintf("%s\nmodule:\n%s\nresidual:\n%s\ninput: %v", d, pe.module, pe.residual, in)
	}
	return ""
}

// FuzzCompiledEqualsTopdownOnPartiallyEvaluatedResiduals partially
// evaluates a generated program as the specialiser does, so the
// residual has the shapes OPA's partial evaluation and compiler leave
// (locals, inlined bodies, support rules, member calls, every), and
// requires the compiled evaluation to equal topdown's on the residual.
func FuzzCompiledEqualsTopdownOnPartiallyEvaluatedResiduals(f *testing.F) {
	for i := range 8 {
		prog, in := seedBytes(uint64(i) + 77)
		f.Add(prog, in, i%2 == 0, i%3 == 0)
	}
	f.Fuzz(func(t *testing.T, progBytes, inBytes []byte, strict, inline bool) {
		g := &progGen{b: progBytes}
		module, query := g.program()
		ig := &inputGen{progGen{b: inBytes}}
		pe := preparePartial(module, query, strict, inline, ast.MustParseTerm(ig.hot()))
		if pe == nil {
			return
		}
		for range 4 {
			if diff := pe.compare(ig.document()); diff != "" {
				t.Fatal(diff)
			}
		}
	})
}

// TestCompiledEqualsTopdownOnPartiallyEvaluatedResiduals runs the fuzz
// target's property over a fixed set of generated programs, and fails
// when too few of them leave a compiled residual.
func TestCompiledEqualsTopdownOnPartiallyEvaluatedResiduals(t *testing.T) {
	t.Parallel()
	n, compiled := 500, 0
	if testing.Short() {
		n = 120
	}
	for i := range n {
		progBytes, inBytes := seedBytes(uint64(i) + 5000)
		g := &progGen{b: progBytes}
		module, query := g.program()
		ig := &inputGen{progGen{b: inBytes}}
		pe := preparePartial(module, query, i%2 == 0, i%3 != 0, ast.MustParseTerm(ig.hot()))
		if pe == nil {
			continue
		}
		compiled++
		for range 6 {
			if diff := pe.compare(ig.document()); diff != "" {
				t.Errorf("program %d: %s", i, diff)
				break
			}
		}
	}
	t.Logf("%d of %d programs left a compiled residual", compiled, n)
	if compiled < n/10 {
		t.Errorf("only %d of %d programs left a compiled residual", compiled, n)
	}
}

// TestCompiledGlobMatchEqualsTopdownOnPatternsDelimitersAndInputs
// evaluates a rule guarded by glob.match for patterns, delimiters and
// inputs at the edges of topdown's rule index (escapes, metacharacters
// as delimiters, empty and multi-character delimiters, unicode): the
// compiled residual decides as topdown does where the engine evaluates
// the residual, without the index for a pattern it misreads.
func TestCompiledGlobMatchEqualsTopdownOnPatternsDelimitersAndInputs(t *testing.T) {
	t.Parallel()
	patterns := []string{"a*b", "a.b", "a.*", "*.b", "", ".", "a..b", "*", "**", "a\\", "é.*", "a?b", "[a]", "{a}", "a\\*b", "\\a", "a}"}
	delimiters := []string{`[]`, `["."]`, `["*"]`, `[".", ":"]`, `["é"]`, `["ab"]`, `[""]`, `["\\"]`, `["?"]`, `["["]`, `["{"]`, `["}"]`, `null`}
	inputs := []string{"a*b", "axb", "a.b", "a", "", ".", "a.", "a..b", "ab", "a:b", "a\\", "é.x", "axxb", "\\a", "a}", "{a}", "b"}
	for _, p := range patterns {
		for _, d := range delimiters {
			module := fmt.Sprintf("package partial.x\ndefault p := false\np if glob.match(%s, %s, input.d)\n", strconv.Quote(p), d)
			gr, outcome, err := prepareGenerated(module, `x = data.partial.x.p`, true)
			if outcome != genCompiled {
				t.Fatalf("glob.match(%q, %s): not compiled: %v", p, d, err)
			}
			for _, in := range inputs {
				if diff, _ := gr.compare(fmt.Sprintf(`{"d": %s}`, strconv.Quote(in))); diff != "" {
					t.Errorf("glob.match(%q, %s, %q): %s", p, d, in, diff)
				}
			}
		}
	}
}
