package engine

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// decideBoth decides one input document with the reference query and with
// its tenant environment's residual; the explanation is off for both (only
// the reference computes it). sp nil means the tenant environment has no
// residual.
func decideBoth(t testing.TB, p *prepared, input map[string]any) (ref, spec *decision.Decision, refErr, specErr error, sp *specialised) {
	t.Helper()
	in := map[string]any{}
	for k, v := range input {
		in[k] = v
	}
	in["explain"] = false
	v, err := ast.InterfaceToValue(in)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rs, refErr := p.eval(ctx, v)
	if refErr == nil {
		ref, refErr = parseResultSet(rs)
	}
	tenant, _ := in["tenant"].(string)
	env, _ := in["environment"].(string)
	if sl := p.special.slots[envKey{tenant, env}]; sl != nil {
		sp = sl.sp.Load()
	}
	if sp == nil {
		return ref, nil, refErr, nil, nil
	}
	rs, specErr = sp.eval(ctx, v)
	if specErr == nil {
		var doc ast.Value
		doc, specErr = sp.assemble(rs)
		if specErr == nil {
			spec, specErr = parseDecision(doc)
		}
	}
	return ref, spec, refErr, specErr, sp
}

// sameDecision reports how two decisions differ, field by field; "" when
// they are equal.
func sameDecision(ref, spec *decision.Decision, refErr, specErr error) string {
	if (refErr != nil) != (specErr != nil) {
		return fmt.Sprintf("reference error %v, specialised error %v", refErr, specErr)
	}
	if refErr != nil {
		return ""
	}
	a, b := reflect.ValueOf(*ref), reflect.ValueOf(*spec)
	for i := range a.NumField() {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			return fmt.Sprintf("%s: reference %#v, specialised %#v", a.Type().Field(i).Name, a.Field(i).Interface(), b.Field(i).Interface())
		}
	}
	return ""
}

// TestSpecialisedDecisionsEqualTheReference decides the library tests'
// generated requests, against their generated tenant policies, with and
// without author modules, by the reference query and by the residual of
// the request's tenant environment: the decisions must be equal field by
// field. Every known tenant environment of the rounds must be specialised.
func TestSpecialisedDecisionsEqualTheReference(t *testing.T) {
	t.Parallel()
	compared := 0
	seen := map[*prepared]bool{}
	forEachLibraryCase(t, builtinLibrary(), libraryRounds, func(r *libraryRound, c libraryCase) {
		if !seen[r.p] {
			seen[r.p] = true
			for k, sl := range r.p.special.slots {
				if why := sl.refused.Load(); why != nil {
					t.Errorf("round %d: %s/%s is not specialised: %s", c.round, k.tenant, k.env, *why)
				}
			}
		}
		ref, spec, refErr, specErr, sp := decideBoth(t, r.p, c.input)
		if sp == nil {
			return
		}
		compared++
		if diff := sameDecision(ref, spec, refErr, specErr); diff != "" {
			t.Errorf("round %d case %d (custom %v): %s\ninput %v", c.round, c.index, c.custom, diff, c.input)
		}
	})
	if compared < libraryRounds*libraryCases/2 {
		t.Fatalf("only %d cases compared", compared)
	}
}

// BenchmarkSpecialised measures the demo tenant's requests of each
// outcome decided by the reference query and by the residual.
func BenchmarkSpecialised(b *testing.B) {
	ref := loaded(b, Options{Reference: true}, Bundle{Tenants: demoTenants(b)})
	spec := loaded(b, Options{}, Bundle{Tenants: demoTenants(b)})
	for _, o := range outcomeRequests() {
		if o.req.Explain {
			continue
		}
		b.Run(o.name+"/reference", func(b *testing.B) { benchDecide(b, ref, o.req) })
		b.Run(o.name+"/specialised", func(b *testing.B) { benchDecide(b, spec, o.req) })
	}
}

func TestRequestsAreRoutedToTheirTenantEnvironmentsResidual(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	ctx := context.Background()
	explain := demoRequest()
	explain.Explain = true
	unknown := demoRequest()
	unknown.Environment = "qa"
	for _, req := range []*decision.Request{demoRequest(), explain, unknown} {
		if _, err := e.Decide(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int64{Specialised: 1, FallbackExplain: 1, FallbackUnknown: 1, FallbackPending: 0, FallbackUnspecialisable: 0, FallbackDisabled: 0}
	if got := e.Paths(); !reflect.DeepEqual(got, want) {
		t.Errorf("Paths() = %v, want %v", got, want)
	}
	for _, s := range e.Specialisations() {
		if s.State != Specialised || s.Rules == 0 || s.Exprs == 0 {
			t.Errorf("%+v: want specialised, with its size", s)
		}
	}
}

func TestTheReferenceOptionDecidesEverythingWithTheWholeLibrary(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{Reference: true}, Bundle{Tenants: demoTenants(t)})
	if _, err := e.Decide(context.Background(), demoRequest()); err != nil {
		t.Fatal(err)
	}
	if got := e.Paths()[FallbackDisabled]; got != 1 {
		t.Errorf("disabled decisions = %d, want 1", got)
	}
	for _, s := range e.Specialisations() {
		if s.State != FallbackDisabled {
			t.Errorf("%+v: want disabled", s)
		}
	}
}

func TestATenantEnvironmentIsSpecialisedAfterItsFirstRequest(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{SpecialiseAtLoad: -1}, Bundle{Tenants: demoTenants(t)})
	ctx := context.Background()
	first, err := e.Decide(ctx, demoRequest())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Paths()[FallbackPending]; got != 1 {
		t.Fatalf("pending decisions = %d, want 1 (nothing is specialised at load)", got)
	}
	e.background.wait()
	second, err := e.Decide(ctx, demoRequest())
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Paths()[Specialised]; got != 1 {
		t.Fatalf("specialised decisions = %d, want 1 after the background ran", got)
	}
	if diff := sameDecision(&decision.Decision{Kind: first.Kind, Reasons: first.Reasons, Risk: first.Risk},
		&decision.Decision{Kind: second.Kind, Reasons: second.Reasons, Risk: second.Risk}, nil, nil); diff != "" {
		t.Error(diff)
	}
}

func TestTheLimitLeavesTheRestToTheReference(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{SpecialisedLimit: 1}, Bundle{Tenants: demoTenants(t)})
	var specialised, limited int
	for _, s := range e.Specialisations() {
		switch {
		case s.State == Specialised:
			specialised++
		case s.State == FallbackUnspecialisable && strings.Contains(s.Reason, "limit"):
			limited++
		}
	}
	if specialised != 1 || limited != len(e.Specialisations())-1 {
		t.Errorf("%d specialised and %d at the limit of %d tenant environments, want 1 and the rest",
			specialised, limited, len(e.Specialisations()))
	}
}

// A module that loops over known values loops at partial evaluation: the
// tenant environment is left to the reference after specialiseTimeout,
// and the load still succeeds.
func TestASpecialisationThatTakesTooLongIsLeftToTheReference(t *testing.T) {
	t.Parallel()
	lib := coreLibrary(t, map[string]string{"rego/slow.rego": `package pdp

deny contains {"code": "slow", "message": "slow", "rule": "slow"} if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
}
`})
	tenants := map[string]any{"acme": demoTenants(t)["acme"]}
	e := loaded(t, Options{Library: lib, SpecialiseAtLoad: 1}, Bundle{Tenants: tenants})
	s := e.Specialisations()[0]
	if s.State != FallbackUnspecialisable || !strings.Contains(s.Reason, "took longer") {
		t.Errorf("%+v: want unspecialisable, too slow", s)
	}
}
