package engine

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/uuid"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

func TestDecideUnavailableBeforeLoad(t *testing.T) {
	t.Parallel()
	e := New(Options{Library: coreLibrary(t, nil)})
	if e.Ready() || e.Revision() != "" {
		t.Fatalf("Ready() = %v, Revision() = %q before Load", e.Ready(), e.Revision())
	}
	d, err := e.Decide(context.Background(), demoRequest())
	if !errors.Is(err, fault.ErrUnavailable) || d != nil {
		t.Fatalf("Decide() = %v, %v; want nil, unavailable", d, err)
	}
}

func TestDecideCore(t *testing.T) {
	t.Parallel()
	custom := map[string]string{"policies/custom.rego": `package pdp.custom

deny contains {"code": "custom.no_exports", "message": "exports are off", "rule": "custom.no_exports"} if {
	data.pdp.action_matches("export.*", input.action.name)
}

obligations contains {"kind": "audit", "params": {"action": input.action.name}} if {
	data.pdp.action_matches("*.delete", input.action.name)
}

risk_factors contains {"name": "unusual_time", "weight": 0.2, "detail": "3am"} if input.attributes.night
`}
	e := loaded(t, Options{Library: coreLibrary(t, nil)}, Bundle{Modules: custom, Tenants: demoTenants(t)})

	with := func(f func(*decision.Request)) *decision.Request {
		r := demoRequest()
		f(r)
		return r
	}
	tests := []struct {
		name string
		req  *decision.Request
		want *decision.Decision
	}{
		{
			name: "allow",
			req:  demoRequest(),
			want: &decision.Decision{Kind: decision.KindAllow, Enforced: true, WouldDecide: decision.KindAllow,
				CacheTTL: 30 * time.Second, Risk: decision.Risk{Level: decision.RiskLow}},
		},
		{
			name: "unknown tenant",
			req: with(func(r *decision.Request) {
				r.Tenant = "globex"
				r.Subject.Tenant = "globex"
				r.Action.Name = "export.all"
			}),
			want: &decision.Decision{Kind: decision.KindDeny, Enforced: true, WouldDecide: decision.KindDeny,
				Reasons: []decision.Reason{{Code: "tenant.unknown", Message: `no policy for tenant "globex"`, Rule: "core.tenant_unknown"}},
				Risk:    decision.Risk{Level: decision.RiskLow}},
		},
		{
			name: "role forbidden and custom deny, with an obligation and a factor",
			req: with(func(r *decision.Request) {
				r.Action.Name = "export.delete"
				r.Attributes = map[string]any{"night": true}
			}),
			want: &decision.Decision{Kind: decision.KindDeny, Enforced: true, WouldDecide: decision.KindDeny,
				Reasons: []decision.Reason{
					{Code: "authz.role_forbidden", Message: `no role of the subject (developer) grants action "export.delete"`, Rule: "core.role_forbidden"},
					{Code: "custom.no_exports", Message: "exports are off", Rule: "custom.no_exports"},
				},
				Obligations: []decision.Obligation{{Kind: decision.ObligationAudit, Params: map[string]string{"action": "export.delete"}}},
				Risk: decision.Risk{Score: 0.2, Level: decision.RiskLow,
					Factors: []decision.RiskFactor{{Name: "unusual_time", Weight: 0.2, Detail: "3am"}}}},
		},
		{
			name: "report-only",
			req:  with(func(r *decision.Request) { r.Environment = "staging"; r.Action.Name = "export.all" }),
			want: &decision.Decision{Kind: decision.KindAllow, Enforced: false, WouldDecide: decision.KindDeny,
				Reasons: []decision.Reason{{Code: "custom.no_exports", Message: "exports are off", Rule: "custom.no_exports"}},
				Risk:    decision.Risk{Level: decision.RiskLow}},
		},
		{
			name: "isolation, explained",
			req:  with(func(r *decision.Request) { r.Subject.Tenant = "globex"; r.Explain = true }),
			want: &decision.Decision{Kind: decision.KindDeny, Enforced: true, WouldDecide: decision.KindDeny,
				Reasons: []decision.Reason{{Code: "tenant.isolation", Message: `subject "u-42" belongs to tenant "globex", not "acme"`, Rule: "core.tenant_isolation"}},
				Risk:    decision.Risk{Level: decision.RiskLow},
				Explanation: []decision.Explanation{
					{Rule: "core.tenant_isolation", Code: "tenant.isolation", Effect: "deny", Matched: true, Message: `subject "u-42" belongs to tenant "globex", not "acme"`},
					{Rule: "core.role_forbidden", Code: "authz.role_forbidden", Effect: "deny", Message: `action "api.read" granted by role "developer" (api.*)`},
					{Rule: "core.environment_unknown", Code: "tenant.environment_unknown", Effect: "deny", Message: `tenant "acme" declares environment "production"`},
					{Rule: "core.tenant_unknown", Code: "tenant.unknown", Effect: "deny", Message: `tenant "acme" has a policy`},
				}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := e.Decide(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := uuid.Parse(got.ID); err != nil || got.PolicyRevision != e.Revision() {
				t.Errorf("ID = %q, PolicyRevision = %q (engine %q)", got.ID, got.PolicyRevision, e.Revision())
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(decision.Decision{}, "ID", "PolicyRevision")); diff != "" {
				t.Errorf("decision mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecideIDsAreUnique(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{Library: coreLibrary(t, nil)}, Bundle{Tenants: demoTenants(t)})
	seen := map[string]bool{}
	for range 100 {
		d, err := e.Decide(context.Background(), demoRequest())
		if err != nil {
			t.Fatal(err)
		}
		if seen[d.ID] {
			t.Fatalf("duplicate decision id %s", d.ID)
		}
		seen[d.ID] = true
	}
}

// A library whose decision is wrong in some way must make Decide fail with
// an internal error, never decide.
func TestDecideMalformedDecision(t *testing.T) {
	t.Parallel()
	const valid = `{"decision": "allow", "reasons": [], "step_ups": [], "obligations": [], "risk": {"score": 0, "level": "low", "factors": []}, "enforced": true}`
	tests := []struct {
		name    string
		rego    string
		wantErr string
	}{
		{"undefined", "decision := " + valid + " if input.never", "undefined"},
		{"not an object", `decision := "allow"`, "want object"},
		{"unknown word", `decision := object.union(` + valid + `, {"decision": "permit"})`, `unknown decision "permit"`},
		{"missing enforced", `decision := object.remove(` + valid + `, ["enforced"])`, "enforced: missing"},
		{"missing risk", `decision := object.remove(` + valid + `, ["risk"])`, "risk: missing"},
		{"reasons as a set", `decision := object.union(` + valid + `, {"reasons": {"x"}})`, "reasons: want array, got set"},
		{"score as a string", `decision := object.union(` + valid + `, {"risk": {"score": "0", "level": "low", "factors": []}})`, "risk.score: want number"},
		{"fractional ttl", `decision := object.union(` + valid + `, {"cache_ttl_ns": 0.5})`, "cache_ttl_ns: want an integer"},
		{"challenge without step-ups", `decision := object.union(` + valid + `, {"decision": "challenge"})`, "challenge without step_ups"},
		{"conflicting values", "decision := " + valid + "\n\ndecision := {} if input.explain == false", "conflict"},
		{"built-in error", "decision := " + valid + ` if net.cidr_contains("bogus", "10.0.0.1")`, "cidr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lib := fstest.MapFS{"lib.rego": {Data: []byte("package pdp\n\n" + tt.rego + "\n")}}
			e := loaded(t, Options{Library: lib}, Bundle{})
			d, err := e.Decide(context.Background(), demoRequest())
			if err == nil {
				t.Fatalf("Decide() = %+v, want an error", d)
			}
			if f := fault.As(err); f.Code != fault.Internal || d != nil {
				t.Errorf("Decide() = %v, %v; want nil and an internal error", d, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

// With lenient built-in errors a failing deny rule is silently skipped,
// which is why strict is the default.
func TestLenientBuiltinErrors(t *testing.T) {
	t.Parallel()
	lib := coreLibrary(t, map[string]string{"rego/net.rego": `package pdp

deny contains {"code": "network.ip_denied", "message": "denied", "rule": "net"} if {
	net.cidr_contains("not-a-cidr", input.network.ip)
}
`})
	b := Bundle{Tenants: demoTenants(t)}
	if _, err := loaded(t, Options{Library: lib}, b).Decide(context.Background(), demoRequest()); fault.As(err).Code != fault.Internal {
		t.Errorf("strict: err = %v, want internal", err)
	}
	d, err := loaded(t, Options{Library: lib, LenientBuiltinErrors: true}, b).Decide(context.Background(), demoRequest())
	if err != nil || d.Kind != decision.KindAllow {
		t.Errorf("lenient: %v, %v; want allow", d, err)
	}
}

// slowModule denies after ten billion iterations that never match: only
// cancellation ends its evaluation.
const slowModule = `package pdp

deny contains {"code": "slow", "message": "slow", "rule": "slow"} if {
	some i in numbers.range(1, 100000)
	some j in numbers.range(1, 100000)
	i * j == -1
}
`

func TestDecideDeadline(t *testing.T) {
	t.Parallel()
	lib := coreLibrary(t, map[string]string{"rego/slow.rego": slowModule})
	e := loaded(t, Options{Library: lib}, Bundle{Tenants: demoTenants(t)})

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := e.Decide(expired, demoRequest()); !errors.Is(err, fault.ErrDeadlineExceeded) {
		t.Errorf("expired context: err = %v, want deadline exceeded", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	d, err := e.Decide(ctx, demoRequest())
	if !errors.Is(err, fault.ErrDeadlineExceeded) || d != nil {
		t.Fatalf("Decide() = %v, %v; want nil, deadline exceeded", d, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("evaluation stopped %v after the deadline", took)
	}
}

// Decisions keep flowing, without a single failure, while the policy set
// is replaced again and again. Run with -race.
func TestConcurrentDecideDuringLoads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lib := coreLibrary(t, nil)
	tenants := demoTenants(t)
	bundles := []Bundle{
		{Tenants: tenants},
		{Tenants: tenants, Modules: map[string]string{"policies/custom.rego": "package pdp.custom\n\nnotices contains {\"code\": \"custom.hi\", \"message\": \"hi\", \"rule\": \"custom.hi\"}\n"}},
	}
	e := New(Options{Library: lib})
	revisions := map[string]bool{}
	for _, b := range bundles {
		rev, err := e.Load(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		revisions[rev] = true
	}

	var (
		stop      atomic.Bool
		decisions atomic.Int64
		failures  atomic.Int64
		wg        sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				d, err := e.Decide(ctx, demoRequest())
				switch {
				case err != nil:
					failures.Add(1)
					t.Error(err)
				case !revisions[d.PolicyRevision] || d.Kind != decision.KindAllow:
					failures.Add(1)
					t.Errorf("decided %s with revision %q", d.Kind, d.PolicyRevision)
				}
				decisions.Add(1)
			}
		})
	}
	for i := range 20 {
		if _, err := e.Load(ctx, bundles[i%2]); err != nil {
			t.Error(err)
		}
		if i%5 == 0 {
			if _, err := e.Load(ctx, Bundle{Modules: map[string]string{"x.rego": "package pdp.custom\n\ndeny contains"}}); err == nil {
				t.Error("broken load succeeded")
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	if failures.Load() != 0 || decisions.Load() == 0 {
		t.Fatalf("%d failures in %d decisions", failures.Load(), decisions.Load())
	}
}

// The embedded library, with every control module, loads and decides the
// demo tenant's requests within the contract.
func TestBuiltinLibrary(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})

	unknown := demoRequest()
	unknown.Tenant = "globex"
	d, err := e.Decide(context.Background(), unknown)
	if err != nil {
		t.Fatal(err)
	}
	want := []decision.Reason{{Code: "tenant.unknown", Message: `no policy for tenant "globex"`, Rule: "core.tenant_unknown"}}
	if d.Kind != decision.KindDeny || !cmp.Equal(d.Reasons, want) {
		t.Errorf("unknown tenant: %s %+v", d.Kind, d.Reasons)
	}

	for _, env := range []string{"production", "staging"} {
		for _, explain := range []bool{false, true} {
			req := demoRequest()
			req.Environment = env
			req.Explain = explain
			if _, err := e.Decide(context.Background(), req); err != nil {
				t.Errorf("%s, explain %v: %v", env, explain, err)
			}
		}
	}
}
