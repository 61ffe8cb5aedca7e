package engine

// The compiled residual: a tenant environment's residual evaluated by
// compiled Go steps instead of topdown.
//
// A residual is a closed program in a small part of Rego: one query, and
// support rules (complete rules with defaults, partial sets, functions)
// whose bodies read the input, call built-ins and read each other. The
// compiler here takes the residual as OPA's own compiler leaves it (bodies
// in safe order, locals rewritten, nested calls and comprehensions pulled
// out into expressions of their own) and turns every expression into a
// step with its variables in slots of a per-evaluation frame, so an
// evaluation allocates no bindings and no evaluator per rule. What it does
// not implement (with, relations, printing, most non-deterministic
// built-ins, rules of unusual shapes) refuses the residual at compile time,
// with a reason; the tenant environment is then evaluated by topdown on the
// same residual.
//
// Semantics: an evaluation computes what topdown computes and never less:
// every rule body, every solution of a body and every rule of a set topdown
// evaluates is evaluated here too (topdown's rule index and early exit only
// skip bodies that cannot succeed or whose value is already known). So
// when the compiled evaluation ends without an error, topdown's ends with
// the same result and no error; when it ends with an error (a built-in
// error under strict built-in errors, a conflict), the request is decided
// by topdown on the same residual, which has the last word on which error,
// if any, the request gets ((*specialised).eval).

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/cache"
)

// program is a compiled residual.
type program struct {
	query *body
	// outputs are the query's variables the result binds, by name.
	outputs []output
	// sizes of a frame.
	slots, flags, memos, accs int
	strict                    bool
	capabilities              *ast.Capabilities
	valueCache                cache.InterQueryValueCache
	frames                    sync.Pool
}

type output struct {
	name string
	slot int
}

// refusal is why a residual cannot be compiled.
type refusal struct{ why string }

func (r *refusal) Error() string { return r.why }

func refuse(loc *ast.Location, format string, args ...any) error {
	why := fmt.Sprintf(format, args...)
	if loc != nil {
		why = fmt.Sprintf("%s:%d: %s", loc.File, loc.Row, why)
	}
	return &refusal{why: why}
}

// compileResidual compiles a residual's query and support modules with
// OPA's compiler, as preparing it for topdown does, and then to a program.
func compileResidual(query ast.Body, support []*ast.Module, strict bool, vc cache.InterQueryValueCache) (*program, error) {
	c, err := compileSupport(support)
	if err != nil {
		return nil, err
	}
	return compileProgram(c, query, strict, vc)
}

// compileSupport compiles a residual's support modules with OPA's
// compiler.
func compileSupport(support []*ast.Module) (*ast.Compiler, error) {
	mods := make(map[string]*ast.Module, len(support))
	for i, m := range support {
		mods[fmt.Sprintf("support%03d.rego", i)] = m
	}
	c := ast.NewCompiler()
	c.Compile(mods)
	if c.Failed() {
		return nil, fmt.Errorf("compile the residual: %v", c.Errors)
	}
	return c, nil
}

// compileProgram compiles a residual's query, against its compiled
// support modules, to a program.
func compileProgram(c *ast.Compiler, query ast.Body, strict bool, vc cache.InterQueryValueCache) (*program, error) {
	qc := c.QueryCompiler().WithStrict(false)
	q, err := qc.Compile(query)
	if err != nil {
		return nil, fmt.Errorf("compile the residual's query: %w", err)
	}
	pc := &progCompiler{
		c:      c,
		p:      &program{strict: strict, capabilities: c.Capabilities(), valueCache: vc},
		sets:   map[string]*ruleSet{},
		funcs:  map[string]*function{},
		global: map[ast.Var]bool{},
	}
	sc := pc.newScope(nil)
	b, err := pc.body(q, sc)
	if err != nil {
		return nil, err
	}
	pc.p.query = b
	rewritten := qc.RewrittenVars()
	for _, v := range slices.Sorted(maps.Keys(sc.vars)) {
		name := v
		if rw, ok := rewritten[v]; ok {
			name = rw
		}
		if name.IsGenerated() || name.IsWildcard() || strings.HasPrefix(string(name), "$") {
			continue
		}
		pc.p.outputs = append(pc.p.outputs, output{name: string(name), slot: sc.vars[v]})
	}
	p := pc.p
	p.slots = pc.slots
	p.frames.New = func() any { return newFrame(p) }
	return p, nil
}

