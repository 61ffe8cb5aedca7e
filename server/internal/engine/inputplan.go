package engine

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputPlan is the part of the input document a residual reads: each
// field it names maps to the plan of that field's own fields, or to nil
// when the field is read whole. A nil plan is the whole input.
//
// A residual evaluated on the planned input decides as on the whole one:
// every field it can reach is there with the same value, and a field it
// never names cannot change what it computes. What is left out is the
// cost of building it (input.go), for every decision of that tenant
// environment.
type inputPlan map[string]inputPlan

// has reports whether the plan keeps field k.
func (p inputPlan) has(k string) bool {
	if p == nil {
		return true
	}
	_, ok := p[k]
	return ok
}

// sub is the plan of field k: nil (whole) when p is whole or reads k
// whole.
func (p inputPlan) sub(k string) inputPlan {
	if p == nil {
		return nil
	}
	return p[k]
}

// add keeps the field at path, whole. p is not nil and path not empty.
func (p inputPlan) add(path []string) {
	k := path[0]
	child, ok := p[k]
	switch {
	case ok && child == nil:
		return // already read whole
	case len(path) == 1:
		p[k] = nil
		return
	case !ok:
		child = inputPlan{}
		p[k] = child
	}
	child.add(path[1:])
}

// touch keeps the field at path without any of its fields, unless more
// of it is kept already. p is not nil and path not empty.
func (p inputPlan) touch(path []string) {
	child, ok := p[path[0]]
	switch {
	case ok && child == nil:
		return // already read whole
	case !ok:
		child = inputPlan{}
		p[path[0]] = child
	}
	if len(path) > 1 {
		child.touch(path[1:])
	}
}

// planInput is the plan of a residual: the fields its query and support
// modules read. A read names the fields of its ref up to the first key
// that is not a string constant (input.subject.roles[i] reads the roles
// whole), and object.get with constant keys reads the path its keys name
// (object.get(input, ["subject", "roles"], []) reads input.subject.roles).
// A field tested on its own (`not input.signals.profile`) is kept, but
// none of its fields for that: whether it is there and not false is all
// such a test reads, and an object is never false.
// Partial evaluation writes some reads through variables (`x = input`,
// then object.get(x, …); `x = input.signals.profile`, `x = y`, then
// y.action_seen): variables unified with each other stand for the field
// one of them is bound to wherever they occur. input read whole (as a value, or replaced
// by `with`) gives the whole input, nil.
func planInput(query ast.Body, support []*ast.Module) inputPlan {
	pl := &planner{plan: inputPlan{}, parent: map[ast.Var]ast.Var{}, bound: map[ast.Var][][]string{},
		aliases: map[ast.Var]alias{}, bindings: map[*ast.Expr]bool{}}
	walk := func(f func(x any) bool) {
		vis := ast.NewGenericVisitor(f)
		vis.Walk(query)
		for _, m := range support {
			vis.Walk(m)
		}
	}
	// First the variables bound to a field of the input, then the reads.
	walk(func(x any) bool {
		if e, ok := x.(*ast.Expr); ok {
			pl.collect(e)
		}
		return false
	})
	pl.resolve()
	pl.vis = ast.NewGenericVisitor(pl.visit)
	walk(pl.visit)
	if pl.whole {
		return nil
	}
	return pl.plan
}

// planner walks a residual for planInput.
type planner struct {
	plan  inputPlan
	whole bool
	// parent joins the variables unified with each other (`x = y`) into
	// classes, a union-find; bound are the paths of the input fields
	// each variable is unified with (`x = input.a.b`).
	parent map[ast.Var]ast.Var
	bound  map[ast.Var][][]string
	// aliases are the classes bound to a field of the input, by their
	// root variable.
	aliases map[ast.Var]alias
	// bindings are the unifications above: not reads in themselves.
	bindings map[*ast.Expr]bool
	vis      *ast.GenericVisitor
}

// collect notes e when it unifies two variables, or a variable with a
// field of the input named by constant keys.
func (pl *planner) collect(e *ast.Expr) {
	if !e.IsEquality() && !e.IsAssignment() || len(e.With) > 0 {
		return
	}
	a, b := e.Operand(0), e.Operand(1)
	av, aVar := plainVar(a)
	bv, bVar := plainVar(b)
	switch {
	case aVar && bVar:
		pl.parent[pl.find(av)] = pl.find(bv)
		pl.bindings[e] = true
	case aVar || bVar:
		v, other := av, b
		if bVar {
			v, other = bv, a
		}
		r, ok := other.Value.(ast.Ref)
		if !ok || !r.HasPrefix(ast.InputRootRef) {
			return
		}
		keys := stringKeys(r[1:])
		if len(keys) != len(r)-1 {
			return
		}
		pl.bound[v] = append(pl.bound[v], keys)
		pl.bindings[e] = true
	}
}

// plainVar is t as a variable other than input.
func plainVar(t *ast.Term) (ast.Var, bool) {
	v, ok := t.Value.(ast.Var)
	return v, ok && !v.Equal(ast.InputRootDocument.Value)
}

// find is the root of v's class.
func (pl *planner) find(v ast.Var) ast.Var {
	for {
		p, ok := pl.parent[v]
		if !ok || p == v {
			return v
		}
		v = p
	}
}

