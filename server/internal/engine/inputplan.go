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

// planInput is the plan of a residual: the fields its query and support
// modules read. A read names the fields of its ref up to the first key
// that is not a string constant (input.subject.roles[i] reads the roles
// whole), and object.get with constant keys reads the path its keys name
// (object.get(input, ["subject", "roles"], []) reads input.subject.roles).
// Partial evaluation writes some reads through a variable (`x = input`,
// then object.get(x, …)): such a variable stands for the field it is
// bound to wherever it occurs. input read whole (as a value, or replaced
// by `with`) gives the whole input, nil.
func planInput(query ast.Body, support []*ast.Module) inputPlan {
	pl := &planner{plan: inputPlan{}, aliases: map[ast.Var]alias{}}
	// First the variables bound to a field of the input, then the reads.
	aliases := ast.NewGenericVisitor(func(x any) bool {
		if e, ok := x.(*ast.Expr); ok {
			if v, path, ok := pl.binding(e); ok {
				a := alias{path: path, exact: true}
				if old, seen := pl.aliases[v]; seen && !slices.Equal(old.path, path) {
					a = alias{path: commonPrefix(old.path, path)}
				}
				pl.aliases[v] = a
			}
		}
		return false
	})
	aliases.Walk(query)
	for _, m := range support {
		aliases.Walk(m)
	}
	pl.vis = ast.NewGenericVisitor(pl.visit)
	pl.vis.Walk(query)
	for _, m := range support {
		pl.vis.Walk(m)
	}
	if pl.whole {
		return nil
	}
	return pl.plan
}

// planner walks a residual for planInput.
type planner struct {
	plan  inputPlan
	whole bool
	// aliases are the variables bound to a field of the input.
	aliases map[ast.Var]alias
	vis     *ast.GenericVisitor
}

// read keeps the field at path, whole; the empty path is the input.
func (pl *planner) read(path []string) {
	if len(path) == 0 {
		pl.whole = true
		return
	}
	pl.plan.add(path)
}

// alias is the field a variable is bound to: its path (empty for the
// input itself), exact unless the variable is bound to different fields
// (a name partial evaluation reused), when path is what they share and a
// read through the variable reads all of it.
type alias struct {
	path  []string
	exact bool
}

// alias is the path of the field t is bound to, when t is a variable
// bound to exactly one.
func (pl *planner) alias(t *ast.Term) ([]string, bool) {
	v, ok := t.Value.(ast.Var)
	if !ok {
		return nil, false
	}
	a, ok := pl.aliases[v]
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

// binding recognises `x = input.a.b` (or the other way round) and
// returns x and the path.
func (pl *planner) binding(e *ast.Expr) (ast.Var, []string, bool) {
	if !e.IsEquality() && !e.IsAssignment() || len(e.With) > 0 {
		return "", nil, false
	}
	a, b := e.Operand(0), e.Operand(1)
	for range 2 {
		if v, ok := a.Value.(ast.Var); ok && !v.Equal(ast.InputRootDocument.Value) {
			if r, ok := b.Value.(ast.Ref); ok && r.HasPrefix(ast.InputRootRef) {
				if path, ok := pl.fieldPath(b); ok {
					return v, path, true
				}
			}
		}
		a, b = b, a
	}
	return "", nil, false
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
		if _, _, ok := pl.binding(x); ok {
			return true // its variable's reads are the reads
		}
		if ts, ok := x.Terms.([]*ast.Term); ok && pl.objectGet(ts) {
			for _, w := range x.With {
				pl.vis.Walk(w)
			}
			return true
		}
	case ast.Call:
		return pl.objectGet(x)
	case ast.Var:
		if x.Equal(ast.InputRootDocument.Value) {
			pl.whole = true // input on its own, not as the head of a ref
		} else if a, ok := pl.aliases[x]; ok {
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
