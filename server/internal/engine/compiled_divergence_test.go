package engine

import "testing"

// Where topdown's answer depends on how it evaluates, not only on Rego's
// meaning, the compiled residual gives topdown's answer: the residual
// stands for the reference, value and text. Each case was a divergence
// the generated-residual fuzz target or its hand-written cases found.

func TestAFunctionCalledAgainWithAnEqualArgumentAnswersAsBefore(t *testing.T) {
	// topdown's virtual cache compares arguments as values: f(1.0) after
	// f(1) is f(1)'s result.
	rp := newResidualPair(t, true, `x = data.partial.t.p; y = data.partial.t.q`, `package partial.t
f(x) := json.marshal(x)
default p := false
p if { f(input.a); f(input.b) == "1.0" }
g(x) := y if y := x
q := [g(input.a), g(input.b)]
`)
	if got := rp.binding(t, `{"a": 1, "b": 1.0}`, "x"); got != "false" {
		t.Errorf("p = %s, want false (f(1.0) answered by f(1))", got)
	}
	if got := rp.binding(t, `{"a": 1, "b": 1.0}`, "y"); got != "[1, 1]" {
		t.Errorf("q = %s, want [1, 1]", got)
	}
	if got := rp.binding(t, `{"a": 2, "b": 1.0}`, "y"); got != "[2, 1.0]" {
		t.Errorf("q = %s, want [2, 1.0]", got)
	}
}

func TestAValueLookedUpInASetBindsTheKeyAsTheValueIsWritten(t *testing.T) {
	// topdown looks a bound value up in a set rather than enumerating it,
	// and binds the key to the value it looked up.
	rp := newResidualPair(t, true, `x = data.partial.t.p; y = data.partial.t.r`, `package partial.t
default p := false
p if { s := {1.0, 2}; x := 1; s[k] = x; json.marshal(k) == "1" }
r contains k if { x := 1; input.s[k] = x }
`)
	if got := rp.binding(t, `{"s": {1.0, 2}}`, "x"); got != "true" {
		t.Errorf("p = %s, want true", got)
	}
	if got := rp.binding(t, `{"s": {1.0, 2}}`, "y"); got != "{1}" {
		t.Errorf("r = %s, want {1}", got)
	}
}