// progCompiler holds what compiling one residual needs.
type progCompiler struct {
	c     *ast.Compiler
	p     *program
	slots int
	sets  map[string]*ruleSet
	funcs map[string]*function
	// global marks input and data, never slots.
	global map[ast.Var]bool
}

// scope maps a body's variables to slots; a comprehension's or a
// negation's body sees its enclosing body's variables.
type scope struct {
	parent *scope
	vars   map[ast.Var]int
	// bound are the variables bound before the expression being compiled.
	bound map[ast.Var]bool
}

func (pc *progCompiler) newScope(parent *scope) *scope {
	sc := &scope{parent: parent, vars: map[ast.Var]int{}, bound: map[ast.Var]bool{}}
	if parent != nil {
		for v := range parent.bound {
			sc.bound[v] = true
		}
	}
	return sc
}

func (sc *scope) lookup(v ast.Var) (int, bool) {
	for s := sc; s != nil; s = s.parent {
		if i, ok := s.vars[v]; ok {
			return i, true
		}
	}
	return 0, false
}

// slot returns v's slot, making one in sc for a variable seen first.
func (pc *progCompiler) slot(sc *scope, v ast.Var) int {
	if i, ok := sc.lookup(v); ok {
		return i
	}
	i := pc.slots
	pc.slots++
	sc.vars[v] = i
	return i
}

func isGlobal(v ast.Var) bool {
	return v == ast.InputRootDocument.Value || v == ast.DefaultRootDocument.Value
}

// unboundVars lists t's variables not bound in sc, outside closures (a
// comprehension's body binds its own) and ref heads input and data.
func unboundVars(t *ast.Term, sc *scope) []ast.Var {
	var out []ast.Var
	var walk func(t *ast.Term)
	walk = func(t *ast.Term) {
		switch x := t.Value.(type) {
		case ast.Var:
			if !isGlobal(x) && !sc.bound[x] && !slices.Contains(out, x) {
				out = append(out, x)
			}
		case ast.Ref:
			for _, k := range x {
				walk(k)
			}
		case *ast.Array:
			for i := range x.Len() {
				walk(x.Elem(i))
			}
		case ast.Object:
			x.Foreach(func(k, v *ast.Term) { walk(k); walk(v) })
		case ast.Set:
			x.Foreach(walk)
		case ast.Call:
			for _, a := range x {
				walk(a)
			}
		}
	}
	walk(t)
	return out
}

// markBound marks t's variables bound (after the expression binding them).
func markBound(t *ast.Term, sc *scope) {
	for _, v := range unboundVars(t, sc) {
		sc.bound[v] = true
	}
}

// hasEval reports whether t holds a ref or a comprehension, which topdown
// evaluates only where it unifies (not in call operands, head values,
// set elements or object keys).
func hasEval(t *ast.Term) bool {
	found := false
	ast.WalkTerms(t, func(x *ast.Term) bool {
		switch x.Value.(type) {
		case ast.Ref, *ast.ArrayComprehension, *ast.SetComprehension, *ast.ObjectComprehension, ast.Call:
			found = true
		}
		return found
	})
	return found
}

// body compiles a body in sc, expression by expression.
func (pc *progCompiler) body(b ast.Body, sc *scope) (*body, error) {
	// A program lives as long as its residual: no spare capacity.
	out := &body{steps: make([]step, 0, len(b))}
	for _, e := range b {
		s, err := pc.expr(e, sc)
		if err != nil {
			return nil, err
		}
		if s != nil {
			out.steps = append(out.steps, s)
		}
	}
	return out, nil
}

func (pc *progCompiler) expr(e *ast.Expr, sc *scope) (step, error) {
	if len(e.With) > 0 {
		return nil, refuse(e.Location, "with is not compiled")
	}
	if e.Negated {
		inner := pc.newScope(sc)
		cpy := e.Copy()
		cpy.Negated = false
		s, err := pc.expr(cpy, inner)
		if err != nil {
			return nil, err
		}
		b := &body{}
		if s != nil {
			b.steps = append(b.steps, s)
		}
		flag := pc.p.flags
		pc.p.flags++
		return &notStep{inner: b, flag: flag, k: &notKont{flag: flag}}, nil
	}
	switch terms := e.Terms.(type) {
	case *ast.Every:
		return pc.every(terms, sc, e.Location)
	case *ast.Term:
		return pc.termExpr(terms, sc, e.Location)
	case []*ast.Term:
		if e.IsEquality() {
			return pc.unify(terms[1], terms[2], sc, e.Location)
		}
		return pc.call(terms, sc, e.Location)
	}
	return nil, refuse(e.Location, "%T expressions are not compiled", e.Terms)
}

