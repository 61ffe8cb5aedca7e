package engine

import (
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// pruneInput is v with only the fields pl reads: what the residual of pl
// may see of the input.
func pruneInput(v ast.Value, pl inputPlan) ast.Value {
	o, ok := v.(ast.Object)
	if pl == nil || !ok {
		return v
	}
	out := ast.NewObject()
	for _, k := range slices.Sorted(maps.Keys(pl)) {
		if x := o.Get(ast.StringTerm(k)); x != nil {
			out.Insert(ast.StringTerm(k), ast.NewTerm(pruneInput(x.Value, pl[k])))
		}
	}
	return out
}

func TestThePlanOfAResidualIsTheInputItReads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, module string
		want         inputPlan // nil: the whole input
	}{
		{
			name:   "a ref reads its field whole",
			module: `p if input.subject.id == "u"`,
			want:   inputPlan{"subject": {"id": nil}},
		},
		{
			name:   "a ref reads up to its first key that is not a constant",
			module: `p if input.subject.roles[i] == "admin"`,
			want:   inputPlan{"subject": {"roles": nil}},
		},
		{
			name:   "a number key reads its collection whole",
			module: `p if input.subject.roles[0] == "admin"`,
			want:   inputPlan{"subject": {"roles": nil}},
		},
		{
			name:   "a field read whole and in part is read whole",
			module: "p if input.subject.id == \"u\"\nq := input.subject",
			want:   inputPlan{"subject": nil},
		},
		{
			name:   "object.get with constant keys reads the path they name",
			module: `p := object.get(input, ["signals", "profile", "travel"], {})` + "\n" + `q := object.get(input.device, "id", "")`,
			want:   inputPlan{"signals": {"profile": {"travel": nil}}, "device": {"id": nil}},
		},
		{
			name:   "object.get with a computed key reads its object whole",
			module: `p(k) := object.get(input.device, k, "")`,
			want:   inputPlan{"device": nil},
		},
		{
			name:   "a variable bound to the input reads what it is read for",
			module: "p if {\n\tx = input\n\tobject.get(x, [\"authentication\", \"provider\"], \"\") == \"google\"\n\tx.action.name == \"read\"\n}",
			want:   inputPlan{"authentication": {"provider": nil}, "action": {"name": nil}},
		},
		{
			name:   "a variable bound to a field and used whole reads the field whole",
			module: "p if {\n\tx = input.network\n\tcount(x) > 0\n}",
			want:   inputPlan{"network": nil},
		},
		{
			name:   "a variable bound to two fields reads what they share",
			module: "p if {\n\tx = input.network\n\tx.ip == \"\"\n}\nq if {\n\tx = input.device\n\tx.id == \"\"\n}",
			want:   nil,
		},
		{
			name:   "variables unified with a bound variable read through it",
			module: "p if {\n\tx = input.signals.profile\n\tx = y\n\ty.action_seen == false\n}",
			want:   inputPlan{"signals": {"profile": {"action_seen": nil}}},
		},
		{
			name:   "a variable unified with two fields compares them whole",
			module: "p if {\n\tx = input.signals.ip\n\tx = input.signals.geo\n}",
			want:   inputPlan{"signals": nil},
		},
		{
			name:   "a field tested on its own is kept without its fields",
			module: "p if not input.signals.profile\nq if input.device",
			want:   inputPlan{"signals": {"profile": {}}, "device": {}},
		},
		{
			name:   "a field tested on its own keeps the fields read elsewhere",
			module: "p if not input.signals.profile\nq if input.signals.profile.login_count > 3",
			want:   inputPlan{"signals": {"profile": {"login_count": nil}}},
		},
		{
			name:   "a field tested on its own and read whole is read whole",
			module: "p if not input.signals.profile\nq := input.signals.profile",
			want:   inputPlan{"signals": {"profile": nil}},
		},
		{
			name:   "input passed on reads everything",
			module: `p := json.marshal(input)`,
			want:   nil,
		},
		{
			name:   "a computed key of input reads everything",
			module: `p(k) := input[k]`,
			want:   nil,
		},
		{
			name:   "with on the input reads everything",
			module: "p if q with input.subject as {}\nq if input.device.id",
			want:   nil,
		},
		{
			name:   "reads inside keys are reads",
			module: `p := data.partial.x[input.action.name]`,
			want:   inputPlan{"action": {"name": nil}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := ast.MustParseModule("package partial\n\n" + tt.module)
			got := planInput(ast.MustParseBody("data.partial.p"), []*ast.Module{m})
			if (got == nil) != (tt.want == nil) {
				t.Fatalf("plan %v, want %v (nil: the whole input)", got, tt.want)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// The plan of every demo tenant environment's residual, applied by input
// building, gives every field the plan reads as the whole input has it.
func TestAPlannedInputHoldsEveryFieldItsPlanReads(t *testing.T) {
	t.Parallel()
	demo, _ := residualExample(t, "../../demo")
	e := loaded(t, Options{}, Bundle{Tenants: demo})
	plans := map[string]inputPlan{
		"everything but the tenant's names": {"time_ns": nil, "subject": nil, "authentication": nil, "network": nil,
			"device": nil, "action": nil, "session": nil, "attributes": nil, "caller": nil, "signals": nil, "resource": nil},
		"a field of each object": {"subject": {"email": nil}, "network": {"asn": nil}, "resource": {"id": nil},
			"signals": {"geo": {"city": nil}, "profile": {"travel": {"since_ns": nil}}, "ssf": {"events": nil}, "sso_down_since_ns": nil}},
		"nothing":                     {},
		"objects tested on their own": {"subject": {}, "signals": {"profile": {}, "ip": {}}, "resource": {}},
	}
	for _, k := range envKeys(demo) {
		pq := partialOf(t, e, k.tenant, k.env)
		plans[k.tenant+"/"+k.env] = planInput(pq.Queries[0], pq.Support)
	}
	reqs := map[string]*decision.Request{"full": fullRequest(), "demo": demoRequest(),
		"empty": {Tenant: "acme", Action: decision.Action{Name: "login"}}}
	for _, o := range outcomeRequests() {
		reqs[o.name] = o.req
	}
	down := fullRequest()
	down.Signals.SSOAvailable, down.Signals.SSODownSince = false, t0.Add(-5*time.Minute)
	down.Resource = decision.Resource{Type: "doc", ID: "7"}
	down.Signals.SSF.Events = []decision.SSFEvent{{Event: "session-revoked", Stream: "okta", JTI: "j", At: t0}}
	reqs["sso down, resource, events"] = down
	for name, pl := range plans {
		if pl == nil {
			t.Errorf("%s: the residual reads the whole input", name)
			continue
		}
		for rname, req := range reqs {
			parts, err := convertParts(req)
			if err != nil {
				t.Fatal(err)
			}
			whole := parts.input(req, req.Time, nil)
			planned := parts.input(req, req.Time, pl)
			if got, want := pruneInput(planned, pl), pruneInput(whole, pl); got.Compare(want) != 0 {
				t.Errorf("%s, %s request:\n got %v\nwant %v", name, rname, got, want)
			}
		}
	}
}

// TestThePlannedInputOfTheDemoStaysWithinItsAllocationBudget guards what
// input building costs a decision of the demo tenant's residual
// (bench/README.md, issue 11, part 4): fields the residual never reads are
// not built.
func TestThePlannedInputOfTheDemoStaysWithinItsAllocationBudget(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	fillAll(t, e)
	req := demoRequest()
	sp, _ := e.route(e.current.Load(), req)
	if sp == nil || sp.plan == nil {
		t.Fatal("the demo request has no residual, or its residual reads the whole input")
	}
	// Built afresh, and with the objects the memo holds from the last
	// request (the same user, device, address, action and profile).
	for _, c := range []struct {
		memo   *objectMemo
		budget float64
	}{{nil, 77}, {&inputMemo, 21}} {
		allocs := testing.AllocsPerRun(50, func() {
			parts, err := convertParts(req)
			if err != nil {
				t.Fatal(err)
			}
			parts.inputWith(c.memo, req, req.Time, sp.plan)
		})
		if allocs > c.budget {
			t.Errorf("building the demo request's planned input (memo %v) allocates %v times, want at most %v", c.memo != nil, allocs, c.budget)
		}
	}
}
