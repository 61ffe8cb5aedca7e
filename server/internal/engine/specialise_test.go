package engine

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
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
	// The residual is given only the input it reads, as Decide gives it.
	rs, specErr = sp.eval(ctx, pruneInput(v, sp.plan))
	if specErr == nil {
		spec, specErr = sp.assemble(rs)
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
	var engines []*Engine
	forEachLibraryCase(t, builtinLibrary(), libraryRounds, func(r *libraryRound, c libraryCase) {
		if !seen[r.p] {
			seen[r.p] = true
			// The rounds are prepared by the library tests' engine,
			// without specialisation.
			keys := []envKey{{"acme", "production"}, {"acme", "staging"}}
			e := New(Options{SpecialiseAtLoad: -1})
			engines = append(engines, e)
			if err := e.newSpecialisations(context.Background(), r.p, keys, tenantChange{}); err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if err := e.fill(context.Background(), r.p.special, k); err != nil {
					t.Fatal(err)
				}
			}
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
	// Every residual was compiled and decided its cases (compiled.go).
	var compiled int64
	for _, e := range engines {
		ev := e.Evaluators()
		compiled += ev[EvaluatorCompiled]
		if ev[EvaluatorTopdown] != 0 || ev[EvaluatorCompiledError] != 0 {
			t.Errorf("evaluators %v: want every case decided by the compiled residual", ev)
		}
	}
	if compiled != int64(compared) {
		t.Errorf("%d cases decided by the compiled residual, want %d", compiled, compared)
	}
}

// BenchmarkSpecialised measures the demo tenant's requests of each
// outcome decided by the reference query, by the residual on topdown
// (specialised) and by the compiled residual.
func BenchmarkSpecialised(b *testing.B) {
	ref := loaded(b, Options{Reference: true}, Bundle{Tenants: demoTenants(b)})
	spec := loaded(b, Options{}, Bundle{Tenants: demoTenants(b)})
	fillAll(b, spec)
	compiled := loaded(b, Options{}, Bundle{Tenants: demoTenants(b)})
	fillAll(b, compiled)
	withoutCompiled(spec)
	for _, o := range outcomeRequests() {
		if o.req.Explain {
			continue
		}
		b.Run(o.name+"/reference", func(b *testing.B) { benchDecide(b, ref, o.req) })
		b.Run(o.name+"/specialised", func(b *testing.B) { benchDecide(b, spec, o.req) })
		b.Run(o.name+"/compiled", func(b *testing.B) { benchDecide(b, compiled, o.req) })
	}
}

func TestRequestsAreRoutedToTheirTenantEnvironmentsResidual(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	fillAll(t, e)
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
		if s.Evaluator != EvaluatorCompiled {
			t.Errorf("%+v: want its residual compiled", s)
		}
	}
	wantEvaluators := map[string]int64{EvaluatorCompiled: 1, EvaluatorTopdown: 0, EvaluatorCompiledError: 0}
	if got := e.Evaluators(); !reflect.DeepEqual(got, wantEvaluators) {
		t.Errorf("Evaluators() = %v, want %v", got, wantEvaluators)
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
	fillAll(t, e)
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
// tenant environment is left to the reference after SpecialiseTimeout,
// and the load still succeeds.
func TestASpecialisationThatTakesTooLongIsLeftToTheReference(t *testing.T) {
	t.Parallel()
	lib := coreLibrary(t, map[string]string{"rego/slow.rego": slowModule})
	tenants := map[string]any{"acme": demoTenants(t)["acme"]}
	e := loaded(t, Options{Library: lib, SpecialiseAtLoad: 1, SpecialiseTimeout: 300 * time.Millisecond}, Bundle{Tenants: tenants})
	s := e.Specialisations()[0]
	if s.State != FallbackUnspecialisable || !strings.Contains(s.Reason, "took longer") {
		t.Errorf("%+v: want unspecialisable, too slow", s)
	}
}

// fillAll specialises every tenant environment of e's serving set that is
// still pending, whatever the load's budget left.
func fillAll(tb testing.TB, e *Engine) {
	tb.Helper()
	p := e.current.Load()
	if p.special.spec == nil {
		tb.Fatal("specialisation is off")
	}
	for k := range p.special.slots {
		if err := e.fill(context.Background(), p.special, k); err != nil {
			tb.Fatal(err)
		}
	}
}

// fuzzSets are generated policy sets, specialised, shared by the fuzz
// target's inputs: a load per input would leave no time to fuzz.
var fuzzSets = sync.OnceValues(func() ([]*prepared, error) {
	g := &gen{state: 0xf022}
	var sets []*prepared
	for i := range 8 {
		g.bias = []float64{0, 0.7}[i%2]
		b := Bundle{Tenants: map[string]any{"acme": map[string]any{
			"plan":         "enterprise",
			"environments": map[string]any{"production": g.policy(), "staging": g.policy()},
		}}}
		if i%4 >= 2 {
			b.Modules = map[string]string{"custom/custom.rego": libCustom, "custom/extra.rego": libExtra}
		}
		e := New(Options{SpecialiseAtLoad: -1})
		if _, err := e.Load(context.Background(), b); err != nil {
			return nil, err
		}
		p := e.current.Load()
		for _, k := range []envKey{{"acme", "production"}, {"acme", "staging"}} {
			if err := e.fill(context.Background(), p.special, k); err != nil {
				return nil, err
			}
		}
		sets = append(sets, p)
	}
	return sets, nil
})

// FuzzSpecialisedEqualsReference decides generated requests, moved
// around the controls' boundaries (times, ages, counts, the address, the
// action's name), with a tenant environment's residual and with the
// reference: the decisions must be equal field by field.
func FuzzSpecialisedEqualsReference(f *testing.F) {
	f.Add(uint64(1), uint8(0), int64(0), int64(0), "api.read", "203.0.113.7")
	f.Add(uint64(7), uint8(3), int64(genHour), int64(5), "admin.users.delete", "198.51.100.9")
	f.Add(uint64(42), uint8(5), int64(-genMinute), int64(10), "export.csv", "2001:db8::1")
	f.Add(uint64(99), uint8(6), int64(1), int64(3), "files.delete", "10.1.2.3")
	f.Fuzz(func(t *testing.T, seed uint64, set uint8, shift, count int64, action, ip string) {
		sets, err := fuzzSets()
		if err != nil {
			t.Fatal(err)
		}
		p := sets[int(set)%len(sets)]
		g := &gen{state: seed}
		in := g.input()
		if now, ok := in["time_ns"].(int64); ok {
			in["time_ns"] = now + shift
		}
		if a, ok := in["action"].(map[string]any); ok {
			a["name"] = action
		}
		if n, ok := in["network"].(map[string]any); ok {
			n["ip"] = ip
		}
		signals, _ := in["signals"].(map[string]any)
		if prof, ok := signals["profile"].(map[string]any); ok {
			prof["failed_logins"] = count
			prof["ip_failed_logins"] = count * 2
			prof["login_count"] = count
		}
		ref, spec, refErr, specErr, sp := decideBoth(t, p, in)
		if sp == nil {
			return
		}
		if diff := sameDecision(ref, spec, refErr, specErr); diff != "" {
			t.Errorf("%s\ninput %v", diff, in)
		}
		// The compiled residual against topdown on the same residual.
		if sp.compiled == nil {
			t.Fatalf("the residual is not compiled: %s", sp.compiledWhy)
		}
		v, err := ast.InterfaceToValue(in)
		if err != nil {
			t.Fatal(err)
		}
		c, td, cErr, tErr := bothEvaluators(sp, v)
		if diff := sameResults(c, td, cErr, tErr); diff != "" {
			t.Errorf("compiled against topdown: %s\ninput %v", diff, in)
		}
	})
}

func TestOneTenantsChangeIsSpecialisedAgainInTheBackgroundAndTheOthersKept(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: threeTenants(t)})
	fillAll(t, e)
	before := e.current.Load()
	acme := envKey{"acme", "production"}
	var other envKey
	for k := range before.special.slots {
		if k.tenant != "acme" {
			other = k
			break
		}
	}
	if other.tenant == "" {
		t.Fatal("no tenant but acme")
	}
	changed := copyTenant(t)
	if _, err := e.LoadTenants(context.Background(), map[string]any{"acme": changed}); err != nil {
		t.Fatal(err)
	}
	after := e.current.Load()
	if after.special.slots[other].sp.Load() != before.special.slots[other].sp.Load() {
		t.Errorf("%v: the unchanged tenant's residual was not kept", other)
	}
	e.background.wait()
	if after.special.slots[acme].sp.Load() == nil {
		t.Fatalf("%v: not specialised again after the change", acme)
	}
	if after.special.slots[acme].sp.Load() == before.special.slots[acme].sp.Load() {
		t.Errorf("%v: the changed tenant kept its old residual", acme)
	}
}

// A load's budget bounds what it spends specialising, but a partial
// evaluation it cuts short is not a verdict: the tenant environment stays
// pending, for the background to try with the whole timeout.
func TestASpecialisationCutShortByTheLoadsBudgetStaysPending(t *testing.T) {
	t.Parallel()
	lib := coreLibrary(t, map[string]string{"rego/slow.rego": slowModule})
	tenants := map[string]any{"acme": demoTenants(t)["acme"]}
	e := loaded(t, Options{Library: lib, SpecialiseAtLoad: 1, SpecialiseBudget: 100 * time.Millisecond, SpecialiseTimeout: time.Minute},
		Bundle{Tenants: tenants})
	if s := e.Specialisations()[0]; s.State != FallbackPending {
		t.Errorf("%+v: want pending", s)
	}
}

// A residual's result the strict reader refuses is refused as the
// reference's document is, with the same error: the assembly reads the
// decision by the reader's own checks without building the document.
func TestASpecialisedDecisionTheReaderRefusesFailsAsTheReferences(t *testing.T) {
	t.Parallel()
	custom := map[string]string{"policies/custom.rego": `package pdp.custom

deny contains {"code": input.attributes.bad, "message": "a code that is not a string", "rule": "custom.bad_code"} if input.action.name == "bad.code"

challenge contains {"code": "custom.bad_step_up", "message": "a step-up of an unknown kind", "rule": "custom.bad_step_up",
	"step_ups": [{"kind": input.attributes.bad, "reason_code": "custom.bad_step_up"}]} if input.action.name == "bad.step_up"

obligations contains {"kind": "audit", "params": {"n": input.attributes.bad}} if input.action.name == "bad.params"

risk_factors contains {"name": "custom.heavy", "weight": 0.5, "detail": input.attributes.bad} if input.action.name == "bad.factor"
`}
	b := Bundle{Modules: custom, Tenants: demoTenants(t)}
	ref := loaded(t, Options{Reference: true}, b)
	spec := loaded(t, Options{}, b)
	fillAll(t, spec)
	for _, action := range []string{"bad.code", "bad.step_up", "bad.params", "bad.factor"} {
		req := demoRequest()
		req.Action.Name = action
		req.Attributes = map[string]any{"bad": 7}
		if action == "bad.step_up" {
			req.Attributes["bad"] = "dance"
		}
		_, refErr := ref.Decide(context.Background(), req)
		_, specErr := spec.Decide(context.Background(), req)
		if refErr == nil || specErr == nil {
			t.Fatalf("%s: reference error %v, specialised error %v; want both", action, refErr, specErr)
		}
		if fault.As(specErr).Code != fault.Internal {
			t.Errorf("%s: specialised error %v is not internal", action, specErr)
		}
		if specErr.Error() != refErr.Error() {
			t.Errorf("%s:\nspecialised error %v\n reference error %v", action, specErr, refErr)
		}
	}
	if n := spec.Paths()[Specialised]; n != 4 {
		t.Errorf("the residual decided %d requests, want 4", n)
	}
}