// every compiles `every k, v in domain { body }`, which the compiler
// leaves with variables for the key, the value and the domain.
func (pc *progCompiler) every(ev *ast.Every, sc *scope, loc *ast.Location) (step, error) {
	if _, ok := ev.Domain.Value.(ast.Var); !ok || len(unboundVars(ev.Domain, sc)) > 0 {
		return nil, refuse(loc, "every over %v is not compiled", ev.Domain)
	}
	domain, err := pc.operand(ev.Domain, sc, false)
	if err != nil {
		return nil, err
	}
	inner := pc.newScope(sc)
	s := &everyStep{domain: domain, flag: pc.p.flags}
	pc.p.flags++
	s.k = &notKont{flag: s.flag}
	for i, t := range []*ast.Term{ev.Key, ev.Value} {
		if t == nil {
			continue
		}
		if _, ok := t.Value.(ast.Var); !ok {
			return nil, refuse(loc, "every binds %v, not a variable", t)
		}
		p, err := pc.pattern(t, inner, loc)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			s.key = p
		} else {
			s.value = p
		}
	}
	if s.body, err = pc.body(ev.Body, inner); err != nil {
		return nil, err
	}
	return s, nil
}

// termExpr compiles an expression that is a term: it holds for every
// value of the term but false.
func (pc *progCompiler) termExpr(t *ast.Term, sc *scope, loc *ast.Location) (step, error) {
	if len(unboundVars(t, sc)) == 0 {
		op, err := pc.operand(t, sc, true)
		if err != nil {
			return nil, err
		}
		return &truthStep{op: op}, nil
	}
	ref, ok := t.Value.(ast.Ref)
	if !ok {
		return nil, refuse(loc, "expression %v has unbound variables", t)
	}
	re, err := pc.refEnum(ref, sc, loc)
	if err != nil {
		return nil, err
	}
	markBound(t, sc)
	return &enumStep{ref: re, other: truthyPattern{}}, nil
}

// unify compiles a = b.
func (pc *progCompiler) unify(a, b *ast.Term, sc *scope, loc *ast.Location) (step, error) {
	ua, ub := unboundVars(a, sc), unboundVars(b, sc)
	defer func() {
		markBound(a, sc)
		markBound(b, sc)
	}()
	_, refA := a.Value.(ast.Ref)
	_, refB := b.Value.(ast.Ref)
	switch {
	case len(ua) == 0 && len(ub) == 0:
		opA, err := pc.operand(a, sc, true)
		if err != nil {
			return nil, err
		}
		opB, err := pc.operand(b, sc, true)
		if err != nil {
			return nil, err
		}
		if ca, ok := opA.(constOp); ok {
			if cb, ok := opB.(constOp); ok {
				if ca.t.Equal(cb.t) {
					return nil, nil
				}
				return failStep{}, nil
			}
		}
		return &eqStep{a: opA, b: opB}, nil
	case refA && len(ua) > 0:
		if refB && len(ub) > 0 {
			return nil, refuse(loc, "unification of two enumerated refs %v and %v", a, b)
		}
		re, err := pc.refEnum(a.Value.(ast.Ref), sc, loc)
		if err != nil {
			return nil, err
		}
		markBound(a, sc)
		return pc.enumAgainst(re, b, len(ub) == 0, sc, loc)
	case refB && len(ub) > 0:
		re, err := pc.refEnum(b.Value.(ast.Ref), sc, loc)
		if err != nil {
			return nil, err
		}
		markBound(b, sc)
		return pc.enumAgainst(re, a, len(ua) == 0, sc, loc)
	case len(ua) == 0:
		op, err := pc.operand(a, sc, true)
		if err != nil {
			return nil, err
		}
		pat, err := pc.pattern(b, sc, loc)
		if err != nil {
			return nil, err
		}
		return &matchStep{op: op, pat: pat}, nil
	case len(ub) == 0:
		op, err := pc.operand(b, sc, true)
		if err != nil {
			return nil, err
		}
		pat, err := pc.pattern(a, sc, loc)
		if err != nil {
			return nil, err
		}
		return &matchStep{op: op, pat: pat}, nil
	}
	return nil, refuse(loc, "unification of %v and %v, both with unbound variables", a, b)
}