// resolve makes the aliases of the classes bound to the input. A class
// bound to different fields compares them (or reuses a name): what they
// share is read whole, and so is anything read through the class.
func (pl *planner) resolve() {
	paths := map[ast.Var][][]string{}
	for v, ps := range pl.bound {
		root := pl.find(v)
		paths[root] = append(paths[root], ps...)
	}
	for root, ps := range paths {
		a := alias{path: ps[0], exact: true}
		for _, p := range ps[1:] {
			if !slices.Equal(p, a.path) {
				a = alias{path: commonPrefix(a.path, p)}
			}
		}
		if !a.exact {
			pl.read(a.path)
		}
		pl.aliases[root] = a
	}
}

// read keeps the field at path, whole; the empty path is the input.
func (pl *planner) read(path []string) {
	if len(path) == 0 {
		pl.whole = true
		return
	}
	pl.plan.add(path)
}

// alias is the field a class of variables is bound to: its path (empty
// for the input itself), exact unless the class is bound to different
// fields, when path is what they share and a read through the class
// reads all of it.
type alias struct {
	path  []string
	exact bool
}

// aliasOf is the alias of v's class, if it has one.
func (pl *planner) aliasOf(v ast.Var) (alias, bool) {
	a, ok := pl.aliases[pl.find(v)]
	return a, ok
}

// alias is the path of the field t is bound to, when t is a variable
// whose class is bound to exactly one.
func (pl *planner) alias(t *ast.Term) ([]string, bool) {
	v, ok := t.Value.(ast.Var)
	if !ok {
		return nil, false
	}
	a, ok := pl.aliasOf(v)
	return a.path, ok && a.exact
}

// fieldPath is the path of the input field a term names by constant
// keys: input.a.b, or x.b where x is bound to input.a.
func (pl *planner) fieldPath(t *ast.Term) ([]string, bool) {
	var head []string
	var keys []*ast.Term
	switch v := t.Value.(type) {
	case ast.Var:
		return pl.alias(t)
	case ast.Ref:
		if !v.HasPrefix(ast.InputRootRef) {
			alias, ok := pl.alias(v[0])
			if !ok {
				return nil, false
			}
			head = alias
		}
		keys = v[1:]
	default:
		return nil, false
	}
	more := stringKeys(keys)
	if len(more) != len(keys) {
		return nil, false
	}
	return append(append([]string(nil), head...), more...), true
}

func (pl *planner) visit(x any) bool {
	if pl.whole {
		return true
	}
	switch x := x.(type) {
	case *ast.With:
		if r, ok := x.Target.Value.(ast.Ref); ok && r.HasPrefix(ast.InputRootRef) {
			pl.whole = true
		}
	case *ast.Expr:
		if pl.bindings[x] {
			return true // its variables' reads are the reads
		}
		if ts, ok := x.Terms.([]*ast.Term); ok && pl.objectGet(ts) {
			for _, w := range x.With {
				pl.vis.Walk(w)
			}
			return true
		}
		if t, ok := x.Terms.(*ast.Term); ok {
			// `input.a.b` or `not input.a.b` on its own asks only whether
			// the field is there and not false: an object is kept, with
			// only the fields read elsewhere.
			if path, ok := pl.fieldPath(t); ok && len(path) > 0 {
				pl.plan.touch(path)
				for _, w := range x.With {
					pl.vis.Walk(w)
				}
				return true
			}
		}
	case ast.Call:
		return pl.objectGet(x)
	case ast.Var:
		if x.Equal(ast.InputRootDocument.Value) {
			pl.whole = true // input on its own, not as the head of a ref
		} else if a, ok := pl.aliasOf(x); ok {
			pl.read(a.path)
		}
	case ast.Ref:
		var head []string
		if !x.HasPrefix(ast.InputRootRef) {
			var ok bool
			if head, ok = pl.alias(x[0]); !ok {
				return false // a variable bound to different fields reads them when visited
			}
		}
		path := append(append([]string(nil), head...), stringKeys(x[1:])...)
		pl.read(path)
		// The keys that are not constants may read input too.
		for _, t := range x[1+len(path)-len(head):] {
			pl.vis.Walk(t)
		}
		return true
	}
	return false
}

// objectGet reads the path of a call object.get(input…, keys, …) whose
// keys are string constants, walks its other arguments and reports
// whether it was one.
func (pl *planner) objectGet(call []*ast.Term) bool {
	if len(call) < 3 || !call[0].Equal(objectGetName) {
		return false
	}
	path, ok := pl.fieldPath(call[1])
	if !ok {
		return false
	}
	switch k := call[2].Value.(type) {
	case ast.String:
		path = append(path, string(k))
	case *ast.Array:
		keys := make([]*ast.Term, k.Len())
		for i := range keys {
			keys[i] = k.Elem(i)
		}
		more := stringKeys(keys)
		if len(more) != len(keys) {
			return false
		}
		path = append(path, more...)
	default:
		return false
	}
	pl.read(path)
	for _, t := range call[3:] {
		pl.vis.Walk(t)
	}
	return true
}

// objectGetName is the operator of a call to object.get.
var objectGetName = ast.NewTerm(ast.ObjectGet.Ref())

// stringKeys are the leading keys of ts that are string constants.
func stringKeys(ts []*ast.Term) []string {
	var out []string
	for _, t := range ts {
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		out = append(out, string(s))
	}
	return out
}

// commonPrefix is the longest path both a and b start with.
func commonPrefix(a, b []string) []string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n]
}
