package engine

// Built-ins computed without a call: count and internal.member_2 as
// topdown computes them, and arithmetic on integers without math/big:
// topdown's arithmetic
// (topdown/arithmetic.go) computes an integer result exactly, as an int or
// a big.Int, and writes it in decimal; for operands written as plain
// decimal integers whose result fits an int64, that is the int64 result
// in decimal, which is what these compute. Every other case (fractions,
// exponents, overflow, sets, errors) calls topdown's own built-in.

import (
	"math"
	"strconv"

	"github.com/open-policy-agent/opa/v1/ast"
)

// fastBuiltins are the built-ins with an integer fast path.
var fastBuiltins = map[string]func(args []*ast.Term) *ast.Term{
	ast.Plus.Name:     func(a []*ast.Term) *ast.Term { return intOp(a, addInt) },
	ast.Minus.Name:    func(a []*ast.Term) *ast.Term { return intOp(a, subInt) },
	ast.Multiply.Name: func(a []*ast.Term) *ast.Term { return intOp(a, mulInt) },
	ast.Divide.Name:   func(a []*ast.Term) *ast.Term { return intOp(a, divInt) },
	ast.Rem.Name:      func(a []*ast.Term) *ast.Term { return intOp(a, remInt) },
	ast.Round.Name:    intIdentity,
	ast.Ceil.Name:     intIdentity,
	ast.Floor.Name:    intIdentity,
	ast.Abs.Name:      absInt,
	ast.Count.Name:    countOf,
	ast.Member.Name:   memberOf,
}

// countOf is topdown's count (topdown/aggregates.go) but its error, left
// to the built-in.
func countOf(args []*ast.Term) *ast.Term {
	if len(args) != 1 {
		return nil
	}
	switch a := args[0].Value.(type) {
	case *ast.Array:
		return ast.InternedTerm(a.Len())
	case ast.Object:
		return ast.InternedTerm(a.Len())
	case ast.Set:
		return ast.InternedTerm(a.Len())
	case ast.String:
		return ast.InternedTerm(len([]rune(a)))
	}
	return nil
}

// memberOf is topdown's internal.member_2 (x in xs).
func memberOf(args []*ast.Term) *ast.Term {
	if len(args) != 2 {
		return nil
	}
	switch c := args[1].Value.(type) {
	case ast.Set:
		return ast.InternedTerm(c.Contains(args[0]))
	case *ast.Array:
		return ast.InternedTerm(c.Until(args[0].Equal))
	case ast.Object:
		return ast.InternedTerm(c.Until(func(_, v *ast.Term) bool { return args[0].Equal(v) }))
	}
	return ast.InternedTerm(false)
}

// plainInt reads a number written as an optional minus sign and decimal
// digits.
func plainInt(t *ast.Term) (int64, bool) {
	n, ok := t.Value.(ast.Number)
	if !ok {
		return 0, false
	}
	s := string(n)
	digits := s
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 {
		return 0, false
	}
	for i := range len(digits) {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func intTerm(v int64) *ast.Term {
	if v >= 0 && v < 512 {
		return ast.InternedTerm(int(v))
	}
	return ast.NewTerm(ast.Number(strconv.FormatInt(v, 10)))
}

func intOp(args []*ast.Term, op func(x, y int64) (int64, bool)) *ast.Term {
	if len(args) != 2 {
		return nil
	}
	x, ok := plainInt(args[0])
	if !ok {
		return nil
	}
	y, ok := plainInt(args[1])
	if !ok {
		return nil
	}
	r, ok := op(x, y)
	if !ok {
		return nil
	}
	return intTerm(r)
}

func addInt(x, y int64) (int64, bool) {
	r := x + y
	return r, (r > x) == (y > 0) || y == 0
}

func subInt(x, y int64) (int64, bool) {
	r := x - y
	return r, (r < x) == (y > 0) || y == 0
}

func mulInt(x, y int64) (int64, bool) {
	if x == 0 || y == 0 {
		return 0, true
	}
	if x == math.MinInt64 || y == math.MinInt64 {
		return 0, false
	}
	r := x * y
	return r, r/y == x
}

// divInt is an exact quotient: topdown divides in floats, which for an
// integer quotient of int64 operands is that integer. A zero dividend is
// left to topdown (its quotient by a negative divisor is -0).
func divInt(x, y int64) (int64, bool) {
	if x == 0 || y == 0 || y == -1 || x%y != 0 {
		return 0, false
	}
	return x / y, true
}

// remInt is the remainder with the dividend's sign, as big.Int's Rem.
func remInt(x, y int64) (int64, bool) {
	if y == 0 || y == -1 {
		return 0, false
	}
	return x % y, true
}

// absInt is abs of an integer.
func absInt(args []*ast.Term) *ast.Term {
	if len(args) != 1 {
		return nil
	}
	x, ok := plainInt(args[0])
	if !ok || x == math.MinInt64 {
		return nil
	}
	return intTerm(max(x, -x))
}

// intIdentity is round, ceil and floor of an integer.
func intIdentity(args []*ast.Term) *ast.Term {
	if len(args) != 1 {
		return nil
	}
	x, ok := plainInt(args[0])
	if !ok {
		return nil
	}
	return intTerm(x)
}