// enumAgainst compiles the enumeration of re against the other side of
// its expression; ground says whether that side's variables were all
// bound before the expression (none bound by the ref's keys).
func (pc *progCompiler) enumAgainst(re *refEnum, other *ast.Term, ground bool, sc *scope, loc *ast.Location) (step, error) {
	if ground {
		op, err := pc.operand(other, sc, true)
		if err != nil {
			return nil, err
		}
		// topdown looks a value up in a set; a ref it enumerates against.
		lookup := !hasEval(other)
		if c, ok := op.(constOp); ok {
			return &enumStep{ref: re, other: constPattern{t: c.t}, lookup: lookup}, nil
		}
		return &enumStep{ref: re, pre: op, lookup: lookup}, nil
	}
	p, err := pc.pattern(other, sc, loc)
	if err != nil {
		return nil, err
	}
	return &enumStep{ref: re, other: p}, nil
}

// pattern compiles a term that may hold unbound variables, to be matched
// against a value. Its variables are bound once the pattern is compiled
// (a variable twice in it binds first, then compares).
func (pc *progCompiler) pattern(t *ast.Term, sc *scope, loc *ast.Location) (pattern, error) {
	if len(unboundVars(t, sc)) == 0 {
		op, err := pc.operand(t, sc, true)
		if err != nil {
			return nil, err
		}
		if c, ok := op.(constOp); ok {
			return constPattern{t: c.t}, nil
		}
		return opPattern{op: op}, nil
	}
	switch x := t.Value.(type) {
	case ast.Var:
		s := pc.slot(sc, x)
		sc.bound[x] = true
		return varPattern{slot: s}, nil
	case *ast.Array:
		ps := make([]pattern, x.Len())
		for i := range x.Len() {
			p, err := pc.pattern(x.Elem(i), sc, loc)
			if err != nil {
				return nil, err
			}
			ps[i] = p
		}
		return arrayPattern{elems: ps}, nil
	case ast.Object:
		op := objectPattern{}
		var err error
		x.Foreach(func(k, v *ast.Term) {
			if err != nil {
				return
			}
			if !ast.IsConstant(k.Value) {
				err = refuse(loc, "object pattern %v has a key that is not constant", t)
				return
			}
			var p pattern
			p, err = pc.pattern(v, sc, loc)
			op.keys = append(op.keys, k)
			op.vals = append(op.vals, p)
		})
		if err != nil {
			return nil, err
		}
		return op, nil
	}
	return nil, refuse(loc, "pattern %v is not compiled", t)
}

// operand compiles a term whose variables are all bound. evalRefs is
// false where topdown plugs the term as it is (call operands, head
// values): a ref or a comprehension there is refused.
func (pc *progCompiler) operand(t *ast.Term, sc *scope, evalRefs bool) (operand, error) {
	if !evalRefs && hasEval(t) {
		return nil, refuse(t.Location, "%v is read where topdown does not evaluate it", t)
	}
	if ast.IsConstant(t.Value) {
		return constOp{t: t}, nil
	}
	switch x := t.Value.(type) {
	case ast.Var:
		s, ok := sc.lookup(x)
		if !ok {
			return nil, refuse(t.Location, "variable %v is unbound", x)
		}
		return slotOp{slot: s}, nil
	case ast.Ref:
		return pc.refOperand(x, sc, t.Location)
	case *ast.Array:
		ops := make([]operand, x.Len())
		for i := range x.Len() {
			op, err := pc.operand(x.Elem(i), sc, evalRefs)
			if err != nil {
				return nil, err
			}
			ops[i] = op
		}
		return arrayOp{elems: ops}, nil
	case ast.Object:
		var o objectOp
		var err error
		x.Foreach(func(k, v *ast.Term) {
			if err != nil {
				return
			}
			if hasEval(k) {
				err = refuse(t.Location, "object key %v is evaluated", k)
				return
			}
			var ko, vo operand
			if ko, err = pc.operand(k, sc, false); err != nil {
				return
			}
			vo, err = pc.operand(v, sc, evalRefs)
			o.keys = append(o.keys, ko)
			o.vals = append(o.vals, vo)
		})
		if err != nil {
			return nil, err
		}
		return o, nil
	case ast.Set:
		var s setOp
		var err error
		x.Foreach(func(e *ast.Term) {
			if err != nil {
				return
			}
			if hasEval(e) {
				err = refuse(t.Location, "set element %v is evaluated", e)
				return
			}
			var op operand
			op, err = pc.operand(e, sc, false)
			s.elems = append(s.elems, op)
		})
		if err != nil {
			return nil, err
		}
		return s, nil
	case *ast.ArrayComprehension:
		return pc.comprehension(t, sc, compArray, x.Term, nil, x.Body)
	case *ast.SetComprehension:
		return pc.comprehension(t, sc, compSet, x.Term, nil, x.Body)
	case *ast.ObjectComprehension:
		return pc.comprehension(t, sc, compObject, x.Key, x.Value, x.Body)
	}
	return nil, refuse(t.Location, "term %v is not compiled", t)
}

