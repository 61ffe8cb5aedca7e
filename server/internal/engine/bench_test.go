package engine

import (
	"context"
	"fmt"
	"io/fs"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	pdp "github.com/pdp-dev/pdp"
	"github.com/pdp-dev/pdp/server/internal/decision"
)

// BenchmarkDecide measures one decision for a realistic request of the
// demo tenant: input building, evaluation, strict parsing and the decision
// id. "builtin" runs the embedded library with every control module,
// "core" the core module alone.
func BenchmarkDecide(b *testing.B) {
	for _, bb := range []struct {
		name    string
		library fs.FS
	}{
		{"builtin", nil},
		{"core", coreLibrary(b, nil)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			benchDecide(b, loaded(b, Options{Library: bb.library}, Bundle{Tenants: demoTenants(b)}), demoRequest())
		})
	}
}

// BenchmarkDecideOutcomes measures the full library on requests of the demo
// tenant that end in each outcome, and with the explanation.
func BenchmarkDecideOutcomes(b *testing.B) {
	e := loaded(b, Options{}, Bundle{Tenants: demoTenants(b)})
	for _, o := range outcomeRequests() {
		b.Run(o.name, func(b *testing.B) { benchDecide(b, e, o.req) })
	}
}

// BenchmarkDecideModule measures the demo request with the core plus one
// control module (and the modules it reads), so that the cost of each
// module is the difference with "core".
func BenchmarkDecideModule(b *testing.B) {
	for _, m := range []struct {
		name    string
		modules []string
	}{
		{"core", nil},
		{"email", []string{"email"}},
		{"mfa", []string{"mfa"}},
		{"network", []string{"network"}},
		{"providers", []string{"providers"}},
		{"risk", []string{"risk", "network"}},
		{"session", []string{"session"}},
		{"incident", []string{"incident", "risk", "network"}},
		{"data_protection", []string{"data_protection"}},
	} {
		b.Run(m.name, func(b *testing.B) {
			lib := libraryOf(b, append([]string{"core", "text"}, m.modules...))
			benchDecide(b, loaded(b, Options{Library: lib}, Bundle{Tenants: demoTenants(b)}), demoRequest())
		})
	}
}

// BenchmarkBuildInput measures the request to ast.Value conversion alone.
func BenchmarkBuildInput(b *testing.B) {
	req := fullRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildInput(req, clock); err != nil {
			b.Fatal(err)
		}
	}
}

// benchDecide runs Decide in a loop. Besides ns/op (wall time) it reports
// cpu-ns/op, the CPU time of the whole process (GC included) per decision:
// on a shared machine other processes stretch the wall time, much less the
// CPU time.
func benchDecide(b *testing.B, e *Engine, req *decision.Request) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	start := processCPU()
	n := 0
	for b.Loop() {
		if _, err := e.Decide(ctx, req); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(processCPU()-start)/float64(n), "cpu-ns/op")
}

// processCPU is the user and system CPU time of the process.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// libraryOf is a library holding the named modules of the embedded one
// ("core" for rego/core.rego).
func libraryOf(tb testing.TB, names []string) fs.FS {
	tb.Helper()
	lib := fstest.MapFS{}
	for _, n := range names {
		p := "rego/" + n + ".rego"
		src, err := fs.ReadFile(pdp.Policies, p)
		if err != nil {
			tb.Fatal(err)
		}
		lib[p] = &fstest.MapFile{Data: src}
	}
	return lib
}

type outcomeRequest struct {
	name string
	req  *decision.Request
}

// outcomeRequests are demo requests that allow, deny, challenge, warn of
// the session's end, and ask for the explanation, each with the outcome
// checked by TestOutcomeRequests.
func outcomeRequests() []outcomeRequest {
	deny := demoRequest()
	deny.Action.Name = "admin.users.delete"
	deny.Network.IP = netip.MustParseAddr("198.51.100.9")
	deny.Signals.IP = decision.IPSignals{Checked: true, Denied: true, DeniedBy: "198.51.100.0/24 (ip_denylist)"}

	challenge := demoRequest()
	challenge.Authentication.MFAVerifiedAt = challenge.Time.Add(-13 * time.Hour)
	challenge.Authentication.AuthenticatedAt = challenge.Authentication.MFAVerifiedAt
	challenge.Signals.Profile.DeviceKnown = false
	challenge.Device.Managed = false

	expiring := demoRequest()
	expiring.Session.LastActivityAt = expiring.Time.Add(-4*time.Hour + 2*time.Minute)

	explain := demoRequest()
	explain.Explain = true

	return []outcomeRequest{
		{"allow", demoRequest()},
		{"deny", deny},
		{"challenge", challenge},
		{"allow_expiring", expiring},
		{"allow_explain", explain},
	}
}

