package engine

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// reader converts ast values and keeps the first error, naming the path of
// the offending value; once it holds an error every method returns zero.
type reader struct {
	err error
}

// fail keeps the first error. The error holds a copy of path, so that
// path does not escape: the paths callers build ("risk.factors[0].name")
// then stay on their stacks for the common document that never fails.
func (r *reader) fail(path, format string, args ...any) {
	if r.err == nil {
		r.err = errors.New(strings.Clone(path) + ": " + fmt.Sprintf(format, args...))
	}
}

func (r *reader) typeError(path, want string, v ast.Value) {
	r.fail(path, "want %s, got %s", want, ast.ValueName(v))
}

// object returns v as an object whose keys are all among keys.
func (r *reader) object(v ast.Value, path string, keys []string) ast.Object {
	if r.err != nil {
		return nil
	}
	o, ok := v.(ast.Object)
	if !ok {
		r.typeError(path, "object", v)
		return nil
	}
	// Every key of o is allowed when o has as many keys as it holds of
	// keys; only otherwise is the unexpected one looked for, in a closure
	// that costs an allocation per object.
	found := 0
	for _, k := range keys {
		if o.Get(keyTerms[k]) != nil {
			found++
		}
	}
	if found == o.Len() {
		return o
	}
	o.Foreach(func(k, _ *ast.Term) {
		if s, ok := k.Value.(ast.String); !ok || !slices.Contains(keys, string(s)) {
			r.fail(path, "unexpected key %v", k)
		}
	})
	if r.err != nil {
		return nil
	}
	return o
}

// required returns o[key], recording an error when it is missing.
func (r *reader) required(o ast.Object, key, parent string) ast.Value {
	v := r.optional(o, key)
	if v == nil {
		r.fail(join(parent, key), "missing")
	}
	return v
}

// requiredTerm is required for a field already looked up: t is o[key],
// nil when missing.
func (r *reader) requiredTerm(t *ast.Term, key, parent string) ast.Value {
	if r.err != nil {
		return nil
	}
	if t == nil {
		r.fail(join(parent, key), "missing")
		return nil
	}
	return t.Value
}

// optional returns o[key], or nil when o is nil or the key is missing.
func (r *reader) optional(o ast.Object, key string) ast.Value {
	if o == nil || r.err != nil {
		return nil
	}
	if t := o.Get(keyTerms[key]); t != nil {
		return t.Value
	}
	return nil
}

func (r *reader) str(v ast.Value, path string) string {
	if r.err != nil {
		return ""
	}
	s, ok := v.(ast.String)
	if !ok {
		r.typeError(path, "string", v)
	}
	return string(s)
}

func (r *reader) boolean(v ast.Value, path string) bool {
	if r.err != nil {
		return false
	}
	b, ok := v.(ast.Boolean)
	if !ok {
		r.typeError(path, "boolean", v)
	}
	return bool(b)
}

func (r *reader) float(v ast.Value, path string) float64 {
	if r.err != nil {
		return 0
	}
	n, ok := v.(ast.Number)
	if !ok {
		r.typeError(path, "number", v)
		return 0
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		r.fail(path, "number %s out of range", n)
	}
	return f
}

// int64 reads an integer. Rego may write an integral number with an
// exponent or a fraction part ("1.5e9"); it is accepted when exact.
func (r *reader) int64(v ast.Value, path string) int64 {
	if r.err != nil {
		return 0
	}
	n, ok := v.(ast.Number)
	if !ok {
		r.typeError(path, "number", v)
		return 0
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return i
	}
	q, ok := new(big.Rat).SetString(string(n))
	if !ok || !q.IsInt() || !q.Num().IsInt64() {
		r.fail(path, "want an integer of nanoseconds, got %s", n)
		return 0
	}
	return q.Num().Int64()
}

func (r *reader) timestamp(v ast.Value, path string) time.Time {
	ns := r.int64(v, path)
	if r.err != nil {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func (r *reader) duration(v ast.Value, path string) time.Duration {
	ns := r.int64(v, path)
	if ns < 0 {
		r.fail(path, "negative duration %d", ns)
	}
	return time.Duration(ns)
}

// readArray converts every element of an array; nil when empty.
func readArray[T any](r *reader, v ast.Value, path string, elem func(ast.Value, string) T) []T {
	if r.err != nil {
		return nil
	}
	a, ok := v.(*ast.Array)
	if !ok {
		r.typeError(path, "array", v)
		return nil
	}
	return readEach(r, a.Len(), a.Elem, path, elem)
}

// readTerms converts every term of a list as readArray converts an
// array's; nil when empty.
func readTerms[T any](r *reader, ts []*ast.Term, path string, elem func(ast.Value, string) T) []T {
	if r.err != nil {
		return nil
	}
	return readEach(r, len(ts), func(i int) *ast.Term { return ts[i] }, path, elem)
}

// readList converts every item of a list as readArray converts an
// array's elements; nil when empty.
func readList[E, T any](r *reader, items []E, path string, elem func(E, string) T) []T {
	if r.err != nil || len(items) == 0 {
		return nil
	}
	out := make([]T, len(items))
	for i := range items {
		out[i] = elem(items[i], path+"["+strconv.Itoa(i)+"]")
	}
	if r.err != nil {
		return nil
	}
	return out
}

// readEach converts the n terms at(0)…at(n-1); nil when n is 0.
func readEach[T any](r *reader, n int, at func(int) *ast.Term, path string, elem func(ast.Value, string) T) []T {
	if n == 0 {
		return nil
	}
	out := make([]T, n)
	for i := range n {
		out[i] = elem(at(i).Value, path+"["+strconv.Itoa(i)+"]")
	}
	if r.err != nil {
		return nil
	}
	return out
}

// oneOf converts s to T, recording an error unless it is one of allowed.
func oneOf[T ~string](r *reader, s, path string, allowed []T) T {
	if r.err != nil {
		return ""
	}
	if !slices.Contains(allowed, T(s)) {
		r.fail(path, "unknown value %q", s)
		return ""
	}
	return T(s)
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}