func (pc *progCompiler) comprehension(t *ast.Term, sc *scope, kind int, head, value *ast.Term, b ast.Body) (operand, error) {
	if pc.c.ComprehensionIndex(t) != nil {
		return nil, refuse(t.Location, "an indexed comprehension is not compiled")
	}
	inner := pc.newScope(sc)
	cb, err := pc.body(b, inner)
	if err != nil {
		return nil, err
	}
	co := &compOp{kind: kind, body: cb, acc: pc.p.accs}
	pc.p.accs++
	if co.head, err = pc.operand(head, inner, false); err != nil {
		return nil, err
	}
	if value != nil {
		if co.value, err = pc.operand(value, inner, false); err != nil {
			return nil, err
		}
	}
	co.k = &compKont{op: co}
	return co, nil
}

// refOperand compiles a ref whose keys are all bound: a lookup.
func (pc *progCompiler) refOperand(ref ast.Ref, sc *scope, loc *ast.Location) (operand, error) {
	head, rest, err := pc.refHead(ref, sc, loc)
	if err != nil {
		return nil, err
	}
	keys := make([]operand, len(rest))
	for i, k := range rest {
		if hasEval(k) {
			return nil, refuse(loc, "ref %v has an evaluated key", ref)
		}
		if keys[i], err = pc.operand(k, sc, false); err != nil {
			return nil, err
		}
	}
	if len(keys) == 0 {
		return head, nil
	}
	return refOp{head: head, keys: keys}, nil
}

// refHead compiles what a ref starts from: the input, a variable, or a
// support rule's value; rest are the keys after it.
func (pc *progCompiler) refHead(ref ast.Ref, sc *scope, loc *ast.Location) (operand, ast.Ref, error) {
	h, ok := ref[0].Value.(ast.Var)
	if !ok {
		return nil, nil, refuse(loc, "ref %v has a head that is not a variable", ref)
	}
	switch {
	case h == ast.InputRootDocument.Value:
		return inputOp{}, ref[1:], nil
	case h == ast.DefaultRootDocument.Value:
		for n := 2; n <= len(ref); n++ {
			prefix := ref[:n]
			if !prefix.IsGround() {
				break
			}
			rules := pc.c.GetRulesExact(prefix)
			if len(rules) == 0 {
				continue
			}
			rs, err := pc.ruleSet(prefix, rules)
			if err != nil {
				return nil, nil, err
			}
			return ruleOp{rs: rs}, ref[n:], nil
		}
		return nil, nil, refuse(loc, "ref %v does not name a support rule", ref)
	}
	s, ok := sc.lookup(h)
	if !ok || !sc.bound[h] {
		return nil, nil, refuse(loc, "ref %v starts from an unbound variable", ref)
	}
	return slotOp{slot: s}, ref[1:], nil
}

// refEnum compiles a ref with unbound variables among its keys: an
// enumeration.
func (pc *progCompiler) refEnum(ref ast.Ref, sc *scope, loc *ast.Location) (*refEnum, error) {
	head, rest, err := pc.refHead(ref, sc, loc)
	if err != nil {
		return nil, err
	}
	re := &refEnum{head: head}
	for _, k := range rest {
		if hasEval(k) {
			return nil, refuse(loc, "ref %v has an evaluated key", ref)
		}
		var kp refKey
		if len(unboundVars(k, sc)) == 0 {
			if kp.op, err = pc.operand(k, sc, false); err != nil {
				return nil, err
			}
		} else {
			_, kp.isVar = k.Value.(ast.Var)
			if kp.pat, err = pc.pattern(k, sc, loc); err != nil {
				return nil, err
			}
		}
		re.keys = append(re.keys, kp)
	}
	return re, nil
}