// The benchmark requests end as their names say, so that a change of the
// library cannot silently turn a deny benchmark into an allow one.
func TestOutcomeRequests(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	want := map[string]struct {
		kind    decision.Kind
		reasons int
		explain bool
	}{
		"allow":          {decision.KindAllow, 0, false},
		"deny":           {decision.KindDeny, 3, false},
		"challenge":      {decision.KindChallenge, 1, false},
		"allow_expiring": {decision.KindAllow, 1, false},
		"allow_explain":  {decision.KindAllow, 0, true},
	}
	for _, o := range outcomeRequests() {
		d, err := e.Decide(context.Background(), o.req)
		if err != nil {
			t.Fatalf("%s: %v", o.name, err)
		}
		w := want[o.name]
		if d.Kind != w.kind || len(d.Reasons) != w.reasons || (len(d.Explanation) > 0) != w.explain {
			t.Errorf("%s: %s with %d reasons, %d explanations; want %s with %d reasons, explanation %v",
				o.name, d.Kind, len(d.Reasons), len(d.Explanation), w.kind, w.reasons, w.explain)
		}
	}
}

// BenchmarkTopdownCost measures what evaluation costs on this machine for
// the constructs the library is made of, with tiny policies evaluated as
// Decide evaluates the library (same options, the demo input): "empty" is
// the fixed cost of one evaluation; each other case adds ten of one
// construct to it. bench/README.md uses it to say where the time of a
// decision goes.
func BenchmarkTopdownCost(b *testing.B) {
	ten := func(f func(i int) string) string {
		var s strings.Builder
		for i := range 10 {
			s.WriteString(f(i))
			s.WriteString("\n")
		}
		return s.String()
	}
	refs := func(prefix string) string {
		var s []string
		for i := range 10 {
			s = append(s, fmt.Sprintf("%s%d", prefix, i))
		}
		return strings.Join(s, ", ")
	}
	cases := []struct{ name, src string }{
		{"empty", "decision := true\n"},
		{"10-rules", ten(func(i int) string { return fmt.Sprintf("r%d := input.tenant", i) }) +
			"decision := [" + refs("r") + "]\n"},
		{"10-expressions", "decision if {\n" + ten(func(i int) string {
			return fmt.Sprintf("\tinput.subject.roles[0] != \"r%d\"", i)
		}) + "}\n"},
		{"10-indexed-out", ten(func(i int) string {
			return fmt.Sprintf("deny contains %d if input.action.name == \"a%d\"", i, i)
		}) + "decision := count(deny)\n"},
		{"10-candidates", ten(func(i int) string {
			return fmt.Sprintf("deny contains %d if input.action.name != \"api.read\"", i)
		}) + "decision := count(deny)\n"},
		{"10-calls", "f(x) := x\n\ndecision := [" + strings.Join(calls(), ", ") + "]\n"},
		{"10-sprintf", "decision := [" + strings.Repeat(`sprintf("%s", [input.tenant]), `, 9) + `sprintf("%s", [input.tenant])]` + "\n"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			lib := fstest.MapFS{"rego/p.rego": {Data: []byte("package pdp\n\n" + c.src)}}
			e := loaded(b, Options{Library: lib}, Bundle{Tenants: demoTenants(b)})
			p := e.current.Load()
			in, err := buildInput(demoRequest(), clock)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.eval(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// calls are ten calls of f with distinct arguments.
func calls() []string {
	var c []string
	for i := range 10 {
		c = append(c, fmt.Sprintf("f(%d)", i))
	}
	return c
}

// BenchmarkDecideOutsideEvaluation measures what a specialised decision
// costs besides evaluating its residual: routing, input building, the
// hand-off to a worker, the assembly and the id. The residual's result
// for each outcome is evaluated once and handed back on every decision.
func BenchmarkDecideOutsideEvaluation(b *testing.B) {
	e := loaded(b, Options{}, Bundle{Tenants: demoTenants(b)})
	fillAll(b, e)
	for _, o := range outcomeRequests() {
		if o.req.Explain {
			continue
		}
		sp, _ := e.route(e.current.Load(), o.req)
		parts, err := convertParts(o.req)
		if err != nil {
			b.Fatal(err)
		}
		rs, err := sp.eval(context.Background(), parts.input(o.req, o.req.Time, sp.plan))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(o.name, func(b *testing.B) {
			e.workers.evalFn = func(evaluator, context.Context, ast.Value) (rego.ResultSet, error) { return rs, nil }
			benchDecide(b, e, o.req)
		})
	}
}
