package engine

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/types"
)

// A module that adds the wrong shape to a set the decision combines (deny
// contains "text", a factor whose weight is a string) would compile and
// fail every Check it matches with an internal error. CheckShapes refuses
// it at load instead, from the types OPA's checker infers for what each
// rule adds: every contribution whose type is known and cannot be what
// parseDecision reads is an error naming its file and line. A contribution
// of unknown type (read from input or data) passes; parseDecision still
// refuses it when it arrives.

// shape is what parseDecision accepts at one place of a contribution.
type shape struct {
	kind     string            // "object", "string", "number" or "array"
	fields   map[string]*shape // of an object: its keys
	required []string          // of an object: the keys it must have
	elem     *shape            // of an array, and of an object of any keys (fields nil)
}

var (
	stringShape = &shape{kind: "string"}
	numberShape = &shape{kind: "number"}
	reasonShape = &shape{kind: "object",
		fields:   map[string]*shape{"code": stringShape, "message": stringShape, "rule": stringShape},
		required: reasonKeys}
	stepUpShape = &shape{kind: "object",
		fields: map[string]*shape{"kind": stringShape, "reason_code": stringShape, "max_age_ns": numberShape,
			"allowed_providers": {kind: "array", elem: stringShape}, "deadline_ns": numberShape},
		required: []string{"kind", "reason_code"}}
	challengeShape = &shape{kind: "object",
		fields: map[string]*shape{"code": stringShape, "message": stringShape, "rule": stringShape,
			"step_ups": {kind: "array", elem: stepUpShape}},
		required: []string{"code", "message", "rule", "step_ups"}}
	obligationShape = &shape{kind: "object",
		fields:   map[string]*shape{"kind": stringShape, "params": {kind: "object", elem: stringShape}},
		required: []string{"kind"}}
	factorShape = &shape{kind: "object",
		fields:   map[string]*shape{"name": stringShape, "weight": numberShape, "detail": stringShape},
		required: factorKeys}
	checkShape = &shape{kind: "object",
		fields:   map[string]*shape{"rule": stringShape, "code": stringShape, "effect": stringShape, "message": stringShape},
		required: []string{"rule", "code", "effect", "message"}}
)

// contributionShapes are the sets authors add to, in package pdp and in
// package pdp.custom (see rego/README.md), with the shape of an element.
var contributionShapes = map[string]*shape{
	"deny": reasonShape, "notices": reasonShape, "challenge": challengeShape,
	"obligations": obligationShape, "risk_factors": factorShape, "checks": checkShape,
	"grant": reasonShape,
}

var contributionPackages = []ast.Ref{ast.MustParseRef("data.pdp"), ast.MustParseRef("data.pdp.custom")}

// shapeVar is the variable CheckShapes binds to what a rule adds.
var shapeVar = ast.VarTerm("__pdp_contribution__")

// CheckShapes checks what the rules of the files author reports true for
// add to the combined sets; compiler has compiled them with the library.
// The engine runs it on every load, and pdp test before the tests.
func CheckShapes(compiler *ast.Compiler, author func(file string) bool) error {
	var errs []error
	for _, pkg := range contributionPackages {
		for _, name := range slices.Sorted(maps.Keys(contributionShapes)) {
			ref := pkg.Append(ast.StringTerm(name))
			for _, rule := range compiler.GetRules(ref) {
				if rule.Location == nil || !author(rule.Location.File) || rule.Head.Key == nil {
					continue
				}
				// The type of what the rule adds is the type of a
				// variable unified with its key after its body.
				body := rule.Body.Copy()
				body.Append(ast.Equality.Expr(shapeVar, rule.Head.Key.Copy()))
				qc := compiler.QueryCompiler()
				if _, err := qc.Compile(body); err != nil {
					continue // the module compiled; nothing more to learn here
				}
				if problem := mismatch(qc.TypeEnv().Get(shapeVar), contributionShapes[name], "the element"); problem != "" {
					errs = append(errs, fmt.Errorf("%s: %s contains a value of the wrong shape: %s",
						rule.Location, ref, problem))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("policy modules add values the decision cannot read "+
			"(see \"How modules contribute\" in rego/README.md):\n%w", errors.Join(errs...))
	}
	return nil
}

// mismatch says how a value of type t cannot have shape s, or "" when it
// can (or its type is unknown).
func mismatch(t types.Type, s *shape, path string) string {
	if n, ok := t.(*types.NamedType); ok {
		t = n.Type
	}
	if t == nil {
		return ""
	}
	if alts, ok := t.(types.Any); ok {
		// Unknown (any), or one of several: wrong only when none fits.
		var first string
		for _, alt := range alts {
			p := mismatch(alt, s, path)
			if p == "" {
				return ""
			}
			if first == "" {
				first = p
			}
		}
		return first
	}
	switch s.kind {
	case "string":
		if _, ok := t.(types.String); !ok {
			return fmt.Sprintf("%s is %s, not a string", path, typeName(t))
		}
	case "number":
		if _, ok := t.(types.Number); !ok {
			return fmt.Sprintf("%s is %s, not a number", path, typeName(t))
		}
	case "array":
		a, ok := t.(*types.Array)
		if !ok {
			return fmt.Sprintf("%s is %s, not an array", path, typeName(t))
		}
		for i := range a.Len() {
			if p := mismatch(a.Select(i), s.elem, fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
		if d := a.Dynamic(); d != nil {
			return mismatch(d, s.elem, path+"[_]")
		}
	case "object":
		o, ok := t.(*types.Object)
		if !ok {
			return fmt.Sprintf("%s is %s, not an object", path, typeName(t))
		}
		return objectMismatch(o, s, path)
	}
	return ""
}

func objectMismatch(o *types.Object, s *shape, path string) string {
	for _, p := range o.StaticProperties() {
		key, isString := p.Key.(string)
		want := s.elem
		if s.fields != nil {
			want = s.fields[key]
		}
		if !isString || want == nil {
			return fmt.Sprintf("%s has the key %v; it may have only %s", path, p.Key, keyList(s))
		}
		if problem := mismatch(p.Value, want, path+"."+key); problem != "" {
			return problem
		}
	}
	if d := o.DynamicProperties(); d != nil {
		if s.elem != nil {
			return mismatch(d.Value, s.elem, path+"[_]")
		}
		return "" // keys unknown until evaluation
	}
	for _, k := range s.required {
		if o.Select(k) == nil {
			return fmt.Sprintf("%s has no %q (it needs %s)", path, k, keyList(s))
		}
	}
	return ""
}

func keyList(s *shape) string {
	if s.fields == nil {
		return "string keys"
	}
	return strings.Join(slices.Sorted(maps.Keys(s.fields)), ", ")
}

// typeName names a type for a message: "a string", "an object".
func typeName(t types.Type) string {
	switch t.(type) {
	case types.String:
		return "a string"
	case types.Number:
		return "a number"
	case types.Boolean:
		return "a boolean"
	case types.Null:
		return "null"
	case *types.Array:
		return "an array"
	case *types.Set:
		return "a set"
	case *types.Object:
		return "an object"
	}
	return t.String()
}