// call compiles a call of a built-in or of a support function.
func (pc *progCompiler) call(terms []*ast.Term, sc *scope, loc *ast.Location) (step, error) {
	ref, ok := terms[0].Value.(ast.Ref)
	if !ok {
		return nil, refuse(loc, "call of %v", terms[0])
	}
	args := terms[1:]
	if ref[0].Value == ast.DefaultRootDocument.Value {
		return pc.funcCall(ref, args, sc, loc)
	}
	name := ref.String()
	bi := ast.BuiltinMap[name]
	f := topdown.GetBuiltin(name)
	if bi == nil || f == nil {
		return nil, refuse(loc, "built-in %s is unknown", name)
	}
	if why := unsupportedBuiltin(bi); why != "" {
		return nil, refuse(loc, "built-in %s %s", name, why)
	}
	arity := bi.Decl.Arity()
	if len(args) != arity && len(args) != arity+1 {
		return nil, refuse(loc, "built-in %s called with %d operands", name, len(args))
	}
	cs := &callStep{name: name, f: f, loc: loc, fast: fastBuiltins[name]}
	constant := true
	for _, a := range args[:arity] {
		if len(unboundVars(a, sc)) > 0 {
			return nil, refuse(loc, "built-in %s has an unbound operand %v", name, a)
		}
		op, err := pc.operand(a, sc, false)
		if err != nil {
			return nil, err
		}
		if _, ok := op.(constOp); !ok {
			constant = false
		}
		cs.args = append(cs.args, op)
	}
	if len(args) == arity+1 {
		p, err := pc.pattern(args[arity], sc, loc)
		if err != nil {
			return nil, err
		}
		cs.out = p
	}
	if constant && !bi.Nondeterministic {
		if v, ok := fold(cs); ok {
			if cs.out == nil {
				if v.Value.Compare(ast.Boolean(false)) == 0 {
					return failStep{}, nil
				}
				return nil, nil
			}
			return &matchStep{op: constOp{t: v}, pat: cs.out}, nil
		}
	}
	if cs.out == nil && len(cs.args) == 2 {
		if k, ok := compareKinds[name]; ok {
			return &compareStep{kind: k, a: cs.args[0], b: cs.args[1]}, nil
		}
	}
	return cs, nil
}

// compareKinds are the comparisons evaluated without a built-in call,
// exactly as topdown/comparison.go computes them.
var compareKinds = map[string]int{
	ast.Equal.Name:         cmpEq,
	ast.NotEqual.Name:      cmpNeq,
	ast.LessThan.Name:      cmpLt,
	ast.LessThanEq.Name:    cmpLte,
	ast.GreaterThan.Name:   cmpGt,
	ast.GreaterThanEq.Name: cmpGte,
}

const (
	cmpEq = iota
	cmpNeq
	cmpLt
	cmpLte
	cmpGt
	cmpGte
)

// unsupportedBuiltin says why a built-in is not compiled: its outputs
// depend on more than its operands and the evaluation's time, or it
// prints, traces or enumerates.
func unsupportedBuiltin(bi *ast.Builtin) string {
	switch {
	case bi.Relation:
		return "is a relation"
	case bi.Decl.Result() == nil:
		return "has no result (print)"
	case bi.Nondeterministic && bi.Name != ast.NowNanos.Name:
		return "is not deterministic"
	case strings.HasPrefix(bi.Name, "opa.") || bi.Name == ast.Trace.Name:
		return "reads the runtime"
	}
	return ""
}

// fold evaluates a call whose operands are all constant, at compile time;
// false when it fails (it is then evaluated, and fails, at run time).
func fold(cs *callStep) (*ast.Term, bool) {
	ops := make([]*ast.Term, len(cs.args))
	for i, a := range cs.args {
		ops[i] = a.(constOp).t
	}
	var out *ast.Term
	n := 0
	err := cs.f(topdown.BuiltinContext{Location: cs.loc}, ops, func(t *ast.Term) error {
		out = t
		n++
		return nil
	})
	if err != nil || n != 1 {
		return nil, false
	}
	return out, true
}

// funcCall compiles a call of a support function.
func (pc *progCompiler) funcCall(ref ast.Ref, args []*ast.Term, sc *scope, loc *ast.Location) (step, error) {
	rules := pc.c.GetRulesExact(ref)
	if len(rules) == 0 {
		return nil, refuse(loc, "function %v is unknown", ref)
	}
	fn, err := pc.function(ref, rules)
	if err != nil {
		return nil, err
	}
	if len(args) != fn.arity && len(args) != fn.arity+1 {
		return nil, refuse(loc, "function %v called with %d operands", ref, len(args))
	}
	fs := &funcStep{fn: fn}
	for _, a := range args[:fn.arity] {
		if len(unboundVars(a, sc)) > 0 {
			return nil, refuse(loc, "function %v has an unbound operand %v", ref, a)
		}
		op, err := pc.operand(a, sc, true)
		if err != nil {
			return nil, err
		}
		fs.args = append(fs.args, op)
	}
	if len(args) == fn.arity+1 {
		if fs.out, err = pc.pattern(args[fn.arity], sc, loc); err != nil {
			return nil, err
		}
		// topdown matches a bound output against each rule's value as it
		// tries the rule, and falls to the default when none matched,
		// even if a rule held with another value.
		if _, fresh := fs.out.(varPattern); fn.def != nil && !fresh {
			return nil, refuse(loc, "function %v has a default and is called with a bound output", ref)
		}
	}
	return fs, nil
}

// ruleSet compiles the rules of one complete or partial set document,
// once.
func (pc *progCompiler) ruleSet(ref ast.Ref, rules []*ast.Rule) (*ruleSet, error) {
	key := ref.String()
	if rs, ok := pc.sets[key]; ok {
		if rs.compiling {
			return nil, refuse(rules[0].Location, "%v is recursive", ref)
		}
		return rs, nil
	}
	rs := &ruleSet{name: key, memo: pc.p.memos, compiling: true}
	pc.p.memos++
	pc.sets[key] = rs
	defer func() { rs.compiling = false }()
	kind := rules[0].Head.RuleKind()
	switch {
	case len(rules[0].Head.Args) > 0:
		return nil, refuse(rules[0].Location, "%v is a function read as a value", ref)
	case kind == ast.MultiValue:
		rs.set = true
	case kind == ast.SingleValue && rules[0].Head.Key == nil:
	default:
		return nil, refuse(rules[0].Location, "%v is a partial object", ref)
	}
	for _, r := range rules {
		if r.Else != nil {
			return nil, refuse(r.Location, "%v has else", ref)
		}
		if len(r.Head.Args) > 0 || r.Head.RuleKind() != kind || !r.Ref().Equal(ref) ||
			(kind == ast.SingleValue && r.Head.Key != nil) {
			return nil, refuse(r.Location, "%v has rules of different shapes", ref)
		}
		cr, err := pc.rule(r, nil)
		if err != nil {
			return nil, err
		}
		if r.Default {
			rs.def = cr
			continue
		}
		rs.rules = append(rs.rules, cr)
	}
	rs.earlyExit = !rs.set && agree(rules)
	for _, cr := range rs.rules {
		if rs.set {
			cr.k = &setKont{rs: rs, r: cr}
		} else {
			cr.k = &valueKont{memo: rs.memo, r: cr, earlyExit: rs.earlyExit}
		}
	}
	return rs, nil
}

// agree reports whether every rule but the default has the same ground
// value: topdown then stops at the first body that holds (the rule
// index's EarlyExit), and so does the compiled evaluation.
func agree(rules []*ast.Rule) bool {
	var v ast.Value
	for _, r := range rules {
		if r.Default {
			continue
		}
		if r.Head.Value == nil || !r.Head.Value.IsGround() {
			return false
		}
		if v != nil && !ast.ValueEqual(v, r.Head.Value.Value) {
			return false
		}
		v = r.Head.Value.Value
	}
	return true
}

// function compiles a support function, once.
func (pc *progCompiler) function(ref ast.Ref, rules []*ast.Rule) (*function, error) {
	key := ref.String()
	if fn, ok := pc.funcs[key]; ok {
		if fn.compiling {
			return nil, refuse(rules[0].Location, "%v is recursive", ref)
		}
		return fn, nil
	}
	fn := &function{name: key, arity: len(rules[0].Head.Args), compiling: true, memo: pc.p.memos}
	pc.p.memos++
	pc.funcs[key] = fn
	defer func() { fn.compiling = false }()
	for _, r := range rules {
		if r.Else != nil {
			return nil, refuse(r.Location, "%v has else", ref)
		}
		if len(r.Head.Args) != fn.arity || r.Head.Value == nil {
			return nil, refuse(r.Location, "%v has rules of different shapes", ref)
		}
		cr, err := pc.rule(r, r.Head.Args)
		if err != nil {
			return nil, err
		}
		cr.k = &valueKont{memo: fn.memo, r: cr}
		if r.Default {
			fn.def = cr
			continue
		}
		fn.rules = append(fn.rules, cr)
	}
	if agree(rules) {
		for _, cr := range fn.rules {
			cr.k.(*valueKont).earlyExit = true
		}
	}
	return fn, nil
}

// rule compiles one rule: its arguments (functions), body and head.
func (pc *progCompiler) rule(r *ast.Rule, args ast.Args) (*compiledRule, error) {
	sc := pc.newScope(nil)
	cr := &compiledRule{loc: r.Location}
	for _, a := range args {
		p, err := pc.pattern(a, sc, r.Location)
		if err != nil {
			return nil, err
		}
		cr.params = append(cr.params, p)
	}
	b, err := pc.body(r.Body, sc)
	if err != nil {
		return nil, err
	}
	cr.body = b
	head := r.Head.Value
	if r.Head.RuleKind() == ast.MultiValue {
		head = r.Head.Key
	}
	if head == nil {
		return nil, refuse(r.Location, "rule %v has no value", r.Head.Ref())
	}
	if len(unboundVars(head, sc)) > 0 {
		return nil, refuse(r.Location, "the head of %v has unbound variables", r.Head.Ref())
	}
	if cr.head, err = pc.operand(head, sc, false); err != nil {
		return nil, err
	}
	return cr, nil
}

// errStop ends a body's enumeration early: the rule's value is known.
var errStop = errors.New("stop")

// How a specialised decision's residual was evaluated; the values of the
// evaluator label of pdp_engine_residual_evaluations_total.
const (
	// EvaluatorCompiled: the compiled residual decided.
	EvaluatorCompiled = "compiled"
	// EvaluatorTopdown: the residual holds what the compiler refuses
	// (Specialisation.EvaluatorReason), so topdown evaluated it.
	EvaluatorTopdown = "topdown"
	// EvaluatorCompiledError: the compiled evaluation failed (a built-in
	// error under strict built-in errors, a conflict) and topdown
	// evaluated the residual again to decide.
	EvaluatorCompiledError = "compiled_error"
)

// evaluatorCounts counts residual evaluations by evaluator.
type evaluatorCounts struct {
	compiled, topdown, compiledError atomic.Int64
}

// count is safe on a nil receiver (a residual made outside an engine).
func (c *evaluatorCounts) count(evaluator string) {
	if c == nil {
		return
	}
	switch evaluator {
	case EvaluatorCompiled:
		c.compiled.Add(1)
	case EvaluatorTopdown:
		c.topdown.Add(1)
	case EvaluatorCompiledError:
		c.compiledError.Add(1)
	}
}

// Evaluators returns how many specialised decisions each evaluator made
// since the engine started: EvaluatorCompiled, EvaluatorTopdown and
// EvaluatorCompiledError.
func (e *Engine) Evaluators() map[string]int64 {
	return map[string]int64{
		EvaluatorCompiled:      e.evaluators.compiled.Load(),
		EvaluatorTopdown:       e.evaluators.topdown.Load(),
		EvaluatorCompiledError: e.evaluators.compiledError.Load(),
	}
}

// scoreOf evaluates scoreQuery over the risk factors: compiled, or by
// topdown when it is not or when the compiled evaluation fails.
func (sp *specialised) scoreOf(factors ast.Set) (rego.ResultSet, error) {
	if sp.scoreProgram != nil {
		if rs, err := sp.scoreProgram.eval(context.Background(), factors, nil); err == nil {
			return rs, nil
		}
	}
	return sp.score.Eval(context.Background(), rego.EvalParsedInput(factors), noMetrics)
}
